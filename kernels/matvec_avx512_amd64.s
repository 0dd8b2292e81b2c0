//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 matrix-vector kernels. Each computes y[r] = W[r,:]·x for r < rows,
// with W row-major of stride cols elements, over the first n columns (n <=
// cols); AVX-512 masks handle any n, so callers pass n = cols except for Q8.
// Rows are taken four at a time so that each load of x serves four rows.
//
// Register use (all kernels):
//   DI = y, SI/R9/R10/R11 = four row pointers, DX = x, R8 = row stride in
//   bytes, R12 = rows left, CX = n, BX = n rounded down to 16 (64 for q8),
//   AX = column index, K1 = tail mask, Z0..Z3 = accumulators.

// SETUP16 loads the common arguments and the tail mask for 16-wide chunks.
// elem is the weight element size in bytes.
#define SETUP16(elem) \
	MOVQ y+0(FP), DI \
	MOVQ w+8(FP), SI \
	MOVQ x+16(FP), DX \
	MOVQ rows+24(FP), R12 \
	MOVQ cols+32(FP), R8 \
	SHLQ $(elem/2), R8 \
	MOVQ n+40(FP), CX \
	MOVQ CX, BX \
	ANDQ $-16, BX \
	MOVQ CX, R13 \
	ANDQ $15, R13 \
	MOVQ CX, AX \
	MOVQ R13, CX \
	MOVL $1, R14 \
	SHLL CX, R14 \
	DECL R14 \
	KMOVW R14, K1 \
	MOVQ AX, CX

// REDUCE4 sums each of Z0..Z3 and stores the four sums at (DI).
#define REDUCE4 \
	VEXTRACTF64X4 $1, Z0, Y4 \
	VADDPS Y4, Y0, Y0 \
	VEXTRACTF64X4 $1, Z1, Y5 \
	VADDPS Y5, Y1, Y1 \
	VEXTRACTF64X4 $1, Z2, Y6 \
	VADDPS Y6, Y2, Y2 \
	VEXTRACTF64X4 $1, Z3, Y7 \
	VADDPS Y7, Y3, Y3 \
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

// REDUCE1 sums Z0 and stores it at (DI).
#define REDUCE1 \
	VEXTRACTF64X4 $1, Z0, Y4 \
	VADDPS Y4, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X4 \
	VADDPS X4, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VMOVSS X0, (DI)

// MATVEC16 expands to the row loops of a 16-wide kernel: PREFETCH4 prefetches
// ahead in the four rows, LOAD4 multiplies 16 columns of four rows by x (in
// Z4) into Z0..Z3, LOAD4M does the same under mask K1, and LOAD1/LOAD1M do it
// for one row into Z0.
#define MATVEC16(PREFETCH4, LOAD4, LOAD4M, LOAD1, LOAD1M) \
rows4: \
	CMPQ R12, $4 \
	JLT rows1 \
	LEAQ (SI)(R8*1), R9 \
	LEAQ (SI)(R8*2), R10 \
	LEAQ (R9)(R8*2), R11 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	XORQ AX, AX \
loop4: \
	CMPQ AX, BX \
	JGE tail4 \
	VMOVUPS (DX)(AX*4), Z4 \
	PREFETCH4 \
	LOAD4 \
	ADDQ $16, AX \
	JMP loop4 \
tail4: \
	CMPQ AX, CX \
	JGE done4 \
	VMOVUPS.Z (DX)(AX*4), K1, Z4 \
	LOAD4M \
done4: \
	REDUCE4 \
	ADDQ $16, DI \
	LEAQ (R11)(R8*1), SI \
	SUBQ $4, R12 \
	JMP rows4 \
rows1: \
	CMPQ R12, $0 \
	JLE end \
	VPXORD Z0, Z0, Z0 \
	XORQ AX, AX \
loop1: \
	CMPQ AX, BX \
	JGE tail1 \
	VMOVUPS (DX)(AX*4), Z4 \
	LOAD1 \
	ADDQ $16, AX \
	JMP loop1 \
tail1: \
	CMPQ AX, CX \
	JGE done1 \
	VMOVUPS.Z (DX)(AX*4), K1, Z4 \
	LOAD1M \
done1: \
	REDUCE1 \
	ADDQ $4, DI \
	ADDQ R8, SI \
	DECQ R12 \
	JMP rows1 \
end: \
	VZEROUPPER \
	RET

// PF_F32 prefetches the four rows 512 bytes ahead: the hardware prefetcher alone
// leaves DRAM bandwidth unused when four row streams are read at once.
#define PF_F32 \
	PREFETCHT0 512(SI)(AX*4) \
	PREFETCHT0 512(R9)(AX*4) \
	PREFETCHT0 512(R10)(AX*4) \
	PREFETCHT0 512(R11)(AX*4)
// f32 weights: FMA straight from memory (merge-masked in the tail, which
// also suppresses faults past the end of the row).
#define F32_4 \
	VFMADD231PS (SI)(AX*4), Z4, Z0 \
	VFMADD231PS (R9)(AX*4), Z4, Z1 \
	VFMADD231PS (R10)(AX*4), Z4, Z2 \
	VFMADD231PS (R11)(AX*4), Z4, Z3
#define F32_4M \
	VFMADD231PS (SI)(AX*4), Z4, K1, Z0 \
	VFMADD231PS (R9)(AX*4), Z4, K1, Z1 \
	VFMADD231PS (R10)(AX*4), Z4, K1, Z2 \
	VFMADD231PS (R11)(AX*4), Z4, K1, Z3
#define F32_1 VFMADD231PS (SI)(AX*4), Z4, Z0
#define F32_1M VFMADD231PS (SI)(AX*4), Z4, K1, Z0

// func matVecF32AVX512(y, w, x *float32, rows, cols, n int)
TEXT ·matVecF32AVX512(SB), NOSPLIT, $0-48
	SETUP16(4)
	MATVEC16(PF_F32, F32_4, F32_4M, F32_1, F32_1M)

// The f16 and bf16 kernels take 32 columns (64 bytes of a row, one cache
// line) per step with two accumulators per row, and have two ways through
// the rows, chosen by the caller (stream) and giving identical results:
//
//   - stream != 0, for matrices read from memory: one row after another,
//     so the weights are read as one sequential stream (as the roofline
//     benchmark reads), with a software prefetch 8 KiB ahead of it.
//     Interleaving four rows' streams measured 10-20% slower from DRAM;
//     prefetching 2 or 4 KiB ahead, 5-10% slower than 8 KiB.
//   - stream == 0, for blocks that sit in cache (MatMul of a few rows):
//     four rows at a time (Z0..Z3 and Z8..Z11), so that each load of x
//     serves four rows, about 1.3x (f16) to 1.7x (bf16) the single-row
//     speed from L2; the next group of four rows is prefetched line by line
//     at the same column (R14 walks its first row, R13 = 3 rows).
//
// Register use: as above, plus BX = n rounded down to 32, K1 = 32-bit tail
// mask of halves, K2/K3 = its low and high 16 bits (for the two 16-float
// halves of x), Z4/Z5 (and Z6 for bf16) = x, Z12..Z15 = widened weights.

// SETUP32 loads the arguments and the tail masks for 32-wide steps over
// 2-byte weights.
#define SETUP32 \
	MOVQ y+0(FP), DI \
	MOVQ w+8(FP), SI \
	MOVQ x+16(FP), DX \
	MOVQ rows+24(FP), R12 \
	MOVQ cols+32(FP), R8 \
	SHLQ $1, R8 \
	MOVQ n+40(FP), CX \
	MOVQ CX, BX \
	ANDQ $-32, BX \
	MOVQ CX, AX \
	ANDQ $31, CX \
	MOVL $1, R14 \
	SHLL CX, R14 \
	DECL R14 \
	KMOVD R14, K1 \
	KMOVW R14, K2 \
	SHRL $16, R14 \
	KMOVW R14, K3 \
	MOVQ AX, CX \
	LEAQ (R8)(R8*2), R13

// ADD8 folds the second accumulator of each row into the first.
#define ADD8 \
	VADDPS Z8, Z0, Z0 \
	VADDPS Z9, Z1, Z1 \
	VADDPS Z10, Z2, Z2 \
	VADDPS Z11, Z3, Z3

// PF_NEXT4 prefetches one line of each row of the next group of four.
#define PF_NEXT4 \
	PREFETCHT0 (R14) \
	PREFETCHT0 (R14)(R8*1) \
	PREFETCHT0 (R14)(R8*2) \
	PREFETCHT0 (R14)(R13*1) \
	ADDQ $64, R14

// MATVEC32 expands to the row loops of a 32-wide kernel (see above; the
// caller jumps to rows1 to stream, and the single-row loop also finishes
// the last rows of the four-row one): XLOAD loads 32
// columns of x, XLOADM does it under the tail masks, ROW(P, A, B) adds 32
// columns of the row at P times x into accumulators A and B, ROWM does it
// under the tail masks.
#define MATVEC32(XLOAD, XLOADM, ROW, ROWM) \
rows4: \
	CMPQ R12, $4 \
	JLT rows1 \
	LEAQ (SI)(R8*1), R9 \
	LEAQ (SI)(R8*2), R10 \
	LEAQ (SI)(R13*1), R11 \
	LEAQ (SI)(R8*4), R14 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	XORQ AX, AX \
loop4: \
	CMPQ AX, BX \
	JGE tail4 \
	XLOAD \
	PF_NEXT4 \
	ROW(SI, Z0, Z8) \
	ROW(R9, Z1, Z9) \
	ROW(R10, Z2, Z10) \
	ROW(R11, Z3, Z11) \
	ADDQ $32, AX \
	JMP loop4 \
tail4: \
	CMPQ AX, CX \
	JGE done4 \
	XLOADM \
	ROWM(SI, Z0, Z8) \
	ROWM(R9, Z1, Z9) \
	ROWM(R10, Z2, Z10) \
	ROWM(R11, Z3, Z11) \
done4: \
	ADD8 \
	REDUCE4 \
	ADDQ $16, DI \
	LEAQ (SI)(R8*4), SI \
	SUBQ $4, R12 \
	JMP rows4 \
rows1: \
	CMPQ R12, $0 \
	JLE end \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z8, Z8, Z8 \
	XORQ AX, AX \
loop1: \
	CMPQ AX, BX \
	JGE tail1 \
	XLOAD \
	PREFETCHT0 8192(SI)(AX*2) \
	ROW(SI, Z0, Z8) \
	ADDQ $32, AX \
	JMP loop1 \
tail1: \
	CMPQ AX, CX \
	JGE done1 \
	XLOADM \
	ROWM(SI, Z0, Z8) \
done1: \
	VADDPS Z8, Z0, Z0 \
	REDUCE1 \
	ADDQ $4, DI \
	ADDQ R8, SI \
	DECQ R12 \
	JMP rows1 \
end: \
	VZEROUPPER \
	RET

// X32 loads x[c..c+31] into Z4, Z5; X32M loads it under the tail masks.
#define X32 \
	VMOVUPS (DX)(AX*4), Z4 \
	VMOVUPS 64(DX)(AX*4), Z5
#define X32M \
	VMOVUPS.Z (DX)(AX*4), K2, Z4 \
	VMOVUPS.Z 64(DX)(AX*4), K3, Z5

// f16 weights: VCVTPH2PS widens 16 halves straight from memory; the tail
// loads them masked (zeros past n, with fault suppression).
#define F16ROW(P, A, B) \
	VCVTPH2PS (P)(AX*2), Z12 \
	VFMADD231PS Z12, Z4, A \
	VCVTPH2PS 32(P)(AX*2), Z13 \
	VFMADD231PS Z13, Z5, B
#define F16ROWM(P, A, B) \
	VMOVDQU16.Z (P)(AX*2), K2, Y12 \
	VCVTPH2PS Y12, Z12 \
	VFMADD231PS Z12, Z4, A \
	VMOVDQU16.Z 32(P)(AX*2), K3, Y13 \
	VCVTPH2PS Y13, Z13 \
	VFMADD231PS Z13, Z5, B

// func matVecF16AVX512(y *float32, w *uint16, x *float32, rows, cols, n, stream int)
TEXT ·matVecF16AVX512(SB), NOSPLIT, $0-56
	SETUP32
	CMPQ stream+48(FP), $0
	JNE rows1
	MATVEC32(X32, X32M, F16ROW, F16ROWM)

// bf16 weights: a bf16 is the high half of an f32, so the 32-bit lanes of
// 32 loaded bf16 hold the odd-numbered column's value in their high half
// (masking off the low half, VPANDD with Z31 = 0xffff0000, makes it an f32)
// and the even-numbered one in their low half (VPSLLD $16 makes it an f32):
// one integer instruction per 16 weights and no shuffle of the weights.
// Instead x is split once per step into its even (Z6) and odd (Z4) columns
// with two VPERMT2PS (indices in Z28, Z29), shared by the four rows.
#define BF16X \
	VMOVAPS Z4, Z6 \
	VPERMT2PS Z5, Z28, Z6 \
	VPERMT2PS Z5, Z29, Z4
#define BF16X32 \
	X32 \
	BF16X
#define BF16X32M \
	X32M \
	BF16X
#define BF16ROW(P, A, B) \
	VPSLLD $16, (P)(AX*2), Z12 \
	VFMADD231PS Z12, Z6, A \
	VPANDD (P)(AX*2), Z31, Z13 \
	VFMADD231PS Z13, Z4, B
#define BF16ROWM(P, A, B) \
	VMOVDQU16.Z (P)(AX*2), K1, Z14 \
	VPSLLD $16, Z14, Z12 \
	VFMADD231PS Z12, Z6, A \
	VPANDD Z14, Z31, Z13 \
	VFMADD231PS Z13, Z4, B

// bf16Perm holds the VPERMT2PS indices of the even (0, 2, ..., 30) and odd
// (1, 3, ..., 31) floats of two registers, as bytes.
DATA bf16Perm<>+0(SB)/8, $0x0e0c0a0806040200
DATA bf16Perm<>+8(SB)/8, $0x1e1c1a1816141210
DATA bf16Perm<>+16(SB)/8, $0x0f0d0b0907050301
DATA bf16Perm<>+24(SB)/8, $0x1f1d1b1917151311
GLOBL bf16Perm<>(SB), RODATA|NOPTR, $32

// func matVecBF16AVX512(y *float32, w *uint16, x *float32, rows, cols, n, stream int)
TEXT ·matVecBF16AVX512(SB), NOSPLIT, $0-56
	SETUP32
	VPMOVZXBD bf16Perm<>+0(SB), Z28
	VPMOVZXBD bf16Perm<>+16(SB), Z29
	MOVL $0xffff0000, AX
	VPBROADCASTD AX, Z31
	CMPQ stream+48(FP), $0
	JNE rows1
	MATVEC32(BF16X32, BF16X32M, BF16ROW, BF16ROWM)

// Q8ROW multiplies one 64-byte chunk of a q8 row (at P) by the quantized
// activations in Z4 and adds the block-scaled result to ACC. VPDPBUSD needs
// an unsigned operand: it gets w+128 (w XOR 0x80, Z30 = 0x80 bytes), which
// adds 128·sum(x) per lane; that bias depends on x alone, so the caller
// subtracts its scaled total (q8Vec.bias) once per row. Z9 holds the scales
// of the 16 int32 lanes; K2 masks the lanes of a partial chunk (with fault
// suppression on the load).
#define Q8ROW(P, ACC) \
	VPXORD.Z (P)(AX*1), Z30, K2, Z5 \
	VPXORD Z8, Z8, Z8 \
	VPDPBUSD Z4, Z5, Z8 \
	VCVTDQ2PS Z8, Z8 \
	VFMADD231PS Z9, Z8, ACC

// Q8PF is how far ahead of the weights being read the 4-row loop
// prefetches: a sequential stream a few KiB ahead keeps DRAM busy where
// the hardware prefetcher alone falls behind.
#define Q8PF 8192

// Q8CHUNK loads the activations and lane scales of the chunk at AX under
// the lane mask K2.
#define Q8CHUNK \
	VMOVDQU32.Z (DX)(AX*1), K2, Z4 \
	VMOVUPS.Z (R13)(AX*1), K2, Z9

// func matVecQ8AVX512(y *float32, w, q *int8, ls *float32, rows, cols, n int)
//
// y[r] = sum over 32-blocks b < n/32 of ls[b*8] * ((W[r, b] + 128) · q[b]):
// the integer dot products of a q8 row with int8-quantized activations,
// scaled per block, plus a bias the caller removes (see Q8ROW). n must be a
// multiple of 32; the row scale and the columns past n are applied by the
// caller.
TEXT ·matVecQ8AVX512(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ ls+24(FP), R13
	MOVQ rows+32(FP), R12
	MOVQ cols+40(FP), R8
	MOVQ n+48(FP), CX
	MOVQ CX, BX
	ANDQ $-64, BX
	MOVL $0x80808080, R14
	VPBROADCASTD R14, Z30
	MOVL $0xffff, R14
	KMOVW R14, K5       // all 16 lanes
	MOVL $0xff, R14
	KMOVW R14, K7       // low 8 lanes (a 32-byte tail)

q8rows4:
	CMPQ R12, $4
	JLT q8rows1
	LEAQ (SI)(R8*1), R9
	LEAQ (SI)(R8*2), R10
	LEAQ (R9)(R8*2), R11
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ AX, AX
	KMOVW K5, K2
q8loop4:
	CMPQ AX, BX
	JGE q8tail4
	Q8CHUNK
	// The four rows are contiguous: while AX walks one row, SI+4*AX
	// walks all four, so these keep one stream Q8PF bytes ahead.
	PREFETCHT0 Q8PF(SI)(AX*4)
	PREFETCHT0 (Q8PF+64)(SI)(AX*4)
	PREFETCHT0 (Q8PF+128)(SI)(AX*4)
	PREFETCHT0 (Q8PF+192)(SI)(AX*4)
	Q8ROW(SI, Z0)
	Q8ROW(R9, Z1)
	Q8ROW(R10, Z2)
	Q8ROW(R11, Z3)
	ADDQ $64, AX
	JMP q8loop4
q8tail4:
	CMPQ AX, CX
	JGE q8done4
	KMOVW K7, K2
	Q8CHUNK
	Q8ROW(SI, Z0)
	Q8ROW(R9, Z1)
	Q8ROW(R10, Z2)
	Q8ROW(R11, Z3)
q8done4:
	REDUCE4
	ADDQ $16, DI
	LEAQ (R11)(R8*1), SI
	SUBQ $4, R12
	JMP q8rows4

q8rows1:
	CMPQ R12, $0
	JLE q8end
	VPXORD Z0, Z0, Z0
	XORQ AX, AX
	KMOVW K5, K2
q8loop1:
	CMPQ AX, BX
	JGE q8tail1
	Q8CHUNK
	Q8ROW(SI, Z0)
	ADDQ $64, AX
	JMP q8loop1
q8tail1:
	CMPQ AX, CX
	JGE q8done1
	KMOVW K7, K2
	Q8CHUNK
	Q8ROW(SI, Z0)
q8done1:
	REDUCE1
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R12
	JMP q8rows1
q8end:
	VZEROUPPER
	RET

// func quantizeQ8AVX512(x *float32, q *int8, ls *float32, blocks int) (bias float32, ok bool)
//
// The AVX-512 form of q8Vec.quantize for blocks full blocks of 32: per block
// s = max|x|/127, q = round(x/s) (nearest even, via VCVTPS2DQ), eight copies
// of s in ls, and bias = sum of s*128*sum(q). Blocks with max|x| < q8Tiny
// become zeros. ok is false (and the outputs
// partial) if x holds Inf or NaN. Needs AVX512DQ for VFPCLASSPS.
TEXT ·quantizeQ8AVX512(SB), NOSPLIT, $0-37
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ ls+16(FP), DX
	MOVQ blocks+24(FP), CX
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z11        // |x| mask
	MOVL $0x42fe0000, AX        // 127
	VMOVD AX, X8
	MOVL $0x43000000, AX        // 128
	VMOVD AX, X9
	VPXORD Z7, Z7, Z7        // bias accumulator
	MOVL $0x0da24260, AX        // q8Tiny = 1e-30
	VMOVD AX, X10
qloop:
	TESTQ CX, CX
	JEQ qdone
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VFPCLASSPSZ $0x99, Z0, K1    // NaN or ±Inf
	VFPCLASSPSZ $0x99, Z1, K2
	KORTESTW K1, K2
	JNE qbad
	VANDPS Z11, Z0, Z2
	VANDPS Z11, Z1, Z3
	VMAXPS Z3, Z2, Z2
	VEXTRACTF64X4 $1, Z2, Y3
	VMAXPS Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0x4e, X2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0xb1, X2, X3
	VMAXPS X3, X2, X2           // X2[0] = amax
	VUCOMISS X10, X2
	JCS qzero                   // amax < q8Tiny: a zero block
	VDIVSS X2, X8, X4          // inv = 127/amax
	VDIVSS X8, X2, X5          // s = amax/127
	VBROADCASTSS X4, Z4
	VBROADCASTSS X5, Y5
	VMULPS Z4, Z0, Z0
	VMULPS Z4, Z1, Z1
	VCVTPS2DQ Z0, Z0
	VCVTPS2DQ Z1, Z1
	VPMOVSDB Z0, (DI)
	VPMOVSDB Z1, 16(DI)
	VMOVUPS Y5, (DX)
	VMULSS X9, X5, X6          // 128*s
	VBROADCASTSS X6, Z6
	VPADDD Z1, Z0, Z0
	VCVTDQ2PS Z0, Z0
	VFMADD231PS Z6, Z0, Z7     // bias += 128*s*q
	JMP qnext
qzero:
	VPXORD Y0, Y0, Y0
	VMOVDQU Y0, (DI)            // 32 zero bytes
	VMOVUPS Y0, (DX)            // s = 0
qnext:
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JMP qloop
qdone:
	VEXTRACTF64X4 $1, Z7, Y3
	VADDPS Y3, Y7, Y7
	VEXTRACTF128 $1, Y7, X3
	VADDPS X3, X7, X7
	VHADDPS X7, X7, X7
	VHADDPS X7, X7, X7
	VMOVSS X7, bias+32(FP)
	MOVB $1, ok+36(FP)
	VZEROUPPER
	RET
qbad:
	MOVB $0, ok+36(FP)
	VZEROUPPER
	RET
