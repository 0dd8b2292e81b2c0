//go:build amd64 && !purego

#include "textflag.h"

// func cvtBF16x32(dst *uint16, src *float32, n int)
//
// Rounds n float32 (n a multiple of 32) to bf16 (nearest even), 32 at a
// time with VCVTNE2PS2BF16 (AVX512_BF16; denormal inputs give zero, NaN
// stays NaN). Go's assembler has no mnemonic for it: the EVEX bytes
// 62 F2 77 48 72 D0 are VCVTNE2PS2BF16 Z0, Z1, Z2 (Z2's low 16 words from
// Z0, high 16 from Z1), checked against objdump and tested.
TEXT ·cvtBF16x32(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $5, CX
	JEQ cvt_done
cvt_loop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	BYTE $0x62; BYTE $0xF2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xD0 // VCVTNE2PS2BF16 Z0, Z1, Z2
	VMOVDQU16 Z2, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ CX
	JNZ cvt_loop
cvt_done:
	VZEROUPPER
	RET

// func cvtF16BF16x32(dst, src *uint16, n int)
//
// Rounds n f16 values (n a multiple of 32) to bf16: widened exactly to f32
// by VCVTPH2PS, then rounded by VCVTNE2PS2BF16 as in cvtBF16x32.
TEXT ·cvtF16BF16x32(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $5, CX
	JEQ cvth_done
cvth_loop:
	VCVTPH2PS (SI), Z0
	VCVTPH2PS 32(SI), Z1
	BYTE $0x62; BYTE $0xF2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xD0 // VCVTNE2PS2BF16 Z0, Z1, Z2
	VMOVDQU16 Z2, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ cvth_loop
cvth_done:
	VZEROUPPER
	RET

// func cvtScaleBF16x32(dst *uint16, src *float32, n int, s float32)
//
// Rounds src[i]·s (an f32 product) to bf16 as cvtBF16x32 does, for n a
// multiple of 32: the scaling and the rounding of a soft-max row in one
// pass, the same bits as Scale then cvtBF16x32.
TEXT ·cvtScaleBF16x32(SB), NOSPLIT, $0-28
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS s+24(FP), Z5
	SHRQ $5, CX
	JEQ cvts_done
cvts_loop:
	VMULPS (SI), Z5, Z0
	VMULPS 64(SI), Z5, Z1
	BYTE $0x62; BYTE $0xF2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xD0 // VCVTNE2PS2BF16 Z0, Z1, Z2
	VMOVDQU16 Z2, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ CX
	JNZ cvts_loop
cvts_done:
	VZEROUPPER
	RET
