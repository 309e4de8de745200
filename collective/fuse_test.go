package collective

import (
	"testing"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// TestFusable checks which fill copies the executor folds into their
// receives.
func TestFusable(t *testing.T) {
	in := func(off, n int) schedule.Region { return schedule.Region{Buf: schedule.In, Off: off, N: n} }
	out := func(off, n int) schedule.Region { return schedule.Region{Buf: schedule.Out, Off: off, N: n} }
	scr := func(off, n int) schedule.Region { return schedule.Region{Buf: schedule.Scratch, Off: off, N: n} }
	recv := func(r schedule.Region) schedule.Xfer { return schedule.Xfer{Peer: 1, Region: r, Reduce: true} }
	tests := []struct {
		name    string
		st      schedule.Step
		inPlace bool
		want    int
	}{
		{"fill from In", schedule.Step{Copies: []schedule.Copy{{Src: in(0, 8), Dst: out(0, 8)}}, Recvs: []schedule.Xfer{recv(out(0, 8))}}, false, 0},
		{"fill from scratch", schedule.Step{Copies: []schedule.Copy{{Src: scr(0, 8), Dst: out(0, 8)}}, Recvs: []schedule.Xfer{recv(out(0, 8))}}, true, 0},
		{"In and Out alias in place", schedule.Step{Copies: []schedule.Copy{{Src: in(0, 8), Dst: out(8, 8)}}, Recvs: []schedule.Xfer{recv(out(8, 8))}}, true, -1},
		{"second copy of the region", schedule.Step{Copies: []schedule.Copy{{Src: in(16, 8), Dst: out(0, 8)}, {Src: in(0, 8), Dst: out(0, 8)}}, Recvs: []schedule.Xfer{recv(out(0, 8))}}, false, -1},
		{"another copy writes the source", schedule.Step{Copies: []schedule.Copy{{Src: scr(0, 8), Dst: out(0, 8)}, {Src: in(0, 8), Dst: scr(4, 8)}}, Recvs: []schedule.Xfer{recv(out(0, 8))}}, false, -1},
		{"another receive writes the source", schedule.Step{Copies: []schedule.Copy{{Src: scr(0, 8), Dst: out(0, 8)}}, Recvs: []schedule.Xfer{recv(out(0, 8)), {Peer: 2, Region: scr(0, 4)}}}, false, -1},
		{"no copy of that region", schedule.Step{Copies: []schedule.Copy{{Src: in(0, 8), Dst: out(8, 8)}}, Recvs: []schedule.Xfer{recv(out(0, 8))}}, false, -1},
		{"copy within its own region", schedule.Step{Copies: []schedule.Copy{{Src: out(4, 8), Dst: out(0, 8)}}, Recvs: []schedule.Xfer{recv(out(0, 8))}}, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fusable(&tt.st, 0, tt.inPlace); got != tt.want {
				t.Errorf("fusable(%+v, 0, inPlace %v) = %d; want %d", tt.st, tt.inPlace, got, tt.want)
			}
		})
	}
}

// TestPlanFusesFills: the out-of-place ring all-reduce's reducing steps
// all receive straight into the output (no staging), the in-place one's
// none need to (they have no fill copies), and recursive doubling's single
// round at two ranks does.
func TestPlanFusesFills(t *testing.T) {
	tests := []struct {
		name      string
		p         schedule.Params
		wantFused int // reducing receives fused; -1: all of them
	}{
		{"ring out of place", schedule.Params{Coll: schedule.AllReduce, Algo: schedule.Ring, Rank: 1, Size: 4, Count: 4096, ChunkElems: 256}, -1},
		{"ring in place", schedule.Params{Coll: schedule.AllReduce, Algo: schedule.Ring, Rank: 1, Size: 4, Count: 4096, ChunkElems: 256, InPlace: true}, 0},
		{"rd two ranks", schedule.Params{Coll: schedule.AllReduce, Algo: schedule.RecursiveDoubling, Rank: 0, Size: 2, Count: 4096, ChunkElems: 4096}, -1},
		{"reduce-scatter ring out of place", schedule.Params{Coll: schedule.ReduceScatter, Algo: schedule.Ring, Rank: 2, Size: 4, Count: 1024, ChunkElems: 256}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := schedule.Build(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			p := newPlan(s, tt.p.InPlace)
			reducing, fused := 0, 0
			for i, st := range s.Steps {
				for j, x := range st.Recvs {
					if x.Reduce {
						reducing++
						if p.fuse[i][j] >= 0 {
							fused++
						}
					}
				}
			}
			want := tt.wantFused
			if want < 0 {
				want = reducing
			}
			if reducing == 0 || fused != want {
				t.Errorf("plan of %s: %d of %d reducing receives fused; want %d", tt.name, fused, reducing, want)
			}
			if want == reducing && p.stageElems != 0 {
				t.Errorf("plan of %s: staging %d elements; want none", tt.name, p.stageElems)
			}
		})
	}
}
