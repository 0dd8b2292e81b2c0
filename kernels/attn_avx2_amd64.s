//go:build amd64 && !purego

#include "textflag.h"

// AVX2 weighted sums of rows for attention: out[d] = sum_t p[t]*V[t*hd+d]
// for d < hd (hd a multiple of 8), 8 columns at a time with two
// accumulators over alternate rows.

// func wsumF32AVX2(out, v, p *float32, n, hd int)
// out[d] = sum_t p[t]*V[t*hd+d] for d < hd (hd a multiple of 8).
TEXT ·wsumF32AVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ p+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ hd+32(FP), R9
	MOVQ R9, R8
	SHLQ $2, R8
wcblock:
	CMPQ R9, $0
	JLE wdone
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ SI, R10
	XORQ AX, AX
	MOVQ CX, R11
	ANDQ $-2, R11
wt2:
	CMPQ AX, R11
	JGE wt1
	VBROADCASTSS (DX)(AX*4), Y4
	VBROADCASTSS 4(DX)(AX*4), Y5
	VFMADD231PS (R10), Y4, Y0
	VFMADD231PS (R10)(R8*1), Y5, Y1
	LEAQ (R10)(R8*2), R10
	ADDQ $2, AX
	JMP wt2
wt1:
	CMPQ AX, CX
	JGE wstore
	VBROADCASTSS (DX)(AX*4), Y4
	VFMADD231PS (R10), Y4, Y0
wstore:
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, R9
	JMP wcblock
wdone:
	VZEROUPPER
	RET

// func wsumF16AVX2(out *float32, v *uint16, p *float32, n, hd int)
// The same over f16 V.
TEXT ·wsumF16AVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ p+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ hd+32(FP), R9
	MOVQ R9, R8
	SHLQ $1, R8
wcblock:
	CMPQ R9, $0
	JLE wdone
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ SI, R10
	XORQ AX, AX
	MOVQ CX, R11
	ANDQ $-2, R11
wt2:
	CMPQ AX, R11
	JGE wt1
	VBROADCASTSS (DX)(AX*4), Y4
	VBROADCASTSS 4(DX)(AX*4), Y5
	VCVTPH2PS (R10), Y8
	VCVTPH2PS (R10)(R8*1), Y9
	VFMADD231PS Y8, Y4, Y0
	VFMADD231PS Y9, Y5, Y1
	LEAQ (R10)(R8*2), R10
	ADDQ $2, AX
	JMP wt2
wt1:
	CMPQ AX, CX
	JGE wstore
	VBROADCASTSS (DX)(AX*4), Y4
	VCVTPH2PS (R10), Y8
	VFMADD231PS Y8, Y4, Y0
wstore:
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $16, SI
	SUBQ $8, R9
	JMP wcblock
wdone:
	VZEROUPPER
	RET

