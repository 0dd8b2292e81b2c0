//go:build amd64 && !purego

#include "textflag.h"

// AVX2 matrix-vector kernels: as the AVX-512 ones (including the software
// prefetch 512 bytes ahead in the four rows), but in 8-column vectors, and n
// must be a multiple of 8 (32 for q8); the caller adds the remaining columns.
// Registers: DI = y, SI/R9/R10/R11 = four row pointers, DX = x, R8 = row
// stride in bytes, R12 = rows left, BX = n, AX = column index.

#define SETUP8(elem) \
	MOVQ y+0(FP), DI \
	MOVQ w+8(FP), SI \
	MOVQ x+16(FP), DX \
	MOVQ rows+24(FP), R12 \
	MOVQ cols+32(FP), R8 \
	SHLQ $(elem/2), R8 \
	MOVQ n+40(FP), BX

#define REDUCE4Y \
	VEXTRACTF128 $1, Y0, X4 \
	VADDPS X4, X0, X0 \
	VEXTRACTF128 $1, Y1, X5 \
	VADDPS X5, X1, X1 \
	VEXTRACTF128 $1, Y2, X6 \
	VADDPS X6, X2, X2 \
	VEXTRACTF128 $1, Y3, X7 \
	VADDPS X7, X3, X3 \
	VHADDPS X1, X0, X0 \
	VHADDPS X3, X2, X2 \
	VHADDPS X2, X0, X0 \
	VMOVUPS X0, (DI)

#define REDUCE1Y \
	VEXTRACTF128 $1, Y0, X4 \
	VADDPS X4, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VMOVSS X0, (DI)

// MATVEC8 expands to the row loops: four rows at a time, 16 columns a step
// (two sets of accumulators, Y0..Y3 and Y8..Y11, x in Y4 and Y12), then one
// 8-column step if n is an odd multiple of 8; then single rows the same way,
// so that a row's sum is rounded identically whichever loop computes it (and
// results do not depend on how rows are split across threads). PF prefetches
// the four rows; XPREP prepares x (Y4, Y12) for the steps; STEP4 multiplies
// 16 columns of the four rows by x into Y0..Y3 and Y8..Y11, STEP1 does it
// for one row into Y0 and Y8; LOAD4(off, X, A0..A3) multiplies 8 columns at
// byte offset off of the four rows by X into A0..A3, LOAD1(off, X, A) does
// one row (the 8-column step).
#define MATVEC8(PF, XPREP, STEP4, STEP1, LOAD4, LOAD1) \
rows4: \
	CMPQ R12, $4 \
	JLT rows1 \
	LEAQ (SI)(R8*1), R9 \
	LEAQ (SI)(R8*2), R10 \
	LEAQ (R9)(R8*2), R11 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y9, Y9, Y9 \
	VXORPS Y10, Y10, Y10 \
	VXORPS Y11, Y11, Y11 \
	XORQ AX, AX \
	MOVQ BX, R13 \
	ANDQ $-16, R13 \
loop4: \
	CMPQ AX, R13 \
	JGE step4 \
	VMOVUPS (DX)(AX*4), Y4 \
	VMOVUPS 32(DX)(AX*4), Y12 \
	PF \
	XPREP \
	STEP4 \
	ADDQ $16, AX \
	JMP loop4 \
step4: \
	CMPQ AX, BX \
	JGE done4 \
	VMOVUPS (DX)(AX*4), Y4 \
	LOAD4(0, Y4, Y0, Y1, Y2, Y3) \
done4: \
	VADDPS Y8, Y0, Y0 \
	VADDPS Y9, Y1, Y1 \
	VADDPS Y10, Y2, Y2 \
	VADDPS Y11, Y3, Y3 \
	REDUCE4Y \
	ADDQ $16, DI \
	LEAQ (R11)(R8*1), SI \
	SUBQ $4, R12 \
	JMP rows4 \
rows1: \
	CMPQ R12, $0 \
	JLE end \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y8, Y8, Y8 \
	XORQ AX, AX \
	MOVQ BX, R13 \
	ANDQ $-16, R13 \
loop1: \
	CMPQ AX, R13 \
	JGE step1 \
	VMOVUPS (DX)(AX*4), Y4 \
	VMOVUPS 32(DX)(AX*4), Y12 \
	XPREP \
	STEP1 \
	ADDQ $16, AX \
	JMP loop1 \
step1: \
	CMPQ AX, BX \
	JGE done1 \
	VMOVUPS (DX)(AX*4), Y4 \
	LOAD1(0, Y4, Y0) \
done1: \
	VADDPS Y8, Y0, Y0 \
	REDUCE1Y \
	ADDQ $4, DI \
	ADDQ R8, SI \
	DECQ R12 \
	JMP rows1 \
end: \
	VZEROUPPER \
	RET

// f32 rows advance 64 bytes a step, f16/bf16 rows 32.
#define PF_F32Y \
	PREFETCHT0 512(SI)(AX*4) \
	PREFETCHT0 512(R9)(AX*4) \
	PREFETCHT0 512(R10)(AX*4) \
	PREFETCHT0 512(R11)(AX*4)
#define PF_HALFY \
	PREFETCHT0 512(SI)(AX*2) \
	PREFETCHT0 512(R9)(AX*2) \
	PREFETCHT0 512(R10)(AX*2) \
	PREFETCHT0 512(R11)(AX*2)

#define F32Y_4(off, X, A0, A1, A2, A3) \
	VFMADD231PS off(SI)(AX*4), X, A0 \
	VFMADD231PS off(R9)(AX*4), X, A1 \
	VFMADD231PS off(R10)(AX*4), X, A2 \
	VFMADD231PS off(R11)(AX*4), X, A3
#define F32Y_1(off, X, A) VFMADD231PS off(SI)(AX*4), X, A
#define F32Y_STEP4 \
	F32Y_4(0, Y4, Y0, Y1, Y2, Y3) \
	F32Y_4(32, Y12, Y8, Y9, Y10, Y11)
#define F32Y_STEP1 \
	F32Y_1(0, Y4, Y0) \
	F32Y_1(32, Y12, Y8)
#define NOPREP

// func matVecF32AVX2(y, w, x *float32, rows, cols, n int)
TEXT ·matVecF32AVX2(SB), NOSPLIT, $0-48
	SETUP8(4)
	MATVEC8(PF_F32Y, NOPREP, F32Y_STEP4, F32Y_STEP1, F32Y_4, F32Y_1)

#define F16Y_4(off, X, A0, A1, A2, A3) \
	VCVTPH2PS off(SI)(AX*2), Y5 \
	VFMADD231PS Y5, X, A0 \
	VCVTPH2PS off(R9)(AX*2), Y6 \
	VFMADD231PS Y6, X, A1 \
	VCVTPH2PS off(R10)(AX*2), Y7 \
	VFMADD231PS Y7, X, A2 \
	VCVTPH2PS off(R11)(AX*2), Y13 \
	VFMADD231PS Y13, X, A3
#define F16Y_1(off, X, A) \
	VCVTPH2PS off(SI)(AX*2), Y5 \
	VFMADD231PS Y5, X, A
#define F16Y_STEP4 \
	F16Y_4(0, Y4, Y0, Y1, Y2, Y3) \
	F16Y_4(16, Y12, Y8, Y9, Y10, Y11)
#define F16Y_STEP1 \
	F16Y_1(0, Y4, Y0) \
	F16Y_1(16, Y12, Y8)

// func matVecF16AVX2(y *float32, w *uint16, x *float32, rows, cols, n int)
TEXT ·matVecF16AVX2(SB), NOSPLIT, $0-48
	SETUP8(2)
	MATVEC8(PF_HALFY, NOPREP, F16Y_STEP4, F16Y_STEP1, F16Y_4, F16Y_1)

#define BF16Y_4(off, X, A0, A1, A2, A3) \
	VPMOVZXWD off(SI)(AX*2), Y5 \
	VPSLLD $16, Y5, Y5 \
	VFMADD231PS Y5, X, A0 \
	VPMOVZXWD off(R9)(AX*2), Y6 \
	VPSLLD $16, Y6, Y6 \
	VFMADD231PS Y6, X, A1 \
	VPMOVZXWD off(R10)(AX*2), Y7 \
	VPSLLD $16, Y7, Y7 \
	VFMADD231PS Y7, X, A2 \
	VPMOVZXWD off(R11)(AX*2), Y13 \
	VPSLLD $16, Y13, Y13 \
	VFMADD231PS Y13, X, A3
#define BF16Y_1(off, X, A) \
	VPMOVZXWD off(SI)(AX*2), Y5 \
	VPSLLD $16, Y5, Y5 \
	VFMADD231PS Y5, X, A

// The 16-column steps of bf16 widen without shuffling the weights: a 32-bit
// lane of 16 loaded bf16 holds an even-numbered column's value in its low
// half (VPSLLD $16 makes it an f32) and the next column's in its high half
// (VPAND with Y15 = 0xffff0000 does); x is split once per step into its
// even (Y14) and odd (Y12) columns for the four rows. The 8-column step
// widens with VPMOVZXWD as above.
#define BF16Y_XPREP \
	VSHUFPS $0x88, Y12, Y4, Y14 \
	VSHUFPS $0xdd, Y12, Y4, Y12 \
	VPERMPD $0xd8, Y14, Y14 \
	VPERMPD $0xd8, Y12, Y12
#define BF16Y_ROW(P, A, B, T0, T1) \
	VMOVDQU (P)(AX*2), T0 \
	VPSLLD $16, T0, T1 \
	VFMADD231PS T1, Y14, A \
	VPAND T0, Y15, T0 \
	VFMADD231PS T0, Y12, B
#define BF16Y_STEP4 \
	BF16Y_ROW(SI, Y0, Y8, Y5, Y6) \
	BF16Y_ROW(R9, Y1, Y9, Y7, Y13) \
	BF16Y_ROW(R10, Y2, Y10, Y5, Y6) \
	BF16Y_ROW(R11, Y3, Y11, Y7, Y13)
#define BF16Y_STEP1 BF16Y_ROW(SI, Y0, Y8, Y5, Y6)

// func matVecBF16AVX2(y *float32, w *uint16, x *float32, rows, cols, n int)
TEXT ·matVecBF16AVX2(SB), NOSPLIT, $0-48
	SETUP8(2)
	MOVL $0xffff0000, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MATVEC8(PF_HALFY, BF16Y_XPREP, BF16Y_STEP4, BF16Y_STEP1, BF16Y_4, BF16Y_1)

// Q8ROWY multiplies one 32-byte block of a q8 row (at P) by the quantized
// activations in Y4: VPMADDUBSW takes |w| as the unsigned operand and x with
// the sign of w (no overflow: 2*128*127 < 32768), VPMADDWD with ones (Y15)
// widens to int32, and the block scale (Y9) weights the float result.
#define Q8ROWY(P, ACC) \
	VMOVDQU (P)(AX*1), Y5 \
	VPSIGNB Y5, Y5, Y6 \
	VPSIGNB Y5, Y4, Y7 \
	VPMADDUBSW Y7, Y6, Y8 \
	VPMADDWD Y15, Y8, Y8 \
	VCVTDQ2PS Y8, Y8 \
	VFMADD231PS Y9, Y8, ACC

// func matVecQ8AVX2(y *float32, w, q *int8, ls *float32, rows, cols, n int)
TEXT ·matVecQ8AVX2(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ ls+24(FP), R13
	MOVQ rows+32(FP), R12
	MOVQ cols+40(FP), R8
	MOVQ n+48(FP), BX
	VPCMPEQW Y15, Y15, Y15
	VPSRLW $15, Y15, Y15
q8rows4:
	CMPQ R12, $4
	JLT q8rows1
	LEAQ (SI)(R8*1), R9
	LEAQ (SI)(R8*2), R10
	LEAQ (R9)(R8*2), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ AX, AX
q8loop4:
	CMPQ AX, BX
	JGE q8done4
	VMOVDQU (DX)(AX*1), Y4
	VMOVUPS (R13)(AX*1), Y9
	PREFETCHT0 512(SI)(AX*1)
	PREFETCHT0 512(R9)(AX*1)
	PREFETCHT0 512(R10)(AX*1)
	PREFETCHT0 512(R11)(AX*1)
	Q8ROWY(SI, Y0)
	Q8ROWY(R9, Y1)
	Q8ROWY(R10, Y2)
	Q8ROWY(R11, Y3)
	ADDQ $32, AX
	JMP q8loop4
q8done4:
	REDUCE4Y
	ADDQ $16, DI
	LEAQ (R11)(R8*1), SI
	SUBQ $4, R12
	JMP q8rows4
q8rows1:
	CMPQ R12, $0
	JLE q8end
	VXORPS Y0, Y0, Y0
	XORQ AX, AX
q8loop1:
	CMPQ AX, BX
	JGE q8done1
	VMOVDQU (DX)(AX*1), Y4
	VMOVUPS (R13)(AX*1), Y9
	Q8ROWY(SI, Y0)
	ADDQ $32, AX
	JMP q8loop1
q8done1:
	REDUCE1Y
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R12
	JMP q8rows1
q8end:
	VZEROUPPER
	RET
