//go:build amd64 && !purego

#include "textflag.h"

// Decode attention kernels for up to four query heads sharing one KV head
// (a GQA group): each key or value row is loaded (and converted from
// binary16) once and used by every head. hd is a multiple of 16; c >= 1
// rows; 1 <= g <= 4 heads (heads past g are skipped by branches that
// predict perfectly, as g is fixed for a call).

// func scoresGroupF32AVX512(s *float32, ss int, k *float32, q *float32, c, grp, hd int, next *float32)
// func scoresGroupF16AVX512(s *float32, ss int, k *uint16, q *float32, c, grp, hd int, next *uint16)
// s[h*ss+t] = Q[h,:]·K[t,:] for t < c, h < g.
//
// Registers: DI = s (row t), R8 = ss in bytes, SI = K row, DX/R12/R13/R14 =
// the four query heads, CX = rows left, BX = g, R9 = hd, R11 = K row stride
// in bytes, AX = column, Z0..Z3 = the heads' partial sums, Z4 = 16 keys,
// R10 = the same row of the next block (prefetched: the blocks are
// scattered in memory, so the hardware prefetcher does not run ahead).
#define SCORES_BEGIN(elemshift) \
	MOVQ s+0(FP), DI \
	MOVQ ss+8(FP), R8 \
	SHLQ $2, R8 \
	MOVQ k+16(FP), SI \
	MOVQ q+24(FP), DX \
	MOVQ c+32(FP), CX \
	MOVQ grp+40(FP), BX \
	MOVQ hd+48(FP), R9 \
	MOVQ R9, R11 \
	SHLQ $elemshift, R11 \
	MOVQ next+56(FP), R10 \
	LEAQ (DX)(R9*4), R12 \
	LEAQ (DX)(R9*8), R13 \
	LEAQ (R12)(R9*8), R14

#define SCORES_LOOP(elemscale, LOADK) \
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
	VZEROUPPER \
	RET

#define LOADK_F32 VMOVUPS (SI)(AX*4), Z4
#define LOADK_F16 VCVTPH2PS (SI)(AX*2), Z4

// func wsumGroupF32AVX512(out *float32, v *float32, p *float32, ps, c, grp, hd int, next *float32)
// func wsumGroupF16AVX512(out *float32, v *uint16, p *float32, ps, c, grp, hd int, next *uint16)
// out[h*hd+d] += sum_t p[h*ps+t]·V[t*hd+d] for t < c, h < g: 16 columns at
// a time, over all c rows, into one accumulator per head.
//
// Registers: DI = out, DX = V, SI = V row at column AX, R13 = the same
// place in the next block (prefetched), R10/R12 = p of heads 0 and 2 at
// row t (heads 1 and 3 are R8 further), R8 = ps in bytes, CX = rows left,
// BX = g, R9 = hd, R11 = V row stride in bytes, Z0..Z3 = accumulators,
// Z4 = 16 values.
#define WSUM_BEGIN(elemshift) \
	MOVQ out+0(FP), DI \
	MOVQ v+8(FP), DX \
	MOVQ ps+24(FP), R8 \
	SHLQ $2, R8 \
	MOVQ grp+40(FP), BX \
	MOVQ hd+48(FP), R9 \
	MOVQ R9, R11 \
	SHLQ $elemshift, R11 \
	XORQ AX, AX

#define WSUM_LOOP(elemscale, LOADV) \
wcol: \
	LEAQ (DX)(AX*elemscale), SI \
	MOVQ next+56(FP), R13 \
	LEAQ (R13)(AX*elemscale), R13 \
	MOVQ p+16(FP), R10 \
	LEAQ (R10)(R8*2), R12 \
	MOVQ c+32(FP), CX \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
wrow: \
	PREFETCHT0 (R13) \
	LOADV \
	VFMADD231PS.BCST (R10), Z4, Z0 \
	CMPQ BX, $2 \
	JLT wnext \
	VFMADD231PS.BCST (R10)(R8*1), Z4, Z1 \
	CMPQ BX, $3 \
	JLT wnext \
	VFMADD231PS.BCST (R12), Z4, Z2 \
	CMPQ BX, $4 \
	JLT wnext \
	VFMADD231PS.BCST (R12)(R8*1), Z4, Z3 \
wnext: \
	ADDQ $4, R10 \
	ADDQ $4, R12 \
	ADDQ R11, SI \
	ADDQ R11, R13 \
	DECQ CX \
	JNZ wrow \
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

#define LOADV_F32 VMOVUPS (SI), Z4
#define LOADV_F16 VCVTPH2PS (SI), Z4

TEXT ·wsumGroupF32AVX512(SB), NOSPLIT, $0-64
	WSUM_BEGIN(2)
	WSUM_LOOP(4, LOADV_F32)

TEXT ·wsumGroupF16AVX512(SB), NOSPLIT, $0-64
	WSUM_BEGIN(1)
	WSUM_LOOP(2, LOADV_F16)

TEXT ·scoresGroupF32AVX512(SB), NOSPLIT, $0-64
	SCORES_BEGIN(2)
	SCORES_LOOP(4, LOADK_F32)

TEXT ·scoresGroupF16AVX512(SB), NOSPLIT, $0-64
	SCORES_BEGIN(1)
	SCORES_LOOP(2, LOADK_F16)
