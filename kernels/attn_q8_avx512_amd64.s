//go:build amd64 && !purego

#include "textflag.h"
#include "zero_heads_amd64.h"

// Decode attention kernels over int8 KV rows (kvcache.Q8) for up to four
// query heads sharing one KV head (a GQA group), after the f16 group
// kernels of attn_group_avx512_amd64.s (see there for the structure): each
// key or value row is loaded once for all the heads, and the rows' scales
// are applied here: a key row's to its scores, a value row's to its
// weights (before their int16 quantization, see wsumQ8Z).
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

// func wsumQ8BlocksAVX512(out *float32, v *[]int8, w *int16, ws int, sc *float32, scs, grp, hd, bt, off, blk0, o0, m, last, ahead int)
// out[h*hd+d] += sum_i w[h*ws+i]·V[i*hd+d] · sc[h] for the m rows i and
// h < grp <= 4 as integer sums (see wsumQ8Generic, to which it is exact):
// w holds the heads' weights quantized to int16 (a 0 after each head's
// m) and sc their scales, those of span k (see wsumQ8SpanEnd) at
// sc[k*scs+h]. The columns go in strips of 64 (then one of 32 if
// hd%64 == 32), each strip over all the blocks: rows go two at a time,
// sign-extended to int16 and interleaved (VPUNPCKL/HWD: each int32 lane
// holds one column of both rows), so that one VPDPWSSD with a head's
// broadcast weight pair adds both rows' products to 16 columns (a last row
// alone pairs with zeros). The int32 sums stay in registers to the span's
// end (where the next block would take them past wsumQ8Span = 512 rows,
// or the strip's end): then they are flushed, converted to float32, times
// the span's scales and added to out. The interleave leaves columns 0-3, 8-11, ... in the low
// accumulator and 4-7, 12-15, ... in the high one; VPERMI2D (indices in
// Z30, Z31) restores their order before the conversion. Head h's
// accumulators are Z(4h)..Z(4h+3) (64 columns) or Z(4h), Z(4h+1) (32).
// Registers: DI out, R9 hd, R8 = ws*2 (a head's weights in bytes), AX the
// strip's first column, R11 the rows summed since the last flush, R14 the
// weights of the row pair (head 0; R12 = R14 + 2*R8 for head 3), SI its
// values, R13 the same rows of the block to prefetch, CX the rows left in
// the block. Frame: 0 blk, 8 rows left after this block, 16 o (the
// block's first row), 24 the span's scales.
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

// WLD64 loads the row pair's 64 columns sign-extended and interleaved:
// Z20, Z21 columns 0-31 (low, high), Z22, Z23 columns 32-63; WLD64ODD a
// row alone (its partner zeros).
#define WLD64 \
	VPMOVSXBW (SI), Z16 \
	VPMOVSXBW (SI)(R9*1), Z17 \
	VPMOVSXBW 32(SI), Z18 \
	VPMOVSXBW 32(SI)(R9*1), Z19 \
	VPUNPCKLWD Z17, Z16, Z20 \
	VPUNPCKHWD Z17, Z16, Z21 \
	VPUNPCKLWD Z19, Z18, Z22 \
	VPUNPCKHWD Z19, Z18, Z23

#define WLD64ODD \
	VPMOVSXBW (SI), Z16 \
	VPMOVSXBW 32(SI), Z18 \
	VPXORD Z17, Z17, Z17 \
	VPUNPCKLWD Z17, Z16, Z20 \
	VPUNPCKHWD Z17, Z16, Z21 \
	VPUNPCKLWD Z17, Z18, Z22 \
	VPUNPCKHWD Z17, Z18, Z23

// WLD32 and WLD32ODD are WLD64 and WLD64ODD for 32 columns (Z20, Z21).
#define WLD32 \
	VPMOVSXBW (SI), Z16 \
	VPMOVSXBW (SI)(R9*1), Z17 \
	VPUNPCKLWD Z17, Z16, Z20 \
	VPUNPCKHWD Z17, Z16, Z21

#define WLD32ODD \
	VPMOVSXBW (SI), Z16 \
	VPXORD Z17, Z17, Z17 \
	VPUNPCKLWD Z17, Z16, Z20 \
	VPUNPCKHWD Z17, Z16, Z21

// WB64 adds the pair times a head's weight pair at ADDR (broadcast into W)
// to its accumulators A..D; WB32 to A, B.
#define WB64(ADDR, W, A, B, C, D) \
	VPBROADCASTD ADDR, W \
	VPDPWSSD W, Z20, A \
	VPDPWSSD W, Z21, B \
	VPDPWSSD W, Z22, C \
	VPDPWSSD W, Z23, D

#define WB32(ADDR, W, A, B) \
	VPBROADCASTD ADDR, W \
	VPDPWSSD W, Z20, A \
	VPDPWSSD W, Z21, B

#define WB64_1 WB64((R14), Z24, Z0, Z1, Z2, Z3)
#define WB64_2 WB64_1 \
	WB64((R14)(R8*1), Z25, Z4, Z5, Z6, Z7)
#define WB64_3 WB64_2 \
	WB64((R14)(R8*2), Z26, Z8, Z9, Z10, Z11)
#define WB64_4 WB64_3 \
	LEAQ (R14)(R8*2), R12 \
	WB64((R12)(R8*1), Z27, Z12, Z13, Z14, Z15)

#define WB32_1 WB32((R14), Z24, Z0, Z1)
#define WB32_2 WB32_1 \
	WB32((R14)(R8*1), Z25, Z4, Z5)
#define WB32_3 WB32_2 \
	WB32((R14)(R8*2), Z26, Z8, Z9)
#define WB32_4 WB32_3 \
	LEAQ (R14)(R8*2), R12 \
	WB32((R12)(R8*1), Z27, Z12, Z13)

// WFL adds a head's int32 sums of 32 columns (A low, B high), in column
// order, converted and times its scale at SCOFF(DX), to the floats at
// OFF(R10) and OFF2(R10) = OFF+64.
#define WFL(A, B, SCOFF, OFF, OFF2) \
	VMOVDQA32 Z30, Z20 \
	VPERMI2D B, A, Z20 \
	VMOVDQA32 Z31, Z21 \
	VPERMI2D B, A, Z21 \
	VCVTDQ2PS Z20, Z20 \
	VCVTDQ2PS Z21, Z21 \
	VMULPS.BCST SCOFF(DX), Z20, Z20 \
	VMULPS.BCST SCOFF(DX), Z21, Z21 \
	VADDPS OFF(R10), Z20, Z20 \
	VADDPS OFF2(R10), Z21, Z21 \
	VMOVUPS Z20, OFF(R10) \
	VMOVUPS Z21, OFF2(R10)

// WF64_n and WF32_n flush n heads' sums of the strip at column AX.
#define WFSTART \
	MOVQ 24(SP), DX \
	LEAQ (DI)(AX*4), R10

#define WF64(A, B, C, D, SCOFF) \
	WFL(A, B, SCOFF, 0, 64) \
	WFL(C, D, SCOFF, 128, 192)

#define WF64_1 WFSTART \
	WF64(Z0, Z1, Z2, Z3, 0)
#define WF64_2 WF64_1 \
	LEAQ (R10)(R9*4), R10 \
	WF64(Z4, Z5, Z6, Z7, 4)
#define WF64_3 WF64_2 \
	LEAQ (R10)(R9*4), R10 \
	WF64(Z8, Z9, Z10, Z11, 8)
#define WF64_4 WF64_3 \
	LEAQ (R10)(R9*4), R10 \
	WF64(Z12, Z13, Z14, Z15, 12)

#define WF32_1 WFSTART \
	WFL(Z0, Z1, 0, 0, 64)
#define WF32_2 WF32_1 \
	LEAQ (R10)(R9*4), R10 \
	WFL(Z4, Z5, 4, 0, 64)
#define WF32_3 WF32_2 \
	LEAQ (R10)(R9*4), R10 \
	WFL(Z8, Z9, 8, 0, 64)
#define WF32_4 WF32_3 \
	LEAQ (R10)(R9*4), R10 \
	WFL(Z12, Z13, 12, 0, 64)

// WSTRIP runs one strip of WIDTH columns from column AX over all the
// blocks for one head count (ZERO, LD, LDODD, HEADS, FLUSH; the rest are
// labels), then moves AX past it. Each pair prefetches its columns of
// the rows of block min(blk+ahead, last).
#define WSTRIP(ZERO, LD, LDODD, HEADS, FLUSH, WIDTH, strip, block, noflush, pfset, pair, odd, bend) \
strip: \
	ZERO \
	XORQ R11, R11 \
	MOVQ blk0+80(FP), BX \
	MOVQ BX, 0(SP) \
	MOVQ m+96(FP), BX \
	MOVQ BX, 8(SP) \
	MOVQ o0+88(FP), BX \
	MOVQ BX, 16(SP) \
	MOVQ w+16(FP), R14 \
	MOVQ sc+32(FP), DX \
	MOVQ DX, 24(SP) \
block: \
	MOVQ bt+64(FP), CX \
	SUBQ 16(SP), CX \
	MOVQ 8(SP), DX \
	CMPQ CX, DX \
	CMOVQGT DX, CX \
	SUBQ CX, DX \
	MOVQ DX, 8(SP) \
	LEAQ (R11)(CX*1), DX \
	CMPQ DX, $512 \
	JLE noflush \
	FLUSH \
	MOVQ scs+40(FP), DX \
	LEAQ (DX*4), DX \
	ADDQ DX, 24(SP) \
	ZERO \
	XORQ R11, R11 \
noflush: \
	ADDQ CX, R11 \
	MOVQ 16(SP), R10 \
	IMULQ R9, R10 \
	ADDQ off+72(FP), R10 \
	ADDQ AX, R10 \
	MOVQ 0(SP), BX \
	LEAQ (BX)(BX*2), DX \
	MOVQ v+8(FP), R13 \
	MOVQ (R13)(DX*8), SI \
	ADDQ R10, SI \
	MOVQ SI, R13 \
	MOVQ last+104(FP), DX \
	CMPQ BX, DX \
	JGE pfset \
	ADDQ ahead+112(FP), BX \
	CMPQ BX, DX \
	CMOVQGT DX, BX \
	LEAQ (BX)(BX*2), BX \
	MOVQ v+8(FP), R13 \
	MOVQ (R13)(BX*8), R13 \
	ADDQ R10, R13 \
pfset: \
	SUBQ $2, CX \
	JLT odd \
pair: \
	PREFETCHT0 (R13) \
	PREFETCHT0 (R13)(R9*1) \
	LD \
	HEADS \
	ADDQ $4, R14 \
	LEAQ (SI)(R9*2), SI \
	LEAQ (R13)(R9*2), R13 \
	SUBQ $2, CX \
	JGE pair \
odd: \
	CMPQ CX, $-1 \
	JNE bend \
	PREFETCHT0 (R13) \
	LDODD \
	HEADS \
	ADDQ $2, R14 \
bend: \
	MOVQ $0, 16(SP) \
	INCQ 0(SP) \
	CMPQ 8(SP), $0 \
	JNE block \
	FLUSH \
	ADDQ $WIDTH, AX

// WALL runs all the strips for one head count: of 64 columns while at
// least 64 are left, then one of 32 if hd%64 == 32.
#define WALL(ZERO, H64, F64, H32, F32, s64, b64, n64, p64, l64, o64, e64, s32, b32, n32, p32, l32, o32, e32) \
	CMPQ R9, $64 \
	JLT s32 \
	WSTRIP(ZERO, WLD64, WLD64ODD, H64, F64, 64, s64, b64, n64, p64, l64, o64, e64) \
	MOVQ R9, DX \
	SUBQ AX, DX \
	CMPQ DX, $64 \
	JGE s64 \
	CMPQ AX, R9 \
	JGE wret \
	WSTRIP(ZERO, WLD32, WLD32ODD, H32, F32, 32, s32, b32, n32, p32, l32, o32, e32) \
	JMP wret

TEXT ·wsumQ8BlocksAVX512(SB), NOSPLIT, $32-120
	MOVQ m+96(FP), AX
	CMPQ AX, $0
	JEQ wret
	MOVQ out+0(FP), DI
	MOVQ hd+56(FP), R9
	MOVQ ws+24(FP), R8
	SHLQ $1, R8
	VMOVDQU32 wsumQ8PermLo<>(SB), Z30
	VMOVDQU32 wsumQ8PermHi<>(SB), Z31
	XORQ AX, AX
	MOVQ grp+48(FP), BX
	CMPQ BX, $2
	JLT wg1
	JEQ wg2
	CMPQ BX, $4
	JLT wg3
	WALL(ZEROHEADS_4, WB64_4, WF64_4, WB32_4, WF32_4, w4s64, w4b64, w4n64, w4p64, w4l64, w4o64, w4e64, w4s32, w4b32, w4n32, w4p32, w4l32, w4o32, w4e32)

wg3:
	WALL(ZEROHEADS_3, WB64_3, WF64_3, WB32_3, WF32_3, w3s64, w3b64, w3n64, w3p64, w3l64, w3o64, w3e64, w3s32, w3b32, w3n32, w3p32, w3l32, w3o32, w3e32)

wg2:
	WALL(ZEROHEADS_2, WB64_2, WF64_2, WB32_2, WF32_2, w2s64, w2b64, w2n64, w2p64, w2l64, w2o64, w2e64, w2s32, w2b32, w2n32, w2p32, w2l32, w2o32, w2e32)

wg1:
	WALL(ZEROHEADS_1, WB64_1, WF64_1, WB32_1, WF32_1, w1s64, w1b64, w1n64, w1p64, w1l64, w1o64, w1e64, w1s32, w1b32, w1n32, w1p32, w1l32, w1o32, w1e32)

wret:
	VZEROUPPER
	RET

// func gatherScalesAVX512(dst *float32, vs *[]float32, bt, so, blk0, o0, m int)
// dst[i] = the scale of row o0+i from block blk0 on (element so+o of
// *vs[b], in blocks of bt rows) for i < m (m >= 1); a block's last rows%16
// go under the mask K1.
TEXT ·gatherScalesAVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ vs+8(FP), R8
	MOVQ bt+16(FP), R9
	MOVQ so+24(FP), R10
	MOVQ blk0+32(FP), BX
	MOVQ o0+40(FP), DX
	MOVQ m+48(FP), R11

gblock:
	MOVQ R9, CX
	SUBQ DX, CX
	CMPQ CX, R11
	CMOVQGT R11, CX
	SUBQ CX, R11
	LEAQ (BX)(BX*2), AX
	MOVQ (R8)(AX*8), SI
	ADDQ R10, DX
	LEAQ (SI)(DX*4), SI

gcopy:
	CMPQ CX, $16
	JLT gtail
	VMOVUPS (SI), Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP gcopy

gtail:
	CMPQ CX, $0
	JEQ gnext
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS Z0, K1, (DI)
	LEAQ (DI)(CX*4), DI

gnext:
	XORQ DX, DX
	INCQ BX
	CMPQ R11, $0
	JNE gblock
	VZEROUPPER
	RET

// func prefetchScalesAVX512(vs *[]float32, so, bt, blk0, blk1 int)
// Prefetches elements so and so+bt-1 of *vs[b] for blocks blk0..blk1.
TEXT ·prefetchScalesAVX512(SB), NOSPLIT, $0-40
	MOVQ vs+0(FP), R8
	MOVQ so+8(FP), R10
	MOVQ bt+16(FP), R9
	ADDQ R10, R9
	SHLQ $2, R9
	SUBQ $4, R9
	MOVQ blk0+24(FP), BX
	MOVQ blk1+32(FP), DX
	SHLQ $2, R10

pfsloop:
	LEAQ (BX)(BX*2), AX
	MOVQ (R8)(AX*8), SI
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 (SI)(R9*1)
	INCQ BX
	CMPQ BX, DX
	JLE pfsloop
	RET

// func prefetchRowsAVX512(v *[]int8, off, nbytes, blk0, blk1 int)
// Prefetches bytes [off, off+nbytes) of *v[b] (a line every 64 bytes) for
// blocks blk0..blk1.
TEXT ·prefetchRowsAVX512(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), R8
	MOVQ off+8(FP), R10
	MOVQ nbytes+16(FP), R9
	MOVQ blk0+24(FP), BX
	MOVQ blk1+32(FP), DX

pfrblock:
	LEAQ (BX)(BX*2), AX
	MOVQ (R8)(AX*8), SI
	ADDQ R10, SI
	XORQ CX, CX

pfrline:
	PREFETCHT0 (SI)(CX*1)
	ADDQ $64, CX
	CMPQ CX, R9
	JLT pfrline
	INCQ BX
	CMPQ BX, DX
	JLE pfrblock
	RET

// func wamaxHeadsAVX512(amax *float32, p *float32, ps int, vs *float32, n, nh int)
// amax[h] = the largest |p[h*ps+i]*vs[i]| for i < n (n >= 1), h < nh, or
// NaN if any product is NaN or Inf: the magnitudes' bits compared as
// integers (the order of non-negative floats, Inf and NaN above all
// finite ones), in two chains; the last n%16 under the mask K1.
TEXT ·wamaxHeadsAVX512(SB), NOSPLIT, $0-48
	MOVQ amax+0(FP), DI
	MOVQ p+8(FP), R8
	MOVQ ps+16(FP), R9
	SHLQ $2, R9
	MOVQ nh+40(FP), R10
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z2
	MOVQ n+32(FP), CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1

wamhead:
	MOVQ R8, SI
	MOVQ vs+24(FP), DX
	MOVQ n+32(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1

wamloop2:
	CMPQ CX, $32
	JLT wamloop
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMULPS (DX), Z4, Z4
	VMULPS 64(DX), Z5, Z5
	VPANDD Z2, Z4, Z4
	VPANDD Z2, Z5, Z5
	VPMAXUD Z4, Z0, Z0
	VPMAXUD Z5, Z1, Z1
	ADDQ $128, SI
	ADDQ $128, DX
	SUBQ $32, CX
	JMP wamloop2

wamloop:
	CMPQ CX, $16
	JLT wamtail
	VMOVUPS (SI), Z4
	VMULPS (DX), Z4, Z4
	VPANDD Z2, Z4, Z4
	VPMAXUD Z4, Z0, Z0
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $16, CX

wamtail:
	CMPQ CX, $0
	JEQ wamreduce
	VMOVUPS.Z (SI), K1, Z4
	VMOVUPS.Z (DX), K1, Z5
	VMULPS Z5, Z4, Z4
	VPANDD Z2, Z4, Z4
	VPMAXUD Z4, Z1, Z1

wamreduce:
	VPMAXUD Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y5
	VPMAXUD Y5, Y0, Y0
	VEXTRACTI128 $1, Y0, X5
	VPMAXUD X5, X0, X0
	VPSHUFD $0x4E, X0, X5
	VPMAXUD X5, X0, X0
	VPSHUFD $0xB1, X0, X5
	VPMAXUD X5, X0, X0
	VMOVD X0, AX
	CMPL AX, $0x7f800000
	JB wamstore
	MOVL $0x7fc00000, AX

wamstore:
	MOVL AX, (DI)
	ADDQ $4, DI
	ADDQ R9, R8
	DECQ R10
	JNZ wamhead
	VZEROUPPER
	RET

// func wquantHeadsAVX512(w *int16, ws int, p *float32, ps int, vs *float32, n, nh int, inv *float32)
// w[h*ws+i] = round(p[h*ps+i]*vs[i]*inv[h]) for i < n (n >= 1), to
// nearest even, for the heads h < nh whose inv[h] is not 0;
// |p[h*ps+i]*vs[i]*inv[h]| <= 32767. The last n%16 go under the mask K1.
TEXT ·wquantHeadsAVX512(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), R11
	MOVQ ws+8(FP), R12
	SHLQ $1, R12
	MOVQ p+16(FP), R8
	MOVQ ps+24(FP), R9
	SHLQ $2, R9
	MOVQ nh+48(FP), R10
	MOVQ inv+56(FP), R13
	MOVQ n+40(FP), CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1

wqhead:
	MOVL (R13), AX
	TESTL AX, AX
	JEQ wqnexthead
	VBROADCASTSS (R13), Z2
	MOVQ R11, DI
	MOVQ R8, SI
	MOVQ vs+32(FP), DX
	MOVQ n+40(FP), CX

wqloop:
	CMPQ CX, $16
	JLT wqtail
	VMOVUPS (SI), Z4
	VMULPS (DX), Z4, Z4
	VMULPS Z2, Z4, Z4
	VCVTPS2DQ Z4, Z4
	VPMOVSDW Z4, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $32, DI
	SUBQ $16, CX
	JMP wqloop

wqtail:
	CMPQ CX, $0
	JEQ wqnexthead
	VMOVUPS.Z (SI), K1, Z4
	VMOVUPS.Z (DX), K1, Z5
	VMULPS Z5, Z4, Z4
	VMULPS Z2, Z4, Z4
	VCVTPS2DQ Z4, Z4
	VPMOVSDW Z4, K1, (DI)

wqnexthead:
	ADDQ R12, R11
	ADDQ R9, R8
	ADDQ $4, R13
	DECQ R10
	JNZ wqhead
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

