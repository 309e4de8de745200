package reduce

import (
	"math"

	"github.com/x448/float16"
)

// F16 holds the bits of an IEEE 754 binary16 number, the element type of
// Float16. (The name F16 avoids clashing with the DType constant Float16.)
type F16 uint16

// Float32 returns h as a float32; the conversion is exact.
func (h F16) Float32() float32 { return float16.Frombits(uint16(h)).Float32() }

// Float16From returns f rounded to binary16, to nearest with ties to even.
// Values beyond the binary16 range become ±Inf and NaN stays NaN.
func Float16From(f float32) F16 { return F16(float16.Fromfloat32(f).Bits()) }

// BF16 holds the bits of a bfloat16 number (the top 16 bits of a float32),
// the element type of BFloat16. (The name BF16 avoids clashing with the DType
// constant BFloat16.)
type BF16 uint16

// Float32 returns b as a float32; the conversion is exact.
func (b BF16) Float32() float32 { return math.Float32frombits(uint32(b) << 16) }

// BFloat16From returns f rounded to bfloat16, to nearest with ties to even.
// Values beyond the bfloat16 range become ±Inf and NaN stays NaN (quiet,
// with its sign and the top of its payload).
func BFloat16From(f float32) BF16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		// NaN: truncation could clear every payload bit and leave Inf, so set
		// the quiet bit.
		return BF16(u>>16 | 0x0040)
	}
	// Add just under half an ulp of the result, plus one more when the kept
	// part is odd, so that exact ties go to the even neighbour. A carry out of
	// the mantissa bumps the exponent, which is the correct rounding, up to
	// and including Inf.
	u += 0x7fff + (u>>16)&1
	return BF16(u >> 16)
}
