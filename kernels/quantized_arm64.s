//go:build arm64 && !purego

#include "textflag.h"

// Grouped int8 and int4 matrix-vector kernels on int8 activations (see
// quantized.go for what they compute). Each kernel multiplies rows four at
// a time, then one at a time. Per block of 32 columns and row, the integer
// dot product of weights and activations lands in the four int32 lanes of
// one register: with SDOT (ARMv8.2 dot product) in the *Dot kernels, with
// SMULL/SMLAL2 into int16 lanes (two products of at most 128*127 each fit)
// widened by SADDLP/SADALP in the *Mul ones. The lanes are converted to
// float32 and accumulated times the block's activation scale per group,
// the group sums times the row's weight scale per row, and the four lanes
// added at the end of the row.
//
// Int4 bytes hold column 2i in the low nibble and 2i+1 in the high one,
// each as q+8: a block's 16 bytes unpack (AND 15, USHR 4, minus 8) into the
// even and the odd columns, matched with q in nibble order (q8Vec.nib).
//
// Registers: R0 y, R1-R4 weight rows, R5 q, R6 ls, R7 rows left, R8 bytes
// per row, R9 blocks per group, R10-R13 weight-scale rows, R14 groups left,
// R15 blocks left, R16 groups per row, R19 q, R20 ls, R21 bytes of scales
// per row. V0-V1 activations, V2 block scale, V4-V11 weights, V12-V15 int
// dot products, V16-V19 weight scales, V20-V23 group sums, V24-V27 row sums,
// V28-V29 int16 products, V30-V31 nibble constants.
//
// The instructions the Go assembler lacks are WORD-encoded by the macros
// below, which take register numbers.

// SDOT Vd.4S, Vn.16B, Vm.16B
#define SDOT(d, n, m) WORD $(0x4e809400 | ((m)<<16) | ((n)<<5) | (d))
// SMULL Vd.8H, Vn.8B, Vm.8B
#define SMULL(d, n, m) WORD $(0x0e20c000 | ((m)<<16) | ((n)<<5) | (d))
// SMLAL2 Vd.8H, Vn.16B, Vm.16B
#define SMLAL2(d, n, m) WORD $(0x4e208000 | ((m)<<16) | ((n)<<5) | (d))
// SADDLP Vd.4S, Vn.8H
#define SADDLP(d, n) WORD $(0x4e602800 | ((n)<<5) | (d))
// SADALP Vd.4S, Vn.8H
#define SADALP(d, n) WORD $(0x4e606800 | ((n)<<5) | (d))
// SCVTF Vd.4S, Vn.4S
#define SCVTF(d, n) WORD $(0x4e21d800 | ((n)<<5) | (d))
// FMLA Vd.4S, Vn.4S, Vm.S[i]
#define FMLAE(d, n, m, i) WORD $(0x4f801000 | (((i)&1)<<21) | (((i)>>1)<<11) | ((m)<<16) | ((n)<<5) | (d))
// FADDP Vd.4S, Vn.4S, Vm.4S
#define FADDP(d, n, m) WORD $(0x6e20d400 | ((m)<<16) | ((n)<<5) | (d))
// MOVI Vd.2D, #0
#define MOVI0(d) WORD $(0x6f00e400 | (d))

// func matVecQ8GDotNEON(y *float32, w *int8, q *int8, ls, ws *float32, rows, cols, group int)
TEXT ·matVecQ8GDotNEON(SB), NOSPLIT, $0-64
	MOVD y+0(FP), R0
	MOVD w+8(FP), R1
	MOVD q+16(FP), R19
	MOVD ls+24(FP), R20
	MOVD ws+32(FP), R10
	MOVD rows+40(FP), R7
	MOVD cols+48(FP), R8
	MOVD group+56(FP), R9
	UDIV R9, R8, R16 // groups per row
	LSR $5, R9, R9 // blocks per group
	LSL $2, R16, R21 // bytes of scales per row
	CMP $4, R7
	BLT one
four:
	ADD R1, R8, R2
	ADD R2, R8, R3
	ADD R3, R8, R4
	ADD R10, R21, R11
	ADD R11, R21, R12
	ADD R12, R21, R13
	MOVD R19, R5
	MOVD R20, R6
	MOVD R16, R14
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
group4:
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	MOVD R9, R15
block4:
	VLD1.P 32(R5), [V0.B16, V1.B16]
	FMOVS (R6), F2
	ADD $32, R6
	VLD1.P 32(R1), [V4.B16, V5.B16]
	VLD1.P 32(R2), [V6.B16, V7.B16]
	VLD1.P 32(R3), [V8.B16, V9.B16]
	VLD1.P 32(R4), [V10.B16, V11.B16]
	MOVI0(12)
	SDOT(12, 4, 0)
	SDOT(12, 5, 1)
	MOVI0(13)
	SDOT(13, 6, 0)
	SDOT(13, 7, 1)
	MOVI0(14)
	SDOT(14, 8, 0)
	SDOT(14, 9, 1)
	MOVI0(15)
	SDOT(15, 10, 0)
	SDOT(15, 11, 1)
	SCVTF(12, 12)
	SCVTF(13, 13)
	SCVTF(14, 14)
	SCVTF(15, 15)
	FMLAE(20, 12, 2, 0)
	FMLAE(21, 13, 2, 0)
	FMLAE(22, 14, 2, 0)
	FMLAE(23, 15, 2, 0)
	SUBS $1, R15, R15
	BNE block4
	FMOVS.P 4(R10), F16
	FMOVS.P 4(R11), F17
	FMOVS.P 4(R12), F18
	FMOVS.P 4(R13), F19
	FMLAE(24, 20, 16, 0)
	FMLAE(25, 21, 17, 0)
	FMLAE(26, 22, 18, 0)
	FMLAE(27, 23, 19, 0)
	SUBS $1, R14, R14
	BNE group4
	FADDP(24, 24, 25)
	FADDP(26, 26, 27)
	FADDP(24, 24, 26)
	VST1.P [V24.S4], 16(R0)
	MOVD R4, R1
	MOVD R13, R10
	SUB $4, R7, R7
	CMP $4, R7
	BGE four
one:
	CBZ R7, done
	MOVD R19, R5
	MOVD R20, R6
	MOVD R16, R14
	VEOR V24.B16, V24.B16, V24.B16
group1:
	VEOR V20.B16, V20.B16, V20.B16
	MOVD R9, R15
block1:
	VLD1.P 32(R5), [V0.B16, V1.B16]
	FMOVS (R6), F2
	ADD $32, R6
	VLD1.P 32(R1), [V4.B16, V5.B16]
	MOVI0(12)
	SDOT(12, 4, 0)
	SDOT(12, 5, 1)
	SCVTF(12, 12)
	FMLAE(20, 12, 2, 0)
	SUBS $1, R15, R15
	BNE block1
	FMOVS.P 4(R10), F16
	FMLAE(24, 20, 16, 0)
	SUBS $1, R14, R14
	BNE group1
	FADDP(24, 24, 24)
	FADDP(24, 24, 24)
	FMOVS.P F24, 4(R0)
	SUB $1, R7, R7
	B one
done:
	RET

// func matVecQ8GMulNEON(y *float32, w *int8, q *int8, ls, ws *float32, rows, cols, group int)
TEXT ·matVecQ8GMulNEON(SB), NOSPLIT, $0-64
	MOVD y+0(FP), R0
	MOVD w+8(FP), R1
	MOVD q+16(FP), R19
	MOVD ls+24(FP), R20
	MOVD ws+32(FP), R10
	MOVD rows+40(FP), R7
	MOVD cols+48(FP), R8
	MOVD group+56(FP), R9
	UDIV R9, R8, R16 // groups per row
	LSR $5, R9, R9 // blocks per group
	LSL $2, R16, R21 // bytes of scales per row
	CMP $4, R7
	BLT one
four:
	ADD R1, R8, R2
	ADD R2, R8, R3
	ADD R3, R8, R4
	ADD R10, R21, R11
	ADD R11, R21, R12
	ADD R12, R21, R13
	MOVD R19, R5
	MOVD R20, R6
	MOVD R16, R14
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
group4:
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	MOVD R9, R15
block4:
	VLD1.P 32(R5), [V0.B16, V1.B16]
	FMOVS (R6), F2
	ADD $32, R6
	VLD1.P 32(R1), [V4.B16, V5.B16]
	VLD1.P 32(R2), [V6.B16, V7.B16]
	VLD1.P 32(R3), [V8.B16, V9.B16]
	VLD1.P 32(R4), [V10.B16, V11.B16]
	SMULL(28, 4, 0)
	SMLAL2(28, 4, 0)
	SADDLP(12, 28)
	SMULL(28, 5, 1)
	SMLAL2(28, 5, 1)
	SADALP(12, 28)
	SMULL(29, 6, 0)
	SMLAL2(29, 6, 0)
	SADDLP(13, 29)
	SMULL(29, 7, 1)
	SMLAL2(29, 7, 1)
	SADALP(13, 29)
	SMULL(28, 8, 0)
	SMLAL2(28, 8, 0)
	SADDLP(14, 28)
	SMULL(28, 9, 1)
	SMLAL2(28, 9, 1)
	SADALP(14, 28)
	SMULL(29, 10, 0)
	SMLAL2(29, 10, 0)
	SADDLP(15, 29)
	SMULL(29, 11, 1)
	SMLAL2(29, 11, 1)
	SADALP(15, 29)
	SCVTF(12, 12)
	SCVTF(13, 13)
	SCVTF(14, 14)
	SCVTF(15, 15)
	FMLAE(20, 12, 2, 0)
	FMLAE(21, 13, 2, 0)
	FMLAE(22, 14, 2, 0)
	FMLAE(23, 15, 2, 0)
	SUBS $1, R15, R15
	BNE block4
	FMOVS.P 4(R10), F16
	FMOVS.P 4(R11), F17
	FMOVS.P 4(R12), F18
	FMOVS.P 4(R13), F19
	FMLAE(24, 20, 16, 0)
	FMLAE(25, 21, 17, 0)
	FMLAE(26, 22, 18, 0)
	FMLAE(27, 23, 19, 0)
	SUBS $1, R14, R14
	BNE group4
	FADDP(24, 24, 25)
	FADDP(26, 26, 27)
	FADDP(24, 24, 26)
	VST1.P [V24.S4], 16(R0)
	MOVD R4, R1
	MOVD R13, R10
	SUB $4, R7, R7
	CMP $4, R7
	BGE four
one:
	CBZ R7, done
	MOVD R19, R5
	MOVD R20, R6
	MOVD R16, R14
	VEOR V24.B16, V24.B16, V24.B16
group1:
	VEOR V20.B16, V20.B16, V20.B16
	MOVD R9, R15
block1:
	VLD1.P 32(R5), [V0.B16, V1.B16]
	FMOVS (R6), F2
	ADD $32, R6
	VLD1.P 32(R1), [V4.B16, V5.B16]
	SMULL(28, 4, 0)
	SMLAL2(28, 4, 0)
	SADDLP(12, 28)
	SMULL(28, 5, 1)
	SMLAL2(28, 5, 1)
	SADALP(12, 28)
	SCVTF(12, 12)
	FMLAE(20, 12, 2, 0)
	SUBS $1, R15, R15
	BNE block1
	FMOVS.P 4(R10), F16
	FMLAE(24, 20, 16, 0)
	SUBS $1, R14, R14
	BNE group1
	FADDP(24, 24, 24)
	FADDP(24, 24, 24)
	FMOVS.P F24, 4(R0)
	SUB $1, R7, R7
	B one
done:
	RET

// func matVecQ4DotNEON(y *float32, w *byte, q *int8, ls, ws *float32, rows, cols, group int)
TEXT ·matVecQ4DotNEON(SB), NOSPLIT, $0-64
	MOVD y+0(FP), R0
	MOVD w+8(FP), R1
	MOVD q+16(FP), R19
	MOVD ls+24(FP), R20
	MOVD ws+32(FP), R10
	MOVD rows+40(FP), R7
	MOVD cols+48(FP), R8
	MOVD group+56(FP), R9
	UDIV R9, R8, R16 // groups per row
	LSR $5, R9, R9 // blocks per group
	LSL $2, R16, R21 // bytes of scales per row
	LSR $1, R8, R8 // bytes per row
	VMOVI $15, V30.B16
	VMOVI $8, V31.B16
	CMP $4, R7
	BLT one
four:
	ADD R1, R8, R2
	ADD R2, R8, R3
	ADD R3, R8, R4
	ADD R10, R21, R11
	ADD R11, R21, R12
	ADD R12, R21, R13
	MOVD R19, R5
	MOVD R20, R6
	MOVD R16, R14
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
group4:
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	MOVD R9, R15
block4:
	VLD1.P 32(R5), [V0.B16, V1.B16]
	FMOVS (R6), F2
	ADD $32, R6
	VLD1.P 16(R1), [V5.B16]
	VLD1.P 16(R2), [V7.B16]
	VLD1.P 16(R3), [V9.B16]
	VLD1.P 16(R4), [V11.B16]
	VAND V30.B16, V5.B16, V4.B16
	VUSHR $4, V5.B16, V5.B16
	VSUB V31.B16, V4.B16, V4.B16
	VSUB V31.B16, V5.B16, V5.B16
	VAND V30.B16, V7.B16, V6.B16
	VUSHR $4, V7.B16, V7.B16
	VSUB V31.B16, V6.B16, V6.B16
	VSUB V31.B16, V7.B16, V7.B16
	VAND V30.B16, V9.B16, V8.B16
	VUSHR $4, V9.B16, V9.B16
	VSUB V31.B16, V8.B16, V8.B16
	VSUB V31.B16, V9.B16, V9.B16
	VAND V30.B16, V11.B16, V10.B16
	VUSHR $4, V11.B16, V11.B16
	VSUB V31.B16, V10.B16, V10.B16
	VSUB V31.B16, V11.B16, V11.B16
	MOVI0(12)
	SDOT(12, 4, 0)
	SDOT(12, 5, 1)
	MOVI0(13)
	SDOT(13, 6, 0)
	SDOT(13, 7, 1)
	MOVI0(14)
	SDOT(14, 8, 0)
	SDOT(14, 9, 1)
	MOVI0(15)
	SDOT(15, 10, 0)
	SDOT(15, 11, 1)
	SCVTF(12, 12)
	SCVTF(13, 13)
	SCVTF(14, 14)
	SCVTF(15, 15)
	FMLAE(20, 12, 2, 0)
	FMLAE(21, 13, 2, 0)
	FMLAE(22, 14, 2, 0)
	FMLAE(23, 15, 2, 0)
	SUBS $1, R15, R15
	BNE block4
	FMOVS.P 4(R10), F16
	FMOVS.P 4(R11), F17
	FMOVS.P 4(R12), F18
	FMOVS.P 4(R13), F19
	FMLAE(24, 20, 16, 0)
	FMLAE(25, 21, 17, 0)
	FMLAE(26, 22, 18, 0)
	FMLAE(27, 23, 19, 0)
	SUBS $1, R14, R14
	BNE group4
	FADDP(24, 24, 25)
	FADDP(26, 26, 27)
	FADDP(24, 24, 26)
	VST1.P [V24.S4], 16(R0)
	MOVD R4, R1
	MOVD R13, R10
	SUB $4, R7, R7
	CMP $4, R7
	BGE four
one:
	CBZ R7, done
	MOVD R19, R5
	MOVD R20, R6
	MOVD R16, R14
	VEOR V24.B16, V24.B16, V24.B16
group1:
	VEOR V20.B16, V20.B16, V20.B16
	MOVD R9, R15
block1:
	VLD1.P 32(R5), [V0.B16, V1.B16]
	FMOVS (R6), F2
	ADD $32, R6
	VLD1.P 16(R1), [V5.B16]
	VAND V30.B16, V5.B16, V4.B16
	VUSHR $4, V5.B16, V5.B16
	VSUB V31.B16, V4.B16, V4.B16
	VSUB V31.B16, V5.B16, V5.B16
	MOVI0(12)
	SDOT(12, 4, 0)
	SDOT(12, 5, 1)
	SCVTF(12, 12)
	FMLAE(20, 12, 2, 0)
	SUBS $1, R15, R15
	BNE block1
	FMOVS.P 4(R10), F16
	FMLAE(24, 20, 16, 0)
	SUBS $1, R14, R14
	BNE group1
	FADDP(24, 24, 24)
	FADDP(24, 24, 24)
	FMOVS.P F24, 4(R0)
	SUB $1, R7, R7
	B one
done:
	RET

// func matVecQ4MulNEON(y *float32, w *byte, q *int8, ls, ws *float32, rows, cols, group int)
TEXT ·matVecQ4MulNEON(SB), NOSPLIT, $0-64
	MOVD y+0(FP), R0
	MOVD w+8(FP), R1
	MOVD q+16(FP), R19
	MOVD ls+24(FP), R20
	MOVD ws+32(FP), R10
	MOVD rows+40(FP), R7
	MOVD cols+48(FP), R8
	MOVD group+56(FP), R9
	UDIV R9, R8, R16 // groups per row
	LSR $5, R9, R9 // blocks per group
	LSL $2, R16, R21 // bytes of scales per row
	LSR $1, R8, R8 // bytes per row
	VMOVI $15, V30.B16
	VMOVI $8, V31.B16
	CMP $4, R7
	BLT one
four:
	ADD R1, R8, R2
	ADD R2, R8, R3
	ADD R3, R8, R4
	ADD R10, R21, R11
	ADD R11, R21, R12
	ADD R12, R21, R13
	MOVD R19, R5
	MOVD R20, R6
	MOVD R16, R14
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
group4:
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	MOVD R9, R15
block4:
	VLD1.P 32(R5), [V0.B16, V1.B16]
	FMOVS (R6), F2
	ADD $32, R6
	VLD1.P 16(R1), [V5.B16]
	VLD1.P 16(R2), [V7.B16]
	VLD1.P 16(R3), [V9.B16]
	VLD1.P 16(R4), [V11.B16]
	VAND V30.B16, V5.B16, V4.B16
	VUSHR $4, V5.B16, V5.B16
	VSUB V31.B16, V4.B16, V4.B16
	VSUB V31.B16, V5.B16, V5.B16
	VAND V30.B16, V7.B16, V6.B16
	VUSHR $4, V7.B16, V7.B16
	VSUB V31.B16, V6.B16, V6.B16
	VSUB V31.B16, V7.B16, V7.B16
	VAND V30.B16, V9.B16, V8.B16
	VUSHR $4, V9.B16, V9.B16
	VSUB V31.B16, V8.B16, V8.B16
	VSUB V31.B16, V9.B16, V9.B16
	VAND V30.B16, V11.B16, V10.B16
	VUSHR $4, V11.B16, V11.B16
	VSUB V31.B16, V10.B16, V10.B16
	VSUB V31.B16, V11.B16, V11.B16
	SMULL(28, 4, 0)
	SMLAL2(28, 4, 0)
	SADDLP(12, 28)
	SMULL(28, 5, 1)
	SMLAL2(28, 5, 1)
	SADALP(12, 28)
	SMULL(29, 6, 0)
	SMLAL2(29, 6, 0)
	SADDLP(13, 29)
	SMULL(29, 7, 1)
	SMLAL2(29, 7, 1)
	SADALP(13, 29)
	SMULL(28, 8, 0)
	SMLAL2(28, 8, 0)
	SADDLP(14, 28)
	SMULL(28, 9, 1)
	SMLAL2(28, 9, 1)
	SADALP(14, 28)
	SMULL(29, 10, 0)
	SMLAL2(29, 10, 0)
	SADDLP(15, 29)
	SMULL(29, 11, 1)
	SMLAL2(29, 11, 1)
	SADALP(15, 29)
	SCVTF(12, 12)
	SCVTF(13, 13)
	SCVTF(14, 14)
	SCVTF(15, 15)
	FMLAE(20, 12, 2, 0)
	FMLAE(21, 13, 2, 0)
	FMLAE(22, 14, 2, 0)
	FMLAE(23, 15, 2, 0)
	SUBS $1, R15, R15
	BNE block4
	FMOVS.P 4(R10), F16
	FMOVS.P 4(R11), F17
	FMOVS.P 4(R12), F18
	FMOVS.P 4(R13), F19
	FMLAE(24, 20, 16, 0)
	FMLAE(25, 21, 17, 0)
	FMLAE(26, 22, 18, 0)
	FMLAE(27, 23, 19, 0)
	SUBS $1, R14, R14
	BNE group4
	FADDP(24, 24, 25)
	FADDP(26, 26, 27)
	FADDP(24, 24, 26)
	VST1.P [V24.S4], 16(R0)
	MOVD R4, R1
	MOVD R13, R10
	SUB $4, R7, R7
	CMP $4, R7
	BGE four
one:
	CBZ R7, done
	MOVD R19, R5
	MOVD R20, R6
	MOVD R16, R14
	VEOR V24.B16, V24.B16, V24.B16
group1:
	VEOR V20.B16, V20.B16, V20.B16
	MOVD R9, R15
block1:
	VLD1.P 32(R5), [V0.B16, V1.B16]
	FMOVS (R6), F2
	ADD $32, R6
	VLD1.P 16(R1), [V5.B16]
	VAND V30.B16, V5.B16, V4.B16
	VUSHR $4, V5.B16, V5.B16
	VSUB V31.B16, V4.B16, V4.B16
	VSUB V31.B16, V5.B16, V5.B16
	SMULL(28, 4, 0)
	SMLAL2(28, 4, 0)
	SADDLP(12, 28)
	SMULL(28, 5, 1)
	SMLAL2(28, 5, 1)
	SADALP(12, 28)
	SCVTF(12, 12)
	FMLAE(20, 12, 2, 0)
	SUBS $1, R15, R15
	BNE block1
	FMOVS.P 4(R10), F16
	FMLAE(24, 20, 16, 0)
	SUBS $1, R14, R14
	BNE group1
	FADDP(24, 24, 24)
	FADDP(24, 24, 24)
	FMOVS.P F24, 4(R0)
	SUB $1, R7, R7
	B one
done:
	RET

