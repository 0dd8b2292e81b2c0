//go:build amd64 && !purego

#include "textflag.h"

// Grouped int8 and int4 matrix-vector kernels over int8-quantized
// activations (see q8Vec), one row at a time, one block of 32 columns per
// step. Per block the int32 lanes of the integer dot product (4 columns
// each) are corrected exactly for the unsigned offset of the weights (the
// lane sums lsum of the activations times the offset), converted to float
// and accumulated times the lane's activation scale (ls) times the group's
// weight scale (ws, row-major, advancing one per group of group/32 blocks).
//
// func kernel(y *float32, w *byte, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)
// cols and group are multiples of 32, group divides cols.

// UNPACK4 widens the 16 bytes of int4 pairs at SI to 32 unsigned values
// 0..15 in column order in Y5 (low nibble first; X14 = 0x0f bytes).
#define UNPACK4 \
	VMOVDQU (SI), X5 \
	VPSRLW $4, X5, X6 \
	VPAND X14, X5, X5 \
	VPAND X14, X6, X6 \
	VPUNPCKHBW X6, X5, X7 \
	VPUNPCKLBW X6, X5, X5 \
	VINSERTI128 $1, X7, Y5, Y5

// DOTAVX2 leaves in Y8 the int32 lane sums of unsigned Y5 times signed Y4
// (VPMADDUBSW cannot saturate: 2*255*127 > 32767 only for int8 weights,
// which use the sign trick instead; Y15 = int16 ones).
#define DOTAVX2 \
	VPMADDUBSW Y4, Y5, Y8 \
	VPMADDWD Y15, Y8, Y8

// DOTVNNI does the same with one VPDPBUSD (AVX512_VNNI, 256-bit form).
#define DOTVNNI \
	VPXOR Y8, Y8, Y8 \
	VPDPBUSD Y4, Y5, Y8

// Q4AVX2, Q4VNNI: an int4 block; the nibbles hold w+8, so 8*lsum is
// subtracted.
#define Q4AVX2 \
	UNPACK4 \
	DOTAVX2 \
	VMOVDQU (R14)(AX*1), Y6 \
	VPSLLD $3, Y6, Y6 \
	VPSUBD Y6, Y8, Y8
#define Q4VNNI \
	UNPACK4 \
	DOTVNNI \
	VMOVDQU (R14)(AX*1), Y6 \
	VPSLLD $3, Y6, Y6 \
	VPSUBD Y6, Y8, Y8

// Q8AVX2: an int8 block; |w| is the unsigned operand and q takes the sign
// of w (2*128*127 < 32768), so no correction is needed.
#define Q8AVX2 \
	VMOVDQU (SI), Y7 \
	VPSIGNB Y7, Y7, Y5 \
	VPSIGNB Y7, Y4, Y6 \
	VPMADDUBSW Y6, Y5, Y8 \
	VPMADDWD Y15, Y8, Y8

// Q8VNNI: an int8 block as w+128 (w XOR 0x80, Y13), so 128*lsum is
// subtracted.
#define Q8VNNI \
	VPXOR (SI), Y13, Y5 \
	DOTVNNI \
	VMOVDQU (R14)(AX*1), Y6 \
	VPSLLD $7, Y6, Y6 \
	VPSUBD Y6, Y8, Y8

#define GROUPED(WSTEP, BLOCK) \
	MOVQ y+0(FP), DI \
	MOVQ w+8(FP), SI \
	MOVQ q+16(FP), DX \
	MOVQ ls+24(FP), R13 \
	MOVQ lsum+32(FP), R14 \
	MOVQ ws+40(FP), R11 \
	MOVQ rows+48(FP), R12 \
	MOVQ cols+56(FP), R8 \
	MOVQ group+64(FP), R9 \
	SHRQ $5, R9 \
	MOVL $0x0f0f0f0f, AX \
	VMOVD AX, X14 \
	VPBROADCASTD X14, Y14 \
	MOVL $0x80808080, AX \
	VMOVD AX, X13 \
	VPBROADCASTD X13, Y13 \
	VPCMPEQW Y15, Y15, Y15 \
	VPSRLW $15, Y15, Y15 \
row: \
	TESTQ R12, R12 \
	JLE end \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	XORQ AX, AX \
	XORQ CX, CX \
blk: \
	CMPQ AX, R8 \
	JGE rowdone \
	TESTQ CX, CX \
	JNE same \
	VBROADCASTSS (R11), Y10 \
	ADDQ $4, R11 \
	MOVQ R9, CX \
same: \
	VMOVDQU (DX)(AX*1), Y4 \
	BLOCK \
	VCVTDQ2PS Y8, Y8 \
	VMULPS (R13)(AX*1), Y10, Y9 \
	VFMADD231PS Y9, Y8, Y0 \
	VMOVAPS Y1, Y2 \
	VMOVAPS Y0, Y1 \
	VMOVAPS Y2, Y0 \
	ADDQ $WSTEP, SI \
	ADDQ $32, AX \
	DECQ CX \
	JMP blk \
rowdone: \
	VADDPS Y1, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X4 \
	VADDPS X4, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VMOVSS X0, (DI) \
	ADDQ $4, DI \
	DECQ R12 \
	JMP row \
end: \
	VZEROUPPER \
	RET

// func matVecQ4AVX2(y *float32, w *byte, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)
TEXT ·matVecQ4AVX2(SB), NOSPLIT, $0-72
	GROUPED(16, Q4AVX2)

// func matVecQ4VNNI(y *float32, w *byte, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)
TEXT ·matVecQ4VNNI(SB), NOSPLIT, $0-72
	GROUPED(16, Q4VNNI)

// func matVecQ8GAVX2(y *float32, w *int8, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)
TEXT ·matVecQ8GAVX2(SB), NOSPLIT, $0-72
	GROUPED(32, Q8AVX2)

// func matVecQ8GVNNI(y *float32, w *int8, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)
TEXT ·matVecQ8GVNNI(SB), NOSPLIT, $0-72
	GROUPED(32, Q8VNNI)
