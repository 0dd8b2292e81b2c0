//go:build amd64 && !purego

#include "textflag.h"

// func ropeAVX512(x *float32, heads, headDim int, cos, sin *float32)
//
// ropeGeneric for headDim/2 a multiple of 16: per head, 16 pairs (x1, x2)
// at a time, x1*cos - x2*sin and x2*cos + x1*sin, each product rounded
// (no fused multiply-add), as the Go code computes them on amd64.
TEXT ·ropeAVX512(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), DI
	MOVQ heads+8(FP), CX
	MOVQ headDim+16(FP), R8
	MOVQ cos+24(FP), R9
	MOVQ sin+32(FP), R10
	MOVQ R8, R11
	SHLQ $1, R11               // bytes of half a head (x2 - x1)
	MOVQ R8, R12
	SHLQ $2, R12               // bytes of a head

rhead:
	TESTQ CX, CX
	JEQ rdone
	LEAQ (DI)(R11*1), BX
	XORQ AX, AX

rpair:
	CMPQ AX, R11
	JGE rnext
	VMOVUPS (DI)(AX*1), Z0     // x1
	VMOVUPS (BX)(AX*1), Z1     // x2
	VMOVUPS (R9)(AX*1), Z2     // cos
	VMOVUPS (R10)(AX*1), Z3    // sin
	VMULPS Z2, Z0, Z4
	VMULPS Z3, Z1, Z5
	VSUBPS Z5, Z4, Z4          // x1*cos - x2*sin
	VMULPS Z2, Z1, Z6
	VMULPS Z3, Z0, Z7
	VADDPS Z7, Z6, Z6          // x2*cos + x1*sin
	VMOVUPS Z4, (DI)(AX*1)
	VMOVUPS Z6, (BX)(AX*1)
	ADDQ $64, AX
	JMP rpair

rnext:
	ADDQ R12, DI
	DECQ CX
	JMP rhead

rdone:
	VZEROUPPER
	RET
