//go:build amd64 && !purego

#include "textflag.h"

// Weighted sums of rows for attention: out[d] = sum_t p[t] * V[t*hd + d]
// for d < hd, t < n. Columns are processed 16 at a time (the last block
// masked), rows four at a time into four accumulators.
//
// Registers: DI = out, SI = V (start of the column block), DX = p,
// R8 = row stride in bytes, CX = n, R9 = columns left, K1 = block mask.

#define WSUM_BEGIN \
	MOVQ out+0(FP), DI \
	MOVQ v+8(FP), SI \
	MOVQ p+16(FP), DX \
	MOVQ n+24(FP), CX \
	MOVQ hd+32(FP), R9 \
	MOVQ R9, R8

// BLOCKMASK sets K1 to min(R9, 16) lanes (uses R13, R14, BX).
#define BLOCKMASK \
	MOVQ R9, BX \
	CMPQ BX, $16 \
	JLT 2(PC) \
	MOVQ $16, BX \
	MOVQ CX, R13 \
	MOVQ BX, CX \
	MOVL $1, R14 \
	SHLL CX, R14 \
	DECL R14 \
	KMOVW R14, K1 \
	MOVQ R13, CX

// func wsumF32AVX512(out, v, p *float32, n, hd int)
TEXT ·wsumF32AVX512(SB), NOSPLIT, $0-40
	WSUM_BEGIN
	SHLQ $2, R8
cblock:
	CMPQ R9, $0
	JLE done
	BLOCKMASK
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ SI, R10
	XORQ AX, AX
	MOVQ CX, R11
	ANDQ $-4, R11
t4:
	CMPQ AX, R11
	JGE t1
	LEAQ (R10)(R8*2), R12
	VBROADCASTSS (DX)(AX*4), Z4
	VBROADCASTSS 4(DX)(AX*4), Z5
	VBROADCASTSS 8(DX)(AX*4), Z6
	VBROADCASTSS 12(DX)(AX*4), Z7
	VFMADD231PS.Z (R10), Z4, K1, Z0
	VFMADD231PS.Z (R10)(R8*1), Z5, K1, Z1
	VFMADD231PS.Z (R12), Z6, K1, Z2
	VFMADD231PS.Z (R12)(R8*1), Z7, K1, Z3
	LEAQ (R12)(R8*2), R10
	ADDQ $4, AX
	JMP t4
t1:
	CMPQ AX, CX
	JGE store
	VBROADCASTSS (DX)(AX*4), Z4
	VFMADD231PS.Z (R10), Z4, K1, Z0
	ADDQ R8, R10
	INCQ AX
	JMP t1
store:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	SUBQ $16, R9
	JMP cblock
done:
	VZEROUPPER
	RET

// func wsumF16AVX512(out *float32, v *uint16, p *float32, n, hd int)
TEXT ·wsumF16AVX512(SB), NOSPLIT, $0-40
	WSUM_BEGIN
	SHLQ $1, R8
hblock:
	CMPQ R9, $0
	JLE hdone
	BLOCKMASK
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ SI, R10
	XORQ AX, AX
	MOVQ CX, R11
	ANDQ $-4, R11
h4:
	CMPQ AX, R11
	JGE h1
	LEAQ (R10)(R8*2), R12
	VMOVDQU16.Z (R10), K1, Y8
	VMOVDQU16.Z (R10)(R8*1), K1, Y9
	VMOVDQU16.Z (R12), K1, Y10
	VMOVDQU16.Z (R12)(R8*1), K1, Y11
	VCVTPH2PS Y8, Z8
	VCVTPH2PS Y9, Z9
	VCVTPH2PS Y10, Z10
	VCVTPH2PS Y11, Z11
	VFMADD231PS.BCST (DX)(AX*4), Z8, Z0
	VFMADD231PS.BCST 4(DX)(AX*4), Z9, Z1
	VFMADD231PS.BCST 8(DX)(AX*4), Z10, Z2
	VFMADD231PS.BCST 12(DX)(AX*4), Z11, Z3
	LEAQ (R12)(R8*2), R10
	ADDQ $4, AX
	JMP h4
h1:
	CMPQ AX, CX
	JGE hstore
	VMOVDQU16.Z (R10), K1, Y8
	VCVTPH2PS Y8, Z8
	VFMADD231PS.BCST (DX)(AX*4), Z8, Z0
	ADDQ R8, R10
	INCQ AX
	JMP h1
hstore:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ $64, DI
	ADDQ $32, SI
	SUBQ $16, R9
	JMP hblock
hdone:
	VZEROUPPER
	RET
