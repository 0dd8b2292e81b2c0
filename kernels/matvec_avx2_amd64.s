//go:build amd64 && !purego

#include "textflag.h"

// AVX2 matrix-vector kernels: as the AVX-512 ones (including the software
// prefetch, for f32 and q8 whose rows advance 32 bytes a step), but 8 columns at a time
// and n must be a multiple of 8 (32 for q8); the caller adds the remaining
// columns. Registers: DI = y, SI/R9/R10/R11 = four row pointers, DX = x,
// R8 = row stride in bytes, R12 = rows left, BX = n, AX = column index,
// Y0..Y3 = accumulators.

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

#define MATVEC8(LOAD4, LOAD1) \
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
	XORQ AX, AX \
loop4: \
	CMPQ AX, BX \
	JGE done4 \
	VMOVUPS (DX)(AX*4), Y4 \
	LOAD4 \
	ADDQ $8, AX \
	JMP loop4 \
done4: \
	REDUCE4Y \
	ADDQ $16, DI \
	LEAQ (R11)(R8*1), SI \
	SUBQ $4, R12 \
	JMP rows4 \
rows1: \
	CMPQ R12, $0 \
	JLE end \
	VXORPS Y0, Y0, Y0 \
	XORQ AX, AX \
loop1: \
	CMPQ AX, BX \
	JGE done1 \
	VMOVUPS (DX)(AX*4), Y4 \
	LOAD1 \
	ADDQ $8, AX \
	JMP loop1 \
done1: \
	REDUCE1Y \
	ADDQ $4, DI \
	ADDQ R8, SI \
	DECQ R12 \
	JMP rows1 \
end: \
	VZEROUPPER \
	RET

#define F32Y_4 \
	PREFETCHT0 512(SI)(AX*4) \
	PREFETCHT0 512(R9)(AX*4) \
	PREFETCHT0 512(R10)(AX*4) \
	PREFETCHT0 512(R11)(AX*4) \
	VFMADD231PS (SI)(AX*4), Y4, Y0 \
	VFMADD231PS (R9)(AX*4), Y4, Y1 \
	VFMADD231PS (R10)(AX*4), Y4, Y2 \
	VFMADD231PS (R11)(AX*4), Y4, Y3
#define F32Y_1 VFMADD231PS (SI)(AX*4), Y4, Y0

// func matVecF32AVX2(y, w, x *float32, rows, cols, n int)
TEXT ·matVecF32AVX2(SB), NOSPLIT, $0-48
	SETUP8(4)
	MATVEC8(F32Y_4, F32Y_1)

#define F16Y_4 \
	PREFETCHT0 512(SI)(AX*2) \
	PREFETCHT0 512(R9)(AX*2) \
	PREFETCHT0 512(R10)(AX*2) \
	PREFETCHT0 512(R11)(AX*2) \
	VCVTPH2PS (SI)(AX*2), Y5 \
	VFMADD231PS Y5, Y4, Y0 \
	VCVTPH2PS (R9)(AX*2), Y6 \
	VFMADD231PS Y6, Y4, Y1 \
	VCVTPH2PS (R10)(AX*2), Y7 \
	VFMADD231PS Y7, Y4, Y2 \
	VCVTPH2PS (R11)(AX*2), Y8 \
	VFMADD231PS Y8, Y4, Y3
#define F16Y_1 \
	VCVTPH2PS (SI)(AX*2), Y5 \
	VFMADD231PS Y5, Y4, Y0

// func matVecF16AVX2(y *float32, w *uint16, x *float32, rows, cols, n int)
TEXT ·matVecF16AVX2(SB), NOSPLIT, $0-48
	SETUP8(2)
	MATVEC8(F16Y_4, F16Y_1)

#define BF16Y_4 \
	PREFETCHT0 512(SI)(AX*2) \
	PREFETCHT0 512(R9)(AX*2) \
	PREFETCHT0 512(R10)(AX*2) \
	PREFETCHT0 512(R11)(AX*2) \
	VPMOVZXWD (SI)(AX*2), Y5 \
	VPSLLD $16, Y5, Y5 \
	VFMADD231PS Y5, Y4, Y0 \
	VPMOVZXWD (R9)(AX*2), Y6 \
	VPSLLD $16, Y6, Y6 \
	VFMADD231PS Y6, Y4, Y1 \
	VPMOVZXWD (R10)(AX*2), Y7 \
	VPSLLD $16, Y7, Y7 \
	VFMADD231PS Y7, Y4, Y2 \
	VPMOVZXWD (R11)(AX*2), Y8 \
	VPSLLD $16, Y8, Y8 \
	VFMADD231PS Y8, Y4, Y3
#define BF16Y_1 \
	VPMOVZXWD (SI)(AX*2), Y5 \
	VPSLLD $16, Y5, Y5 \
	VFMADD231PS Y5, Y4, Y0

// func matVecBF16AVX2(y *float32, w *uint16, x *float32, rows, cols, n int)
TEXT ·matVecBF16AVX2(SB), NOSPLIT, $0-48
	SETUP8(2)
	MATVEC8(BF16Y_4, BF16Y_1)

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
