//go:build amd64 && !purego

#include "textflag.h"

// Grouped int8 and int4 (AVX2) matrix-vector kernels over int8-quantized
// activations (see q8Vec), two rows at a time (then a last single row), one
// block of 32 columns per step. Per block and row, the int32 lanes of the
// integer dot product (4 columns each) are corrected exactly for the
// unsigned offset of the weights (the activations' lane sums lsum times the
// offset), converted to float and accumulated times the lane's activation
// scale (ls) times the group's weight scale (ws, row-major, one per group of
// group/32 blocks). Each row has one accumulator and the same sequence of
// operations in either loop, so results do not depend on how rows are split
// across threads.
//
// func kernel(y *float32, w *byte, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)
// cols and group are multiples of 32, group divides cols.

// UNPACK4 widens the 16 bytes of int4 pairs at M to 32 unsigned values 0..15
// in Y5: the low nibbles (even columns) in the low half, the high nibbles
// (odd columns) in the high half (Y14 = 0x0f bytes), with no shuffle. The
// int4 kernels take their activations in this order (q8Vec.nib).
#define UNPACK4(M) \
	VBROADCASTI128 M, Y5 \
	VPSRLW $4, Y5, Y6 \
	VPBLENDD $0xf0, Y6, Y5, Y5 \
	VPAND Y14, Y5, Y5

// The DOT macros leave in Y8 the int32 lane sums of one block of weights at
// M times the activations in Y4, offset-corrected with Y12.

// Q4AVX2: unsigned nibbles (w+8) by signed q with VPMADDUBSW (no
// saturation: 2*15*127 < 32768) and VPMADDWD by ones (Y15); minus 8*lsum.
#define Q4AVX2(M) \
	UNPACK4(M) \
	VPMADDUBSW Y4, Y5, Y8 \
	VPMADDWD Y15, Y8, Y8 \
	VPSUBD Y12, Y8, Y8

// Q8AVX2: |w| is the unsigned operand and q takes the sign of w
// (2*128*127 < 32768), so no correction is needed.
#define Q8AVX2(M) \
	VMOVDQU M, Y7 \
	VPSIGNB Y7, Y7, Y5 \
	VPSIGNB Y7, Y4, Y6 \
	VPMADDUBSW Y6, Y5, Y8 \
	VPMADDWD Y15, Y8, Y8

// Q8VNNI: w+128 (w XOR 0x80, Y13) by q, minus 128*lsum.
#define Q8VNNI(M) \
	VPXOR M, Y13, Y5 \
	VPXOR Y8, Y8, Y8 \
	VPDPBUSD Y4, Y5, Y8 \
	VPSUBD Y12, Y8, Y8

// The LSUM macros load the block's offset correction into Y12.
#define LSUM3 \
	VMOVDQU (R14)(AX*1), Y12 \
	VPSLLD $3, Y12, Y12
#define LSUM7 \
	VMOVDQU (R14)(AX*1), Y12 \
	VPSLLD $7, Y12, Y12
#define NOLSUM

// ACC scales the block result Y8 by the lane scales Y9 times the weight
// scale at S and adds it to A.
#define ACC(S, A) \
	VCVTDQ2PS Y8, Y8 \
	VBROADCASTSS S, Y11 \
	VMULPS Y9, Y11, Y11 \
	VFMADD231PS Y11, Y8, A

// HSUM stores the sum of the lanes of Y0 (clobbering Y0 and X4) at M.
#define HSUM(A, X, M) \
	VEXTRACTF128 $1, A, X4 \
	VADDPS X4, X, X \
	VHADDPS X, X, X \
	VHADDPS X, X, X \
	VMOVSS X, M

#define GROUPED(WSTEP, WSHIFT, DOT, LSUM) \
	MOVQ y+0(FP), DI \
	MOVQ w+8(FP), SI \
	MOVQ q+16(FP), DX \
	MOVQ ls+24(FP), R13 \
	MOVQ lsum+32(FP), R14 \
	MOVQ ws+40(FP), R11 \
	MOVQ rows+48(FP), R12 \
	MOVQ cols+56(FP), R8 \
	MOVQ group+64(FP), R9 \
	XORQ DX, DX \
	MOVQ R8, AX \
	DIVQ R9 \
	MOVQ AX, BX \
	SHLQ $2, BX \
	MOVQ q+16(FP), DX \
	SHRQ $5, R9 \
	MOVQ R8, R10 \
	SHRQ $WSHIFT, R10 \
	MOVL $0x0f0f0f0f, AX \
	VMOVD AX, X14 \
	VPBROADCASTD X14, Y14 \
	MOVL $0x80808080, AX \
	VMOVD AX, X13 \
	VPBROADCASTD X13, Y13 \
	VPCMPEQW Y15, Y15, Y15 \
	VPSRLW $15, Y15, Y15 \
rows2: \
	CMPQ R12, $2 \
	JLT rows1 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	XORQ AX, AX \
	MOVQ R9, CX \
blk2: \
	CMPQ AX, R8 \
	JGE done2 \
	VMOVDQU (DX)(AX*1), Y4 \
	VMOVUPS (R13)(AX*1), Y9 \
	LSUM \
	DOT((SI)) \
	ACC((R11), Y0) \
	DOT((SI)(R10*1)) \
	ACC((R11)(BX*1), Y1) \
	ADDQ $WSTEP, SI \
	ADDQ $32, AX \
	DECQ CX \
	JNE blk2 \
	ADDQ $4, R11 \
	MOVQ R9, CX \
	JMP blk2 \
done2: \
	HSUM(Y0, X0, (DI)) \
	HSUM(Y1, X1, 4(DI)) \
	ADDQ $8, DI \
	ADDQ R10, SI \
	ADDQ BX, R11 \
	SUBQ $2, R12 \
	JMP rows2 \
rows1: \
	CMPQ R12, $0 \
	JLE end \
	VXORPS Y0, Y0, Y0 \
	XORQ AX, AX \
	MOVQ R9, CX \
blk1: \
	CMPQ AX, R8 \
	JGE end1 \
	VMOVDQU (DX)(AX*1), Y4 \
	VMOVUPS (R13)(AX*1), Y9 \
	LSUM \
	DOT((SI)) \
	ACC((R11), Y0) \
	ADDQ $WSTEP, SI \
	ADDQ $32, AX \
	DECQ CX \
	JNE blk1 \
	ADDQ $4, R11 \
	MOVQ R9, CX \
	JMP blk1 \
end1: \
	HSUM(Y0, X0, (DI)) \
end: \
	VZEROUPPER \
	RET

// func matVecQ4AVX2(y *float32, w *byte, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)
TEXT ·matVecQ4AVX2(SB), NOSPLIT, $0-72
	GROUPED(16, 1, Q4AVX2, LSUM3)

// func matVecQ8GAVX2(y *float32, w *int8, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)
TEXT ·matVecQ8GAVX2(SB), NOSPLIT, $0-72
	GROUPED(32, 0, Q8AVX2, NOLSUM)

// func matVecQ8GVNNI(y *float32, w *int8, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)
TEXT ·matVecQ8GVNNI(SB), NOSPLIT, $0-72
	GROUPED(32, 0, Q8VNNI, LSUM7)

// The AVX-512 VNNI int4 kernel, four rows at a time (then single rows), one
// chunk of 128 columns per step: 64 weight bytes split by a mask and a
// shift into their low nibbles (even columns) and high nibbles (odd
// columns), each dotted with VPDPBUSD against the matching activations of a
// q4Act, starting from its lane corrections, so that each int32 lane holds
// the exact dot product of 8 consecutive columns. Per lane it is converted
// to float and accumulated times the lane's activation scale times its
// group's weight scale (VPERMPS spreads the chunk's up to four weight
// scales over the lanes, per q4Cols). A short last chunk reads whole 64
// bytes of weights and four scales, past the row: its unused lanes have zero
// activations, corrections and activation scales, so the extra weights
// count for nothing (the caller pads the matrix's last row). Each row
// takes the same operations in either loop, so results do not depend on how
// rows are split across threads.
//
// Registers: Z31 0x0f bytes, Z30 scale lane indices, Z29/Z28 low/high
// activations, Z27 lane corrections, Z26 lane scales; Z16-Z19 row
// accumulators.

// Q4ROW accumulates one row's chunk at weights WM, weight scales SM into
// ACC (W, H, I, S scratch).
#define Q4ROW(WM, SM, W, H, I, S, ACC) \
	VMOVDQU32 WM, W \
	VPSRLW $4, W, H \
	VPANDD Z31, W, W \
	VPANDD Z31, H, H \
	VMOVDQA32 Z27, I \
	VPDPBUSD Z29, W, I \
	VPDPBUSD Z28, H, I \
	VCVTDQ2PS I, I \
	VBROADCASTF32X4 SM, S \
	VPERMPS S, Z30, S \
	VMULPS Z26, S, S \
	VFMADD231PS S, I, ACC

// Q4CHUNK loads the chunk descriptor at CX and activations at DX, and
// points AX at the first row's weight scales for the chunk.
#define Q4CHUNK \
	VMOVDQU32 (CX), Z30 \
	VMOVDQU32 (DX), Z29 \
	VMOVDQU32 64(DX), Z28 \
	VMOVUPS 128(DX), Z26 \
	VMOVDQU32 192(DX), Z27 \
	MOVLQSX 64(CX), AX \
	ADDQ R11, AX

// Q4NEXT advances to the next chunk (R10 clobbered).
#define Q4NEXT \
	MOVLQSX 68(CX), R10 \
	ADDQ R10, BX \
	ADDQ $80, CX \
	ADDQ $256, DX \
	CMPQ BX, R8

// Q4PREFETCH fetches the weights and scales of the rows 8 ahead into
// the cache: per chunk the next 256 weight bytes and 64 scale bytes of
// those 4 rows, together at least all of them. Without it, the four short
// interleaved row streams leave the hardware prefetchers behind.
#define Q4PREFETCH \
	LEAQ (SI)(R8*8), R10 \
	PREFETCHT0 (R10)(BX*4) \
	PREFETCHT0 64(R10)(BX*4) \
	PREFETCHT0 128(R10)(BX*4) \
	PREFETCHT0 192(R10)(BX*4) \
	LEAQ (R11)(R9*8), R10 \
	PREFETCHT0 (R10)(BX*1)

// Q4HSUM stores the sum of the lanes of Z (Y, X its low halves) at M,
// using Y1/X1 and X2.
#define Q4HSUM(Z, Y, M) \
	VEXTRACTF64X4 $1, Z, Y1 \
	VADDPS Y, Y1, Y1 \
	VEXTRACTF128 $1, Y1, X2 \
	VADDPS X2, X1, X1 \
	VHADDPS X1, X1, X1 \
	VHADDPS X1, X1, X1 \
	VMOVSS X1, M

// func matVecQ4VNNI(y *float32, w *byte, act *q4Act, ws *float32, ch *q4Cols, rows, cols, groups int)
TEXT ·matVecQ4VNNI(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ ws+24(FP), R11
	MOVQ rows+40(FP), R12
	MOVQ cols+48(FP), R8
	SHRQ $1, R8
	MOVQ groups+56(FP), R9
	SHLQ $2, R9
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31

q4rows4:
	CMPQ R12, $4
	JLT  q4rows1
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	XORQ BX, BX
	MOVQ ch+32(FP), CX
	MOVQ act+16(FP), DX

q4chunk4:
	Q4CHUNK
	LEAQ (SI)(BX*1), R10
	LEAQ (R10)(R8*2), R14
	LEAQ (AX)(R9*2), R13
	Q4ROW((R10), (AX), Z0, Z4, Z8, Z12, Z16)
	Q4ROW((R10)(R8*1), (AX)(R9*1), Z1, Z5, Z9, Z13, Z17)
	Q4ROW((R14), (R13), Z2, Z6, Z10, Z14, Z18)
	Q4ROW((R14)(R8*1), (R13)(R9*1), Z3, Z7, Z11, Z15, Z19)
	Q4PREFETCH
	Q4NEXT
	JLT  q4chunk4

	Q4HSUM(Z16, Y16, (DI))
	Q4HSUM(Z17, Y17, 4(DI))
	Q4HSUM(Z18, Y18, 8(DI))
	Q4HSUM(Z19, Y19, 12(DI))
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	LEAQ (R11)(R9*4), R11
	SUBQ $4, R12
	JMP  q4rows4

q4rows1:
	CMPQ R12, $0
	JLE  q4end
	VPXORD Z16, Z16, Z16
	XORQ BX, BX
	MOVQ ch+32(FP), CX
	MOVQ act+16(FP), DX

q4chunk1:
	Q4CHUNK
	LEAQ (SI)(BX*1), R10
	Q4ROW((R10), (AX), Z0, Z4, Z8, Z12, Z16)
	Q4NEXT
	JLT  q4chunk1

	Q4HSUM(Z16, Y16, (DI))
	ADDQ $4, DI
	ADDQ R8, SI
	ADDQ R9, R11
	DECQ R12
	JMP  q4rows1

q4end:
	VZEROUPPER
	RET
