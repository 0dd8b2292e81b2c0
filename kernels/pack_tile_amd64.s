//go:build amd64 && !purego

#include "textflag.h"

// func packTileRowAVX512(tile *byte, q *byte, ls *float32, blocks, lane int, off int32)
//
// packTileRowGeneric, block by block: the 8 dwords of the block's 32
// values go to tile+lane+64*g (g = 0..7), its scale (ls, one per 8 lane
// scales) to +512, and -off*sum(q) to +576; the next block's tile bytes
// start 640 bytes further.
TEXT ·packTileRowAVX512(SB), NOSPLIT, $0-44
	MOVQ tile+0(FP), DI
	MOVQ q+8(FP), SI
	MOVQ ls+16(FP), DX
	MOVQ blocks+24(FP), CX
	MOVQ lane+32(FP), AX
	ADDQ AX, DI
	MOVL off+40(FP), R8
	NEGL R8                    // -off
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Y15       // flips q to q+128
	VPXOR Y14, Y14, Y14

ploop:
	TESTQ CX, CX
	JEQ pdone
	VMOVDQU (SI), Y0
	VEXTRACTI128 $1, Y0, X1
	VMOVD X0, 0(DI)
	VPEXTRD $1, X0, 64(DI)
	VPEXTRD $2, X0, 128(DI)
	VPEXTRD $3, X0, 192(DI)
	VMOVD X1, 256(DI)
	VPEXTRD $1, X1, 320(DI)
	VPEXTRD $2, X1, 384(DI)
	VPEXTRD $3, X1, 448(DI)
	VPXOR Y15, Y0, Y2
	VPSADBW Y14, Y2, Y2        // sums of q+128 over 4 groups of 8
	VEXTRACTI128 $1, Y2, X3
	VPADDQ X3, X2, X2
	VPSHUFD $0x4e, X2, X3
	VPADDQ X3, X2, X2
	VMOVQ X2, AX
	SUBL $4096, AX             // sum(q) = sum(q+128) - 128*32
	IMULL R8, AX
	MOVL AX, 576(DI)
	MOVL (DX), BX
	MOVL BX, 512(DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $640, DI
	DECQ CX
	JMP ploop

pdone:
	VZEROUPPER
	RET
