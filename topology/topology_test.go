package topology

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParse(t *testing.T) {
	tests := []struct {
		spec    string
		want    string
		wantErr bool
	}{
		{"flat", "flat", false},
		{"", "flat", false},
		{"FLAT:8", "flat:8", false},
		{"flat:0", "", true},
		{"flat:x", "", true},
		{"torus:4x4", "", true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.spec)
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) err = %v; want error %v", tt.spec, err, tt.wantErr)
			continue
		}
		if err == nil && got.Name() != tt.want {
			t.Errorf("Parse(%q) = %q; want %q", tt.spec, got.Name(), tt.want)
		}
	}
}

func TestFlatHops(t *testing.T) {
	f := Flat{N: 4}
	for a := range 4 {
		for b := range 4 {
			want := 1
			if a == b {
				want = 0
			}
			if got := f.Hops(a, b); got != want {
				t.Errorf("Flat.Hops(%d, %d) = %d; want %d", a, b, got, want)
			}
		}
	}
}
