package reduce

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFloat16From(t *testing.T) {
	tests := []struct {
		in   float32
		want F16
	}{
		{1, 0x3c00},
		{-2, 0xc000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1 + 0x1p-11, 0x3c00},   // tie, rounds to even
		{1 + 3*0x1p-11, 0x3c02}, // tie, rounds to even (up)
		{1 + 0x1p-11 + 0x1p-20, 0x3c01},
		{2049, 0x6800}, // tie between 2048 and 2050
		{2051, 0x6802}, // tie between 2050 and 2052
		{65504, 0x7bff},
		{65519, 0x7bff},
		{65520, 0x7c00}, // tie between max and the next power of two: Inf
		{-1e10, 0xfc00},
		{0x1p-24, 0x0001},   // smallest subnormal
		{0x1p-25, 0x0000},   // tie between 0 and the smallest subnormal
		{0x3p-26, 0x0001},   // 0.75 of the smallest subnormal
		{0x3p-25, 0x0002},   // 1.5 subnormals: tie, rounds to even
		{0x1p-14, 0x0400},   // smallest normal
		{0x3ffp-24, 0x03ff}, // largest subnormal
		{float32(math.Inf(1)), 0x7c00},
	}
	for _, tt := range tests {
		if got := Float16From(tt.in); got != tt.want {
			t.Errorf("Float16From(%g) = %#04x; want %#04x", tt.in, got, tt.want)
		}
	}
	if got := Float16From(float32(math.NaN())); got&0x7fff <= 0x7c00 {
		t.Errorf("Float16From(NaN) = %#04x; want a NaN", got)
	}
}

func TestBFloat16From(t *testing.T) {
	tests := []struct {
		in   uint32 // float32 bits
		want BF16
	}{
		{0x3f800000, 0x3f80},                          // 1
		{0x3f808000, 0x3f80},                          // tie, rounds to even (down)
		{0x3f818000, 0x3f82},                          // tie, rounds to even (up)
		{0x3f808001, 0x3f81},                          // just above the tie
		{0x3f807fff, 0x3f80},                          // just below the tie
		{math.Float32bits(257), 0x4380},               // 256 and 258 tie
		{math.Float32bits(259), 0x4382},               // 258 and 260 tie
		{0x7f7f7fff, 0x7f7f},                          // below the overflow tie
		{0x7f7f8000, 0x7f80},                          // the overflow tie goes to Inf
		{0xff7fffff, 0xff80},                          // -max float32 rounds to -Inf
		{0x7f800000, 0x7f80},                          // +Inf
		{0x80000000, 0x8000},                          // -0
		{0x00008000, 0x0000},                          // half the smallest subnormal: tie to 0
		{0x00018000, 0x0002},                          // 1.5 subnormals: tie to even
		{0x007fffff, 0x0080},                          // largest float32 subnormal rounds to smallest normal
		{math.Float32bits(float32(math.Pi)), 0x4049},  // 3.140625
		{math.Float32bits(float32(-math.Pi)), 0xc049}, // sign kept
		{math.Float32bits(float32(1.0 / 3.0)), 0x3eab},
	}
	for _, tt := range tests {
		if got := BFloat16From(math.Float32frombits(tt.in)); got != tt.want {
			t.Errorf("BFloat16From(%#08x) = %#04x; want %#04x", tt.in, got, tt.want)
		}
	}
	// NaNs stay NaN, even when truncation would leave only zero payload bits.
	for _, in := range []uint32{0x7f800001, 0xff800001, 0x7fc00000, 0x7fffffff, 0xffffffff, 0x7f80ffff} {
		got := BFloat16From(math.Float32frombits(in))
		if got&0x7fff <= 0x7f80 {
			t.Errorf("BFloat16From(%#08x) = %#04x; want a NaN", in, got)
		}
		if got&0x8000 != BF16(in>>16)&0x8000 {
			t.Errorf("BFloat16From(%#08x) = %#04x; want the sign kept", in, got)
		}
	}
}

// TestHalfRoundTrip checks every 16-bit pattern: Float32 is exact, so
// converting back gives the same bits, and it agrees with the oracle's
// decoding.
func TestHalfRoundTrip(t *testing.T) {
	for b := range 1 << 16 {
		h := F16(b)
		f := h.Float32()
		if want := naiveF16.decode(uint16(b)); !(math.IsNaN(want) && f != f) && float64(f) != want {
			t.Fatalf("F16(%#04x).Float32() = %g; want %g", b, f, want)
		}
		if got := Float16From(f); got != h && !(f != f && got&0x7fff > 0x7c00) {
			t.Fatalf("Float16From(F16(%#04x).Float32()) = %#04x; want %#04x", b, got, h)
		}
		bh := BF16(b)
		bf := bh.Float32()
		if want := naiveBF16.decode(uint16(b)); !(math.IsNaN(want) && bf != bf) && float64(bf) != want {
			t.Fatalf("BF16(%#04x).Float32() = %g; want %g", b, bf, want)
		}
		if got := BFloat16From(bf); got != bh && !(bf != bf && got&0x7fff > 0x7f80) {
			t.Fatalf("BFloat16From(BF16(%#04x).Float32()) = %#04x; want %#04x", b, got, bh)
		}
	}
}

// TestHalfRoundingRandom compares the conversions with the oracle's table
// search on random float32 values, concentrated near the half types' ranges.
func TestHalfRoundingRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200000 {
		var f float32
		if i%2 == 0 {
			f = math.Float32frombits(rng.Uint32())
		} else {
			// Exponents from -30 to 20 cover Float16's subnormals to overflow.
			f = float32(math.Ldexp(rng.Float64()+1, rng.IntN(51)-30))
			if rng.IntN(2) == 0 {
				f = -f
			}
		}
		if f != f {
			continue
		}
		if got, want := BFloat16From(f), BF16(naiveBF16.round(float64(f))); got != want {
			t.Fatalf("BFloat16From(%#08x) = %#04x; want %#04x", math.Float32bits(f), got, want)
		}
		if got, want := Float16From(f), F16(naiveF16.round(float64(f))); got != want {
			t.Fatalf("Float16From(%#08x) = %#04x; want %#04x", math.Float32bits(f), got, want)
		}
	}
}
