//go:build amd64 && !purego

#include "textflag.h"
#include "zero_heads_amd64.h"

// Decode attention kernels over int8 KV rows (kvcache.Q8) for up to four
// query heads sharing one KV head (a GQA group), after the f16 group
// kernels of attn_group_avx512_amd64.s (see there for the structure): each
// key or value row is loaded once for all the heads, and the rows' scales
// are applied here: a key row's to its scores, a value row's to the row.
//
// The scores multiply the keys by the query heads quantized to int8 (one
// scale per head, see quantizeQ8Heads) with VPDPBUSD, exact in int32. A
// block's keys of one KV head are interleaved by quads of dimensions and
// stored biased, as unsigned bytes key+128 (Q8KeyIndex): 64 bytes hold
// dimensions 4j..4j+3 of 16 consecutive positions, so one VPDPBUSD of
// those bytes (unsigned) with a head's broadcast query quad (signed) adds
// 16 positions' partial dot products, without widening or horizontal
// sums; each head's sums start from its bias correction -128·sum(q).

// Both kernels loop over the blocks of one KV head themselves: from row
// o0 of block blk0, m positions in all, block b's rows at element off of
// *k[b] (the slice headers' data pointers; Go checked their lengths) and
// their scales at element so of *ks[b]; while a block is read, the same
// rows of block min(b+ahead, last) are prefetched, and on entry
// scoresQ8BlocksAVX512 prefetches blocks blk0 to blk0+ahead-1 of keys and
// values (see decodeAhead).
//
// func scoresQ8BlocksAVX512(s *float32, ss int, k *[]int8, ks *[]float32, q *int8, qsc *float32, qc *int32, grp, hd, bt, off, so, blk0, o0, m, last int, v *[]int8, vs *[]float32, ahead int)
// s[h*ss+i] = float32(qc[h] + Q8[h,:]·(K[i,:]+128)) * (ks[i]*qsc[h]) for
// the m rows i, h < grp <= 4; bt is a multiple of 16 and hd of 16.
//
// Positions go in tiles of 16 aligned in the block (t0 = 0, 16, ...): the
// tile's keys are hd/4 runs of 64 bytes (one cache line each), 4*bt bytes
// apart; its 16 scores per head are stored under the mask K1 of the
// positions in [from, n) (the first and last tiles may be partial; reading
// a whole tile is safe, as blocks are allocated full size). Registers: DX
// (q), BX (q of head 3), R9 = hd (a query head's bytes), R11 = 4*bt, R13 =
// 12*bt, R8 = ss*4, R12 = qsc, AX the steps left. Frame: 0 blk, 8
// positions left after this block, 16 o (the block's first row), 24 the
// score of row o, 32 the KV head's keys in the block, 40 those of the
// block to prefetch, 48 their scales, 56 o+c (the block's end), 64 t0.

// func wsumQ8BlocksAVX512(out *float32, v *[]int8, vs *[]float32, p *float32, ps, grp, hd, bt, off, so, blk0, o0, m, last, ahead int)
// out[h*hd+d] += sum_i p[h*ps+i]·(vs[i]·V[i*hd+d]) for the m rows i, h < g,
// as integer sums (see wsumGroupQ8Generic, to which it is exact), in
// chunks of up to wsumQ8Chunk = 16 rows of a block: each head's weights
// p·vs are quantized to int16 with one scale (w16 at 0(SP)+32h, scale at
// 128(SP)+4h); rows go two at a time, sign-extended to int16 and
// interleaved (VPUNPCKL/HWD: each int32 lane holds one column of both
// rows), so that one VPDPWSSD with the heads' broadcast weight pair adds
// both rows' products to 16 columns. The interleave leaves columns 0-3,
// 8-11, ... in the low accumulator and 4-7, 12-15, ... in the high one;
// VPERMI2D (indices in Z30, Z31) restores their order before the
// conversion to float32. W64 steps 64 columns at a time (one loop per
// head count); wcol 32 at a time (Z(2h), Z(2h+1): head h's 32 columns).
// Frame past the weights: 144 blk, 152 last, 160 positions left after
// this block, 168 o, 176 rows left in the block after this chunk, 184 the
// chunk's rows c, 192 its weights (p), 200 the rows to prefetch, 208 its
// scales, 216 its rows.
DATA wsumQ8PermLo<>+0(SB)/4, $0
DATA wsumQ8PermLo<>+4(SB)/4, $1
DATA wsumQ8PermLo<>+8(SB)/4, $2
DATA wsumQ8PermLo<>+12(SB)/4, $3
DATA wsumQ8PermLo<>+16(SB)/4, $16
DATA wsumQ8PermLo<>+20(SB)/4, $17
DATA wsumQ8PermLo<>+24(SB)/4, $18
DATA wsumQ8PermLo<>+28(SB)/4, $19
DATA wsumQ8PermLo<>+32(SB)/4, $4
DATA wsumQ8PermLo<>+36(SB)/4, $5
DATA wsumQ8PermLo<>+40(SB)/4, $6
DATA wsumQ8PermLo<>+44(SB)/4, $7
DATA wsumQ8PermLo<>+48(SB)/4, $20
DATA wsumQ8PermLo<>+52(SB)/4, $21
DATA wsumQ8PermLo<>+56(SB)/4, $22
DATA wsumQ8PermLo<>+60(SB)/4, $23
GLOBL wsumQ8PermLo<>(SB), RODATA|NOPTR, $64

DATA wsumQ8PermHi<>+0(SB)/4, $8
DATA wsumQ8PermHi<>+4(SB)/4, $9
DATA wsumQ8PermHi<>+8(SB)/4, $10
DATA wsumQ8PermHi<>+12(SB)/4, $11
DATA wsumQ8PermHi<>+16(SB)/4, $24
DATA wsumQ8PermHi<>+20(SB)/4, $25
DATA wsumQ8PermHi<>+24(SB)/4, $26
DATA wsumQ8PermHi<>+28(SB)/4, $27
DATA wsumQ8PermHi<>+32(SB)/4, $12
DATA wsumQ8PermHi<>+36(SB)/4, $13
DATA wsumQ8PermHi<>+40(SB)/4, $14
DATA wsumQ8PermHi<>+44(SB)/4, $15
DATA wsumQ8PermHi<>+48(SB)/4, $28
DATA wsumQ8PermHi<>+52(SB)/4, $29
DATA wsumQ8PermHi<>+56(SB)/4, $30
DATA wsumQ8PermHi<>+60(SB)/4, $31
GLOBL wsumQ8PermHi<>(SB), RODATA|NOPTR, $64

// WDOT adds the interleaved row pair (Z18 low columns, Z19 high) times
// the weight pair at OFF(R14) to accumulators A (low) and B (high).
#define WDOT(OFF, A, B) \
	VPDPWSSD.BCST OFF(R14), Z18, A \
	VPDPWSSD.BCST OFF(R14), Z19, B

// WPAIR multiplies the interleaved pair with the weights of every head.
#define WPAIR(done) \
	VPUNPCKLWD Z17, Z16, Z18 \
	VPUNPCKHWD Z17, Z16, Z19 \
	WDOT(0, Z0, Z1) \
	CMPQ BX, $2 \
	JLT done \
	WDOT(32, Z2, Z3) \
	CMPQ BX, $3 \
	JLT done \
	WDOT(64, Z4, Z5) \
	CMPQ BX, $4 \
	JLT done \
	WDOT(96, Z6, Z7)

// WOUT adds head h's sums (A low, B high), in column order, times its
// scale SC(SP) to the 32 floats at (R10)(AX*4).
#define WOUT(A, B, SC) \
	VMOVDQA32 Z30, Z20 \
	VPERMI2D B, A, Z20 \
	VMOVDQA32 Z31, Z21 \
	VPERMI2D B, A, Z21 \
	VCVTDQ2PS Z20, Z20 \
	VCVTDQ2PS Z21, Z21 \
	VMULPS.BCST SC(SP), Z20, Z20 \
	VMULPS.BCST SC(SP), Z21, Z21 \
	VADDPS (R10)(AX*4), Z20, Z20 \
	VADDPS 64(R10)(AX*4), Z21, Z21 \
	VMOVUPS Z20, (R10)(AX*4) \
	VMOVUPS Z21, 64(R10)(AX*4)

// The 64-column steps of wsumGroupQ8AVX512, one loop per head count g
// (no per-head branches): a row pair's 64 columns are W64MIX's four
// interleaved registers Z20..Z23 (columns 0-31 low and high, 32-63 low and
// high), head h's accumulators Z(4h)..Z(4h+3).
#define W64MIX \
	VPUNPCKLWD Z17, Z16, Z20 \
	VPUNPCKHWD Z17, Z16, Z21 \
	VPUNPCKLWD Z19, Z18, Z22 \
	VPUNPCKHWD Z19, Z18, Z23

// WB64 adds the pair times head h's weight pair at OFF(R14) (broadcast
// into W) to its accumulators A..D.
#define WB64(OFF, W, A, B, C, D) \
	VPBROADCASTD OFF(R14), W \
	VPDPWSSD W, Z20, A \
	VPDPWSSD W, Z21, B \
	VPDPWSSD W, Z22, C \
	VPDPWSSD W, Z23, D

#define WB64_1 WB64(0, Z24, Z0, Z1, Z2, Z3)
#define WB64_2 WB64_1 \
	WB64(32, Z25, Z4, Z5, Z6, Z7)
#define WB64_3 WB64_2 \
	WB64(64, Z26, Z8, Z9, Z10, Z11)
#define WB64_4 WB64_3 \
	WB64(96, Z27, Z12, Z13, Z14, Z15)

// WOUTAT is WOUT for the 32 floats at OFF(R10)(AX*4).
#define WOUTAT(A, B, SC, OFF, OFF2) \
	VMOVDQA32 Z30, Z20 \
	VPERMI2D B, A, Z20 \
	VMOVDQA32 Z31, Z21 \
	VPERMI2D B, A, Z21 \
	VCVTDQ2PS Z20, Z20 \
	VCVTDQ2PS Z21, Z21 \
	VMULPS.BCST SC(SP), Z20, Z20 \
	VMULPS.BCST SC(SP), Z21, Z21 \
	VADDPS OFF(R10)(AX*4), Z20, Z20 \
	VADDPS OFF2(R10)(AX*4), Z21, Z21 \
	VMOVUPS Z20, OFF(R10)(AX*4) \
	VMOVUPS Z21, OFF2(R10)(AX*4)

// WO64 adds one head's 64 columns (accumulators A..D) times its scale
// SC(SP) to the floats at (R10)(AX*4).
#define WO64(A, B, C, D, SC) \
	WOUTAT(A, B, SC, 0, 64) \
	WOUTAT(C, D, SC, 128, 192)

#define WO64_1 WO64(Z0, Z1, Z2, Z3, 128)
#define WO64_2 WO64_1 \
	LEAQ (R10)(R9*4), R10 \
	WO64(Z4, Z5, Z6, Z7, 132)
#define WO64_3 WO64_2 \
	LEAQ (R10)(R9*4), R10 \
	WO64(Z8, Z9, Z10, Z11, 136)
#define WO64_4 WO64_3 \
	LEAQ (R10)(R9*4), R10 \
	WO64(Z12, Z13, Z14, Z15, 140)

// W64 runs the 64-column steps from column AX while at least 64 columns
// are left, with ZERO, HEADS and OUT for one head count (labels: col,
// pair, odd, fin). Rows go two at a time as in wcol; each step prefetches
// its columns of the next block's rows.
#define W64(ZERO, HEADS, OUT, col, pair, odd, fin) \
col: \
	LEAQ (DX)(AX*1), SI \
	MOVQ 200(SP), R13 \
	ADDQ AX, R13 \
	MOVQ 184(SP), CX \
	LEAQ (SP), R14 \
	ZERO \
pair: \
	CMPQ CX, $2 \
	JLT odd \
	PREFETCHT0 (R13) \
	PREFETCHT0 (R13)(R9*1) \
	VPMOVSXBW (SI), Z16 \
	VPMOVSXBW (SI)(R9*1), Z17 \
	VPMOVSXBW 32(SI), Z18 \
	VPMOVSXBW 32(SI)(R9*1), Z19 \
	W64MIX \
	HEADS \
	ADDQ $4, R14 \
	LEAQ (SI)(R9*2), SI \
	LEAQ (R13)(R9*2), R13 \
	SUBQ $2, CX \
	JMP pair \
odd: \
	CMPQ CX, $0 \
	JEQ fin \
	PREFETCHT0 (R13) \
	VPMOVSXBW (SI), Z16 \
	VPMOVSXBW 32(SI), Z18 \
	VPXORD Z17, Z17, Z17 \
	VPXORD Z19, Z19, Z19 \
	W64MIX \
	HEADS \
fin: \
	MOVQ DI, R10 \
	OUT \
	ADDQ $64, AX \
	MOVQ R9, R11 \
	SUBQ AX, R11 \
	CMPQ R11, $64 \
	JGE col

TEXT ·wsumQ8BlocksAVX512(SB), NOSPLIT, $224-120
	MOVQ m+96(FP), AX
	CMPQ AX, $0
	JEQ wret
	MOVQ AX, 160(SP)
	MOVQ blk0+80(FP), AX
	MOVQ AX, 144(SP)
	MOVQ last+104(FP), AX
	MOVQ AX, 152(SP)
	MOVQ o0+88(FP), AX
	MOVQ AX, 168(SP)
	MOVQ p+24(FP), AX
	MOVQ AX, 192(SP)

wblock:
	// 176(SP) = min(bt-o, positions left) rows of block blk from row o:
	// values at 216(SP) = v[blk] + off + o*hd, scales at 208(SP) =
	// vs[blk] + (so+o)*4; 200(SP) = the same rows of block
	// min(blk+ahead, last) (this block's if it is the last).
	MOVQ bt+56(FP), CX
	SUBQ 168(SP), CX
	MOVQ 160(SP), AX
	CMPQ CX, AX
	CMOVQGT AX, CX
	SUBQ CX, AX
	MOVQ AX, 160(SP)
	MOVQ CX, 176(SP)
	MOVQ hd+48(FP), R9
	MOVQ 168(SP), R11
	IMULQ R9, R11
	ADDQ off+64(FP), R11
	MOVQ 144(SP), BX
	LEAQ (BX)(BX*2), R12
	MOVQ v+8(FP), R13
	MOVQ (R13)(R12*8), SI
	ADDQ R11, SI
	MOVQ SI, 216(SP)
	MOVQ vs+16(FP), R13
	MOVQ (R13)(R12*8), R14
	MOVQ so+72(FP), AX
	ADDQ 168(SP), AX
	LEAQ (R14)(AX*4), R14
	MOVQ R14, 208(SP)
	MOVQ SI, 200(SP)
	MOVQ 152(SP), AX
	CMPQ BX, AX
	JGE wchunk
	MOVQ ahead+112(FP), DX
	ADDQ BX, DX
	CMPQ DX, AX
	CMOVQGT AX, DX
	LEAQ (DX)(DX*2), DX
	MOVQ v+8(FP), R13
	MOVQ (R13)(DX*8), SI
	ADDQ R11, SI
	MOVQ SI, 200(SP)
	MOVQ vs+16(FP), R13
	MOVQ (R13)(DX*8), AX
	MOVQ so+72(FP), R13
	PREFETCHT0 (AX)(R13*4)

wchunk:
	// 184(SP) = c = min(wsumQ8Chunk, rows left in the block).
	MOVQ 176(SP), CX
	CMPQ CX, $16
	JLE wclast
	MOVQ $16, CX

wclast:
	SUBQ CX, 176(SP)
	MOVQ CX, 184(SP)
	MOVQ out+0(FP), DI
	MOVQ 216(SP), DX
	MOVQ 192(SP), R10
	MOVQ ps+32(FP), R8
	SHLQ $2, R8
	MOVQ grp+40(FP), BX
	MOVQ hd+48(FP), R9
	// K1: the c lanes of a chunk's weights.
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	MOVQ 208(SP), AX
	VMOVUPS.Z (AX), K1, Z16
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z28
	MOVL $0x46fffe00, AX // 32767.0
	VPBROADCASTD AX, Z29
	LEAQ (SP), R14
	XORQ R12, R12

wquant:
	VMOVUPS.Z (R10), K1, Z17
	VMULPS Z16, Z17, Z17
	// Any NaN or Inf weight: w - w is NaN.
	VSUBPS Z17, Z17, Z19
	VCMPPS $3, Z19, Z19, K2
	KORTESTW K2, K2
	JNZ wnan
	VANDPS Z28, Z17, Z18
	VEXTRACTF64X4 $1, Z18, Y19
	VMAXPS Y19, Y18, Y18
	VEXTRACTF32X4 $1, Y18, X19
	VMAXPS X19, X18, X18
	VPERMILPS $0x4E, X18, X19
	VMAXPS X19, X18, X18
	VPERMILPS $0xB1, X18, X19
	VMAXPS X19, X18, X18
	VXORPS X19, X19, X19
	VUCOMISS X19, X18
	JEQ wzero
	VDIVSS X29, X18, X19
	VMOVSS X19, 128(SP)(R12*4)
	VBROADCASTSS X18, Z18
	VDIVPS Z18, Z17, Z17
	VMULPS Z29, Z17, Z17
	VCVTPS2DQ Z17, Z17
	VPMOVSDW Z17, Y17
	VMOVDQU32 Y17, (R14)
	JMP wqnext

wnan:
	MOVL $0x7fc00000, AX
	MOVL AX, 128(SP)(R12*4)
	VPXORD Y17, Y17, Y17
	VMOVDQU32 Y17, (R14)
	JMP wqnext

wzero:
	MOVL $0, 128(SP)(R12*4)
	VPXORD Y17, Y17, Y17
	VMOVDQU32 Y17, (R14)

wqnext:
	ADDQ R8, R10
	ADDQ $32, R14
	INCQ R12
	CMPQ R12, BX
	JLT wquant

	VMOVDQU32 wsumQ8PermLo<>(SB), Z30
	VMOVDQU32 wsumQ8PermHi<>(SB), Z31
	XORQ AX, AX
	// Steps of 64 columns (W64), then a last 32 (hd%64 == 32) in wcol.
	CMPQ R9, $64
	JLT wcol
	CMPQ BX, $2
	JLT w64g1
	JEQ w64g2
	CMPQ BX, $4
	JLT w64g3
	W64(ZEROHEADS_4, WB64_4, WO64_4, w4col, w4pair, w4odd, w4fin)
	JMP wtail

w64g3:
	W64(ZEROHEADS_3, WB64_3, WO64_3, w3col, w3pair, w3odd, w3fin)
	JMP wtail

w64g2:
	W64(ZEROHEADS_2, WB64_2, WO64_2, w2col, w2pair, w2odd, w2fin)
	JMP wtail

w64g1:
	W64(ZEROHEADS_1, WB64_1, WO64_1, w1col, w1pair, w1odd, w1fin)

wtail:
	CMPQ AX, R9
	JLT wcol
	JMP wnext

wcol:
	LEAQ (DX)(AX*1), SI
	MOVQ 200(SP), R13
	LEAQ (R13)(AX*1), R13
	MOVQ 184(SP), CX
	LEAQ (SP), R14
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

wpair:
	CMPQ CX, $2
	JLT wodd
	PREFETCHT0 (R13)
	PREFETCHT0 (R13)(R9*1)
	VPMOVSXBW (SI), Z16
	VPMOVSXBW (SI)(R9*1), Z17
	WPAIR(wpnext)

wpnext:
	ADDQ $4, R14
	LEAQ (SI)(R9*2), SI
	LEAQ (R13)(R9*2), R13
	SUBQ $2, CX
	JMP wpair

wodd:
	// A last row alone: its partner's weight is 0 (lane c of the mask).
	CMPQ CX, $0
	JEQ wfin
	PREFETCHT0 (R13)
	VPMOVSXBW (SI), Z16
	VPXORD Z17, Z17, Z17
	WPAIR(wfin)

wfin:
	MOVQ DI, R10
	WOUT(Z0, Z1, 128)
	CMPQ BX, $2
	JLT wstored
	LEAQ (R10)(R9*4), R10
	WOUT(Z2, Z3, 132)
	CMPQ BX, $3
	JLT wstored
	LEAQ (R10)(R9*4), R10
	WOUT(Z4, Z5, 136)
	CMPQ BX, $4
	JLT wstored
	LEAQ (R10)(R9*4), R10
	WOUT(Z6, Z7, 140)

wstored:
	ADDQ $32, AX
	CMPQ AX, R9
	JLT wcol

wnext:
	// Past the chunk's c rows: the block's next chunk, or the next block.
	MOVQ 184(SP), CX
	MOVQ hd+48(FP), R9
	IMULQ CX, R9
	ADDQ R9, 216(SP)
	ADDQ R9, 200(SP)
	SHLQ $2, CX
	ADDQ CX, 208(SP)
	ADDQ CX, 192(SP)
	CMPQ 176(SP), $0
	JNE wchunk
	MOVQ $0, 168(SP)
	INCQ 144(SP)
	CMPQ 160(SP), $0
	JNE wblock

wret:
	VZEROUPPER
	RET

// The tile loop of scoresQ8BlocksAVX512 for one head count g (no per-head
// branches): Z16..Z19 = the biased key bytes of dimension quads j..j+3 of
// the tile's 16 positions; head h adds them times its broadcast query
// quads to Z(4h)..Z(4h+3), four chains per head (hd/16 long).
#define SP_1 \
	VPDPBUSD.BCST (DX), Z16, Z0 \
	VPDPBUSD.BCST 4(DX), Z17, Z1 \
	VPDPBUSD.BCST 8(DX), Z18, Z2 \
	VPDPBUSD.BCST 12(DX), Z19, Z3
#define SP_2 SP_1 \
	VPDPBUSD.BCST (DX)(R9*1), Z16, Z4 \
	VPDPBUSD.BCST 4(DX)(R9*1), Z17, Z5 \
	VPDPBUSD.BCST 8(DX)(R9*1), Z18, Z6 \
	VPDPBUSD.BCST 12(DX)(R9*1), Z19, Z7
#define SP_3 SP_2 \
	VPDPBUSD.BCST (DX)(R9*2), Z16, Z8 \
	VPDPBUSD.BCST 4(DX)(R9*2), Z17, Z9 \
	VPDPBUSD.BCST 8(DX)(R9*2), Z18, Z10 \
	VPDPBUSD.BCST 12(DX)(R9*2), Z19, Z11
#define SP_4 SP_3 \
	VPDPBUSD.BCST (BX), Z16, Z12 \
	VPDPBUSD.BCST 4(BX), Z17, Z13 \
	VPDPBUSD.BCST 8(BX), Z18, Z14 \
	VPDPBUSD.BCST 12(BX), Z19, Z15

// SZ_g starts head h's first chain at its correction qc[h] (CX = qc) and
// clears the other three.
#define SZH(OFF, A, B, C, D) \
	VPBROADCASTD OFF(CX), A \
	VPXORD B, B, B \
	VPXORD C, C, C \
	VPXORD D, D, D
#define SZ_1 SZH(0, Z0, Z1, Z2, Z3)
#define SZ_2 SZ_1 \
	SZH(4, Z4, Z5, Z6, Z7)
#define SZ_3 SZ_2 \
	SZH(8, Z8, Z9, Z10, Z11)
#define SZ_4 SZ_3 \
	SZH(12, Z12, Z13, Z14, Z15)

// SFIN stores head h's 16 scores (chains A..D) under the mask K1:
// float32(A+B+C+D) * (ks[t] * qsc[h]), the tile's key scales in Z20 and
// qsc[h] at QOFF(R12), the generic twin's float32 operations.
#define SFIN(A, B, C, D, QOFF, DST) \
	VPADDD B, A, A \
	VPADDD D, C, C \
	VPADDD C, A, A \
	VCVTDQ2PS A, A \
	VMULPS.BCST QOFF(R12), Z20, Z21 \
	VMULPS Z21, A, A \
	VMOVUPS A, K1, DST

#define SF_1 SFIN(Z0, Z1, Z2, Z3, 0, (DI))
#define SF_2 SF_1 \
	SFIN(Z4, Z5, Z6, Z7, 4, (DI)(R8*1))
#define SF_3 SF_2 \
	SFIN(Z8, Z9, Z10, Z11, 8, (DI)(R8*2))
#define SF_4 SF_3 \
	LEAQ (DI)(R8*2), CX \
	SFIN(Z12, Z13, Z14, Z15, 12, (CX)(R8*1))

// STILE runs one tile for one head count (label loop): hd/16 steps of
// four quads of dimensions (four cache lines, each prefetched in the block
// read decodeAhead blocks later), then the scores.
#define STILE(ZERO, QUADS, FIN, loop) \
	ZERO \
loop: \
	PREFETCHT0 (R10) \
	PREFETCHT0 (R10)(R11*1) \
	PREFETCHT0 (R10)(R11*2) \
	PREFETCHT0 (R10)(R13*1) \
	VMOVDQU64 (SI), Z16 \
	VMOVDQU64 (SI)(R11*1), Z17 \
	VMOVDQU64 (SI)(R11*2), Z18 \
	VMOVDQU64 (SI)(R13*1), Z19 \
	QUADS \
	LEAQ (SI)(R11*4), SI \
	LEAQ (R10)(R11*4), R10 \
	ADDQ $16, DX \
	ADDQ $16, BX \
	DECQ AX \
	JNZ loop \
	VMOVUPS (R14), Z20 \
	FIN \
	JMP stnext

TEXT ·scoresQ8BlocksAVX512(SB), NOSPLIT, $72-152
	MOVQ m+112(FP), AX
	CMPQ AX, $0
	JEQ sret
	MOVQ AX, 8(SP)
	MOVQ blk0+96(FP), AX
	MOVQ AX, 0(SP)
	MOVQ o0+104(FP), AX
	MOVQ AX, 16(SP)
	MOVQ s+0(FP), AX
	MOVQ AX, 24(SP)
	// Prefetch the first ahead blocks' keys and values, which the loops'
	// prefetching (that far ahead) does not reach: blocks BX to R12,
	// bt*hd bytes (R11) and bt scales each.
	MOVQ last+120(FP), AX
	MOVQ blk0+96(FP), BX
	MOVQ ahead+144(FP), R12
	LEAQ -1(BX)(R12*1), R12
	CMPQ R12, AX
	CMOVQGT AX, R12
	MOVQ hd+64(FP), R11
	IMULQ bt+72(FP), R11

spfblock:
	LEAQ (BX)(BX*2), AX
	MOVQ k+16(FP), R13
	MOVQ (R13)(AX*8), SI
	ADDQ off+80(FP), SI
	MOVQ v+128(FP), R13
	MOVQ (R13)(AX*8), DI
	ADDQ off+80(FP), DI
	XORQ CX, CX

spfline:
	PREFETCHT0 (SI)(CX*1)
	PREFETCHT0 (DI)(CX*1)
	ADDQ $64, CX
	CMPQ CX, R11
	JLT spfline
	MOVQ so+88(FP), CX
	MOVQ ks+24(FP), R13
	MOVQ (R13)(AX*8), SI
	PREFETCHT0 (SI)(CX*4)
	MOVQ vs+136(FP), R13
	MOVQ (R13)(AX*8), DI
	PREFETCHT0 (DI)(CX*4)
	INCQ BX
	CMPQ BX, R12
	JLE spfblock
	MOVQ ss+8(FP), R8
	SHLQ $2, R8
	MOVQ bt+72(FP), R11
	SHLQ $2, R11
	MOVQ hd+64(FP), R9

sblock:
	// c = min(bt-o, positions left) rows from row o of block blk; 56(SP)
	// = o+c, the end.
	MOVQ bt+72(FP), CX
	SUBQ 16(SP), CX
	MOVQ 8(SP), AX
	CMPQ CX, AX
	CMOVQGT AX, CX
	SUBQ CX, AX
	MOVQ AX, 8(SP)
	ADDQ 16(SP), CX
	MOVQ CX, 56(SP)
	// 32(SP) = the KV head's keys: k[blk] + off; 48(SP) = their scales:
	// ks[blk] + so*4.
	MOVQ 0(SP), BX
	LEAQ (BX)(BX*2), R12
	MOVQ k+16(FP), R13
	MOVQ (R13)(R12*8), SI
	ADDQ off+80(FP), SI
	MOVQ SI, 32(SP)
	MOVQ ks+24(FP), R13
	MOVQ (R13)(R12*8), R14
	MOVQ so+88(FP), AX
	LEAQ (R14)(AX*4), R14
	MOVQ R14, 48(SP)
	// 40(SP) = the keys of block min(blk+ahead, last) to prefetch (this
	// block's if it is the last); its scales are prefetched here.
	MOVQ SI, R10
	MOVQ last+120(FP), AX
	CMPQ BX, AX
	JGE spfset
	MOVQ ahead+144(FP), DX
	ADDQ BX, DX
	CMPQ DX, AX
	CMOVQGT AX, DX
	LEAQ (DX)(DX*2), DX
	MOVQ k+16(FP), R13
	MOVQ (R13)(DX*8), R10
	ADDQ off+80(FP), R10
	MOVQ ks+24(FP), R13
	MOVQ (R13)(DX*8), AX
	MOVQ so+88(FP), R13
	PREFETCHT0 (AX)(R13*4)

spfset:
	MOVQ R10, 40(SP)
	// The first tile: t0 = o rounded down to a multiple of 16.
	MOVQ 16(SP), AX
	ANDQ $-16, AX
	MOVQ AX, 64(SP)

stile:
	// K1 = the tile's lanes [max(o, t0), min(end, t0+16)) - t0:
	// (1<<hi) - (1<<lo).
	MOVQ 64(SP), AX
	MOVQ 16(SP), CX
	SUBQ AX, CX
	XORL DX, DX
	CMPQ CX, DX
	CMOVQLT DX, CX
	MOVL $1, R13
	SHLL CX, R13
	MOVQ 56(SP), CX
	SUBQ AX, CX
	MOVL $16, DX
	CMPQ CX, DX
	CMOVQGT DX, CX
	MOVL $1, DX
	SHLL CX, DX
	SUBL R13, DX
	KMOVW DX, K1
	// DI = the score of position t0 (before s when the first tile starts
	// before from: those lanes are masked), SI and R10 = the tile's first
	// quad in the block and in the one to prefetch, R14 = its key scales.
	MOVQ AX, CX
	SUBQ 16(SP), CX
	MOVQ 24(SP), DI
	LEAQ (DI)(CX*4), DI
	MOVQ 32(SP), SI
	LEAQ (SI)(AX*4), SI
	MOVQ 40(SP), R10
	LEAQ (R10)(AX*4), R10
	LEAQ (R11)(R11*2), R13
	MOVQ 48(SP), R14
	LEAQ (R14)(AX*4), R14
	MOVQ q+32(FP), DX
	LEAQ (DX)(R9*2), BX
	ADDQ R9, BX
	MOVQ qsc+40(FP), R12
	MOVQ hd+64(FP), AX
	SHRQ $4, AX
	MOVQ grp+56(FP), CX
	CMPQ CX, $2
	JLT st1
	JEQ st2
	CMPQ CX, $4
	JLT st3
	MOVQ qc+48(FP), CX
	STILE(SZ_4, SP_4, SF_4, st4loop)

st3:
	MOVQ qc+48(FP), CX
	STILE(SZ_3, SP_3, SF_3, st3loop)

st2:
	MOVQ qc+48(FP), CX
	STILE(SZ_2, SP_2, SF_2, st2loop)

st1:
	MOVQ qc+48(FP), CX
	STILE(SZ_1, SP_1, SF_1, st1loop)

stnext:
	MOVQ 64(SP), AX
	ADDQ $16, AX
	MOVQ AX, 64(SP)
	CMPQ AX, 56(SP)
	JLT stile
	// The next block, from its row 0; the scores move past this one's c.
	MOVQ 56(SP), AX
	SUBQ 16(SP), AX
	MOVQ 24(SP), DI
	LEAQ (DI)(AX*4), DI
	MOVQ DI, 24(SP)
	MOVQ $0, 16(SP)
	INCQ 0(SP)
	CMPQ 8(SP), $0
	JNE sblock

sret:
	VZEROUPPER
	RET

// func absMaxAVX512(src *float32, n int) float32
// The largest |src[i]| for i < n (n >= 1), or NaN if any is NaN or Inf:
// Z1 sums x*0, which is 0 for finite x and NaN otherwise. The last n%16
// values are read under the mask K1.
TEXT ·absMaxAVX512(SB), NOSPLIT, $0-20
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z2
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z3, Z3, Z3

amloop:
	CMPQ CX, $16
	JLT amtail
	VMOVUPS (SI), Z4
	VANDPS Z2, Z4, Z5
	VMAXPS Z5, Z0, Z0
	VFMADD231PS Z3, Z4, Z1
	ADDQ $64, SI
	SUBQ $16, CX
	JMP amloop

amtail:
	CMPQ CX, $0
	JEQ amreduce
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z4
	VANDPS Z2, Z4, Z5
	VMAXPS Z5, Z0, Z0
	VFMADD231PS Z3, Z4, Z1

amreduce:
	VEXTRACTF64X4 $1, Z0, Y5
	VMAXPS Y5, Y0, Y0
	VEXTRACTF128 $1, Y0, X5
	VMAXPS X5, X0, X0
	VPERMILPS $0x4E, X0, X5
	VMAXPS X5, X0, X0
	VPERMILPS $0xB1, X0, X5
	VMAXPS X5, X0, X0
	VCMPPS $3, Z1, Z1, K2
	KORTESTW K2, K2
	JZ amdone
	MOVL $0x7fc00000, AX
	VMOVD AX, X0

amdone:
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func scaleToInt8AVX512(dst *int8, src *float32, n int, inv float32)
// dst[i] = round(src[i]*inv) for i < n (n >= 1), to nearest even (the
// default MXCSR rounding of VCVTPS2DQ); |src[i]*inv| <= 127.
TEXT ·scaleToInt8AVX512(SB), NOSPLIT, $0-28
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS inv+24(FP), Z2

sqloop:
	CMPQ CX, $16
	JLT sqtail
	VMULPS (SI), Z2, Z4
	VCVTPS2DQ Z4, Z4
	VPMOVDB Z4, (DI)
	ADDQ $64, SI
	ADDQ $16, DI
	SUBQ $16, CX
	JMP sqloop

sqtail:
	CMPQ CX, $0
	JEQ sqdone
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z4
	VMULPS Z4, Z2, Z4
	VCVTPS2DQ Z4, Z4
	VPMOVDB Z4, K1, (DI)

sqdone:
	VZEROUPPER
	RET

