//go:build amd64 && !purego

#include "textflag.h"

// K1 = the low n%16 lanes, BX = n rounded down to a multiple of 16 (n in CX).
#define ROWSTAILMASK \
	MOVQ CX, R13 \
	ANDQ $15, CX \
	MOVL $1, R14 \
	SHLL CX, R14 \
	DECL R14 \
	KMOVW R14, K1 \
	MOVQ R13, CX \
	MOVQ CX, BX \
	ANDQ $-16, BX

// func scaleMulAVX512(dst, x, w *float32, n int, s float32)
//
// dst[i] = x[i] * s * w[i], the two products rounded in that order.
TEXT ·scaleMulAVX512(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS s+32(FP), Z5
	ROWSTAILMASK
	XORQ AX, AX
mloop:
	CMPQ AX, BX
	JGE mtail
	VMULPS (SI)(AX*4), Z5, Z0
	VMULPS (DX)(AX*4), Z0, Z0
	VMOVUPS Z0, (DI)(AX*4)
	ADDQ $16, AX
	JMP mloop
mtail:
	CMPQ AX, CX
	JGE mend
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VMOVUPS.Z (DX)(AX*4), K1, Z1
	VMULPS Z5, Z0, Z0
	VMULPS Z1, Z0, Z0
	VMOVUPS Z0, K1, (DI)(AX*4)
mend:
	VZEROUPPER
	RET
