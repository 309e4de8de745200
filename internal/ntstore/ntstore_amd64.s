#include "textflag.h"

// func copy64(dst, src *byte, n int)
//
// Copies n bytes (a multiple of 64) from src to dst (16-byte aligned) with
// non-temporal stores (MOVNTDQ, SSE2: every amd64 has it), then SFENCE, so
// that the stores are globally visible before any later store (the
// producer's publication of head). Written by hand: one loop, nothing for
// a generator to share.
TEXT ·copy64(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $6, CX
	JZ   done

loop:
	MOVOU  0(SI), X0
	MOVOU  16(SI), X1
	MOVOU  32(SI), X2
	MOVOU  48(SI), X3
	MOVNTO X0, 0(DI)
	MOVNTO X1, 16(DI)
	MOVNTO X2, 32(DI)
	MOVNTO X3, 48(DI)
	ADDQ   $64, SI
	ADDQ   $64, DI
	DECQ   CX
	JNZ    loop

done:
	SFENCE
	RET
