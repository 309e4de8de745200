package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/oracle"
)

// Options select what Run measures.
type Options struct {
	Ops      []schedule.Coll // collectives; schedule.SendRecv for point-to-point
	MinBytes int64
	MaxBytes int64
	Factor   int64 // size multiplier between rows (>= 2)
	Iters    int
	Warmup   int
	// Settle is the least time the warm-up of each size lasts: it runs
	// Warmup operations at a time until the slowest rank has spent
	// Settle on them (0: exactly Warmup). See DefaultSettle.
	Settle time.Duration
	Check  bool
	DType  collective.DType
	RedOp  collective.Op
	Root   int
	Algo   collective.Algo // AlgoAuto: the communicator chooses
	// Compare, if not empty, runs every operation once per algorithm listed,
	// in order, instead of once with Algo (kizuna bench -compare).
	Compare []collective.Algo
	JSON    bool // one JSON object per row instead of the table
	CSV     bool // comma-separated rows (the JSON fields, in order) instead of the table
	// NoHeader leaves out the CSV header line, for a caller that joins the
	// rows of several runs under one header.
	NoHeader bool
}

// DefaultOptions are `kizuna bench`'s defaults.
func DefaultOptions() Options {
	return Options{
		Ops: []schedule.Coll{schedule.AllReduce}, MinBytes: 8, MaxBytes: 32 << 20, Factor: 2,
		Iters: 20, Warmup: 5, Settle: DefaultSettle, Check: true, DType: collective.Float32, RedOp: collective.Sum,
	}
}

// DefaultSettle is kizuna bench's least warm-up time per size
// (Options.Settle). Before each size's timed operations the benchmark
// itself has just disturbed the rank: it collected the garbage of the
// previous size and of the check (runtime.GC), and started the process
// before the first one. Both put the Go runtime's sysmon thread back into
// its start-up rhythm, a wake-up every 20-90 us for about 50 wake-ups and
// fewer after, and each wake-up takes a rank's processor from it for
// 10-40 us wherever it shares one (with other ranks, or with its agent).
// A fixed count of warm-up operations does not outlast that at small
// sizes: a 64 KiB reduce-scatter at np=4 on 2 cores (`kizuna bench -np 4
// -transport tcp -op reducescatter -b 64K -e 64K -n 10`, three runs) took
// 126-148 us with -w 2 and 51-76 us with -w 100. Ten milliseconds covers
// the first 50 wake-ups with room to spare and adds about half a second to
// a 24-size sweep.
const DefaultSettle = 10 * time.Millisecond

// Row is one measured size of one collective, one of out-of-place/in-place.
type Row struct {
	Op        string  `json:"op"`
	Bytes     int64   `json:"bytes"`
	Count     int64   `json:"count"`
	DType     string  `json:"dtype"`
	RedOp     string  `json:"redop"`
	Root      int     `json:"root"`
	Algo      string  `json:"algo"`
	Choice    string  `json:"choice"` // "auto" (the communicator chose Algo) or the algorithm forced
	Transport string  `json:"transport"`
	NP        int     `json:"np"`
	InPlace   bool    `json:"inplace"`
	TimeUS    float64 `json:"time_us"`
	P50US     float64 `json:"p50_us"`
	P99US     float64 `json:"p99_us"`
	AlgBW     float64 `json:"algbw_gbps"`
	BusBW     float64 `json:"busbw_gbps"`
	Wrong     int64   `json:"wrong"`
}

// Summary is what Run measured (complete on rank 0 only).
type Summary struct {
	Rows     []Row
	Wrong    int64
	AvgBusBW float64
}

// BusFactor is nccl-tests' bus-bandwidth factor for a collective on n ranks.
func BusFactor(coll schedule.Coll, n int) float64 {
	if n <= 1 {
		return 0
	}
	switch coll {
	case schedule.AllReduce:
		return 2 * float64(n-1) / float64(n)
	case schedule.AllGather, schedule.ReduceScatter, schedule.AllToAll, schedule.Gather, schedule.Scatter:
		return float64(n-1) / float64(n)
	}
	return 1
}

// PerRank reports whether the collective's size S counts every rank's block
// (nccl-tests: AllGather, ReduceScatter, AlltoAll, Gather, Scatter).
func PerRank(coll schedule.Coll) bool {
	switch coll {
	case schedule.AllGather, schedule.ReduceScatter, schedule.AllToAll, schedule.Gather, schedule.Scatter:
		return true
	}
	return false
}

func hasRoot(coll schedule.Coll) bool {
	switch coll {
	case schedule.Broadcast, schedule.Reduce, schedule.Gather, schedule.Scatter:
		return true
	}
	return false
}

func isReduction(coll schedule.Coll) bool {
	return coll == schedule.AllReduce || coll == schedule.Reduce || coll == schedule.ReduceScatter
}

// ParseOps parses -op: a comma list of collective names, or "all".
func ParseOps(s string) ([]schedule.Coll, error) {
	if strings.TrimSpace(s) == "all" {
		return []schedule.Coll{schedule.AllReduce, schedule.Broadcast, schedule.Reduce, schedule.AllGather,
			schedule.ReduceScatter, schedule.AllToAll, schedule.Gather, schedule.Scatter, schedule.SendRecv, schedule.Barrier}, nil
	}
	var ops []schedule.Coll
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "sendrecv" {
			ops = append(ops, schedule.SendRecv)
			continue
		}
		c, err := schedule.ParseColl(name)
		if err != nil {
			return nil, fmt.Errorf("-op %q: unknown operation (want allreduce, broadcast, reduce, allgather, reducescatter, alltoall, gather, scatter, sendrecv, barrier or all)", name)
		}
		ops = append(ops, c)
	}
	return ops, nil
}

// ParseBytes parses a size with an optional K, M or G suffix (powers of 1024).
func ParseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "B")
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 8, 64K, 32M, 1G)", s)
	}
	return n * mult, nil
}

// Validate checks o against a world of n ranks.
func (o *Options) Validate(n int) error {
	switch {
	case len(o.Ops) == 0:
		return fmt.Errorf("bench: no operation")
	case o.MinBytes < 0 || o.MaxBytes < o.MinBytes:
		return fmt.Errorf("bench: sizes -b %d -e %d: want 0 <= min <= max", o.MinBytes, o.MaxBytes)
	case o.Factor < 2:
		return fmt.Errorf("bench: -f %d: want a factor of at least 2", o.Factor)
	case o.Iters < 1:
		return fmt.Errorf("bench: -n %d: want at least 1 iteration", o.Iters)
	case o.Warmup < 0:
		return fmt.Errorf("bench: -w %d: want 0 or more", o.Warmup)
	case o.Settle < 0:
		return fmt.Errorf("bench: -settle %v: want 0 or more", o.Settle)
	case !o.DType.Valid():
		return fmt.Errorf("bench: bad dtype")
	case o.JSON && o.CSV:
		return fmt.Errorf("bench: -json and -csv: want one output format")
	case !o.RedOp.Valid():
		return fmt.Errorf("bench: bad reduction op")
	case o.Root < 0 || o.Root >= n:
		return fmt.Errorf("bench: -r %d: root out of range for %d ranks", o.Root, n)
	}
	for _, a := range o.algos() {
		if a == collective.AlgoAuto {
			continue
		}
		for _, op := range o.Ops {
			if op == schedule.SendRecv {
				continue
			}
			// The topology-aware algorithms (torus, hier, swing, multiring)
			// pass here; whether this job's KIZUNA_TOPOLOGY layout can run
			// them is the communicator's check, with its own clear error.
			if !slices.Contains(schedule.Available(op), a) {
				return fmt.Errorf("bench: -algo %s is not available for %s (available: %v, and with %s: %v)",
					a, op, collective.Available(op), collective.EnvTopology, schedule.Available(op))
			}
		}
	}
	return nil
}

// algos lists the algorithms each operation runs with: Compare, else Algo.
func (o *Options) algos() []collective.Algo {
	if len(o.Compare) > 0 {
		return o.Compare
	}
	return []collective.Algo{o.Algo}
}

// ParseAlgos parses -compare: a comma list of algorithm names ("auto"
// allowed), each at most once.
func ParseAlgos(s string) ([]collective.Algo, error) {
	var out []collective.Algo
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		a := collective.AlgoAuto
		if name != "auto" {
			var err error
			if a, err = schedule.ParseAlgo(name); err != nil {
				return nil, fmt.Errorf("-compare %q: %w", name, err)
			}
		}
		if slices.Contains(out, a) {
			return nil, fmt.Errorf("-compare: %s listed twice", name)
		}
		out = append(out, a)
	}
	return out, nil
}

// sizes lists the byte sizes of the sweep.
func (o *Options) sizes() []int64 { return Sizes(o.MinBytes, o.MaxBytes, o.Factor) }

// Sizes lists the byte sizes of a sweep (nccl-tests' -b, -e, -f): min,
// then each size factor times the one before, up to max. A sweep from 0
// goes on at factor. It ends before a size would overflow, and after min
// when factor is below 2.
func Sizes(min, max, factor int64) []int64 {
	var out []int64
	for b := min; b <= max; {
		out = append(out, b)
		switch {
		case factor < 2 || b > math.MaxInt64/factor:
			return out
		case b == 0:
			b = factor
		default:
			b *= factor
		}
	}
	return out
}

// Run measures the sweep on c. Every rank calls it with the same options;
// rank 0 writes the table (or JSON lines) to w.
func Run(ctx context.Context, c *collective.Comm, o Options, w io.Writer) (*Summary, error) {
	n := c.Size()
	if err := o.Validate(n); err != nil {
		return nil, err
	}
	sum := &Summary{}
	var busTotal float64
	var busRows int
	table := !o.JSON && !o.CSV
	if c.Rank() == 0 && o.CSV && !o.NoHeader {
		if err := writeCSVHeader(w); err != nil {
			return sum, err
		}
	}
	algos := o.algos()
	for _, coll := range o.Ops {
		for _, algo := range algos {
			if c.Rank() == 0 && table {
				printHeader(w, c, coll, algo, &o)
			}
			sizes := o.sizes()
			if coll == schedule.Barrier {
				sizes = []int64{0} // a barrier moves no data: one row
			}
			if err := warmUp(ctx, c, coll, algo, sizes, &o); err != nil {
				return sum, err
			}
			var opBus float64
			var opRows int
			for _, bytes := range sizes {
				rows, err := measure(ctx, c, coll, algo, bytes, &o)
				if err != nil {
					return sum, err
				}
				if c.Rank() != 0 {
					continue
				}
				for _, r := range rows {
					sum.Rows = append(sum.Rows, r)
					sum.Wrong += r.Wrong
					if r.InPlace {
						continue
					}
					if coll != schedule.Barrier {
						busTotal += r.BusBW
						busRows++
						opBus += r.BusBW
						opRows++
					}
				}
				switch {
				case o.JSON:
					enc := json.NewEncoder(w)
					for _, r := range rows {
						if err := enc.Encode(r); err != nil {
							return sum, err
						}
					}
				case o.CSV:
					if err := writeCSV(w, rows); err != nil {
						return sum, err
					}
				default:
					printRow(w, rows)
				}
			}
			if c.Rank() == 0 && table && opRows > 0 && len(o.Ops)*len(algos) > 1 {
				name := coll.String()
				if len(algos) > 1 {
					name += " " + algoName(algo)
				}
				fmt.Fprintf(w, "# %s avg bus bandwidth : %.6g\n#\n", name, opBus/float64(opRows))
			}
		}
	}
	if busRows > 0 {
		sum.AvgBusBW = busTotal / float64(busRows)
	}
	if c.Rank() == 0 && table {
		fmt.Fprintf(w, "# Out of bounds values : %d %s\n", sum.Wrong, map[bool]string{true: "OK", false: "FAILED"}[sum.Wrong == 0])
		fmt.Fprintf(w, "# Avg bus bandwidth    : %.6g\n#\n", sum.AvgBusBW)
	}
	return sum, nil
}

// algoName is "auto" or the algorithm's name.
func algoName(a collective.Algo) string {
	if a == collective.AlgoAuto {
		return "auto"
	}
	return a.String()
}

func printHeader(w io.Writer, c *collective.Comm, coll schedule.Coll, algo collective.Algo, o *Options) {
	fmt.Fprintf(w, "# kizuna bench: %s, %d ranks, transport %s, algo %s, iters %d, warmup %d (at least %v), check %v\n",
		coll, c.Size(), c.Transport(), algoName(algo), o.Iters, o.Warmup, o.Settle, o.Check)
	fmt.Fprintf(w, "# cost model: %s=%s\n", collective.EnvCosts, collective.FormatCosts(c.Costs()))
	fmt.Fprintf(w, "#%55s %-55s  %-55s\n", "", "out-of-place", "in-place")
	fmt.Fprintf(w, "#%11s %12s %8s %6s %5s %6s %10s %8s %8s %8s %8s %6s  %10s %8s %8s %8s %8s %6s\n",
		"size", "count", "type", "redop", "root", "algo", "time", "p50", "p99", "algbw", "busbw", "#wrong", "time", "p50", "p99", "algbw", "busbw", "#wrong")
	fmt.Fprintf(w, "#%11s %12s %8s %6s %5s %6s %10s %8s %8s %8s %8s %6s  %10s %8s %8s %8s %8s %6s\n",
		"(B)", "(elements)", "", "", "", "", "(us)", "(us)", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(us)", "(us)", "(GB/s)", "(GB/s)", "")
}

func printRow(w io.Writer, rows []Row) {
	r := rows[0]
	fmt.Fprintf(w, " %11d %12d %8s %6s %5d %6s", r.Bytes, r.Count, r.DType, r.RedOp, r.Root, r.Algo)
	for i, x := range rows {
		sep := " "
		if i > 0 {
			sep = "  "
		}
		fmt.Fprintf(w, "%s%10.2f %8.2f %8.2f %8.3f %8.3f %6d", sep, x.TimeUS, x.P50US, x.P99US, x.AlgBW, x.BusBW, x.Wrong)
	}
	fmt.Fprintln(w)
}

// warmUp runs o.Warmup untimed operations at the largest and then the
// smallest size of a sweep before its first row, as nccl-tests does. The
// first row otherwise pays for what every later one finds ready: socket
// buffers grown by TCP's autotuning, pooled and staging buffers, the heap.
// Measured: the first row of `kizuna bench -transport shm -np 2 -b 64K -e
// 128K -n 10` took 22-29 us a 64 KiB all-reduce, against 8.5-12.5 us for
// the same row after a 16 and a 32 KiB one (three runs each).
func warmUp(ctx context.Context, c *collective.Comm, coll schedule.Coll, choice collective.Algo, sizes []int64, o *Options) error {
	if o.Warmup == 0 || len(sizes) == 0 || coll == schedule.Barrier {
		return nil
	}
	w := *o
	w.Iters = 0
	for _, bytes := range []int64{sizes[len(sizes)-1], sizes[0]} {
		count, _ := counts(coll, bytes, c.Size(), o.DType)
		root := 0
		if hasRoot(coll) {
			root = o.Root
		}
		tc := oracle.Case{Coll: coll, Algo: choice, DType: o.DType, Op: o.RedOp, Count: int(count), Root: root}
		var bufs timeBufs
		if _, err := timeIt(ctx, c, tc, &w, &bufs); err != nil {
			return err
		}
	}
	runtime.GC() // the largest size's buffers are garbage before the first row
	return nil
}

// counts returns the count (the collective's convention) and the total
// elements of a call of bytes on n ranks.
func counts(coll schedule.Coll, bytes int64, n int, dt collective.DType) (count, total int64) {
	total = bytes / int64(dt.Size()) // elements in S
	count = total                    // per the collective's count convention
	if PerRank(coll) {
		count = total / int64(n)
		total = count * int64(n)
	}
	if coll == schedule.Barrier {
		count, total = 0, 0
	}
	return count, total
}

// measure runs one size of one collective, out-of-place then in-place.
func measure(ctx context.Context, c *collective.Comm, coll schedule.Coll, choice collective.Algo, bytes int64, o *Options) ([]Row, error) {
	n := c.Size()
	es := int64(o.DType.Size())
	count, total := counts(coll, bytes, n, o.DType)
	root, redop := -1, "none"
	if hasRoot(coll) {
		root = o.Root
	}
	if isReduction(coll) {
		redop = o.RedOp.String()
	}
	algo := "-"
	if coll != schedule.SendRecv {
		a, err := c.Algorithm(coll, o.DType, int(count), choice)
		if err != nil {
			return nil, err
		}
		algo = a.String()
	}
	var rows []Row
	// The timed buffers serve both passes (their lengths do not depend on
	// InPlace): allocating them per pass left the first pair as garbage
	// while the second was live, and the heap (GOGC=100) grew to twice the
	// user buffers. See docs/performance.md, "Memory".
	var bufs timeBufs
	for _, inPlace := range []bool{false, true} {
		tc := oracle.Case{Coll: coll, Algo: choice, DType: o.DType, Op: o.RedOp, Count: int(count), Root: max(root, 0), InPlace: inPlace}
		var wrong int64
		if o.Check {
			if bufs.in != nil || bufs.out != nil {
				// The check allocates its own buffers: give it the timed
				// ones' memory rather than holding both.
				bufs = timeBufs{}
				runtime.GC()
			}
			var err error
			if wrong, err = check(ctx, c, tc); err != nil {
				return nil, err
			}
			// The oracle's buffers (every rank's input, the reference, its
			// own send and receive buffers) are garbage now: collect them
			// so that the timed buffers reuse their memory instead of
			// growing the heap past them.
			runtime.GC()
		}
		times, err := timeIt(ctx, c, tc, o, &bufs)
		if err != nil {
			return nil, err
		}
		sorted := slices.Clone(times)
		slices.Sort(sorted)
		var mean float64
		for _, t := range times {
			mean += t
		}
		mean /= float64(len(times))
		s := float64(total * es)
		algbw := 0.0
		if mean > 0 {
			algbw = s / mean / 1e9
		}
		rows = append(rows, Row{
			Op: coll.String(), Bytes: total * es, Count: total, DType: o.DType.String(), RedOp: redop, Root: root,
			Algo: algo, Choice: algoName(choice), Transport: c.Transport(), NP: n, InPlace: inPlace,
			TimeUS: mean * 1e6, P50US: quantile(sorted, 0.50) * 1e6, P99US: quantile(sorted, 0.99) * 1e6,
			AlgBW: algbw, BusBW: algbw * BusFactor(coll, n), Wrong: wrong,
		})
	}
	return rows, nil
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// check runs tc once against the oracle and returns the number of wrong
// elements summed over all ranks.
func check(ctx context.Context, c *collective.Comm, tc oracle.Case) (int64, error) {
	var wrong int64
	if tc.Coll == schedule.SendRecv {
		wrong = checkSendRecv(ctx, c, tc)
	} else {
		got, err := oracle.Do(ctx, c, tc, 1)
		if err != nil {
			return 0, err
		}
		// Do's send buffer is garbage now: let the reference reuse it.
		runtime.GC()
		want := expected(tc, c.Rank(), c.Size(), 1)
		wrong = countWrong(tc.DType, got, want)
	}
	total := []int64{wrong}
	if err := collective.AllReduce(ctx, c, total, total, collective.Sum); err != nil {
		return 0, err
	}
	return total[0], nil
}

// expected is oracle.Expected computed in less memory for the reductions:
// oracle.Expected holds every rank's input at once, (Size+1) buffers, which
// at 256 MiB and 4 ranks is the bench's peak memory; expected generates the
// inputs one at a time and folds them in the same order as
// reduce.Reference (rank 0 first, then Apply of each next rank, then
// Finish), so it gives the same bits with two buffers. Other collectives
// are left to the oracle: their expected output is that large anyway
// (gathers) or a copy of one input.
func expected(tc oracle.Case, rank, size int, seed uint64) []byte {
	switch tc.Coll {
	case schedule.AllReduce, schedule.ReduceScatter:
	case schedule.Reduce:
		if rank != tc.Root {
			return nil
		}
	default:
		return oracle.Expected(tc, rank, size, seed)
	}
	if size < 1 {
		return nil
	}
	out := oracle.Input(tc, 0, size, seed)
	next := make([]byte, len(out))
	for r := 1; r < size; r++ {
		reduce.Fill(tc.DType, next, r, seed, tc.Op)
		reduce.Apply(tc.Op, tc.DType, out, next)
	}
	reduce.Finish(tc.Op, tc.DType, out, size)
	if tc.Coll == schedule.ReduceScatter {
		blk := tc.Count * tc.DType.Size()
		return out[rank*blk : (rank+1)*blk]
	}
	return out
}

func countWrong(dt collective.DType, got, want []byte) int64 {
	if len(got) != len(want) {
		return int64(max(len(got), len(want)) / dt.Size())
	}
	var wrong int64
	es := dt.Size()
	for off := 0; off < len(got); {
		i, ok := reduce.Equal(dt, got[off:], want[off:])
		if ok {
			break
		}
		wrong++
		off += (i + 1) * es
	}
	return wrong
}

func checkSendRecv(ctx context.Context, c *collective.Comm, tc oracle.Case) int64 {
	n, r := c.Size(), c.Rank()
	es := tc.DType.Size()
	send := make([]byte, tc.Count*es)
	reduce.Fill(tc.DType, send, r, 1, tc.Op)
	got, err := sendRecv(ctx, c, send, make([]byte, len(send)), tc.DType)
	if err != nil {
		return int64(tc.Count)
	}
	want := make([]byte, len(send))
	reduce.Fill(tc.DType, want, (r+n-1)%n, 1, tc.Op)
	return countWrong(tc.DType, got, want)
}

// sendRecv sends to the next rank and receives from the previous one, as
// nccl-tests' sendrecv_perf does.
func sendRecv(ctx context.Context, c *collective.Comm, send, recv []byte, dt collective.DType) ([]byte, error) {
	n, r := c.Size(), c.Rank()
	if err := c.SendBytes(ctx, send, dt, (r+1)%n, 0); err != nil {
		return nil, err
	}
	if err := c.RecvBytes(ctx, recv, dt, (r+n-1)%n, 0); err != nil {
		return nil, err
	}
	return recv, nil
}

// timeBufs is the pair of buffers timeIt runs on, kept between its calls.
type timeBufs struct{ in, out []byte }

// get returns the input and output buffers with the given lengths, the
// output zeroed, allocating only when a length changed.
func (b *timeBufs) get(inLen, outLen int) (in, out []byte) {
	if len(b.in) != inLen {
		b.in = make([]byte, inLen)
	}
	if len(b.out) != outLen {
		b.out = make([]byte, outLen)
	} else {
		clear(b.out)
	}
	return b.in, b.out
}

// timeIt runs warmup and timed iterations and returns each iteration's
// time on the slowest rank, in seconds.
//
// bufs holds the send and receive buffers between calls for one size:
// timeIt (re)allocates them only when their lengths change, and refills the
// input on every call, and zeroes the output.
func timeIt(ctx context.Context, c *collective.Comm, tc oracle.Case, o *Options, bufs *timeBufs) ([]float64, error) {
	n, r := c.Size(), c.Rank()
	es := tc.DType.Size()
	inLen, outLen := oracle.InputLen(tc, r, n)*es, oracle.OutputLen(tc, r, n)*es
	if tc.Coll == schedule.SendRecv {
		inLen, outLen = tc.Count*es, tc.Count*es
	}
	in, out := bufs.get(inLen, outLen)
	reduce.Fill(tc.DType, in, r, 2, tc.Op)
	var opts []collective.CallOption
	if tc.Algo != collective.AlgoAuto {
		opts = append(opts, collective.WithAlgo(tc.Algo))
	}
	blk := tc.Count * es
	send, recv := in, out
	if tc.InPlace {
		switch tc.Coll {
		case schedule.AllReduce, schedule.Broadcast, schedule.AllToAll:
			copy(out, in)
			send = out
		case schedule.Reduce:
			if r == tc.Root {
				copy(out, in)
				send = out
			}
		case schedule.AllGather:
			send = out[r*blk : (r+1)*blk]
		case schedule.Gather:
			if r == tc.Root {
				send = out[r*blk : (r+1)*blk]
			}
		case schedule.ReduceScatter:
			recv = in[r*blk : (r+1)*blk]
		case schedule.Scatter:
			if r == tc.Root {
				recv = in[r*blk : (r+1)*blk]
			}
		case schedule.SendRecv:
			// Point-to-point has no in-place form; time it again.
		}
	}
	one := func() error {
		var err error
		switch tc.Coll {
		case schedule.AllReduce:
			err = c.AllReduceBytes(ctx, send, recv, tc.DType, tc.Op, opts...)
		case schedule.Broadcast:
			err = c.BroadcastBytes(ctx, send, recv, tc.DType, tc.Root, opts...)
		case schedule.Reduce:
			err = c.ReduceBytes(ctx, send, recv, tc.DType, tc.Op, tc.Root, opts...)
		case schedule.AllGather:
			err = c.AllGatherBytes(ctx, send, recv, tc.DType, opts...)
		case schedule.ReduceScatter:
			err = c.ReduceScatterBytes(ctx, send, recv, tc.DType, tc.Op, opts...)
		case schedule.AllToAll:
			err = c.AllToAllBytes(ctx, send, recv, tc.DType, opts...)
		case schedule.Gather:
			err = c.GatherBytes(ctx, send, recv, tc.DType, tc.Root, opts...)
		case schedule.Scatter:
			err = c.ScatterBytes(ctx, send, recv, tc.DType, tc.Root, opts...)
		case schedule.Barrier:
			err = c.Barrier(ctx, opts...)
		case schedule.SendRecv:
			_, err = sendRecv(ctx, c, send, recv, tc.DType)
		}
		return err
	}
	if err := settle(ctx, c, o, one); err != nil {
		return nil, err
	}
	if err := c.Barrier(ctx); err != nil {
		return nil, err
	}
	times := make([]float64, o.Iters)
	if len(times) == 0 {
		return times, nil // warmUp's
	}
	for i := range times {
		start := time.Now()
		if err := one(); err != nil {
			return nil, err
		}
		times[i] = time.Since(start).Seconds()
	}
	if err := collective.AllReduce(ctx, c, times, times, collective.Max); err != nil {
		return nil, err
	}
	return times, nil
}

// settle runs one o.Warmup times, and again while the slowest rank has
// spent less than o.Settle in these warm-up rounds. The ranks agree on
// the time (an 8-byte all-reduce after each round), so that every rank
// runs the same number of operations.
func settle(ctx context.Context, c *collective.Comm, o *Options, one func() error) error {
	if o.Warmup == 0 {
		return nil
	}
	start := time.Now()
	spent := make([]float64, 1)
	for {
		for range o.Warmup {
			if err := one(); err != nil {
				return err
			}
		}
		if o.Settle <= 0 {
			return nil
		}
		spent[0] = time.Since(start).Seconds()
		if err := collective.AllReduce(ctx, c, spent, spent, collective.Max); err != nil {
			return err
		}
		if spent[0] >= o.Settle.Seconds() {
			return nil
		}
	}
}
