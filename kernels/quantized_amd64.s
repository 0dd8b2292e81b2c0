//go:build amd64 && !purego

#include "textflag.h"

// Grouped int8 matrix-vector kernels over int8-quantized
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

// The DOT macros leave in Y8 the int32 lane sums of one block of weights at
// M times the activations in Y4, offset-corrected with Y12.

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

// Q4PREFETCH fetches weights Q4PF bytes and scales Q4PF/4 bytes ahead
// into the cache: per chunk 256 weight bytes and 64 scale bytes, as much as
// the four rows take per chunk (the rows of a block and the blocks follow
// each other in memory; for group 32 the scales take a quarter of the
// weights' bytes, larger groups fewer). Without it, the four short
// interleaved row streams leave the hardware prefetchers behind: a
// 1536x576 matrix from DRAM took about 2x longer; 4-32 KiB ahead measured
// alike.
#define Q4PF 8192
#define Q4PREFETCH \
	PREFETCHT0 Q4PF(SI)(BX*4) \
	PREFETCHT0 (Q4PF+64)(SI)(BX*4) \
	PREFETCHT0 (Q4PF+128)(SI)(BX*4) \
	PREFETCHT0 (Q4PF+192)(SI)(BX*4) \
	PREFETCHT0 (Q4PF/4)(R11)(BX*1)

// Q4HSUM stores the sum of the lanes of Z (Y its low half) at M,
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

// Constants of q4ActsAVX512.
// q4shuf: per 16 bytes, the even bytes then the odd ones.
DATA q4shuf<>+0(SB)/8, $0x0e0c0a0806040200
DATA q4shuf<>+8(SB)/8, $0x0f0d0b0907050301
DATA q4shuf<>+16(SB)/8, $0x0e0c0a0806040200
DATA q4shuf<>+24(SB)/8, $0x0f0d0b0907050301
DATA q4shuf<>+32(SB)/8, $0x0e0c0a0806040200
DATA q4shuf<>+40(SB)/8, $0x0f0d0b0907050301
DATA q4shuf<>+48(SB)/8, $0x0e0c0a0806040200
DATA q4shuf<>+56(SB)/8, $0x0f0d0b0907050301
GLOBL q4shuf<>(SB), RODATA|NOPTR, $64

// q4even: the even qword (and dword) indices 0, 2, ..., 30.
DATA q4even<>+0(SB)/4, $0
DATA q4even<>+4(SB)/4, $2
DATA q4even<>+8(SB)/4, $4
DATA q4even<>+12(SB)/4, $6
DATA q4even<>+16(SB)/4, $8
DATA q4even<>+20(SB)/4, $10
DATA q4even<>+24(SB)/4, $12
DATA q4even<>+28(SB)/4, $14
DATA q4even<>+32(SB)/4, $16
DATA q4even<>+36(SB)/4, $18
DATA q4even<>+40(SB)/4, $20
DATA q4even<>+44(SB)/4, $22
DATA q4even<>+48(SB)/4, $24
DATA q4even<>+52(SB)/4, $26
DATA q4even<>+56(SB)/4, $28
DATA q4even<>+60(SB)/4, $30
GLOBL q4even<>(SB), RODATA|NOPTR, $64

// func q4ActsAVX512(q *int8, ls *float32, dst *q4Act, chunks int)
//
// q4ActsAVX512 lays out chunks full chunks of 128 activations and their
// lane scales as q4Act (see chunkOrderQ4): VPSHUFB and VPERMI2Q split even
// and odd columns, VPSADBW of q+128 sums each 8 columns (plus 1024).
TEXT ·q4ActsAVX512(SB), NOSPLIT, $0-32
	MOVQ q+0(FP), SI
	MOVQ ls+8(FP), R8
	MOVQ dst+16(FP), DI
	MOVQ chunks+24(FP), CX
	VMOVDQU64 q4shuf<>(SB), Z30
	VPMOVZXDQ q4even<>(SB), Z29 // 0, 2, ..., 14 as qwords
	VPTERNLOGD $0xff, Z28, Z28, Z28
	VPSRLQ $63, Z28, Z28
	VPADDQ Z28, Z29, Z28        // 1, 3, ..., 15
	VMOVDQU32 q4even<>(SB), Z27
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Z26
	MOVL $8192, AX
	VPBROADCASTD AX, Z25
	VPXORD Z24, Z24, Z24

q4acts:
	TESTQ CX, CX
	JEQ   q4actsdone
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VPSHUFB Z30, Z0, Z2
	VPSHUFB Z30, Z1, Z3
	VMOVDQA64 Z29, Z4
	VPERMI2Q Z3, Z2, Z4
	VMOVDQA64 Z28, Z5
	VPERMI2Q Z3, Z2, Z5
	VMOVDQU64 Z4, (DI)
	VMOVDQU64 Z5, 64(DI)
	VMOVUPS (R8), Z6
	VMOVUPS 64(R8), Z7
	VMOVDQA32 Z27, Z8
	VPERMI2PS Z7, Z6, Z8
	VMOVUPS Z8, 128(DI)
	VPXORD Z26, Z0, Z0
	VPXORD Z26, Z1, Z1
	VPSADBW Z24, Z0, Z0
	VPSADBW Z24, Z1, Z1
	VPMOVQD Z0, Y0
	VPMOVQD Z1, Y1
	VINSERTI64X4 $1, Y1, Z0, Z0
	VPSLLD $3, Z0, Z0
	VPSUBD Z0, Z25, Z0
	VMOVDQU32 Z0, 192(DI)
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $256, DI
	DECQ CX
	JMP  q4acts

q4actsdone:
	VZEROUPPER
	RET

// The AVX2 int4 kernel: matVecQ4VNNI in 256-bit halves, two rows at a
// time (then single rows). Per half chunk and row the low and high nibbles
// go through VPMADDUBSW with their activations (no saturation: 2*15*127 <
// 32768), are added as int16 (at most 4*15*127) and summed to int32 lanes
// of 8 columns by VPMADDWD with ones, then corrected, scaled and
// accumulated as in matVecQ4VNNI.
//
// Registers: Y15 0x0f bytes, Y14 int16 ones, Y13/Y12 the scale lane
// indices of the two halves, Y10/Y11 row accumulators.

// Q4HALF accumulates one row's half chunk at weights WM (activations LOM,
// HIM, corrections CM, lane scales LSM of the q4Act at DX; scales SM,
// indices IDX) into ACC.
#define Q4HALF(WM, LOM, HIM, CM, LSM, SM, IDX, ACC) \
	VMOVDQU WM, Y0 \
	VPSRLW $4, Y0, Y1 \
	VPAND Y15, Y0, Y0 \
	VPAND Y15, Y1, Y1 \
	VPMADDUBSW LOM, Y0, Y0 \
	VPMADDUBSW HIM, Y1, Y1 \
	VPADDW Y1, Y0, Y0 \
	VPMADDWD Y14, Y0, Y0 \
	VPADDD CM, Y0, Y0 \
	VCVTDQ2PS Y0, Y0 \
	VBROADCASTF128 SM, Y2 \
	VPERMPS Y2, IDX, Y2 \
	VMULPS LSM, Y2, Y2 \
	VFMADD231PS Y2, Y0, ACC

// Q4ROWY accumulates one row's chunk (weights at WM, 32+WM) into ACC.
#define Q4ROWY(WM, WM2, SM, ACC) \
	Q4HALF(WM, (DX), 64(DX), 192(DX), 128(DX), SM, Y13, ACC) \
	Q4HALF(WM2, 32(DX), 96(DX), 224(DX), 160(DX), SM, Y12, ACC)

#define Q4CHUNKY \
	VMOVDQU (CX), Y13 \
	VMOVDQU 32(CX), Y12 \
	MOVLQSX 64(CX), AX \
	ADDQ R11, AX \
	LEAQ (SI)(BX*1), R10

// Q4HSUMY stores the sum of the lanes of Y (X its low half) at M.
#define Q4HSUMY(Y, X, M) \
	VEXTRACTF128 $1, Y, X1 \
	VADDPS X, X1, X1 \
	VHADDPS X1, X1, X1 \
	VHADDPS X1, X1, X1 \
	VMOVSS X1, M

// func matVecQ4AVX2(y *float32, w *byte, act *q4Act, ws *float32, ch *q4Cols, rows, cols, groups int)
TEXT ·matVecQ4AVX2(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ ws+24(FP), R11
	MOVQ rows+40(FP), R12
	MOVQ cols+48(FP), R8
	SHRQ $1, R8
	MOVQ groups+56(FP), R9
	SHLQ $2, R9
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VPCMPEQW Y14, Y14, Y14
	VPSRLW $15, Y14, Y14

q4yrows2:
	CMPQ R12, $2
	JLT  q4yrows1
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	XORQ BX, BX
	MOVQ ch+32(FP), CX
	MOVQ act+16(FP), DX

q4ychunk2:
	Q4CHUNKY
	Q4ROWY((R10), 32(R10), (AX), Y10)
	Q4ROWY((R10)(R8*1), 32(R10)(R8*1), (AX)(R9*1), Y11)
	PREFETCHT0 Q4PF(SI)(BX*2)
	PREFETCHT0 (Q4PF+64)(SI)(BX*2)
	PREFETCHT0 (Q4PF/4)(R11)(BX*1)
	Q4NEXT
	JLT  q4ychunk2

	Q4HSUMY(Y10, X10, (DI))
	Q4HSUMY(Y11, X11, 4(DI))
	ADDQ $8, DI
	LEAQ (SI)(R8*2), SI
	LEAQ (R11)(R9*2), R11
	SUBQ $2, R12
	JMP  q4yrows2

q4yrows1:
	CMPQ R12, $0
	JLE  q4yend
	VXORPS Y10, Y10, Y10
	XORQ BX, BX
	MOVQ ch+32(FP), CX
	MOVQ act+16(FP), DX

q4ychunk1:
	Q4CHUNKY
	Q4ROWY((R10), 32(R10), (AX), Y10)
	Q4NEXT
	JLT  q4ychunk1

	Q4HSUMY(Y10, X10, (DI))
	ADDQ $4, DI
	ADDQ R8, SI
	ADDQ R9, R11
	DECQ R12
	JMP  q4yrows1

q4yend:
	VZEROUPPER
	RET
