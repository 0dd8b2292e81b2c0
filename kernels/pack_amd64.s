//go:build amd64 && !purego

#include "textflag.h"

// Packing for the GEMM: transpose8* read 8 rows of a weight panel (row
// stride lds elements), widen them to f32 and store them transposed,
// dst[c*ldd + i] = W[i][c] for i < 8, c < n (n a multiple of 8), using the
// classic AVX 8x8 transpose (unpack, shuffle, 128-bit permute).
//
// Registers: SI = rows 0-3 base, R10 = rows 4-7 base, R8 = lds in bytes,
// R9 = 3*lds; DI = dst rows c..c+3, R13 = dst rows c+4..c+7, R11 = ldd in
// bytes, R12 = 3*ldd; CX = 8-column steps left.

#define SETUP(esize) \
	MOVQ dst+0(FP), DI \
	MOVQ ldd+8(FP), R11 \
	SHLQ $2, R11 \
	MOVQ src+16(FP), SI \
	MOVQ lds+24(FP), R8 \
	SHLQ $(esize/2), R8 \
	MOVQ n+32(FP), CX \
	SHRQ $3, CX \
	LEAQ (R8)(R8*2), R9 \
	LEAQ (SI)(R8*4), R10 \
	LEAQ (R11)(R11*2), R12 \
	LEAQ (DI)(R11*4), R13

// TRANSPOSE_STORE transposes Y0..Y7 (rows) and stores the 8 columns.
#define TRANSPOSE_STORE \
	VUNPCKLPS Y1, Y0, Y8 \
	VUNPCKHPS Y1, Y0, Y9 \
	VUNPCKLPS Y3, Y2, Y10 \
	VUNPCKHPS Y3, Y2, Y11 \
	VUNPCKLPS Y5, Y4, Y12 \
	VUNPCKHPS Y5, Y4, Y13 \
	VUNPCKLPS Y7, Y6, Y14 \
	VUNPCKHPS Y7, Y6, Y15 \
	VSHUFPS $0x44, Y10, Y8, Y0 \
	VSHUFPS $0xee, Y10, Y8, Y1 \
	VSHUFPS $0x44, Y11, Y9, Y2 \
	VSHUFPS $0xee, Y11, Y9, Y3 \
	VSHUFPS $0x44, Y14, Y12, Y4 \
	VSHUFPS $0xee, Y14, Y12, Y5 \
	VSHUFPS $0x44, Y15, Y13, Y6 \
	VSHUFPS $0xee, Y15, Y13, Y7 \
	VPERM2F128 $0x20, Y4, Y0, Y8 \
	VPERM2F128 $0x20, Y5, Y1, Y9 \
	VPERM2F128 $0x20, Y6, Y2, Y10 \
	VPERM2F128 $0x20, Y7, Y3, Y11 \
	VPERM2F128 $0x31, Y4, Y0, Y12 \
	VPERM2F128 $0x31, Y5, Y1, Y13 \
	VPERM2F128 $0x31, Y6, Y2, Y14 \
	VPERM2F128 $0x31, Y7, Y3, Y15 \
	VMOVUPS Y8, (DI) \
	VMOVUPS Y9, (DI)(R11*1) \
	VMOVUPS Y10, (DI)(R11*2) \
	VMOVUPS Y11, (DI)(R12*1) \
	VMOVUPS Y12, (R13) \
	VMOVUPS Y13, (R13)(R11*1) \
	VMOVUPS Y14, (R13)(R11*2) \
	VMOVUPS Y15, (R13)(R12*1) \
	LEAQ (DI)(R11*8), DI \
	LEAQ (R13)(R11*8), R13

// func transpose8F32(dst *float32, ldd int, src *float32, lds, n int)
TEXT ·transpose8F32(SB), NOSPLIT, $0-40
	SETUP(4)
	TESTQ CX, CX
	JEQ f32done
f32loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(R8*1), Y5
	VMOVUPS (R10)(R8*2), Y6
	VMOVUPS (R10)(R9*1), Y7
	TRANSPOSE_STORE
	ADDQ $32, SI
	ADDQ $32, R10
	DECQ CX
	JNZ f32loop
f32done:
	VZEROUPPER
	RET

// func transpose8F16(dst *float32, ldd int, src *uint16, lds, n int)
TEXT ·transpose8F16(SB), NOSPLIT, $0-40
	SETUP(2)
	TESTQ CX, CX
	JEQ f16done
f16loop:
	VCVTPH2PS (SI), Y0
	VCVTPH2PS (SI)(R8*1), Y1
	VCVTPH2PS (SI)(R8*2), Y2
	VCVTPH2PS (SI)(R9*1), Y3
	VCVTPH2PS (R10), Y4
	VCVTPH2PS (R10)(R8*1), Y5
	VCVTPH2PS (R10)(R8*2), Y6
	VCVTPH2PS (R10)(R9*1), Y7
	TRANSPOSE_STORE
	ADDQ $16, SI
	ADDQ $16, R10
	DECQ CX
	JNZ f16loop
f16done:
	VZEROUPPER
	RET

// func transpose8BF16(dst *float32, ldd int, src *uint16, lds, n int)
TEXT ·transpose8BF16(SB), NOSPLIT, $0-40
	SETUP(2)
	TESTQ CX, CX
	JEQ bf16done
bf16loop:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD (SI)(R8*1), Y1
	VPMOVZXWD (SI)(R8*2), Y2
	VPMOVZXWD (SI)(R9*1), Y3
	VPMOVZXWD (R10), Y4
	VPMOVZXWD (R10)(R8*1), Y5
	VPMOVZXWD (R10)(R8*2), Y6
	VPMOVZXWD (R10)(R9*1), Y7
	VPSLLD $16, Y0, Y0
	VPSLLD $16, Y1, Y1
	VPSLLD $16, Y2, Y2
	VPSLLD $16, Y3, Y3
	VPSLLD $16, Y4, Y4
	VPSLLD $16, Y5, Y5
	VPSLLD $16, Y6, Y6
	VPSLLD $16, Y7, Y7
	TRANSPOSE_STORE
	ADDQ $16, SI
	ADDQ $16, R10
	DECQ CX
	JNZ bf16loop
bf16done:
	VZEROUPPER
	RET
