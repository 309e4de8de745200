// Command neon writes collective/reduce's arm64 NEON kernels
// (kernels_arm64.s). Go's arm64 assembler has no mnemonics for most vector
// arithmetic (FADD, FMUL, FMIN, FMAX, SMIN, ... on vectors), so this
// generator encodes those instructions as WORDs, each with the instruction
// it holds as a comment; `go tool objdump` on an arm64 test binary decodes
// them back (where its decoder knows them). Run it from the repository
// root with
//
//	go generate ./collective/reduce
//
// Every Apply kernel has the Go signature func(dst, src []byte) and combines
// len(dst) rounded down to a multiple of 16 bytes, dst[i] = dst[i] op src[i],
// with dst in the first operand (Rn) as the compiled scalar Go code has it:
// Go's min and max on arm64 are FMIN and FMAX, which these kernels apply
// lane by lane, so -0 and NaN come out as in the portable kernels. Float16
// and BFloat16 are widened to float32, combined and rounded back once, as
// the portable kernels do. divF32 and divF64 are Finish's Avg division.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
)

// A kernel is one vector instruction applied lane by lane, or a sequence
// that custom emits.
type kernel struct {
	name string
	base uint32 // the encoding with Rd, Rn and Rm zero
	asm  string // the instruction, for the comment: "FADD V%d.4S, V%d.4S, V%d.4S"
	// custom, if set, writes Vd = Vd op Vm for the block in Vd (0 to 3);
	// it may use V8 to V11 and V16 to V31 as scratch, and V12 to V14 hold
	// the BFloat16 constants in the BFloat16 kernels.
	custom func(w *bytes.Buffer, d, m uint32)
}

// CMGT Vd.2D, Vn.2D, Vm.2D: Vd = Vn > Vm (signed), all ones or zero.
var cmgt2D = kernel{base: 0x4EE03400, asm: "CMGT V%d.2D, V%d.2D, V%d.2D"}

// int64MinMax selects with CMGT and BIT: min takes src where dst > src,
// max where src > dst (NEON has no 64-bit SMIN or SMAX).
func int64MinMax(isMin bool) func(w *bytes.Buffer, d, m uint32) {
	return func(w *bytes.Buffer, d, m uint32) {
		mask := d + 8
		if isMin {
			op(w, cmgt2D, mask, d, m)
		} else {
			op(w, cmgt2D, mask, m, d)
		}
		// BIT Vd, Vm, Vmask: Vd takes Vm's bits where mask is set.
		fmt.Fprintf(w, "\tVBIT V%d.B16, V%d.B16, V%d.B16\n", mask, m, d)
	}
}

// Half-precision conversions: FCVTL widens the low four halves of Vn to
// singles, FCVTL2 the high four; FCVTN narrows four singles into the low
// half of Vd (clearing the high half), FCVTN2 into the high half, rounding
// as FPCR says (to nearest even, as Go leaves it).
var (
	fcvtl  = kernel{base: 0x0E217800, asm: "FCVTL V%d.4S, V%d.4H%.0d"}
	fcvtl2 = kernel{base: 0x4E217800, asm: "FCVTL2 V%d.4S, V%d.8H%.0d"}
	fcvtn  = kernel{base: 0x0E216800, asm: "FCVTN V%d.4H, V%d.4S%.0d"}
	fcvtn2 = kernel{base: 0x4E216800, asm: "FCVTN2 V%d.8H, V%d.4S%.0d"}
)

// float16 returns the custom emitter of a Float16 kernel: widen both
// operands (block i uses V16+2i, V17+2i, V24+2i and V25+2i), combine them
// with the single-precision instruction f, and narrow back into Vd.
func float16(f kernel) func(w *bytes.Buffer, d, m uint32) {
	return func(w *bytes.Buffer, d, m uint32) {
		xl, xh, yl, yh := 16+2*d, 17+2*d, 24+2*d, 25+2*d
		op(w, fcvtl, xl, d, 0)
		op(w, fcvtl2, xh, d, 0)
		op(w, fcvtl, yl, m, 0)
		op(w, fcvtl2, yh, m, 0)
		op(w, f, xl, xl, yl)
		op(w, f, xh, xh, yh)
		op(w, fcvtn, d, xl, 0)
		op(w, fcvtn2, d, xh, 0)
	}
}

// BFloat16: SHLL widens four elements to singles (a shift left by 16),
// FCMEQ Vd, Vn, Vn is all ones where Vn is not NaN, SHRN keeps the high 16
// bits of each single.
var (
	shll  = kernel{base: 0x2E613800, asm: "SHLL V%d.4S, V%d.4H, #16%.0d"}
	shll2 = kernel{base: 0x6E613800, asm: "SHLL2 V%d.4S, V%d.8H, #16%.0d"}
	fcmeq = kernel{base: 0x4E20E400, asm: "FCMEQ V%d.4S, V%d.4S, V%d.4S"}
	shrn  = kernel{base: 0x0F108400, asm: "SHRN V%d.4H, V%d.4S, #16%.0d"}
	shrn2 = kernel{base: 0x4F108400, asm: "SHRN2 V%d.8H, V%d.4S, #16%.0d"}
)

// bfloat16Consts sets V12 to the quiet bit (0x00400000), V13 to 1 and V14
// to 0x7fff in every 32-bit lane, for bfloat16's rounding.
const bfloat16Consts = "\tMOVW $0x00400000, R3\n\tVDUP R3, V12.S4\n\tMOVW $1, R3\n\tVDUP R3, V13.S4\n\tMOVW $0x7fff, R3\n\tVDUP R3, V14.S4\n"

// bfloat16 returns the custom emitter of a BFloat16 kernel: widen both
// operands, combine with the single-precision instruction f, and round back
// as the portable BFloat16From does (add 0x7fff plus the lowest kept bit,
// or set a NaN's quiet bit), unless exact (Min and Max return an operand,
// so only NaNs change). Block i uses V8+i and V16+2i, V17+2i, V24+2i,
// V25+2i.
func bfloat16(f kernel, exact bool) func(w *bytes.Buffer, d, m uint32) {
	return func(w *bytes.Buffer, d, m uint32) {
		xl, xh, yl, yh, mask := 16+2*d, 17+2*d, 24+2*d, 25+2*d, 8+d
		op(w, shll, xl, d, 0)
		op(w, shll2, xh, d, 0)
		op(w, shll, yl, m, 0)
		op(w, shll2, yh, m, 0)
		op(w, f, xl, xl, yl)
		op(w, f, xh, xh, yh)
		for half, r := range []uint32{xl, xh} {
			// yl = r | quiet; mask = r is not NaN.
			fmt.Fprintf(w, "\tVORR V12.B16, V%d.B16, V%d.B16\n", r, yl)
			op(w, fcmeq, mask, r, r)
			t := r
			if !exact {
				// yh = r + 0x7fff + (r>>16 & 1)
				fmt.Fprintf(w, "\tVUSHR $16, V%d.S4, V%d.S4\n", r, yh)
				fmt.Fprintf(w, "\tVAND V13.B16, V%d.B16, V%d.B16\n", yh, yh)
				fmt.Fprintf(w, "\tVADD V%d.S4, V%d.S4, V%d.S4\n", r, yh, yh)
				fmt.Fprintf(w, "\tVADD V14.S4, V%d.S4, V%d.S4\n", yh, yh)
				t = yh
			}
			// yl = not NaN ? t : r | quiet
			fmt.Fprintf(w, "\tVBIT V%d.B16, V%d.B16, V%d.B16\n", mask, t, yl)
			if half == 0 {
				op(w, shrn, d, yl, 0)
			} else {
				op(w, shrn2, d, yl, 0)
			}
		}
	}
}

// Finish's Avg division: Vd = Vd / V8 (q in every lane).
var divKernels = []struct {
	name string
	f64  bool
	div  kernel
}{
	{"divF32", false, kernel{base: 0x6E20FC00, asm: "FDIV V%d.4S, V%d.4S, V%d.4S"}},
	{"divF64", true, kernel{base: 0x6E60FC00, asm: "FDIV V%d.2D, V%d.2D, V%d.2D"}},
}

var kernels = []kernel{
	{"sumF32", 0x4E20D400, "FADD V%d.4S, V%d.4S, V%d.4S", nil},
	{"prodF32", 0x6E20DC00, "FMUL V%d.4S, V%d.4S, V%d.4S", nil},
	{"minF32", 0x4EA0F400, "FMIN V%d.4S, V%d.4S, V%d.4S", nil},
	{"maxF32", 0x4E20F400, "FMAX V%d.4S, V%d.4S, V%d.4S", nil},
	{"sumF64", 0x4E60D400, "FADD V%d.2D, V%d.2D, V%d.2D", nil},
	{"prodF64", 0x6E60DC00, "FMUL V%d.2D, V%d.2D, V%d.2D", nil},
	{"minF64", 0x4EE0F400, "FMIN V%d.2D, V%d.2D, V%d.2D", nil},
	{"maxF64", 0x4E60F400, "FMAX V%d.2D, V%d.2D, V%d.2D", nil},
	{"sumI8", 0x4E208400, "ADD V%d.16B, V%d.16B, V%d.16B", nil},
	{"minI8", 0x4E206C00, "SMIN V%d.16B, V%d.16B, V%d.16B", nil},
	{"maxI8", 0x4E206400, "SMAX V%d.16B, V%d.16B, V%d.16B", nil},
	{"minU8", 0x6E206C00, "UMIN V%d.16B, V%d.16B, V%d.16B", nil},
	{"maxU8", 0x6E206400, "UMAX V%d.16B, V%d.16B, V%d.16B", nil},
	{"sumI32", 0x4EA08400, "ADD V%d.4S, V%d.4S, V%d.4S", nil},
	{"prodI32", 0x4EA09C00, "MUL V%d.4S, V%d.4S, V%d.4S", nil},
	{"minI32", 0x4EA06C00, "SMIN V%d.4S, V%d.4S, V%d.4S", nil},
	{"maxI32", 0x4EA06400, "SMAX V%d.4S, V%d.4S, V%d.4S", nil},
	{"sumI64", 0x4EE08400, "ADD V%d.2D, V%d.2D, V%d.2D", nil},
	{"sumF16", 0, "", float16(kernel{base: 0x4E20D400, asm: "FADD V%d.4S, V%d.4S, V%d.4S"})},
	{"prodF16", 0, "", float16(kernel{base: 0x6E20DC00, asm: "FMUL V%d.4S, V%d.4S, V%d.4S"})},
	{"minF16", 0, "", float16(kernel{base: 0x4EA0F400, asm: "FMIN V%d.4S, V%d.4S, V%d.4S"})},
	{"maxF16", 0, "", float16(kernel{base: 0x4E20F400, asm: "FMAX V%d.4S, V%d.4S, V%d.4S"})},
	{"sumBF16", 0, "", bfloat16(kernel{base: 0x4E20D400, asm: "FADD V%d.4S, V%d.4S, V%d.4S"}, false)},
	{"prodBF16", 0, "", bfloat16(kernel{base: 0x6E20DC00, asm: "FMUL V%d.4S, V%d.4S, V%d.4S"}, false)},
	{"minBF16", 0, "", bfloat16(kernel{base: 0x4EA0F400, asm: "FMIN V%d.4S, V%d.4S, V%d.4S"}, true)},
	{"maxBF16", 0, "", bfloat16(kernel{base: 0x4E20F400, asm: "FMAX V%d.4S, V%d.4S, V%d.4S"}, true)},
	{"minI64", 0, "", int64MinMax(true)},
	{"maxI64", 0, "", int64MinMax(false)},
}

func main() {
	out := flag.String("out", "kernels_arm64.s", "assembly file to write")
	stubs := flag.String("stubs", "kernels_arm64_stubs.go", "Go declarations to write")
	flag.Parse()
	var s, g bytes.Buffer
	fmt.Fprintf(&s, "// Code generated by command: go run ./neon -out %s -stubs %s. DO NOT EDIT.\n\n", *out, *stubs)
	s.WriteString("//go:build arm64 && !purego\n\n#include \"textflag.h\"\n")
	fmt.Fprintf(&g, "// Code generated by command: go run ./neon -out %s -stubs %s. DO NOT EDIT.\n\n", *out, *stubs)
	g.WriteString("//go:build arm64 && !purego\n\npackage reduce\n")
	for _, k := range kernels {
		emit(&s, k)
		fmt.Fprintf(&g, "\n// %s combines the whole 16-byte blocks of src into dst; len(src) >= len(dst).\n//\n//go:noescape\nfunc %s(dst []byte, src []byte)\n", k.name, k.name)
	}
	for _, k := range divKernels {
		emitDiv(&s, k.name, k.f64, k.div)
		typ := "float32"
		if k.f64 {
			typ = "float64"
		}
		fmt.Fprintf(&g, "\n// %s divides the elements in the whole 16-byte blocks of buf by q.\n//\n//go:noescape\nfunc %s(buf []byte, q %s)\n", k.name, k.name, typ)
	}
	if err := os.WriteFile(*out, s.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*stubs, g.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

// op writes one vector instruction Vd = Vn op Vm as a WORD.
func op(w *bytes.Buffer, k kernel, d, n, m uint32) {
	fmt.Fprintf(w, "\tWORD $0x%08x // "+k.asm+"\n", k.base|m<<16|n<<5|d, d, n, m)
}

// emit writes one kernel: 64 bytes per iteration in V0-V7 while it can, then
// 16 bytes at a time.
func emit(w *bytes.Buffer, k kernel) {
	n := k.name
	fmt.Fprintf(w, "\n// func %s(dst []byte, src []byte)\nTEXT ·%s(SB), NOSPLIT, $0-48\n", n, n)
	w.WriteString("\tMOVD dst_base+0(FP), R0\n\tMOVD src_base+24(FP), R1\n\tMOVD dst_len+8(FP), R2\n")
	if strings.HasSuffix(n, "BF16") {
		w.WriteString(bfloat16Consts)
	}
	fmt.Fprintf(w, "%s_64:\n\tCMP $64, R2\n\tBLT %s_16\n", n, n)
	w.WriteString("\tVLD1 (R0), [V0.B16, V1.B16, V2.B16, V3.B16]\n")
	w.WriteString("\tVLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]\n")
	for i := range uint32(4) {
		apply(w, k, i, i+4)
	}
	w.WriteString("\tVST1.P [V0.B16, V1.B16, V2.B16, V3.B16], 64(R0)\n")
	fmt.Fprintf(w, "\tSUB $64, R2\n\tB %s_64\n", n)
	fmt.Fprintf(w, "%s_16:\n\tCMP $16, R2\n\tBLT %s_done\n", n, n)
	w.WriteString("\tVLD1 (R0), [V0.B16]\n\tVLD1.P 16(R1), [V4.B16]\n")
	apply(w, k, 0, 4)
	w.WriteString("\tVST1.P [V0.B16], 16(R0)\n")
	fmt.Fprintf(w, "\tSUB $16, R2\n\tB %s_16\n", n)
	fmt.Fprintf(w, "%s_done:\n\tRET\n", n)
}

// apply writes Vd = Vd op Vm for kernel k.
func apply(w *bytes.Buffer, k kernel, d, m uint32) {
	if k.custom != nil {
		k.custom(w, d, m)
		return
	}
	op(w, k, d, d, m)
}

// emitDiv writes a Finish kernel: func name(buf []byte, q float32 or
// float64), dividing V0-V3 by q broadcast into V8.
func emitDiv(w *bytes.Buffer, name string, f64 bool, div kernel) {
	frame, load, dup := "$0-28", "FMOVS q+24(FP), F8", "VDUP V8.S[0], V8.S4"
	if f64 {
		frame, load, dup = "$0-32", "FMOVD q+24(FP), F8", "VDUP V8.D[0], V8.D2"
	}
	fmt.Fprintf(w, "\n// func %s(buf []byte, q)\nTEXT ·%s(SB), NOSPLIT, %s\n", name, name, frame)
	fmt.Fprintf(w, "\tMOVD buf_base+0(FP), R0\n\tMOVD buf_len+8(FP), R2\n\t%s\n\t%s\n", load, dup)
	fmt.Fprintf(w, "%s_64:\n\tCMP $64, R2\n\tBLT %s_16\n", name, name)
	w.WriteString("\tVLD1 (R0), [V0.B16, V1.B16, V2.B16, V3.B16]\n")
	for i := range uint32(4) {
		op(w, div, i, i, 8)
	}
	w.WriteString("\tVST1.P [V0.B16, V1.B16, V2.B16, V3.B16], 64(R0)\n")
	fmt.Fprintf(w, "\tSUB $64, R2\n\tB %s_64\n", name)
	fmt.Fprintf(w, "%s_16:\n\tCMP $16, R2\n\tBLT %s_done\n", name, name)
	w.WriteString("\tVLD1 (R0), [V0.B16]\n")
	op(w, div, 0, 0, 8)
	w.WriteString("\tVST1.P [V0.B16], 16(R0)\n")
	fmt.Fprintf(w, "\tSUB $16, R2\n\tB %s_16\n", name)
	fmt.Fprintf(w, "%s_done:\n\tRET\n", name)
}
