//go:build amd64 && !purego

#include "textflag.h"
#include "zero_heads_amd64.h"

// Decode attention kernels for up to four query heads sharing one KV head
// (a GQA group): each key or value row is loaded (and converted from
// binary16) once and used by every head. hd is a multiple of 16; c >= 1
// rows; 1 <= g <= 4 heads (heads past g are skipped by branches that
// predict perfectly, as g is fixed for a call).

// func scoresGroupF32AVX512(s *float32, ss int, k *float32, q *float32, c, grp, hd int, next *float32)
// func scoresGroupF16AVX512(s *float32, ss int, k *uint16, q *float32, c, grp, hd int, next *uint16)
// s[h*ss+t] = Q[h,:]·K[t,:] for t < c, h < g.
//
// Rows go four at a time: Z(4h+r) accumulates row r of head h 16 lanes
// wide, and one transposing tree (SUM16) turns the 16 accumulators into
// the 16 dot products, head h's four rows in 128-bit lane h. The last
// c%4 rows go one at a time (SCORES1).
//
// Registers: DI = s (row t), R8 = ss in bytes, SI = K row t, R11 = K row
// stride in bytes, CX = rows left, R10 = row t of the next block
// (prefetched: the blocks are scattered in memory, so the hardware
// prefetcher does not run ahead). Four rows: R12/R13/R14 = K rows t+1..t+3,
// DX/BX = the query heads 0 and 3 at the column (heads 1 and 2 are R9 =
// hd*4 bytes further), AX = columns left, Z16..Z19 = 16 keys of each row,
// Z20..Z23 = 16 values of each query head. One row: DX/R12/R13/R14 = the
// query heads, BX = g, R9 = hd, AX = column.
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
	MOVQ next+56(FP), R10

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

#define LOAD4_F32 \
	VMOVUPS (SI), Z16 \
	VMOVUPS (R12), Z17 \
	VMOVUPS (R13), Z18 \
	VMOVUPS (R14), Z19
#define LOAD4_F16 \
	VCVTPH2PS (SI), Z16 \
	VCVTPH2PS (R12), Z17 \
	VCVTPH2PS (R13), Z18 \
	VCVTPH2PS (R14), Z19

// PREF4_* prefetch the next block's four rows linearly, 64·elem bytes per
// 16 columns.
#define PREF4_F32 \
	PREFETCHT0 (R10) \
	PREFETCHT0 64(R10) \
	PREFETCHT0 128(R10) \
	PREFETCHT0 192(R10) \
	ADDQ $256, R10
#define PREF4_F16 \
	PREFETCHT0 (R10) \
	PREFETCHT0 64(R10) \
	ADDQ $128, R10

#define LOADK_F32 VMOVUPS (SI)(AX*4), Z4
#define LOADK_F16 VCVTPH2PS (SI)(AX*2), Z4

// func wsumGroupF32AVX512(out *float32, v *float32, p *float32, ps, c, grp, hd int, next *float32)
// func wsumGroupF16AVX512(out *float32, v *uint16, p *float32, ps, c, grp, hd int, next *uint16)
// out[h*hd+d] += sum_t p[h*ps+t]·V[t*hd+d] for t < c, h < g: 16 columns at
// a time, over all c rows two at a time, into two accumulators per head
// (even and odd rows: two FMA chains instead of one).
//
// Registers: DI = out, DX = V, SI = V row at column AX, R13 = the same
// place in the next block (prefetched), R10/R12 = p of heads 0 and 2 at
// row t (heads 1 and 3 are R8 further), R8 = ps in bytes, CX = rows left,
// BX = g, R9 = hd, R11 = V row stride in bytes, Z0..Z3 / Z5..Z8 =
// accumulators of even / odd rows, Z4 / Z9 = 16 values of each row.
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

#define WSUM_LOOP(elemscale, LOADV, LOADV2) \
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

#define LOADV_F32 VMOVUPS (SI), Z4
#define LOADV_F16 VCVTPH2PS (SI), Z4
#define LOADV2_F32 VMOVUPS (SI)(R11*1), Z9
#define LOADV2_F16 VCVTPH2PS (SI)(R11*1), Z9

// When hd >= 64, wsum* first run steps of 64 columns (WV64) with one loop
// per head count g (no per-head branches): each row's 64 columns are
// loaded (converted) once into Z16..Z19 and multiplied with every head's
// broadcast weight (Z20+h) into head h's accumulators Z(4h)..Z(4h+3); the
// columns past the last multiple of 64 go through WSUM_LOOP.
#define LOAD64_F32 \
	VMOVUPS (SI), Z16 \
	VMOVUPS 64(SI), Z17 \
	VMOVUPS 128(SI), Z18 \
	VMOVUPS 192(SI), Z19
#define LOAD64_F16 \
	VCVTPH2PS (SI), Z16 \
	VCVTPH2PS 32(SI), Z17 \
	VCVTPH2PS 64(SI), Z18 \
	VCVTPH2PS 96(SI), Z19
#define PREF64_F32 \
	PREFETCHT0 (R13) \
	PREFETCHT0 64(R13) \
	PREFETCHT0 128(R13) \
	PREFETCHT0 192(R13)
#define PREF64_F16 \
	PREFETCHT0 (R13) \
	PREFETCHT0 64(R13)

#define VF64(P, W, A, B, C, D) \
	VBROADCASTSS P, W \
	VFMADD231PS W, Z16, A \
	VFMADD231PS W, Z17, B \
	VFMADD231PS W, Z18, C \
	VFMADD231PS W, Z19, D
#define VF64_1 VF64((R10), Z20, Z0, Z1, Z2, Z3)
#define VF64_2 VF64_1 \
	VF64((R10)(R8*1), Z21, Z4, Z5, Z6, Z7)
#define VF64_3 VF64_2 \
	VF64((R12), Z22, Z8, Z9, Z10, Z11)
#define VF64_4 VF64_3 \
	VF64((R12)(R8*1), Z23, Z12, Z13, Z14, Z15)

// VO adds one head's 64 sums to the floats at (R10)(AX*4).
#define VO(A, B, C, D) \
	VADDPS (R10)(AX*4), A, A \
	VMOVUPS A, (R10)(AX*4) \
	VADDPS 64(R10)(AX*4), B, B \
	VMOVUPS B, 64(R10)(AX*4) \
	VADDPS 128(R10)(AX*4), C, C \
	VMOVUPS C, 128(R10)(AX*4) \
	VADDPS 192(R10)(AX*4), D, D \
	VMOVUPS D, 192(R10)(AX*4)
#define VO64_1 MOVQ DI, R10 \
	VO(Z0, Z1, Z2, Z3)
#define VO64_2 VO64_1 \
	LEAQ (R10)(R9*4), R10 \
	VO(Z4, Z5, Z6, Z7)
#define VO64_3 VO64_2 \
	LEAQ (R10)(R9*4), R10 \
	VO(Z8, Z9, Z10, Z11)
#define VO64_4 VO64_3 \
	LEAQ (R10)(R9*4), R10 \
	VO(Z12, Z13, Z14, Z15)

// WV64 runs the 64-column steps from column AX while at least 64 columns
// are left (labels col, row), with ZERO, HEADS and OUT for one head count;
// registers as in WSUM_LOOP.
#define WV64(ZERO, HEADS, OUT, LOAD64, PREF64, elemscale, col, row) \
col: \
	LEAQ (DX)(AX*elemscale), SI \
	MOVQ next+56(FP), R13 \
	LEAQ (R13)(AX*elemscale), R13 \
	MOVQ p+16(FP), R10 \
	LEAQ (R10)(R8*2), R12 \
	MOVQ c+32(FP), CX \
	ZERO \
row: \
	PREF64 \
	LOAD64 \
	HEADS \
	ADDQ $4, R10 \
	ADDQ $4, R12 \
	ADDQ R11, SI \
	ADDQ R11, R13 \
	DECQ CX \
	JNZ row \
	OUT \
	ADDQ $64, AX \
	MOVQ R9, CX \
	SUBQ AX, CX \
	CMPQ CX, $64 \
	JGE col

// WSUM64 dispatches on g to the WV64 loops, then leaves the columns left
// (if any) to WSUM_LOOP (label wcol).
#define WSUM64(LOAD64, PREF64, elemscale) \
	CMPQ R9, $64 \
	JLT wcol \
	CMPQ BX, $2 \
	JLT v64g1 \
	JEQ v64g2 \
	CMPQ BX, $4 \
	JLT v64g3 \
	WV64(ZEROHEADS_4, VF64_4, VO64_4, LOAD64, PREF64, elemscale, v4col, v4row) \
	JMP vtail \
v64g3: \
	WV64(ZEROHEADS_3, VF64_3, VO64_3, LOAD64, PREF64, elemscale, v3col, v3row) \
	JMP vtail \
v64g2: \
	WV64(ZEROHEADS_2, VF64_2, VO64_2, LOAD64, PREF64, elemscale, v2col, v2row) \
	JMP vtail \
v64g1: \
	WV64(ZEROHEADS_1, VF64_1, VO64_1, LOAD64, PREF64, elemscale, v1col, v1row) \
vtail: \
	CMPQ AX, R9 \
	JLT wcol \
	VZEROUPPER \
	RET

// When hd is a multiple of 32, scores* run the four-row part in steps of
// 32 columns (SC32) with one loop per head count g (no per-head
// branches): Z16..Z19 and Z20..Z23 hold the four rows' two 16-column
// halves, Z24, Z25 a query head's.
#define LOAD8_F32 \
	VMOVUPS (SI), Z16 \
	VMOVUPS (R12), Z17 \
	VMOVUPS (R13), Z18 \
	VMOVUPS (R14), Z19 \
	VMOVUPS 64(SI), Z20 \
	VMOVUPS 64(R12), Z21 \
	VMOVUPS 64(R13), Z22 \
	VMOVUPS 64(R14), Z23
#define LOAD8_F16 \
	VCVTPH2PS (SI), Z16 \
	VCVTPH2PS (R12), Z17 \
	VCVTPH2PS (R13), Z18 \
	VCVTPH2PS (R14), Z19 \
	VCVTPH2PS 32(SI), Z20 \
	VCVTPH2PS 32(R12), Z21 \
	VCVTPH2PS 32(R13), Z22 \
	VCVTPH2PS 32(R14), Z23
// PREF8_* prefetch the next block's four rows linearly, 128·elem bytes
// per 32 columns.
#define PREF8_F32 \
	PREF4_F32 \
	PREF4_F32
#define PREF8_F16 \
	PREFETCHT0 (R10) \
	PREFETCHT0 64(R10) \
	PREFETCHT0 128(R10) \
	PREFETCHT0 192(R10) \
	ADDQ $256, R10

#define FDOT32(Q0, Q1, A0, A1, A2, A3) \
	VMOVUPS Q0, Z24 \
	VMOVUPS Q1, Z25 \
	VFMADD231PS Z24, Z16, A0 \
	VFMADD231PS Z24, Z17, A1 \
	VFMADD231PS Z24, Z18, A2 \
	VFMADD231PS Z24, Z19, A3 \
	VFMADD231PS Z25, Z20, A0 \
	VFMADD231PS Z25, Z21, A1 \
	VFMADD231PS Z25, Z22, A2 \
	VFMADD231PS Z25, Z23, A3
#define FD32_1 FDOT32((DX), 64(DX), Z0, Z1, Z2, Z3)
#define FD32_2 FD32_1 \
	FDOT32((DX)(R9*1), 64(DX)(R9*1), Z4, Z5, Z6, Z7)
#define FD32_3 FD32_2 \
	FDOT32((DX)(R9*2), 64(DX)(R9*2), Z8, Z9, Z10, Z11)
#define FD32_4 FD32_3 \
	FDOT32((BX), 64(BX), Z12, Z13, Z14, Z15)

// FFOLD is the first steps of SUM16 for one head (QUAD4 of two PAIR4s),
// FCROSS its last: 128-bit lane h of Z0 gets head h's four sums (lanes of
// heads past g add whatever their registers hold; they are not stored).
#define FFOLD(A, B, C, D) \
	PAIR4(A, B) \
	PAIR4(C, D) \
	QUAD4(A, C)
#define FCROSS \
	VSHUFF32X4 $0x44, Z4, Z0, Z24 \
	VSHUFF32X4 $0xEE, Z4, Z0, Z25 \
	VADDPS Z25, Z24, Z0 \
	VSHUFF32X4 $0x44, Z12, Z8, Z24 \
	VSHUFF32X4 $0xEE, Z12, Z8, Z25 \
	VADDPS Z25, Z24, Z8 \
	VSHUFF32X4 $0x88, Z8, Z0, Z24 \
	VSHUFF32X4 $0xDD, Z8, Z0, Z25 \
	VADDPS Z25, Z24, Z0
#define FS32_1 FFOLD(Z0, Z1, Z2, Z3) \
	FCROSS
#define FS32_2 FFOLD(Z0, Z1, Z2, Z3) \
	FFOLD(Z4, Z5, Z6, Z7) \
	FCROSS
#define FS32_3 FFOLD(Z0, Z1, Z2, Z3) \
	FFOLD(Z4, Z5, Z6, Z7) \
	FFOLD(Z8, Z9, Z10, Z11) \
	FCROSS
#define FS32_4 SUM16

#define FST32_1 VMOVUPS X0, (DI)
#define FST32_2 FST32_1 \
	VEXTRACTF32X4 $1, Z0, (DI)(R8*1)
#define FST32_3 FST32_2 \
	VEXTRACTF32X4 $2, Z0, (DI)(R8*2)
#define FST32_4 FST32_3 \
	LEAQ (DI)(R8*2), AX \
	VEXTRACTF32X4 $3, Z0, (AX)(R8*1)

// SC32 is sgroup (SCORES4) for one head count in steps of 32 columns
// (step2: their bytes in a row); it leaves to srest when fewer than four
// rows are left.
#define SC32(ZERO, DOTS, SUM, STORE, LOAD8, PREF8, step2, grp, col) \
grp: \
	CMPQ CX, $4 \
	JLT srest \
	LEAQ (SI)(R11*1), R12 \
	LEAQ (SI)(R11*2), R13 \
	LEAQ (R12)(R11*2), R14 \
	MOVQ q+24(FP), DX \
	LEAQ (DX)(R9*2), BX \
	ADDQ R9, BX \
	MOVQ hd+48(FP), AX \
	ZERO \
col: \
	PREF8 \
	LOAD8 \
	DOTS \
	ADDQ $step2, SI \
	ADDQ $step2, R12 \
	ADDQ $step2, R13 \
	ADDQ $step2, R14 \
	ADDQ $128, DX \
	ADDQ $128, BX \
	SUBQ $32, AX \
	JNZ col \
	MOVQ R14, SI \
	SUM \
	STORE \
	ADDQ $16, DI \
	SUBQ $4, CX \
	JMP grp

// SCORES32 dispatches to the SC32 loops when hd%32 == 0 (R9 = hd*4), else
// falls through to SCORES4.
#define SCORES32(LOAD8, PREF8, step2) \
	MOVQ R9, AX \
	ANDQ $127, AX \
	JNZ sgroup \
	MOVQ grp+40(FP), AX \
	CMPQ AX, $2 \
	JLT f32g1 \
	JEQ f32g2 \
	CMPQ AX, $4 \
	JLT f32g3 \
	SC32(ZEROHEADS_4, FD32_4, FS32_4, FST32_4, LOAD8, PREF8, step2, f4grp, f4col) \
f32g3: \
	SC32(ZEROHEADS_3, FD32_3, FS32_3, FST32_3, LOAD8, PREF8, step2, f3grp, f3col) \
f32g2: \
	SC32(ZEROHEADS_2, FD32_2, FS32_2, FST32_2, LOAD8, PREF8, step2, f2grp, f2col) \
f32g1: \
	SC32(ZEROHEADS_1, FD32_1, FS32_1, FST32_1, LOAD8, PREF8, step2, f1grp, f1col)

TEXT ·wsumGroupF32AVX512(SB), NOSPLIT, $0-64
	WSUM_BEGIN(2)
	WSUM64(LOAD64_F32, PREF64_F32, 4)
	WSUM_LOOP(4, LOADV_F32, LOADV2_F32)

TEXT ·wsumGroupF16AVX512(SB), NOSPLIT, $0-64
	WSUM_BEGIN(1)
	WSUM64(LOAD64_F16, PREF64_F16, 2)
	WSUM_LOOP(2, LOADV_F16, LOADV2_F16)

TEXT ·scoresGroupF32AVX512(SB), NOSPLIT, $0-64
	SCORES_BEGIN(2)
	SCORES32(LOAD8_F32, PREF8_F32, 128)
	SCORES4(64, LOAD4_F32, PREF4_F32)
	SCORES1(4, LOADK_F32)

TEXT ·scoresGroupF16AVX512(SB), NOSPLIT, $0-64
	SCORES_BEGIN(1)
	SCORES32(LOAD8_F16, PREF8_F16, 64)
	SCORES4(32, LOAD4_F16, PREF4_F16)
	SCORES1(2, LOADK_F16)
