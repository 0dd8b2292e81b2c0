//go:build amd64 && !purego

#include "textflag.h"

// func streamReadAVX2(p *byte, n int) uint64
//
// ORs together every 32-byte word of p[0:n] (n a multiple of 256) with eight
// independent 256-bit loads per iteration and returns the folded result: a
// plain sequential read, the memory roofline for weight streaming.
TEXT ·streamReadAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	XORQ AX, AX
loop:
	CMPQ AX, CX
	JGE done
	VPOR (SI)(AX*1), Y0, Y0
	VPOR 32(SI)(AX*1), Y1, Y1
	VPOR 64(SI)(AX*1), Y2, Y2
	VPOR 96(SI)(AX*1), Y3, Y3
	VPOR 128(SI)(AX*1), Y0, Y0
	VPOR 160(SI)(AX*1), Y1, Y1
	VPOR 192(SI)(AX*1), Y2, Y2
	VPOR 224(SI)(AX*1), Y3, Y3
	ADDQ $256, AX
	JMP loop
done:
	VPOR Y1, Y0, Y0
	VPOR Y3, Y2, Y2
	VPOR Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPOR X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPOR X1, X0, X0
	VMOVQ X0, AX
	MOVQ AX, ret+16(FP)
	VZEROUPPER
	RET
