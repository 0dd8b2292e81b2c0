//go:build amd64 && !purego

#include "textflag.h"

// Decode attention kernels over int8 KV rows (kvcache.Q8) for up to four
// query heads sharing one KV head (a GQA group), after the f16 group
// kernels of attn_group_avx512_amd64.s (see there for the structure): each
// key or value row is loaded once for all the heads, and the rows' scales
// are applied here: a key row's to its scores, a value row's to the row.
//
// The scores multiply int8 keys by the query heads quantized to int16 (one
// scale per head, see quantizeQ16) with VPDPWSSD: 32 columns of a row are
// one VPMOVSXBW and one VPDPWSSD per head, exact in int32, instead of two
// conversions to float32 and two FMAs per head. hd is a multiple of 32.

// func scoresGroupQ8AVX512(s *float32, ss int, k *int8, q *int16, c, grp, hd int, next *int8, ks, nks, qsc4, qsc1 *float32)
// s[h*ss+t] = float32(Q16[h,:]·K[t,:]) * (ks[t]*qsc[h]) for t < c, h < g,
// where qsc1 holds qsc[0..3] and qsc4 each of them four times (16 values,
// readable even for g < 4). nks: the next block's scales (prefetched).
//
// Rows go four at a time: Z(4h+r) accumulates row r of head h (16 int32
// lanes), one transposing tree (SUM16I, integer adds) turns them into head
// h's four rows in 128-bit lane h, converted to float32 and scaled by
// Z26 = ks[t..t+3] (each lane) * Z27 (qsc4). The last c%4 rows go one at a
// time. Registers as in the f16 kernel, with R9 = hd*2 (a query head's
// bytes) in the four-row part; no register is left for ks, so row t's
// scale is found as ks + (DI - s) (both advance 4 bytes a row).

#define PAIR4I(A, B) \
	VUNPCKLPS B, A, Z24 \
	VUNPCKHPS B, A, Z25 \
	VPADDD Z25, Z24, A

#define QUAD4I(A, C) \
	VUNPCKLPD C, A, Z24 \
	VUNPCKHPD C, A, Z25 \
	VPADDD Z25, Z24, A

#define SUM16I \
	PAIR4I(Z0, Z1) \
	PAIR4I(Z2, Z3) \
	QUAD4I(Z0, Z2) \
	PAIR4I(Z4, Z5) \
	PAIR4I(Z6, Z7) \
	QUAD4I(Z4, Z6) \
	PAIR4I(Z8, Z9) \
	PAIR4I(Z10, Z11) \
	QUAD4I(Z8, Z10) \
	PAIR4I(Z12, Z13) \
	PAIR4I(Z14, Z15) \
	QUAD4I(Z12, Z14) \
	VSHUFI32X4 $0x44, Z4, Z0, Z24 \
	VSHUFI32X4 $0xEE, Z4, Z0, Z25 \
	VPADDD Z25, Z24, Z0 \
	VSHUFI32X4 $0x44, Z12, Z8, Z24 \
	VSHUFI32X4 $0xEE, Z12, Z8, Z25 \
	VPADDD Z25, Z24, Z8 \
	VSHUFI32X4 $0x88, Z8, Z0, Z24 \
	VSHUFI32X4 $0xDD, Z8, Z0, Z25 \
	VPADDD Z25, Z24, Z0

// DOT4 adds the four key rows (Z16..Z19, int16) times query head Q (loaded
// into QZ) to the accumulators A0..A3.
#define DOT4(Q, QZ, A0, A1, A2, A3) \
	VMOVDQU32 Q, QZ \
	VPDPWSSD QZ, Z16, A0 \
	VPDPWSSD QZ, Z17, A1 \
	VPDPWSSD QZ, Z18, A2 \
	VPDPWSSD QZ, Z19, A3

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

TEXT ·scoresGroupQ8AVX512(SB), NOSPLIT, $0-96
	MOVQ s+0(FP), DI
	MOVQ ss+8(FP), R8
	SHLQ $2, R8
	MOVQ k+16(FP), SI
	MOVQ c+32(FP), CX
	MOVQ hd+48(FP), R11
	MOVQ R11, R9
	SHLQ $1, R9
	MOVQ next+56(FP), R10
	MOVQ nks+72(FP), AX
	PREFETCHT0 (AX)
	MOVQ qsc4+80(FP), AX
	VMOVUPS (AX), Z27

sgroup:
	CMPQ CX, $4
	JLT srest
	LEAQ (SI)(R11*1), R12
	LEAQ (SI)(R11*2), R13
	LEAQ (R12)(R11*2), R14
	MOVQ q+24(FP), DX
	LEAQ (DX)(R9*2), BX
	ADDQ R9, BX
	MOVQ hd+48(FP), AX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

gcol:
	// The next block's four rows, linearly: 128 bytes per 32 columns.
	PREFETCHT0 (R10)
	PREFETCHT0 64(R10)
	ADDQ $128, R10
	VPMOVSXBW (SI), Z16
	VPMOVSXBW (R12), Z17
	VPMOVSXBW (R13), Z18
	VPMOVSXBW (R14), Z19
	DOT4((DX), Z20, Z0, Z1, Z2, Z3)
	CMPQ grp+40(FP), $2
	JLT gnext
	DOT4((DX)(R9*1), Z21, Z4, Z5, Z6, Z7)
	CMPQ grp+40(FP), $3
	JLT gnext
	DOT4((DX)(R9*2), Z22, Z8, Z9, Z10, Z11)
	CMPQ grp+40(FP), $4
	JLT gnext
	DOT4((BX), Z23, Z12, Z13, Z14, Z15)

gnext:
	ADDQ $32, SI
	ADDQ $32, R12
	ADDQ $32, R13
	ADDQ $32, R14
	ADDQ $64, DX
	ADDQ $64, BX
	SUBQ $32, AX
	JNZ gcol
	MOVQ R14, SI
	SUM16I
	VCVTDQ2PS Z0, Z0
	MOVQ DI, AX
	SUBQ s+0(FP), AX
	ADDQ ks+64(FP), AX
	VBROADCASTF32X4 (AX), Z26
	VMULPS Z27, Z26, Z26
	VMULPS Z26, Z0, Z0
	VMOVUPS X0, (DI)
	CMPQ grp+40(FP), $2
	JLT gstored
	VEXTRACTF32X4 $1, Z0, (DI)(R8*1)
	CMPQ grp+40(FP), $3
	JLT gstored
	VEXTRACTF32X4 $2, Z0, (DI)(R8*2)
	CMPQ grp+40(FP), $4
	JLT gstored
	LEAQ (DI)(R8*2), AX
	VEXTRACTF32X4 $3, Z0, (AX)(R8*1)

gstored:
	ADDQ $16, DI
	SUBQ $4, CX
	JMP sgroup

srest:
	CMPQ CX, $0
	JEQ sret
	MOVQ q+24(FP), DX
	LEAQ (DX)(R9*1), R12
	LEAQ (DX)(R9*2), R13
	LEAQ (R12)(R9*2), R14
	MOVQ grp+40(FP), BX
	MOVQ hd+48(FP), R9
	MOVQ qsc1+88(FP), AX
	VMOVUPS (AX), X10

srow:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ AX, AX

scol:
	PREFETCHT0 (R10)(AX*1)
	VPMOVSXBW (SI)(AX*1), Z4
	VPDPWSSD (DX)(AX*2), Z4, Z0
	CMPQ BX, $2
	JLT snext
	VPDPWSSD (R12)(AX*2), Z4, Z1
	CMPQ BX, $3
	JLT snext
	VPDPWSSD (R13)(AX*2), Z4, Z2
	CMPQ BX, $4
	JLT snext
	VPDPWSSD (R14)(AX*2), Z4, Z3

snext:
	ADDQ $32, AX
	CMPQ AX, R9
	JLT scol
	VEXTRACTI64X4 $1, Z0, Y5
	VPADDD Y5, Y0, Y0
	VEXTRACTI64X4 $1, Z1, Y6
	VPADDD Y6, Y1, Y1
	VEXTRACTI64X4 $1, Z2, Y7
	VPADDD Y7, Y2, Y2
	VEXTRACTI64X4 $1, Z3, Y8
	VPADDD Y8, Y3, Y3
	VEXTRACTI128 $1, Y0, X5
	VPADDD X5, X0, X0
	VEXTRACTI128 $1, Y1, X6
	VPADDD X6, X1, X1
	VEXTRACTI128 $1, Y2, X7
	VPADDD X7, X2, X2
	VEXTRACTI128 $1, Y3, X8
	VPADDD X8, X3, X3
	VPHADDD X1, X0, X0
	VPHADDD X3, X2, X2
	VPHADDD X2, X0, X0
	VCVTDQ2PS X0, X0
	MOVQ DI, AX
	SUBQ s+0(FP), AX
	ADDQ ks+64(FP), AX
	VBROADCASTSS (AX), X9
	VMULPS X10, X9, X9
	VMULPS X9, X0, X0
	VMOVSS X0, (DI)
	CMPQ BX, $2
	JLT sdone
	VEXTRACTPS $1, X0, (DI)(R8*1)
	CMPQ BX, $3
	JLT sdone
	VEXTRACTPS $2, X0, (DI)(R8*2)
	CMPQ BX, $4
	JLT sdone
	LEAQ (DI)(R8*2), AX
	VEXTRACTPS $3, X0, (AX)(R8*1)

sdone:
	ADDQ $4, DI
	ADDQ R11, SI
	ADDQ R11, R10
	DECQ CX
	JNZ srow

sret:
	VZEROUPPER
	RET
