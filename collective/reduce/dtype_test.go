package reduce

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"
)

var (
	allDTypes = []DType{Float32, Float64, Float16, BFloat16, Int8, Uint8, Int32, Int64}
	allOps    = []Op{Sum, Prod, Min, Max, Avg}
)

// TestWireValues pins the numbers that travel in frame headers.
func TestWireValues(t *testing.T) {
	tests := []struct {
		got, want uint8
		name      string
		size      int
	}{
		{uint8(Float32), 1, "float32", 4},
		{uint8(Float64), 2, "float64", 8},
		{uint8(Float16), 3, "float16", 2},
		{uint8(BFloat16), 4, "bfloat16", 2},
		{uint8(Int8), 5, "int8", 1},
		{uint8(Uint8), 6, "uint8", 1},
		{uint8(Int32), 7, "int32", 4},
		{uint8(Int64), 8, "int64", 8},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("DType %s = %d; want %d", tt.name, tt.got, tt.want)
		}
		d := DType(tt.want)
		if got := d.String(); got != tt.name {
			t.Errorf("DType(%d).String() = %q; want %q", tt.want, got, tt.name)
		}
		if got := d.Size(); got != tt.size {
			t.Errorf("%v.Size() = %d; want %d", d, got, tt.size)
		}
		if !d.Valid() {
			t.Errorf("%v.Valid() = false; want true", d)
		}
	}
	ops := []struct {
		got, want uint8
		name      string
	}{
		{uint8(Sum), 1, "sum"}, {uint8(Prod), 2, "prod"}, {uint8(Min), 3, "min"}, {uint8(Max), 4, "max"}, {uint8(Avg), 5, "avg"},
	}
	for _, tt := range ops {
		if tt.got != tt.want {
			t.Errorf("Op %s = %d; want %d", tt.name, tt.got, tt.want)
		}
		if got := Op(tt.want).String(); got != tt.name {
			t.Errorf("Op(%d).String() = %q; want %q", tt.want, got, tt.name)
		}
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		d    DType
		want string
	}{{0, "DType(0)"}, {9, "DType(9)"}, {255, "DType(255)"}}
	for _, tt := range tests {
		if tt.d.Valid() || tt.d.Size() != 0 || tt.d.String() != tt.want {
			t.Errorf("DType(%d): Valid %v, Size %d, String %q; want false, 0, %q", tt.d, tt.d.Valid(), tt.d.Size(), tt.d.String(), tt.want)
		}
	}
	ops := []struct {
		o    Op
		want string
	}{{0, "Op(0)"}, {6, "Op(6)"}, {255, "Op(255)"}}
	for _, tt := range ops {
		if tt.o.Valid() || tt.o.String() != tt.want {
			t.Errorf("Op(%d): Valid %v, String %q; want false, %q", tt.o, tt.o.Valid(), tt.o.String(), tt.want)
		}
	}
}

func TestParseDType(t *testing.T) {
	tests := []struct {
		in   string
		want DType
	}{
		{"float32", Float32}, {"f32", Float32}, {"FP32", Float32}, {"Float", Float32},
		{"float64", Float64}, {"f64", Float64}, {"fp64", Float64}, {"DOUBLE", Float64},
		{"float16", Float16}, {"f16", Float16}, {"fp16", Float16}, {"Half", Float16},
		{"bfloat16", BFloat16}, {"BF16", BFloat16},
		{"int8", Int8}, {"uint8", Uint8}, {"int32", Int32}, {"INT", Int32}, {"int64", Int64},
	}
	for _, tt := range tests {
		got, err := ParseDType(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDType(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
	for _, d := range allDTypes {
		if got, err := ParseDType(d.String()); err != nil || got != d {
			t.Errorf("ParseDType(%q) = %v, %v; want %v, nil", d.String(), got, err, d)
		}
	}
	for _, in := range []string{"", "int16", "float8", "f32 ", "uint32", "DType(1)"} {
		got, err := ParseDType(in)
		if err == nil {
			t.Errorf("ParseDType(%q) = %v, nil; want an error", in, got)
			continue
		}
		for _, want := range []string{"reduce:", `"` + in + `"`, "float32", "bfloat16", "int64"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ParseDType(%q) error %q does not contain %q", in, err, want)
			}
		}
	}
}

func TestParseOp(t *testing.T) {
	tests := []struct {
		in   string
		want Op
	}{{"sum", Sum}, {"PROD", Prod}, {"Min", Min}, {"max", Max}, {"avg", Avg}}
	for _, tt := range tests {
		got, err := ParseOp(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseOp(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
	for _, o := range allOps {
		if got, err := ParseOp(o.String()); err != nil || got != o {
			t.Errorf("ParseOp(%q) = %v, %v; want %v, nil", o.String(), got, err, o)
		}
	}
	for _, in := range []string{"", "add", "mean", "Op(1)"} {
		got, err := ParseOp(in)
		if err == nil {
			t.Errorf("ParseOp(%q) = %v, nil; want an error", in, got)
			continue
		}
		for _, want := range []string{"reduce:", `"` + in + `"`, "sum", "avg"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ParseOp(%q) error %q does not contain %q", in, err, want)
			}
		}
	}
}

func TestDTypeOf(t *testing.T) {
	tests := []struct {
		got, want DType
		size      uintptr
	}{
		{DTypeOf[float32](), Float32, unsafe.Sizeof(float32(0))},
		{DTypeOf[float64](), Float64, unsafe.Sizeof(float64(0))},
		{DTypeOf[F16](), Float16, unsafe.Sizeof(F16(0))},
		{DTypeOf[BF16](), BFloat16, unsafe.Sizeof(BF16(0))},
		{DTypeOf[int8](), Int8, unsafe.Sizeof(int8(0))},
		{DTypeOf[uint8](), Uint8, unsafe.Sizeof(uint8(0))},
		{DTypeOf[int32](), Int32, unsafe.Sizeof(int32(0))},
		{DTypeOf[int64](), Int64, unsafe.Sizeof(int64(0))},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("DTypeOf = %v; want %v", tt.got, tt.want)
		}
		if tt.want.Size() != int(tt.size) {
			t.Errorf("%v.Size() = %d; want the Go type's size %d", tt.want, tt.want.Size(), tt.size)
		}
	}
}

func TestAsBytes(t *testing.T) {
	if !littleEndian {
		t.Skip("AsBytes shows host order; the byte checks below assume little-endian")
	}
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"float32", AsBytes([]float32{1, -2}), []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}},
		{"float64", AsBytes([]float64{1}), []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}},
		{"F16", AsBytes([]F16{0x3c00, 0x0102}), []byte{0x00, 0x3c, 0x02, 0x01}},
		{"BF16", AsBytes([]BF16{0x3f80}), []byte{0x80, 0x3f}},
		{"int8", AsBytes([]int8{-1, 2}), []byte{0xff, 2}},
		{"uint8", AsBytes([]uint8{7}), []byte{7}},
		{"int32", AsBytes([]int32{-2}), []byte{0xfe, 0xff, 0xff, 0xff}},
		{"int64", AsBytes([]int64{0x0102030405060708}), []byte{8, 7, 6, 5, 4, 3, 2, 1}},
		{"nil", AsBytes[float32](nil), nil},
		{"empty", AsBytes([]int64{}), nil},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) || (tt.want == nil) != (tt.got == nil) {
			t.Errorf("AsBytes(%s) = %#v; want %#v", tt.name, tt.got, tt.want)
		}
	}

	// Aliasing: writes through either view are seen through the other.
	s := make([]int32, 5)
	b := AsBytes(s)
	if len(b) != 20 || cap(b) != 20 {
		t.Fatalf("AsBytes(5 x int32): len %d cap %d; want 20 20", len(b), cap(b))
	}
	b[4] = 9
	if s[1] != 9 {
		t.Errorf("after writing AsBytes(s)[4] = 9, s[1] = %d; want 9", s[1])
	}
	s[4] = -1
	if !bytes.Equal(b[16:], []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("after s[4] = -1, AsBytes(s)[16:] = %x; want ffffffff", b[16:])
	}
	// A subslice views only its own elements.
	if got := AsBytes(s[1:3]); len(got) != 8 || &got[0] != &b[4] {
		t.Errorf("AsBytes(s[1:3]) has len %d and starts at %p; want 8 and %p", len(got), &got[0], &b[4])
	}
}
