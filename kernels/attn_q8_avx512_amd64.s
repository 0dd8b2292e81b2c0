//go:build amd64 && !purego

#include "textflag.h"

// Decode attention kernels over int8 KV rows (kvcache.Q8) for up to four
// query heads sharing one KV head: the f16 group kernels of
// attn_group_avx512_amd64.s with each row widened from int8 (VPMOVSXBD,
// VCVTDQ2PS) instead of converted from binary16, and the rows' scales
// applied: a key row's to its scores, a value row's to the row. The macros are copies of
// that file's (a Go assembly file cannot include another's macros); see
// there for the register use.

// func scoresGroupQ8AVX512(s *float32, ss int, k *int8, q *float32, c, grp, hd int, next *int8, ks, nks *float32, scale float32)
// s[h*ss+t] = (Q[h,:]·K[t,:]) * (ks[t]*scale) for t < c, h < g. nks is the
// next block's scales (prefetched). The scales multiply the four rows'
// sums of SUM16 (Z26 = ks*scale, Z27 = scale) or the one row's (X9); no
// register is free for ks, so its row t is found as ks + (DI - s): s and
// ks both advance 4 bytes a row.
#define SCORES_BEGIN(elemshift) \
	MOVQ s+0(FP), DI \
	MOVQ ss+8(FP), R8 \
	SHLQ $2, R8 \
	MOVQ k+16(FP), SI \
	MOVQ c+32(FP), CX \
	MOVQ hd+48(FP), R9 \
	MOVQ R9, R11 \
	SHLQ $elemshift, R11 \
	SHLQ $2, R9 \
	MOVQ next+56(FP), R10 \
	MOVQ nks+72(FP), AX \
	PREFETCHT0 (AX) \
	VBROADCASTSS scale+80(FP), Z27

// PAIR4 folds accumulators A and B (rows a, b) into A: per 128-bit lane,
// [a, b, a, b] partial sums.
#define PAIR4(A, B) \
	VUNPCKLPS B, A, Z24 \
	VUNPCKHPS B, A, Z25 \
	VADDPS Z25, Z24, A

// QUAD4 folds PAIR4 results A (rows a, b) and C (rows c, d) into A: per
// 128-bit lane, [a, b, c, d] partial sums.
#define QUAD4(A, C) \
	VUNPCKLPD C, A, Z24 \
	VUNPCKHPD C, A, Z25 \
	VADDPS Z25, Z24, A

// SUM16 reduces Z0..Z15 into Z0: 128-bit lane h holds the sums of
// Z(4h)..Z(4h+3).
#define SUM16 \
	PAIR4(Z0, Z1) \
	PAIR4(Z2, Z3) \
	QUAD4(Z0, Z2) \
	PAIR4(Z4, Z5) \
	PAIR4(Z6, Z7) \
	QUAD4(Z4, Z6) \
	PAIR4(Z8, Z9) \
	PAIR4(Z10, Z11) \
	QUAD4(Z8, Z10) \
	PAIR4(Z12, Z13) \
	PAIR4(Z14, Z15) \
	QUAD4(Z12, Z14) \
	VSHUFF32X4 $0x44, Z4, Z0, Z24 \
	VSHUFF32X4 $0xEE, Z4, Z0, Z25 \
	VADDPS Z25, Z24, Z0 \
	VSHUFF32X4 $0x44, Z12, Z8, Z24 \
	VSHUFF32X4 $0xEE, Z12, Z8, Z25 \
	VADDPS Z25, Z24, Z8 \
	VSHUFF32X4 $0x88, Z8, Z0, Z24 \
	VSHUFF32X4 $0xDD, Z8, Z0, Z25 \
	VADDPS Z25, Z24, Z0

// FMA4 adds the four key rows times query head Q (loaded into QZ) to the
// accumulators A0..A3.
#define FMA4(Q, QZ, A0, A1, A2, A3) \
	VMOVUPS Q, QZ \
	VFMADD231PS QZ, Z16, A0 \
	VFMADD231PS QZ, Z17, A1 \
	VFMADD231PS QZ, Z18, A2 \
	VFMADD231PS QZ, Z19, A3

#define SCORES4(step, LOAD4, PREF4) \
sgroup: \
	CMPQ CX, $4 \
	JLT srest \
	LEAQ (SI)(R11*1), R12 \
	LEAQ (SI)(R11*2), R13 \
	LEAQ (R12)(R11*2), R14 \
	MOVQ q+24(FP), DX \
	LEAQ (DX)(R9*2), BX \
	ADDQ R9, BX \
	MOVQ hd+48(FP), AX \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15 \
gcol: \
	PREF4 \
	LOAD4 \
	FMA4((DX), Z20, Z0, Z1, Z2, Z3) \
	CMPQ grp+40(FP), $2 \
	JLT gnext \
	FMA4((DX)(R9*1), Z21, Z4, Z5, Z6, Z7) \
	CMPQ grp+40(FP), $3 \
	JLT gnext \
	FMA4((DX)(R9*2), Z22, Z8, Z9, Z10, Z11) \
	CMPQ grp+40(FP), $4 \
	JLT gnext \
	FMA4((BX), Z23, Z12, Z13, Z14, Z15) \
gnext: \
	ADDQ $step, SI \
	ADDQ $step, R12 \
	ADDQ $step, R13 \
	ADDQ $step, R14 \
	ADDQ $64, DX \
	ADDQ $64, BX \
	SUBQ $16, AX \
	JNZ gcol \
	MOVQ R14, SI \
	SUM16 \
	MOVQ DI, AX \
	SUBQ s+0(FP), AX \
	ADDQ ks+64(FP), AX \
	VBROADCASTF32X4 (AX), Z26 \
	VMULPS Z27, Z26, Z26 \
	VMULPS Z26, Z0, Z0 \
	VMOVUPS X0, (DI) \
	CMPQ grp+40(FP), $2 \
	JLT gstored \
	VEXTRACTF32X4 $1, Z0, (DI)(R8*1) \
	CMPQ grp+40(FP), $3 \
	JLT gstored \
	VEXTRACTF32X4 $2, Z0, (DI)(R8*2) \
	CMPQ grp+40(FP), $4 \
	JLT gstored \
	LEAQ (DI)(R8*2), AX \
	VEXTRACTF32X4 $3, Z0, (AX)(R8*1) \
gstored: \
	ADDQ $16, DI \
	SUBQ $4, CX \
	JMP sgroup \
srest: \
	CMPQ CX, $0 \
	JEQ sret \
	MOVQ q+24(FP), DX \
	LEAQ (DX)(R9*1), R12 \
	LEAQ (DX)(R9*2), R13 \
	LEAQ (R12)(R9*2), R14 \
	MOVQ grp+40(FP), BX \
	MOVQ hd+48(FP), R9

#define SCORES1(elemscale, LOADK) \
srow: \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	XORQ AX, AX \
scol: \
	PREFETCHT0 (R10)(AX*elemscale) \
	LOADK \
	VFMADD231PS (DX)(AX*4), Z4, Z0 \
	CMPQ BX, $2 \
	JLT snext \
	VFMADD231PS (R12)(AX*4), Z4, Z1 \
	CMPQ BX, $3 \
	JLT snext \
	VFMADD231PS (R13)(AX*4), Z4, Z2 \
	CMPQ BX, $4 \
	JLT snext \
	VFMADD231PS (R14)(AX*4), Z4, Z3 \
snext: \
	ADDQ $16, AX \
	CMPQ AX, R9 \
	JLT scol \
	VEXTRACTF64X4 $1, Z0, Y5 \
	VADDPS Y5, Y0, Y0 \
	VEXTRACTF64X4 $1, Z1, Y6 \
	VADDPS Y6, Y1, Y1 \
	VEXTRACTF64X4 $1, Z2, Y7 \
	VADDPS Y7, Y2, Y2 \
	VEXTRACTF64X4 $1, Z3, Y8 \
	VADDPS Y8, Y3, Y3 \
	VEXTRACTF128 $1, Y0, X5 \
	VADDPS X5, X0, X0 \
	VEXTRACTF128 $1, Y1, X6 \
	VADDPS X6, X1, X1 \
	VEXTRACTF128 $1, Y2, X7 \
	VADDPS X7, X2, X2 \
	VEXTRACTF128 $1, Y3, X8 \
	VADDPS X8, X3, X3 \
	VHADDPS X1, X0, X0 \
	VHADDPS X3, X2, X2 \
	VHADDPS X2, X0, X0 \
	MOVQ DI, AX \
	SUBQ s+0(FP), AX \
	ADDQ ks+64(FP), AX \
	VBROADCASTSS (AX), X9 \
	VMULPS X27, X9, X9 \
	VMULPS X9, X0, X0 \
	VMOVSS X0, (DI) \
	CMPQ BX, $2 \
	JLT sdone \
	VEXTRACTPS $1, X0, (DI)(R8*1) \
	CMPQ BX, $3 \
	JLT sdone \
	VEXTRACTPS $2, X0, (DI)(R8*2) \
	CMPQ BX, $4 \
	JLT sdone \
	LEAQ (DI)(R8*2), AX \
	VEXTRACTPS $3, X0, (AX)(R8*1) \
sdone: \
	ADDQ $4, DI \
	ADDQ R11, SI \
	ADDQ R11, R10 \
	DECQ CX \
	JNZ srow \
sret: \
	VZEROUPPER \
	RET


#define LOAD4_Q8 \
	VPMOVSXBD (SI), Z16 \
	VPMOVSXBD (R12), Z17 \
	VPMOVSXBD (R13), Z18 \
	VPMOVSXBD (R14), Z19 \
	VCVTDQ2PS Z16, Z16 \
	VCVTDQ2PS Z17, Z17 \
	VCVTDQ2PS Z18, Z18 \
	VCVTDQ2PS Z19, Z19

// PREF4_Q8 prefetches the next block's four rows linearly, 64 bytes per 16
// columns.
#define PREF4_Q8 \
	PREFETCHT0 (R10) \
	ADDQ $64, R10

#define LOADK_Q8 \
	VPMOVSXBD (SI)(AX*1), Z4 \
	VCVTDQ2PS Z4, Z4

// func wsumGroupQ8AVX512(out *float32, v *int8, p *float32, ps, c, grp, hd int, next *int8, vs, nvs *float32)
// out[h*hd+d] += sum_t p[h*ps+t]·(vs[t]·V[t*hd+d]) for t < c, h < g: each
// widened row is multiplied by its scale once for all heads (R14 = vs at
// row t). nvs is the next block's scales (prefetched).
#define WSUM_BEGIN(elemshift) \
	MOVQ out+0(FP), DI \
	MOVQ v+8(FP), DX \
	MOVQ ps+24(FP), R8 \
	SHLQ $2, R8 \
	MOVQ grp+40(FP), BX \
	MOVQ hd+48(FP), R9 \
	MOVQ R9, R11 \
	SHLQ $elemshift, R11 \
	MOVQ nvs+72(FP), AX \
	PREFETCHT0 (AX) \
	XORQ AX, AX

#define WSUM_LOOP(elemscale, LOADV, LOADV2) \
wcol: \
	LEAQ (DX)(AX*elemscale), SI \
	MOVQ next+56(FP), R13 \
	LEAQ (R13)(AX*elemscale), R13 \
	MOVQ p+16(FP), R10 \
	LEAQ (R10)(R8*2), R12 \
	MOVQ c+32(FP), CX \
	MOVQ vs+64(FP), R14 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7 \
	VPXORD Z8, Z8, Z8 \
	CMPQ CX, $2 \
	JLT wrow1 \
wrow2: \
	PREFETCHT0 (R13) \
	PREFETCHT0 (R13)(R11*1) \
	LOADV \
	LOADV2 \
	VMULPS.BCST (R14), Z4, Z4 \
	VMULPS.BCST 4(R14), Z9, Z9 \
	VFMADD231PS.BCST (R10), Z4, Z0 \
	VFMADD231PS.BCST 4(R10), Z9, Z5 \
	CMPQ BX, $2 \
	JLT wnext2 \
	VFMADD231PS.BCST (R10)(R8*1), Z4, Z1 \
	VFMADD231PS.BCST 4(R10)(R8*1), Z9, Z6 \
	CMPQ BX, $3 \
	JLT wnext2 \
	VFMADD231PS.BCST (R12), Z4, Z2 \
	VFMADD231PS.BCST 4(R12), Z9, Z7 \
	CMPQ BX, $4 \
	JLT wnext2 \
	VFMADD231PS.BCST (R12)(R8*1), Z4, Z3 \
	VFMADD231PS.BCST 4(R12)(R8*1), Z9, Z8 \
wnext2: \
	ADDQ $8, R14 \
	ADDQ $8, R10 \
	ADDQ $8, R12 \
	LEAQ (SI)(R11*2), SI \
	LEAQ (R13)(R11*2), R13 \
	SUBQ $2, CX \
	CMPQ CX, $2 \
	JGE wrow2 \
wrow1: \
	CMPQ CX, $0 \
	JEQ wadd \
	PREFETCHT0 (R13) \
	LOADV \
	VMULPS.BCST (R14), Z4, Z4 \
	VFMADD231PS.BCST (R10), Z4, Z0 \
	CMPQ BX, $2 \
	JLT wadd \
	VFMADD231PS.BCST (R10)(R8*1), Z4, Z1 \
	CMPQ BX, $3 \
	JLT wadd \
	VFMADD231PS.BCST (R12), Z4, Z2 \
	CMPQ BX, $4 \
	JLT wadd \
	VFMADD231PS.BCST (R12)(R8*1), Z4, Z3 \
wadd: \
	VADDPS Z5, Z0, Z0 \
	VADDPS Z6, Z1, Z1 \
	VADDPS Z7, Z2, Z2 \
	VADDPS Z8, Z3, Z3 \
	VADDPS (DI)(AX*4), Z0, Z0 \
	VMOVUPS Z0, (DI)(AX*4) \
	CMPQ BX, $2 \
	JLT wstored \
	LEAQ (DI)(R9*4), R10 \
	VADDPS (R10)(AX*4), Z1, Z1 \
	VMOVUPS Z1, (R10)(AX*4) \
	CMPQ BX, $3 \
	JLT wstored \
	LEAQ (R10)(R9*4), R10 \
	VADDPS (R10)(AX*4), Z2, Z2 \
	VMOVUPS Z2, (R10)(AX*4) \
	CMPQ BX, $4 \
	JLT wstored \
	LEAQ (R10)(R9*4), R10 \
	VADDPS (R10)(AX*4), Z3, Z3 \
	VMOVUPS Z3, (R10)(AX*4) \
wstored: \
	ADDQ $16, AX \
	CMPQ AX, R9 \
	JLT wcol \
	VZEROUPPER \
	RET


#define LOADV_Q8 \
	VPMOVSXBD (SI), Z4 \
	VCVTDQ2PS Z4, Z4
#define LOADV2_Q8 \
	VPMOVSXBD (SI)(R11*1), Z9 \
	VCVTDQ2PS Z9, Z9

TEXT ·wsumGroupQ8AVX512(SB), NOSPLIT, $0-80
	WSUM_BEGIN(0)
	WSUM_LOOP(1, LOADV_Q8, LOADV2_Q8)

TEXT ·scoresGroupQ8AVX512(SB), NOSPLIT, $0-84
	SCORES_BEGIN(0)
	SCORES4(16, LOAD4_Q8, PREF4_Q8)
	SCORES1(1, LOADK_Q8)
