//go:build amd64 && !purego

#include "textflag.h"

// Block loops: one call runs a group kernel above over positions [from, n)
// of one KV head spread over blocks of bt positions: from = blk0*bt+o0, m =
// n-from positions, block b's rows of the KV head at element off of
// *(kv+24*b) (the data pointers of the blocks' slice headers, whose lengths
// the caller checked). For each block it calls the kernel on the block's c
// rows (from row o0 in the first block) with the rows of block
// min(b+ahead, last) to prefetch, the block's own when it is the last (the
// blocks are scattered, so the hardware prefetcher does not run ahead).
// State lives in the frame, as the callee may clobber every register:
// 64 blk, 72 o, 80 positions left, 88 the current s or p, 96 c; 0..56 are
// the callee's arguments.

// BLOCKROWS stores c = min(bt-o, positions left) in CSLOT and 96(SP), the
// address of row o of block blk of the KV head (kv: the slice headers) in
// ROWS, and the rows to prefetch in NEXT (label islast: their store).
#define BLOCKROWS(KV, elemshift, ROWS, CSLOT, NEXT, islast) \
	MOVQ bt+48(FP), CX \
	SUBQ 72(SP), CX \
	MOVQ 80(SP), AX \
	CMPQ CX, AX \
	CMOVQGT AX, CX \
	MOVQ CX, CSLOT \
	MOVQ CX, 96(SP) \
	MOVQ KV, DX \
	MOVQ 64(SP), AX \
	IMUL3Q $24, AX, BX \
	MOVQ (DX)(BX*1), SI \
	MOVQ 72(SP), R8 \
	IMULQ hd+40(FP), R8 \
	ADDQ off+56(FP), R8 \
	SHLQ $elemshift, R8 \
	ADDQ SI, R8 \
	MOVQ R8, ROWS \
	CMPQ AX, last+88(FP) \
	JGE islast \
	ADDQ ahead+96(FP), AX \
	CMPQ AX, last+88(FP) \
	CMOVQGT last+88(FP), AX \
	IMUL3Q $24, AX, BX \
	MOVQ (DX)(BX*1), SI \
	MOVQ off+56(FP), R8 \
	SHLQ $elemshift, R8 \
	ADDQ SI, R8 \
islast: \
	MOVQ R8, NEXT

// BLOCKSTART sets the frame's loop state (CUR: s or p).
#define BLOCKSTART(CUR) \
	MOVQ blk0+64(FP), AX \
	MOVQ AX, 64(SP) \
	MOVQ o0+72(FP), AX \
	MOVQ AX, 72(SP) \
	MOVQ m+80(FP), AX \
	MOVQ AX, 80(SP) \
	MOVQ CUR, AX \
	MOVQ AX, 88(SP)

// BLOCKNEXT moves past the block's c rows: c scores or weights further,
// the next block from its row 0; it jumps to loop while positions are left.
#define BLOCKNEXT(loop) \
	MOVQ 96(SP), CX \
	MOVQ 88(SP), AX \
	LEAQ (AX)(CX*4), AX \
	MOVQ AX, 88(SP) \
	SUBQ CX, 80(SP) \
	INCQ 64(SP) \
	MOVQ $0, 72(SP) \
	CMPQ 80(SP), $0 \
	JGT loop

// PREFSTART prefetches the KV head's rows of the blocks blk0 to
// min(blk0+ahead-1, last) of the keys and the values, which the kernels'
// prefetching (that far ahead) does not reach.
#define PREFSTART(elemshift, pfblk, pfline) \
	MOVQ blk0+64(FP), BX \
	MOVQ ahead+96(FP), R12 \
	LEAQ -1(BX)(R12*1), R12 \
	CMPQ R12, last+88(FP) \
	CMOVQGT last+88(FP), R12 \
	MOVQ bt+48(FP), R13 \
	IMULQ hd+40(FP), R13 \
	SHLQ $elemshift, R13 \
	MOVQ off+56(FP), R14 \
	SHLQ $elemshift, R14 \
	MOVQ k+16(FP), DX \
	MOVQ v+104(FP), DI \
pfblk: \
	IMUL3Q $24, BX, AX \
	MOVQ (DX)(AX*1), SI \
	ADDQ R14, SI \
	MOVQ (DI)(AX*1), R8 \
	ADDQ R14, R8 \
	XORQ CX, CX \
pfline: \
	PREFETCHT0 (SI)(CX*1) \
	PREFETCHT0 (R8)(CX*1) \
	ADDQ $64, CX \
	CMPQ CX, R13 \
	JLT pfline \
	INCQ BX \
	CMPQ BX, R12 \
	JLE pfblk

// SCORESBLOCKS is the block loop of a scores kernel (callee); it first
// prefetches the first blocks (PREFSTART).
#define SCORESBLOCKS(elemshift, callee, loop, islast, pfblk, pfline) \
	PREFSTART(elemshift, pfblk, pfline) \
	BLOCKSTART(s+0(FP)) \
loop: \
	MOVQ 88(SP), AX \
	MOVQ AX, 0(SP) \
	MOVQ ss+8(FP), AX \
	MOVQ AX, 8(SP) \
	MOVQ q+24(FP), AX \
	MOVQ AX, 24(SP) \
	MOVQ grp+32(FP), AX \
	MOVQ AX, 40(SP) \
	MOVQ hd+40(FP), AX \
	MOVQ AX, 48(SP) \
	BLOCKROWS(k+16(FP), elemshift, 16(SP), 32(SP), 56(SP), islast) \
	CALL callee \
	BLOCKNEXT(loop) \
	RET

// WSUMBLOCKS is the block loop of a weighted-sum kernel (callee).
#define WSUMBLOCKS(elemshift, callee, loop, islast) \
	BLOCKSTART(p+16(FP)) \
loop: \
	MOVQ out+0(FP), AX \
	MOVQ AX, 0(SP) \
	MOVQ 88(SP), AX \
	MOVQ AX, 16(SP) \
	MOVQ ps+24(FP), AX \
	MOVQ AX, 24(SP) \
	MOVQ grp+32(FP), AX \
	MOVQ AX, 40(SP) \
	MOVQ hd+40(FP), AX \
	MOVQ AX, 48(SP) \
	BLOCKROWS(v+8(FP), elemshift, 8(SP), 32(SP), 56(SP), islast) \
	CALL callee \
	BLOCKNEXT(loop) \
	RET

// func scoresF32BlocksAVX512(s *float32, ss int, k *[]float32, q *float32, grp, hd, bt, off, blk0, o0, m, last, ahead int, v *[]float32)
TEXT ·scoresF32BlocksAVX512(SB), NOSPLIT, $104-112
	SCORESBLOCKS(2, ·scoresGroupF32AVX512(SB), sb32loop, sb32last, sb32pf, sb32pfl)

// func scoresF16BlocksAVX512(s *float32, ss int, k *[]uint16, q *float32, grp, hd, bt, off, blk0, o0, m, last, ahead int, v *[]uint16)
TEXT ·scoresF16BlocksAVX512(SB), NOSPLIT, $104-112
	SCORESBLOCKS(1, ·scoresGroupF16AVX512(SB), sb16loop, sb16last, sb16pf, sb16pfl)

// func wsumF32BlocksAVX512(out *float32, v *[]float32, p *float32, ps, grp, hd, bt, off, blk0, o0, m, last, ahead int)
TEXT ·wsumF32BlocksAVX512(SB), NOSPLIT, $104-104
	WSUMBLOCKS(2, ·wsumGroupF32AVX512(SB), wb32loop, wb32last)

// func wsumF16BlocksAVX512(out *float32, v *[]uint16, p *float32, ps, grp, hd, bt, off, blk0, o0, m, last, ahead int)
TEXT ·wsumF16BlocksAVX512(SB), NOSPLIT, $104-104
	WSUMBLOCKS(1, ·wsumGroupF16AVX512(SB), wb16loop, wb16last)
