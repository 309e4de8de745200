package reduce

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// TestReference checks Reference against a fold written with the oracle, and
// that it neither modifies nor aliases its inputs.
func TestReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, op := range allOps {
		for _, dt := range allDTypes {
			for _, p := range []int{1, 2, 3, 8} {
				inputs := make([][]byte, p)
				saved := make([][]byte, p)
				for r := range inputs {
					inputs[r] = randomElements(rng, dt, 61)
					saved[r] = append([]byte(nil), inputs[r]...)
				}
				want := append([]byte(nil), inputs[0]...)
				for _, in := range inputs[1:] {
					want = naiveApply(op, dt, want, in)
				}
				want = naiveFinish(op, dt, want, p)

				got := Reference(op, dt, inputs)
				if i, ok := Equal(dt, got, want); !ok {
					t.Errorf("Reference(%v, %v, %d inputs): element %d = %s; want %s", op, dt, p, i, Format(dt, got, i), Format(dt, want, i))
				}
				for r := range inputs {
					if !bytes.Equal(inputs[r], saved[r]) {
						t.Errorf("Reference(%v, %v, %d inputs) modified input %d", op, dt, p, r)
					}
				}
				got[0] ^= 0xff
				if inputs[0][0] != saved[0][0] {
					t.Errorf("Reference(%v, %v, %d inputs) returned a slice aliasing inputs[0]", op, dt, p)
				}
			}
		}
	}
	if got := Reference(Sum, Float32, nil); got != nil {
		t.Errorf("Reference(Sum, Float32, nil) = %v; want nil", got)
	}
}

// TestFillExact checks Fill's promise: for 1 to 64 ranks, reducing in random
// association and operand orders gives Reference's bits exactly.
func TestFillExact(t *testing.T) {
	const elems = 67
	rng := rand.New(rand.NewPCG(9, 10))
	for _, op := range allOps {
		for _, dt := range allDTypes {
			for p := 1; p <= 64; p++ {
				seed := rng.Uint64()
				inputs := make([][]byte, p)
				for r := range inputs {
					inputs[r] = make([]byte, elems*dt.Size())
					Fill(dt, inputs[r], r, seed, op)
				}
				want := Reference(op, dt, inputs)
				for trial := range 3 {
					got := randomOrderReduce(rng, op, dt, inputs)
					if i, ok := Equal(dt, got, want); !ok {
						t.Fatalf("Fill(%v, rank 0..%d, seed %d, %v): random-order reduction %d gives element %d = %s; Reference %s",
							dt, p-1, seed, op, trial, i, Format(dt, got, i), Format(dt, want, i))
					}
				}
			}
		}
	}
}

// randomOrderReduce reduces copies of inputs by repeatedly combining two
// random partial results in a random operand order, then Finish.
func randomOrderReduce(rng *rand.Rand, op Op, dt DType, inputs [][]byte) []byte {
	parts := make([][]byte, len(inputs))
	for r := range inputs {
		parts[r] = append([]byte(nil), inputs[r]...)
	}
	for len(parts) > 1 {
		i := rng.IntN(len(parts))
		j := rng.IntN(len(parts) - 1)
		if j >= i {
			j++
		}
		Apply(op, dt, parts[i], parts[j])
		parts[j] = parts[len(parts)-1]
		parts = parts[:len(parts)-1]
	}
	Finish(op, dt, parts[0], len(inputs))
	return parts[0]
}

// TestFillOrderMatters shows that TestFillExact could fail: on random data a
// random association order does not reproduce Reference for the rounding
// types.
func TestFillOrderMatters(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, dt := range []DType{Float32, Float16, BFloat16} {
		inputs := make([][]byte, 64)
		for r := range inputs {
			inputs[r] = make([]byte, 256*dt.Size())
			for i := range 256 {
				putFloat(dt, inputs[r][i*dt.Size():], rng.Float64()*100)
			}
		}
		want := Reference(Sum, dt, inputs)
		if _, ok := Equal(dt, randomOrderReduce(rng, Sum, dt, inputs), want); ok {
			t.Errorf("%v: a random-order sum of random data matched Reference bitwise; the exactness test has no teeth", dt)
		}
	}
}

// TestFillValues checks the ranges that Fill documents.
func TestFillValues(t *testing.T) {
	tests := []struct {
		dt     DType
		lo, hi float64 // Sum's range
	}{
		{Float32, -1 << 16, 1 << 16}, {Float64, -1 << 40, 1 << 40}, {Float16, -32, 32}, {BFloat16, -4, 4},
		{Int8, -3, 3}, {Uint8, 0, 3}, {Int32, -1 << 16, 1 << 16}, {Int64, -1 << 40, 1 << 40},
	}
	const elems = 4096
	for _, tt := range tests {
		size := tt.dt.Size()
		value := func(b []byte, i int) float64 {
			if isFloat(tt.dt) {
				return getFloat(tt.dt, b[i*size:])
			}
			return float64(getInt(tt.dt, b[i*size:]))
		}
		for _, op := range []Op{Sum, Avg} {
			buf := make([]byte, elems*size)
			Fill(tt.dt, buf, 5, 42, op)
			seenLo, seenHi := false, false
			for i := range elems {
				v := value(buf, i)
				if v != math.Trunc(v) || v < tt.lo || v > tt.hi {
					t.Fatalf("Fill(%v, rank 5, %v) element %d = %s; want an integer in [%g, %g]", tt.dt, op, i, Format(tt.dt, buf, i), tt.lo, tt.hi)
				}
				seenLo = seenLo || v < tt.lo/2 || (tt.lo == 0 && v == 0)
				seenHi = seenHi || v > tt.hi/2
			}
			if !seenLo || !seenHi {
				t.Errorf("Fill(%v, %v) values do not spread over [%g, %g]", tt.dt, op, tt.lo, tt.hi)
			}
		}

		// Prod: ±1, or ±2 for one rank in 16 per element.
		twos := make([]int, elems)
		for r := range 64 {
			buf := make([]byte, elems*size)
			Fill(tt.dt, buf, r, 42, Prod)
			for i := range elems {
				v := value(buf, i)
				if tt.dt == Uint8 && v > 127 {
					v -= 256
				}
				switch v {
				case 1, -1:
				case 2, -2:
					twos[i]++
				default:
					t.Fatalf("Fill(%v, rank %d, Prod) element %d = %s; want ±1 or ±2", tt.dt, r, i, Format(tt.dt, buf, i))
				}
			}
		}
		for i, n := range twos {
			if n != 4 {
				t.Fatalf("Fill(%v, Prod) element %d: %d of 64 ranks give ±2; want 4", tt.dt, i, n)
			}
		}

		// Min and Max: finite, varied.
		for _, op := range []Op{Min, Max} {
			buf := make([]byte, elems*size)
			Fill(tt.dt, buf, 3, 42, op)
			distinct := map[string]bool{}
			for i := range elems {
				if isFloat(tt.dt) && (math.IsNaN(value(buf, i)) || math.IsInf(value(buf, i), 0)) {
					t.Fatalf("Fill(%v, %v) element %d = %s; want a finite value", tt.dt, op, i, Format(tt.dt, buf, i))
				}
				distinct[string(buf[i*size:(i+1)*size])] = true
			}
			if want := min(elems/2, 1<<(8*size)/2); len(distinct) < want {
				t.Errorf("Fill(%v, %v): %d distinct values in %d; want at least %d", tt.dt, op, len(distinct), elems, want)
			}
		}
	}
}

// TestFillDeterministic checks that Fill depends on its arguments and only
// on them.
func TestFillDeterministic(t *testing.T) {
	fill := func(dt DType, n, rank int, seed uint64, op Op) []byte {
		b := make([]byte, n*dt.Size())
		Fill(dt, b, rank, seed, op)
		return b
	}
	for _, dt := range allDTypes {
		for _, op := range allOps {
			a := fill(dt, 500, 3, 99, op)
			if !bytes.Equal(a, fill(dt, 500, 3, 99, op)) {
				t.Errorf("Fill(%v, rank 3, seed 99, %v) differs between calls", dt, op)
			}
			if !bytes.Equal(a[:100*dt.Size()], fill(dt, 100, 3, 99, op)) {
				t.Errorf("Fill(%v, %v): a shorter buffer gets different leading elements", dt, op)
			}
			if bytes.Equal(a, fill(dt, 500, 4, 99, op)) {
				t.Errorf("Fill(%v, %v): ranks 3 and 4 get the same data", dt, op)
			}
			if bytes.Equal(a, fill(dt, 500, 3, 100, op)) {
				t.Errorf("Fill(%v, %v): seeds 99 and 100 give the same data", dt, op)
			}
		}
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name    string
		dt      DType
		a, b    []byte
		wantBad int
		wantOK  bool
	}{
		{"equal", Float32, f32b(1, 2, 3), f32b(1, 2, 3), -1, true},
		{"empty", Int8, nil, []byte{}, -1, true},
		{"differ", Float32, f32b(1, 2, 3), f32b(1, 2, 4), 2, false},
		{"first of two", Int32, i32b(1, 2, 3), i32b(0, 2, 4), 0, false},
		{"NaN payloads", Float32, f32b(nan32, 1), f32b(math.Float32frombits(0xffc00001), 1), -1, true},
		{"NaN vs number", Float32, f32b(1, nan32), f32b(1, 1), 1, false},
		{"NaN vs Inf", Float64, f64b(nan64), f64b(inf64), 0, false},
		{"-0 vs +0", Float32, f32b(neg0f), f32b(0), 0, false},
		{"f64 -0 vs +0", Float64, f64b(5, neg0d), f64b(5, 0), 1, false},
		{"f16 NaNs", Float16, u16b(0x7e00, 0xfc01), u16b(0x7c01, 0x7fff), -1, true},
		{"f16 Inf vs NaN", Float16, u16b(0x7c00), u16b(0x7c01), 0, false},
		{"bf16 NaNs", BFloat16, u16b(0x7fc0), u16b(0xff81), -1, true},
		{"bf16 -0", BFloat16, u16b(0x3f80, 0x8000), u16b(0x3f80, 0x0000), 1, false},
		{"int8 bits", Int8, i8b(-1, 2), i8b(-1, 3), 1, false},
		{"int32 0x7fc00000 is no NaN", Int32, i32b(0x7fc00000), i32b(0x7fc00001), 0, false},
		{"b longer", Int64, i64b(1), i64b(1, 2), 1, false},
		{"a longer", Float16, u16b(1, 2, 3), u16b(1, 2), 2, false},
	}
	for _, tt := range tests {
		bad, ok := Equal(tt.dt, tt.a, tt.b)
		if bad != tt.wantBad || ok != tt.wantOK {
			t.Errorf("%s: Equal(%v, %x, %x) = %d, %v; want %d, %v", tt.name, tt.dt, tt.a, tt.b, bad, ok, tt.wantBad, tt.wantOK)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		dt   DType
		buf  []byte
		i    int
		want string
	}{
		{Float32, f32b(1, 0.1, -2.5), 1, "0.1"},
		{Float32, f32b(neg0f), 0, "-0"},
		{Float32, f32b(inf32), 0, "+Inf"},
		{Float32, f32b(math.Float32frombits(0x7fc00001)), 0, "NaN(0x7fc00001)"},
		{Float64, f64b(1, 1e300), 1, "1e+300"},
		{Float16, u16b(0x3c00, 0x3555), 1, "0.33325195"},
		{Float16, u16b(0x7e00), 0, "NaN(0x7e00)"},
		{BFloat16, u16b(0x4049), 0, "3.140625"},
		{Int8, i8b(5, -128), 1, "-128"},
		{Uint8, []byte{255}, 0, "255"},
		{Int32, i32b(7, math.MinInt32), 1, "-2147483648"},
		{Int64, i64b(math.MaxInt64), 0, "9223372036854775807"},
		{Int32, i32b(1, 2), 2, "<index 2 out of range [0, 2)>"},
		{Int32, i32b(1), -1, "<index -1 out of range [0, 1)>"},
	}
	for _, tt := range tests {
		if got := Format(tt.dt, tt.buf, tt.i); got != tt.want {
			t.Errorf("Format(%v, %x, %d) = %q; want %q", tt.dt, tt.buf, tt.i, got, tt.want)
		}
	}
}
