package reduce

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// DType is an element type. Its numeric value travels in frame headers
// (transport.Header.DType), so values must never be renumbered. A DType read
// from the wire must be checked with Valid before it is used.
type DType uint8

const (
	Float32  DType = 1
	Float64  DType = 2
	Float16  DType = 3 // IEEE 754 binary16; Go type F16
	BFloat16 DType = 4 // bfloat16 (the top half of a float32); Go type BF16
	Int8     DType = 5
	Uint8    DType = 6
	Int32    DType = 7
	Int64    DType = 8
)

// dtypeLimit is one past the largest DType; it sizes the kernel table.
const dtypeLimit = int(Int64) + 1

var dtypeNames = [dtypeLimit]string{
	Float32:  "float32",
	Float64:  "float64",
	Float16:  "float16",
	BFloat16: "bfloat16",
	Int8:     "int8",
	Uint8:    "uint8",
	Int32:    "int32",
	Int64:    "int64",
}

var dtypeSizes = [dtypeLimit]int{
	Float32:  4,
	Float64:  8,
	Float16:  2,
	BFloat16: 2,
	Int8:     1,
	Uint8:    1,
	Int32:    4,
	Int64:    8,
}

// Valid reports whether d is one of the defined data types.
func (d DType) Valid() bool { return d >= Float32 && d <= Int64 }

// Size returns the size of one element in bytes, or 0 if d is not Valid.
func (d DType) Size() int {
	if !d.Valid() {
		return 0
	}
	return dtypeSizes[d]
}

// String returns the canonical lower-case name ("float32", "bfloat16", ...),
// or "DType(n)" if d is not Valid.
func (d DType) String() string {
	if !d.Valid() {
		return "DType(" + strconv.Itoa(int(d)) + ")"
	}
	return dtypeNames[d]
}

// ParseDType returns the DType named by s, ignoring case. It accepts the
// canonical names that String returns and the aliases f32, fp32, float
// (Float32); f64, fp64, double (Float64); f16, fp16, half (Float16); bf16
// (BFloat16); int (Int32).
func ParseDType(s string) (DType, error) {
	switch strings.ToLower(s) {
	case "float32", "f32", "fp32", "float":
		return Float32, nil
	case "float64", "f64", "fp64", "double":
		return Float64, nil
	case "float16", "f16", "fp16", "half":
		return Float16, nil
	case "bfloat16", "bf16":
		return BFloat16, nil
	case "int8":
		return Int8, nil
	case "uint8":
		return Uint8, nil
	case "int32", "int":
		return Int32, nil
	case "int64":
		return Int64, nil
	}
	return 0, fmt.Errorf("reduce: unknown dtype %q (valid: %s)", s, strings.Join(dtypeNames[Float32:], ", "))
}

// Op is a reduction operation. Its numeric value travels in frame headers
// (transport.Header.RedOp), so values must never be renumbered. An Op read
// from the wire must be checked with Valid before it is used.
type Op uint8

const (
	Sum  Op = 1
	Prod Op = 2
	Min  Op = 3
	Max  Op = 4
	// Avg combines like Sum; Finish then divides by the number of
	// contributors.
	Avg Op = 5
)

// opLimit is one past the largest Op; it sizes the kernel table.
const opLimit = int(Avg) + 1

var opNames = [opLimit]string{Sum: "sum", Prod: "prod", Min: "min", Max: "max", Avg: "avg"}

// Valid reports whether o is one of the defined operations.
func (o Op) Valid() bool { return o >= Sum && o <= Avg }

// String returns the canonical lower-case name ("sum", "prod", "min", "max",
// "avg"), or "Op(n)" if o is not Valid.
func (o Op) String() string {
	if !o.Valid() {
		return "Op(" + strconv.Itoa(int(o)) + ")"
	}
	return opNames[o]
}

// ParseOp returns the Op named by s, ignoring case. It accepts the names that
// String returns.
func ParseOp(s string) (Op, error) {
	l := strings.ToLower(s)
	for o := Sum; o <= Avg; o++ {
		if opNames[o] == l {
			return o, nil
		}
	}
	return 0, fmt.Errorf("reduce: unknown op %q (valid: %s)", s, strings.Join(opNames[Sum:], ", "))
}

// Element is the set of Go types that hold one element of a DType.
type Element interface {
	float32 | float64 | F16 | BF16 | int8 | uint8 | int32 | int64
}

// DTypeOf returns the DType whose elements T holds.
func DTypeOf[T Element]() DType {
	var z T
	switch any(z).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case F16:
		return Float16
	case BF16:
		return BFloat16
	case int8:
		return Int8
	case uint8:
		return Uint8
	case int32:
		return Int32
	default: // int64, the only type left in Element
		return Int64
	}
}

// AsBytes returns the memory of s as a byte slice of length len(s) times the
// element size, without copying: writes through either slice are seen through
// the other. It returns nil for an empty s. The bytes are in host order, which
// is the wire's little-endian order on the little-endian hosts Kizuna
// targets (see the package documentation).
func AsBytes[T Element](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}
