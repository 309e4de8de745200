// Command asmgen writes collective/reduce's AVX2 and F16C kernels
// (kernels_amd64.s) and their Go declarations (kernels_amd64_stubs.go) with
// avo. It is a module of its own so that the kizuna module does not depend on
// avo; regenerate from collective/reduce with
//
//	go generate ./collective/reduce
//
// which runs, in this directory,
//
//	go run . -out ../../kernels_amd64.s -stubs ../../kernels_amd64_stubs.go -pkg reduce
//
// and ./neon for the arm64 kernels (avo has no arm64 backend).
//
// Every kernel has the Go signature func(dst, src []byte) and combines
// len(dst) rounded down to a multiple of 32 bytes, element by element,
// dst[i] = dst[i] op src[i]; the caller does the rest of the buffer with the
// portable kernels. Loads and stores are unaligned, so any alignment works.
//
// Each kernel reproduces the bits that the compiled Go loops in apply.go and
// half_kernels.go give on amd64, NaN payloads included:
//
//   - Go's min(x, y) for floats compiles to t1 = MINSS(x, y), t2 = MINSS(t1, x),
//     t1 | t2 (see the Go compiler's AMD64.rules), which VMINPS does lane by
//     lane; max(x, y) is -min(-x, -y), negation flipping the sign bit.
//   - Sum and Prod put dst in the first source operand, as the scalar
//     x += y does, so that of two NaNs dst's comes back.
//   - Float16 goes through VCVTPH2PS and VCVTPS2PH with round to nearest
//     even (immediate 0), one rounding per element as the scalar path.
//   - BFloat16 widens by a shift, and rounds back with the scalar path's
//     integer trick (add 0x7fff plus the lowest kept bit), setting the quiet
//     bit of a NaN instead.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!purego")

	cpuidFuncs()

	// Native element types: one 32-byte vector per step.
	for _, k := range []struct {
		name string
		op   func(d, s Mem) VecVirtual // loads its operands
	}{
		{"sumF32", binop(VADDPS)},
		{"prodF32", binop(VMULPS)},
		{"minF32", floatMin(VMINPS, VORPS, VMOVUPS)},
		{"maxF32", floatMax(VMINPS, VORPS, VXORPS, signF32)},
		{"sumF64", binop(VADDPD)},
		{"prodF64", binop(VMULPD)},
		{"minF64", floatMin(VMINPD, VORPD, VMOVUPD)},
		{"maxF64", floatMax(VMINPD, VORPD, VXORPD, signF64)},
		{"sumI8", binop(VPADDB)},
		{"minI8", binop(VPMINSB)},
		{"maxI8", binop(VPMAXSB)},
		{"minU8", binop(VPMINUB)},
		{"maxU8", binop(VPMAXUB)},
		{"sumI32", binop(VPADDD)},
		{"prodI32", binop(VPMULLD)},
		{"minI32", binop(VPMINSD)},
		{"maxI32", binop(VPMAXSD)},
		{"sumI64", binop(VPADDQ)},
		{"minI64", int64MinMax(true)},
		{"maxI64", int64MinMax(false)},
	} {
		var consts []Mem
		switch k.name {
		case "maxF32":
			consts = []Mem{signF32}
		case "maxF64":
			consts = []Mem{signF64}
		}
		vectorKernel(k.name, 4, consts, func(d, s Mem) {
			VMOVDQU(k.op(d, s), d)
		})
	}

	// Float16 through F16C: 8 elements per conversion, two per step.
	for _, k := range []struct {
		name string
		op   func(x, y VecVirtual) VecVirtual
	}{
		{"sumF16", regop(VADDPS)},
		{"prodF16", regop(VMULPS)},
		{"minF16", func(x, y VecVirtual) VecVirtual { return floatMinReg(VMINPS, VORPS, x, y) }},
		{"maxF16", func(x, y VecVirtual) VecVirtual { return floatMaxReg(VMINPS, VORPS, VXORPS, signF32, x, y) }},
	} {
		var consts []Mem
		if k.name == "maxF16" {
			consts = []Mem{signF32}
		}
		vectorKernel(k.name, 2, consts, func(d, s Mem) {
			// Convert back into registers and store 32 bytes at once:
			// VCVTPS2PH to memory is slower than to a register.
			var h [2]VecVirtual
			for i, off := range []int{0, 16} {
				x, y := YMM(), YMM()
				VCVTPH2PS(d.Offset(off), x)
				VCVTPH2PS(s.Offset(off), y)
				h[i] = YMM()
				VCVTPS2PH(Imm(0), k.op(x, y), h[i].AsX())
			}
			VINSERTI128(Imm(1), h[1].AsX(), h[0], h[0])
			VMOVDQU(h[0], d)
		})
	}

	// BFloat16: the even elements of a vector widen by a shift left, the odd
	// ones by clearing the low half of each 32-bit lane; both halves are
	// combined as float32, rounded, and merged back.
	for _, k := range []struct {
		name  string
		op    func(x, y VecVirtual) VecVirtual
		exact bool // the result is one of the operands: no rounding
	}{
		{"sumBF16", regop(VADDPS), false},
		{"prodBF16", regop(VMULPS), false},
		{"minBF16", func(x, y VecVirtual) VecVirtual { return floatMinReg(VMINPS, VORPS, x, y) }, true},
		{"maxBF16", func(x, y VecVirtual) VecVirtual { return floatMaxReg(VMINPS, VORPS, VXORPS, signF32, x, y) }, true},
	} {
		consts := []Mem{himaskBF16, quietBF16}
		if !k.exact {
			consts = append(consts, one32, bias7fff)
		}
		if k.name == "maxBF16" {
			consts = append(consts, signF32)
		}
		vectorKernel(k.name, 1, consts, func(d, s Mem) {
			v, w := YMM(), YMM()
			VMOVDQU(d, v)
			VMOVDQU(s, w)
			xlo, ylo, xhi, yhi := YMM(), YMM(), YMM(), YMM()
			VPSLLD(Imm(16), v, xlo)
			VPSLLD(Imm(16), w, ylo)
			hi := broadcast(himaskBF16)
			VPAND(hi, v, xhi)
			VPAND(hi, w, yhi)
			rlo := bf16Round(k.op(xlo, ylo), k.exact)
			rhi := bf16Round(k.op(xhi, yhi), k.exact)
			VPSRLD(Imm(16), rlo, rlo)
			out := YMM()
			VPBLENDW(Imm(0xaa), rhi, rlo, out)
			VMOVDQU(out, d)
		})
	}

	// Finish for Avg: x / q, with the same rounding as Apply's results.
	finishKernel("divF32", false, 4, nil, func(d Mem, q VecVirtual) {
		x := YMM()
		VMOVUPS(d, x)
		VDIVPS(q, x, x)
		VMOVUPS(x, d)
	})
	finishKernel("divF64", true, 4, nil, func(d Mem, q VecVirtual) {
		x := YMM()
		VMOVUPD(d, x)
		VDIVPD(q, x, x)
		VMOVUPD(x, d)
	})
	finishKernel("divF16", false, 2, nil, func(d Mem, q VecVirtual) {
		var h [2]VecVirtual
		for i, off := range []int{0, 16} {
			x := YMM()
			VCVTPH2PS(d.Offset(off), x)
			VDIVPS(q, x, x)
			h[i] = YMM()
			VCVTPS2PH(Imm(0), x, h[i].AsX())
		}
		VINSERTI128(Imm(1), h[1].AsX(), h[0], h[0])
		VMOVDQU(h[0], d)
	})
	finishKernel("divBF16", false, 1, []Mem{himaskBF16, quietBF16, one32, bias7fff}, func(d Mem, q VecVirtual) {
		v, lo, hi := YMM(), YMM(), YMM()
		VMOVDQU(d, v)
		VPSLLD(Imm(16), v, lo)
		VPAND(broadcast(himaskBF16), v, hi)
		VDIVPS(q, lo, lo)
		VDIVPS(q, hi, hi)
		rlo, rhi := bf16Round(lo, false), bf16Round(hi, false)
		VPSRLD(Imm(16), rlo, rlo)
		out := YMM()
		VPBLENDW(Imm(0xaa), rhi, rlo, out)
		VMOVDQU(out, d)
	})

	Generate()
}

// inst3 is an avo instruction constructor.
type inst3 = func(ops ...Op)

// Constants, broadcast to every 32-bit or 64-bit lane where used.
var (
	signF32    Mem
	signF64    Mem
	himaskBF16 Mem
	bias7fff   Mem
	one32      Mem
	quietBF16  Mem
)

func constants() {
	signF32 = ConstData("signF32", U32(0x80000000))
	signF64 = ConstData("signF64", U64(0x8000000000000000))
	himaskBF16 = ConstData("himaskBF16", U32(0xffff0000))
	bias7fff = ConstData("bias7fff", U32(0x7fff))
	one32 = ConstData("one32", U32(1))
	quietBF16 = ConstData("quietBF16", U32(0x00400000))
}

func init() { constants() }

// hoisted holds the constants that the current kernel broadcast before its
// loop.
var hoisted = map[Mem]VecVirtual{}

// broadcast returns a register with the constant c in every lane: the
// hoisted one if the kernel declared c, else a new one.
func broadcast(c Mem) VecVirtual {
	if r, ok := hoisted[c]; ok {
		return r
	}
	r := YMM()
	if c == signF64 {
		VPBROADCASTQ(c, r)
	} else {
		VPBROADCASTD(c, r)
	}
	return r
}

// vectorKernel emits func name(dst, src []byte), which runs step on every
// 32-byte block of dst (and the same offset of src), unroll blocks per
// iteration while it can, then one at a time. Bytes past the last whole
// block are left alone.
// The constants in consts are broadcast once, before the loop.
func vectorKernel(name string, unroll int, consts []Mem, step func(d, s Mem)) {
	TEXT(name, NOSPLIT, "func(dst, src []byte)")
	Doc(fmt.Sprintf("%s combines the whole 32-byte blocks of src into dst; len(src) >= len(dst).", name))
	Pragma("noescape")
	d := Load(Param("dst").Base(), GP64())
	s := Load(Param("src").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	hoist(consts)
	blockLoop(name, unroll, n, []Register{d, s}, func(disp int) {
		step(Mem{Base: d, Disp: disp}, Mem{Base: s, Disp: disp})
	})
}

// finishKernel emits func name(buf []byte, q float32 or float64), which
// runs step on every 32-byte block of buf with q broadcast to every lane.
func finishKernel(name string, f64 bool, unroll int, consts []Mem, step func(d Mem, q VecVirtual)) {
	typ := "float32"
	if f64 {
		typ = "float64"
	}
	TEXT(name, NOSPLIT, "func(buf []byte, q "+typ+")")
	Doc(fmt.Sprintf("%s divides the elements in the whole 32-byte blocks of buf by q.", name))
	Pragma("noescape")
	d := Load(Param("buf").Base(), GP64())
	n := Load(Param("buf").Len(), GP64())
	hoist(consts)
	qx, q := XMM(), YMM()
	Load(Param("q"), qx)
	if f64 {
		VBROADCASTSD(qx, q)
	} else {
		VBROADCASTSS(qx, q)
	}
	blockLoop(name, unroll, n, []Register{d}, func(disp int) {
		step(Mem{Base: d, Disp: disp}, q)
	})
}

// hoist broadcasts consts into registers that broadcast then returns.
func hoist(consts []Mem) {
	clear(hoisted)
	regs := map[Mem]VecVirtual{}
	for _, c := range consts {
		regs[c] = broadcast(c)
	}
	for c, r := range regs {
		hoisted[c] = r
	}
}

// blockLoop calls step for every whole 32-byte block of n bytes, unroll
// blocks per iteration while it can, then one at a time, advancing every
// pointer in ptrs; step addresses its block at disp from them. Bytes past
// the last whole block are left alone.
func blockLoop(name string, unroll int, n Register, ptrs []Register, step func(disp int)) {
	big, one, done := name+"_unrolled", name+"_block", name+"_done"
	advance := func(k int) {
		for _, p := range ptrs {
			ADDQ(U32(k), p)
		}
		SUBQ(U32(k), n)
	}
	if unroll > 1 {
		Label(big)
		CMPQ(n, U32(32*unroll))
		JB(LabelRef(one))
		for u := range unroll {
			step(32 * u)
		}
		advance(32 * unroll)
		JMP(LabelRef(big))
	}

	Label(one)
	CMPQ(n, U32(32))
	JB(LabelRef(done))
	step(0)
	advance(32)
	JMP(LabelRef(one))

	Label(done)
	VZEROUPPER()
	RET()
}

// binop returns an op that computes x op s in one instruction, with x (dst)
// as the first source operand.
func binop(inst inst3) func(d, s Mem) VecVirtual {
	return func(d, s Mem) VecVirtual {
		x, r := YMM(), YMM()
		VMOVDQU(d, x)
		inst(s, x, r)
		return r
	}
}

// regop is binop for two registers.
func regop(inst inst3) func(x, y VecVirtual) VecVirtual {
	return func(x, y VecVirtual) VecVirtual {
		r := YMM()
		inst(y, x, r)
		return r
	}
}

// floatMinReg computes Go's min(x, y) lane by lane, as the compiler does for
// one element: t1 = min(x, y), t2 = min(t1, x), t1 | t2, where the hardware
// min(a, b) is a < b ? a : b. t2 puts x back where x is NaN (t1 is y there),
// and the OR gives -0 for min(+0, -0) in either order.
func floatMinReg(vmin, vor inst3, x, y VecVirtual) VecVirtual {
	t1, t2 := YMM(), YMM()
	vmin(y, x, t1) // Intel VMINPS t1, x, y: x < y ? x : y
	vmin(x, t1, t2)
	vor(t2, t1, t1)
	return t1
}

// floatMaxReg computes Go's max(x, y) = -min(-x, -y).
func floatMaxReg(vmin, vor, vxor inst3, sign Mem, x, y VecVirtual) VecVirtual {
	m := broadcast(sign)
	nx, ny := YMM(), YMM()
	vxor(m, x, nx)
	vxor(m, y, ny)
	r := floatMinReg(vmin, vor, nx, ny)
	vxor(m, r, r)
	return r
}

func floatMin(vmin, vor inst3, load inst3) func(d, s Mem) VecVirtual {
	return func(d, s Mem) VecVirtual {
		x, y := YMM(), YMM()
		load(d, x)
		load(s, y)
		return floatMinReg(vmin, vor, x, y)
	}
}

// floatMax is floatMaxReg with the negations folded into the loads.
func floatMax(vmin, vor, vxor inst3, sign Mem) func(d, s Mem) VecVirtual {
	return func(d, s Mem) VecVirtual {
		m := broadcast(sign)
		nx, ny := YMM(), YMM()
		vxor(d, m, nx)
		vxor(s, m, ny)
		r := floatMinReg(vmin, vor, nx, ny)
		vxor(m, r, r)
		return r
	}
}

// int64MinMax selects with a 64-bit compare, which AVX2 has (VPMINSQ is
// AVX-512 only).
func int64MinMax(isMin bool) func(d, s Mem) VecVirtual {
	return func(d, s Mem) VecVirtual {
		x, y, m, r := YMM(), YMM(), YMM(), YMM()
		VMOVDQU(d, x)
		VMOVDQU(s, y)
		if isMin {
			VPCMPGTQ(y, x, m) // m = x > y
		} else {
			VPCMPGTQ(x, y, m) // m = y > x
		}
		VPBLENDVB(m, y, x, r) // r = m ? y : x
		return r
	}
}

// bf16Round rounds the float32 lanes of r to bfloat16, leaving the result in
// the high half of each lane (the low half is garbage): to nearest with ties
// to even by adding 0x7fff plus the lowest kept bit, except that a NaN gets
// its quiet bit set instead. If exact, every lane already holds a bfloat16
// value and only NaNs change.
func bf16Round(r VecVirtual, exact bool) VecVirtual {
	nan, q := YMM(), YMM()
	VCMPPS(Imm(3), r, r, nan) // unordered: r is NaN
	VPOR(broadcast(quietBF16), r, q)
	if exact {
		out := YMM()
		VBLENDVPS(nan, q, r, out)
		return out
	}
	lsb, t := YMM(), YMM()
	VPSRLD(Imm(16), r, lsb)
	VPAND(broadcast(one32), lsb, lsb)
	VPADDD(broadcast(bias7fff), r, t)
	VPADDD(lsb, t, t)
	out := YMM()
	VBLENDVPS(nan, q, t, out) // out = nan ? q : t
	return out
}

// cpuidFuncs emits the feature probes.
func cpuidFuncs() {
	TEXT("cpuid", NOSPLIT, "func(leaf, sub uint32) (a, b, c, d uint32)")
	Doc("cpuid runs CPUID with EAX = leaf and ECX = sub.")
	Load(Param("leaf"), EAX)
	Load(Param("sub"), ECX)
	CPUID()
	Store(EAX, Return("a"))
	Store(EBX, Return("b"))
	Store(ECX, Return("c"))
	Store(EDX, Return("d"))
	RET()

	TEXT("xgetbv0", NOSPLIT, "func() (lo uint32)")
	Doc("xgetbv0 returns the low half of XCR0, the register states the OS saves; call it only if CPUID reports OSXSAVE.")
	XORL(ECX, ECX)
	XGETBV()
	Store(EAX, Return("lo"))
	RET()
}
