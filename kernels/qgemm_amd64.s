//go:build amd64 && !purego

#include "textflag.h"

// Quantized GEMM micro-kernels (AVX-512 VNNI): four weight rows times one or
// two tiles of 16 activation rows, over all 32-column blocks; input row i's
// four results go to y[i*ldy : i*ldy+4]. See qgemm.go
// for the layouts and qgemm4Generic for the exact arithmetic.
//
// Each int32 lane of an accumulator is one activation row: per 4 columns,
// VPDPBUSD multiplies the weight row's 4 unsigned bytes (broadcast to every
// lane) by the 4 signed activation bytes of each of the 16 rows. A block's
// int32 sums start at the tile's -offset*sum(q) (exact offset correction),
// then per block and row: float, times the activation scales, fused
// multiply-add with the group's weight scale into the row's accumulator.
//
// Registers: SI = weight row 0 at the block, R8 = cols (row stride),
// R10 = 3*cols, AX/BX = activation tiles at the block, DX = weight scales of
// row 0 at the group, R11 = groups*4 (scale row stride), R12 = 3*R11,
// CX = blocks left in the group, R9 = blocks per group, R13 = blocks left,
// R15 = memory to prefetch, R14 = its advance per block.

#define ARGS \
	MOVQ y+0(FP), DI \
	MOVQ w+16(FP), SI \
	MOVQ cols+24(FP), R8 \
	MOVQ ws+32(FP), DX \
	MOVQ groups+40(FP), R11 \
	SHLQ $2, R11 \
	MOVQ gb+48(FP), R9 \
	MOVQ a+56(FP), AX \
	MOVQ a2+64(FP), BX \
	MOVQ blocks+72(FP), R13 \
	LEAQ (R8)(R8*2), R10 \
	LEAQ (R11)(R11*2), R12 \
	MOVQ pf+80(FP), R15 \
	MOVQ pfstep+88(FP), R14 \
	MOVQ R9, CX

// PREFETCH fetches the next 128 bytes of the region to prefetch (R15,
// advanced by R14 per block): weights of a later call, read from memory.
#define PREFETCH \
	PREFETCHT0 (R15) \
	PREFETCHT0 64(R15) \
	ADDQ R14, R15

// NEXTBLOCK advances to the next block (and group) and loops to L.
#define NEXTBLOCK(L) \
	ADDQ $32, SI \
	DECQ CX \
	JNE 3(PC) \
	ADDQ $4, DX \
	MOVQ R9, CX \
	DECQ R13 \
	JNE L

// STEP1 multiplies 4 columns (byte offset O of the activation group, OW in
// the weight rows) of four rows into Z0..Z3 (even steps) or Z8..Z11 (odd).
#define STEP1(BC, O, OW, T0, T1, T2, T3) \
	VMOVDQU32 O(AX), Z4 \
	BC(OW(SI), Z5) \
	BC(OW(SI)(R8*1), Z6) \
	BC(OW(SI)(R8*2), Z7) \
	BC(OW(SI)(R10*1), Z13) \
	VPDPBUSD Z4, Z5, T0 \
	VPDPBUSD Z4, Z6, T1 \
	VPDPBUSD Z4, Z7, T2 \
	VPDPBUSD Z4, Z13, T3

// STORE16 transposes the accumulators A0..A3 (four weight rows, 16 input
// rows each) and stores input row i's four results at DI + i*R14, advancing
// DI by 16 rows (R12 = 3*R14).
#define STORE16(A0, A1, A2, A3) \
	VUNPCKLPS A1, A0, Z0 \
	VUNPCKHPS A1, A0, Z1 \
	VUNPCKLPS A3, A2, Z2 \
	VUNPCKHPS A3, A2, Z3 \
	VUNPCKLPD Z2, Z0, A0 \
	VUNPCKHPD Z2, Z0, A1 \
	VUNPCKLPD Z3, Z1, A2 \
	VUNPCKHPD Z3, Z1, A3 \
	STORE4(0, A0, A1, A2, A3) \
	STORE4(1, A0, A1, A2, A3) \
	STORE4(2, A0, A1, A2, A3) \
	STORE4(3, A0, A1, A2, A3)

// STORE4 stores 128-bit lane L of A0..A3: input rows 4L .. 4L+3.
#define STORE4(L, A0, A1, A2, A3) \
	VEXTRACTF32X4 $L, A0, (DI) \
	VEXTRACTF32X4 $L, A1, (DI)(R14*1) \
	VEXTRACTF32X4 $L, A2, (DI)(R14*2) \
	VEXTRACTF32X4 $L, A3, (DI)(R12*1) \
	LEAQ (DI)(R14*4), DI

// SETSTORE loads the output stride (floats) as bytes into R14, 3x into R12.
#define SETSTORE \
	MOVQ ldy+8(FP), R14 \
	SHLQ $2, R14 \
	LEAQ (R14)(R14*2), R12

// The BC macros broadcast 4 weight bytes at M to every lane of Z: prepared
// (unsigned) as they are, raw int8 with the sign bit flipped (Z30 = 0x80
// bytes), which makes them w+128.
#define BCPREP(M, Z) VPBROADCASTD M, Z
#define BCRAW(M, Z) VPXORD.BCST M, Z30, Z

// SCALE finishes row T's block into accumulator A: float, times the tile's
// activation scales at LS, plus that times the weight scale at S.
#define SCALE(T, LS, S, A) \
	VCVTDQ2PS T, T \
	VMULPS LS, T, T \
	VFMADD231PS.BCST S, T, A

// SCALEROW is SCALE for a row with one weight scale (gb >= blocks): float,
// fused multiply-add with the activation scales at LS into A; ROWSCALE then
// multiplies A by the weight scale once, after the last block.
#define SCALEROW(T, LS, S, A) \
	VCVTDQ2PS T, T \
	VFMADD231PS LS, T, A

// ROWSCALE multiplies the accumulators A0..A3 of weight rows 0..3 by their
// scales (ws argument, scale row stride R11, R12 = 3*R11).
#define ROWSCALE(A0, A1, A2, A3) \
	MOVQ ws+32(FP), DX \
	VMULPS.BCST (DX), A0, A0 \
	VMULPS.BCST (DX)(R11*1), A1, A1 \
	VMULPS.BCST (DX)(R11*2), A2, A2 \
	VMULPS.BCST (DX)(R12*1), A3, A3

// Eight weight rows times one mirrored tile of at most 8 input rows (lanes
// 8..15 of every group, scale and correction repeat lanes 0..7): each zmm
// multiply covers two weight rows, row 2p in lanes 0..7 and row 2p+1 in
// lanes 8..15, so no lane computes padding.
//
// Per half block (16 columns), PAIRS8 loads pair p's two 16-byte pieces
// into Z20+p as [row 2p, row 2p, row 2p+1, row 2p+1] (128-bit lanes; K1 =
// upper eight dwords); GROUP8 then broadcasts column group k of each
// 128-bit lane (VPSHUFD) and multiplies it with the activation group.
// Registers as in the 4-row kernels, plus BX = weight row 4 at the block
// and DI = weight scales of row 4 at the group; Z16..Z19 accumulate the
// pairs' float results.

#define PAIRS8(O) \
	VBROADCASTI32X4 O(SI), Z20 \
	VBROADCASTI32X4 O(SI)(R8*1), K1, Z20 \
	VBROADCASTI32X4 O(SI)(R8*2), Z21 \
	VBROADCASTI32X4 O(SI)(R10*1), K1, Z21 \
	VBROADCASTI32X4 O(BX), Z22 \
	VBROADCASTI32X4 O(BX)(R8*1), K1, Z22 \
	VBROADCASTI32X4 O(BX)(R8*2), Z23 \
	VBROADCASTI32X4 O(BX)(R10*1), K1, Z23

// PREFETCH8 fetches the next 256 bytes of the region to prefetch (eight
// weight rows of a later call, 32 bytes of each per block).
#define PREFETCH8 \
	PREFETCHT0 (R15) \
	PREFETCHT0 64(R15) \
	PREFETCHT0 128(R15) \
	PREFETCHT0 192(R15) \
	ADDQ R14, R15

// FLIP8 makes raw int8 weights w+128 (Z30 = 0x80 bytes); NOFLIP is for
// prepared ones.
#define NOFLIP
#define FLIP8 \
	VPXORD Z30, Z20, Z20 \
	VPXORD Z30, Z21, Z21 \
	VPXORD Z30, Z22, Z22 \
	VPXORD Z30, Z23, Z23

#define GROUP8(O, SH, T0, T1, T2, T3) \
	VMOVDQU32 O(AX), Z4 \
	VPSHUFD $SH, Z20, Z24 \
	VPSHUFD $SH, Z21, Z25 \
	VPSHUFD $SH, Z22, Z26 \
	VPSHUFD $SH, Z23, Z27 \
	VPDPBUSD Z4, Z24, T0 \
	VPDPBUSD Z4, Z25, T1 \
	VPDPBUSD Z4, Z26, T2 \
	VPDPBUSD Z4, Z27, T3

// HALF8 multiplies the half block at weight byte offset OW (activation
// groups from O) into Z0..Z3 and Z8..Z11.
#define HALF8(OW, O, FLIP) \
	PAIRS8(OW) \
	FLIP \
	GROUP8(O, 0x00, Z0, Z1, Z2, Z3) \
	GROUP8(O+64, 0x55, Z8, Z9, Z10, Z11) \
	GROUP8(O+128, 0xaa, Z0, Z1, Z2, Z3) \
	GROUP8(O+192, 0xff, Z8, Z9, Z10, Z11)

// SCALE8 finishes pair T's block into A: the weight scales of rows at S0
// (lanes 0..7) and S1 (lanes 8..15) in Z28.
#define SCALE8(T, S0, S1, A) \
	VBROADCASTSS S0, Z28 \
	VBROADCASTSS S1, K1, Z28 \
	VCVTDQ2PS T, T \
	VMULPS 512(AX), T, T \
	VFMADD231PS Z28, T, A

// BLOCK8 runs one block: both halves, then the scales.
#define BLOCK8(FLIP) \
	VMOVDQU32 576(AX), Z0 \
	VMOVDQA32 Z0, Z1 \
	VMOVDQA32 Z0, Z2 \
	VMOVDQA32 Z0, Z3 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	HALF8(0, 0, FLIP) \
	HALF8(16, 256, FLIP) \
	VPADDD Z8, Z0, Z0 \
	VPADDD Z9, Z1, Z1 \
	VPADDD Z10, Z2, Z2 \
	VPADDD Z11, Z3, Z3 \
	SCALE8(Z0, (DX), (DX)(R11*1), Z16) \
	SCALE8(Z1, (DX)(R11*2), (DX)(R12*1), Z17) \
	SCALE8(Z2, (DI), (DI)(R11*1), Z18) \
	SCALE8(Z3, (DI)(R11*2), (DI)(R12*1), Z19) \
	ADDQ $640, AX \
	PREFETCH8 \
	ADDQ $32, SI \
	ADDQ $32, BX \
	DECQ CX \
	JNE 4(PC) \
	ADDQ $4, DX \
	ADDQ $4, DI \
	MOVQ R9, CX

// ARGS8 loads the arguments of the 8-row kernels and K1.
#define ARGS8 \
	MOVQ w+16(FP), SI \
	MOVQ cols+24(FP), R8 \
	MOVQ ws+32(FP), DX \
	MOVQ groups+40(FP), R11 \
	SHLQ $2, R11 \
	MOVQ gb+48(FP), R9 \
	MOVQ a+56(FP), AX \
	MOVQ blocks+64(FP), R13 \
	MOVQ pf+72(FP), R15 \
	MOVQ pfstep+80(FP), R14 \
	LEAQ (R8)(R8*2), R10 \
	LEAQ (R11)(R11*2), R12 \
	LEAQ (SI)(R8*4), BX \
	LEAQ (DX)(R11*4), DI \
	MOVQ R9, CX \
	MOVL $0xff00, R10 \
	KMOVW R10, K1 \
	LEAQ (R8)(R8*2), R10 \
	VPXORD Z16, Z16, Z16 \
	VPXORD Z17, Z17, Z17 \
	VPXORD Z18, Z18, Z18 \
	VPXORD Z19, Z19, Z19

// STORE8 transposes Z16..Z19 (pair p: input i's rows 2p, 2p+1 in lanes i
// and 8+i) with the VPERMT2PS indices at R10 and stores input i's eight
// results at y + i*ldy.
#define STORE8 \
	MOVQ y+0(FP), DI \
	MOVQ ldy+8(FP), R14 \
	SHLQ $2, R14 \
	MOVQ idx+88(FP), R10 \
	VMOVDQU32 (R10), Z12 \
	VMOVDQU32 64(R10), Z13 \
	VMOVAPS Z16, Z0 \
	VPERMT2PS Z17, Z12, Z0 \
	VPERMT2PS Z17, Z13, Z16 \
	VMOVAPS Z18, Z2 \
	VPERMT2PS Z19, Z12, Z2 \
	VPERMT2PS Z19, Z13, Z18 \
	STORE8ROW(0, Z0, Z2) \
	STORE8ROW(1, Z0, Z2) \
	STORE8ROW(2, Z0, Z2) \
	STORE8ROW(3, Z0, Z2) \
	STORE8ROW(0, Z16, Z18) \
	STORE8ROW(1, Z16, Z18) \
	STORE8ROW(2, Z16, Z18) \
	STORE8ROW(3, Z16, Z18)

#define STORE8ROW(L, LO, HI) \
	VEXTRACTF32X4 $L, LO, (DI) \
	VEXTRACTF32X4 $L, HI, 16(DI) \
	ADDQ R14, DI

// BLOCK4X16 is one block of the 4x16 kernels: one activation tile (at AX)
// times four weight rows, each block's int32 sums in four chains, scaled
// into the accumulators Z16..Z19; BC broadcasts the weights (BCPREP or
// BCRAW), SC scales (SCALE, or SCALEROW with one weight scale per row).
#define BLOCK4X16(BC, SC) \
	VMOVDQU32 576(AX), Z0 \
	VMOVDQA32 Z0, Z1 \
	VMOVDQA32 Z0, Z2 \
	VMOVDQA32 Z0, Z3 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z20, Z20, Z20 \
	VPXORD Z21, Z21, Z21 \
	VPXORD Z22, Z22, Z22 \
	VPXORD Z23, Z23, Z23 \
	VPXORD Z24, Z24, Z24 \
	VPXORD Z25, Z25, Z25 \
	VPXORD Z26, Z26, Z26 \
	VPXORD Z27, Z27, Z27 \
	STEP1(BC, 0, 0, Z0, Z1, Z2, Z3) \
	STEP1(BC, 64, 4, Z8, Z9, Z10, Z11) \
	STEP1(BC, 128, 8, Z20, Z21, Z22, Z23) \
	STEP1(BC, 192, 12, Z24, Z25, Z26, Z27) \
	STEP1(BC, 256, 16, Z0, Z1, Z2, Z3) \
	STEP1(BC, 320, 20, Z8, Z9, Z10, Z11) \
	STEP1(BC, 384, 24, Z20, Z21, Z22, Z23) \
	STEP1(BC, 448, 28, Z24, Z25, Z26, Z27) \
	VPADDD Z20, Z0, Z0 \
	VPADDD Z21, Z1, Z1 \
	VPADDD Z22, Z2, Z2 \
	VPADDD Z23, Z3, Z3 \
	VPADDD Z24, Z8, Z8 \
	VPADDD Z25, Z9, Z9 \
	VPADDD Z26, Z10, Z10 \
	VPADDD Z27, Z11, Z11 \
	VPADDD Z8, Z0, Z0 \
	VPADDD Z9, Z1, Z1 \
	VPADDD Z10, Z2, Z2 \
	VPADDD Z11, Z3, Z3 \
	SC(Z0, 512(AX), (DX), Z16) \
	SC(Z1, 512(AX), (DX)(R11*1), Z17) \
	SC(Z2, 512(AX), (DX)(R11*2), Z18) \
	SC(Z3, 512(AX), (DX)(R12*1), Z19) \
	ADDQ $640, AX

// The 4x16 and 4x32 kernels differ in how weights are broadcast (W: the
// raw kernels' sign flip constant in Z30, BC), in how blocks are scaled (SC)
// and in what is done before the store (END: the Row kernels' weight scale).
#define PREPW
#define RAWW \
	MOVL $0x80808080, R14 \
	VPBROADCASTD R14, Z30

#define GROUPEND
#define ROWEND16 ROWSCALE(Z16, Z17, Z18, Z19)
#define ROWEND32 \
	ROWSCALE(Z16, Z17, Z18, Z19) \
	ROWSCALE(Z20, Z21, Z22, Z23)

#define ZERO4(A0, A1, A2, A3) \
	VPXORD A0, A0, A0 \
	VPXORD A1, A1, A1 \
	VPXORD A2, A2, A2 \
	VPXORD A3, A3, A3

#define KERNEL4X16(W, BC, SC, END, loop) \
	W \
	ARGS \
	ZERO4(Z16, Z17, Z18, Z19) \
loop: \
	BLOCK4X16(BC, SC) \
	PREFETCH \
	NEXTBLOCK(loop) \
	END \
	SETSTORE \
	STORE16(Z16, Z17, Z18, Z19) \
	VZEROUPPER \
	RET

#define KERNEL4X32(W, BC, SC, END, loop) \
	W \
	ARGS \
	ZERO4(Z16, Z17, Z18, Z19) \
	ZERO4(Z20, Z21, Z22, Z23) \
loop: \
	BLOCK4X32(BC, SC) \
	PREFETCH \
	NEXTBLOCK(loop) \
	END \
	SETSTORE \
	STORE16(Z16, Z17, Z18, Z19) \
	STORE16(Z20, Z21, Z22, Z23) \
	VZEROUPPER \
	RET

// func qgemm4x16VNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)
TEXT ·qgemm4x16VNNI(SB), NOSPLIT, $0-96
	KERNEL4X16(PREPW, BCPREP, SCALE, GROUPEND, blk1)

// func qgemm4x16RawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)
//
// qgemm4x16VNNI for raw int8 weights (w as stored, not w+128).
TEXT ·qgemm4x16RawVNNI(SB), NOSPLIT, $0-96
	KERNEL4X16(RAWW, BCRAW, SCALE, GROUPEND, blk1r)


// STEP2 is STEP1 for two activation tiles: Z0..Z3 for the tile at AX,
// Z8..Z11 for the one at BX.
#define STEP2(BC, O, OW) \
	VMOVDQU32 O(AX), Z4 \
	VMOVDQU32 O(BX), Z12 \
	BC(OW(SI), Z5) \
	BC(OW(SI)(R8*1), Z6) \
	BC(OW(SI)(R8*2), Z7) \
	BC(OW(SI)(R10*1), Z13) \
	VPDPBUSD Z4, Z5, Z0 \
	VPDPBUSD Z12, Z5, Z8 \
	VPDPBUSD Z4, Z6, Z1 \
	VPDPBUSD Z12, Z6, Z9 \
	VPDPBUSD Z4, Z7, Z2 \
	VPDPBUSD Z12, Z7, Z10 \
	VPDPBUSD Z4, Z13, Z3 \
	VPDPBUSD Z12, Z13, Z11

// BLOCK4X32 is one block of the 4x32 kernels: two activation tiles (at AX
// and BX) times four weight rows, scaled into the accumulators Z16..Z23;
// BC broadcasts the weights (BCPREP or BCRAW), SC scales (SCALE or
// SCALEROW).
#define BLOCK4X32(BC, SC) \
	VMOVDQU32 576(AX), Z0 \
	VMOVDQA32 Z0, Z1 \
	VMOVDQA32 Z0, Z2 \
	VMOVDQA32 Z0, Z3 \
	VMOVDQU32 576(BX), Z8 \
	VMOVDQA32 Z8, Z9 \
	VMOVDQA32 Z8, Z10 \
	VMOVDQA32 Z8, Z11 \
	STEP2(BC, 0, 0) \
	STEP2(BC, 64, 4) \
	STEP2(BC, 128, 8) \
	STEP2(BC, 192, 12) \
	STEP2(BC, 256, 16) \
	STEP2(BC, 320, 20) \
	STEP2(BC, 384, 24) \
	STEP2(BC, 448, 28) \
	SC(Z0, 512(AX), (DX), Z16) \
	SC(Z1, 512(AX), (DX)(R11*1), Z17) \
	SC(Z2, 512(AX), (DX)(R11*2), Z18) \
	SC(Z3, 512(AX), (DX)(R12*1), Z19) \
	SC(Z8, 512(BX), (DX), Z20) \
	SC(Z9, 512(BX), (DX)(R11*1), Z21) \
	SC(Z10, 512(BX), (DX)(R11*2), Z22) \
	SC(Z11, 512(BX), (DX)(R12*1), Z23) \
	ADDQ $640, AX \
	ADDQ $640, BX

// func qgemm4x32VNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)
TEXT ·qgemm4x32VNNI(SB), NOSPLIT, $0-96
	KERNEL4X32(PREPW, BCPREP, SCALE, GROUPEND, blk2)

// func qgemm4x32RawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)
//
// qgemm4x32VNNI for raw int8 weights.
TEXT ·qgemm4x32RawVNNI(SB), NOSPLIT, $0-96
	KERNEL4X32(RAWW, BCRAW, SCALE, GROUPEND, blk2r)


// The Row kernels are the 4x16 and 4x32 ones for weight rows with one
// scale (gb >= blocks): per block one fused multiply-add with the activation
// scales instead of a multiply and a fused multiply-add, and the weight
// scale applied once at the end (qgemmDotRow).

// func qgemm4x16RowVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)
TEXT ·qgemm4x16RowVNNI(SB), NOSPLIT, $0-96
	KERNEL4X16(PREPW, BCPREP, SCALEROW, ROWEND16, blk1w)

// func qgemm4x16RowRawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)
TEXT ·qgemm4x16RowRawVNNI(SB), NOSPLIT, $0-96
	KERNEL4X16(RAWW, BCRAW, SCALEROW, ROWEND16, blk1wr)

// func qgemm4x32RowVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)
TEXT ·qgemm4x32RowVNNI(SB), NOSPLIT, $0-96
	KERNEL4X32(PREPW, BCPREP, SCALEROW, ROWEND32, blk2w)

// func qgemm4x32RowRawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)
TEXT ·qgemm4x32RowRawVNNI(SB), NOSPLIT, $0-96
	KERNEL4X32(RAWW, BCRAW, SCALEROW, ROWEND32, blk2wr)

// func qgemmXor80AVX512(dst, src *byte, n int)
//
// dst[i] = src[i] ^ 0x80 for i < n, n a multiple of 32.
TEXT ·qgemmXor80AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Z1
x64:
	CMPQ CX, $64
	JLT x32
	VPXORD (SI), Z1, Z0
	VMOVDQU64 Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $64, CX
	JMP x64
x32:
	CMPQ CX, $32
	JLT xend
	VPXOR (SI), Y1, Y0
	VMOVDQU Y0, (DI)
xend:
	VZEROUPPER
	RET

// func qgemmNibblesAVX512(dst, src *byte, n int, idx *uint64)
//
// For each 16 bytes of src (n a multiple of 16), 32 bytes of dst: the low
// nibbles, then the high ones. idx holds the two VPERMT2Q index vectors
// that interleave 16-byte chunks of the low and high nibbles.
TEXT ·qgemmNibblesAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ idx+24(FP), AX
	VMOVDQU64 (AX), Z6
	VMOVDQU64 64(AX), Z7
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z5
n64:
	CMPQ CX, $64
	JLT n16
	VMOVDQU64 (SI), Z0
	VPSRLW $4, Z0, Z1
	VPANDD Z5, Z0, Z0          // low nibbles
	VPANDD Z5, Z1, Z1          // high nibbles
	VMOVDQA64 Z0, Z2
	VPERMT2Q Z1, Z6, Z0        // chunks 0, 1
	VPERMT2Q Z1, Z7, Z2        // chunks 2, 3
	VMOVDQU64 Z0, (DI)
	VMOVDQU64 Z2, 64(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $64, CX
	JMP n64
n16:
	CMPQ CX, $16
	JLT nend
	VBROADCASTI128 (SI), Y0
	VPSRLW $4, Y0, Y1
	VPBLENDD $0xf0, Y1, Y0, Y0
	VPAND Y5, Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $16, CX
	JMP n16
nend:
	VZEROUPPER
	RET

// func qgemm8x8VNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a *byte, blocks int, pf *byte, pfstep int, idx *uint32)
TEXT ·qgemm8x8VNNI(SB), NOSPLIT, $0-96
	ARGS8
blk8:
	BLOCK8(NOFLIP)
	DECQ R13
	JNE blk8
	STORE8
	VZEROUPPER
	RET

// func qgemm8x8RawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a *byte, blocks int, pf *byte, pfstep int, idx *uint32)
//
// qgemm8x8VNNI for raw int8 weights.
TEXT ·qgemm8x8RawVNNI(SB), NOSPLIT, $0-96
	MOVL $0x80808080, R14
	VPBROADCASTD R14, Z30
	ARGS8
blk8r:
	BLOCK8(FLIP8)
	DECQ R13
	JNE blk8r
	STORE8
	VZEROUPPER
	RET

// Eight weight rows (prepared, or raw int8) times one tile of 16 input rows: each
// activation group load feeds eight VPDPBUSD instead of four. Registers as
// in the 4-row kernels, plus BX = weight row 4 at the block, DI = weight
// scales of row 4 at the group; integer sums of rows 0..7 in Z0..Z3,
// Z8..Z11 (even steps) and Z24..Z27, Z28, Z29, Z31, Z12 (odd steps); float
// accumulators Z16..Z23.

// STEP8 multiplies 4 columns (activation offset O, weight offset OW) of
// eight rows into T0..T7 (BC: BCPREP or BCRAW).
#define STEP8(BC, O, OW, T0, T1, T2, T3, T4, T5, T6, T7) \
	VMOVDQU32 O(AX), Z4 \
	BC(OW(SI), Z5) \
	BC(OW(SI)(R8*1), Z6) \
	BC(OW(SI)(R8*2), Z7) \
	BC(OW(SI)(R10*1), Z13) \
	VPDPBUSD Z4, Z5, T0 \
	VPDPBUSD Z4, Z6, T1 \
	VPDPBUSD Z4, Z7, T2 \
	VPDPBUSD Z4, Z13, T3 \
	BC(OW(BX), Z14) \
	BC(OW(BX)(R8*1), Z15) \
	BC(OW(BX)(R8*2), Z5) \
	BC(OW(BX)(R10*1), Z6) \
	VPDPBUSD Z4, Z14, T4 \
	VPDPBUSD Z4, Z15, T5 \
	VPDPBUSD Z4, Z5, T6 \
	VPDPBUSD Z4, Z6, T7

#define STEP8E(BC, O, OW) STEP8(BC, O, OW, Z0, Z1, Z2, Z3, Z8, Z9, Z10, Z11)
#define STEP8O(BC, O, OW) STEP8(BC, O, OW, Z24, Z25, Z26, Z27, Z28, Z29, Z31, Z12)

#define ARGS816 \
	MOVQ w+16(FP), SI \
	MOVQ cols+24(FP), R8 \
	MOVQ ws+32(FP), DX \
	MOVQ groups+40(FP), R11 \
	SHLQ $2, R11 \
	MOVQ gb+48(FP), R9 \
	MOVQ a+56(FP), AX \
	MOVQ blocks+64(FP), R13 \
	MOVQ pf+72(FP), R15 \
	MOVQ pfstep+80(FP), R14 \
	LEAQ (R8)(R8*2), R10 \
	LEAQ (R11)(R11*2), R12 \
	LEAQ (SI)(R8*4), BX \
	LEAQ (DX)(R11*4), DI \
	MOVQ R9, CX \
	VPXORD Z16, Z16, Z16 \
	VPXORD Z17, Z17, Z17 \
	VPXORD Z18, Z18, Z18 \
	VPXORD Z19, Z19, Z19 \
	VPXORD Z20, Z20, Z20 \
	VPXORD Z21, Z21, Z21 \
	VPXORD Z22, Z22, Z22 \
	VPXORD Z23, Z23, Z23

// BLOCK816 runs one block of the 8x16 kernels.
#define BLOCK816(BC) \
	VMOVDQU32 576(AX), Z0 \
	VMOVDQA32 Z0, Z1 \
	VMOVDQA32 Z0, Z2 \
	VMOVDQA32 Z0, Z3 \
	VMOVDQA32 Z0, Z8 \
	VMOVDQA32 Z0, Z9 \
	VMOVDQA32 Z0, Z10 \
	VMOVDQA32 Z0, Z11 \
	VPXORD Z24, Z24, Z24 \
	VPXORD Z25, Z25, Z25 \
	VPXORD Z26, Z26, Z26 \
	VPXORD Z27, Z27, Z27 \
	VPXORD Z28, Z28, Z28 \
	VPXORD Z29, Z29, Z29 \
	VPXORD Z31, Z31, Z31 \
	VPXORD Z12, Z12, Z12 \
	STEP8E(BC, 0, 0) \
	STEP8O(BC, 64, 4) \
	STEP8E(BC, 128, 8) \
	STEP8O(BC, 192, 12) \
	STEP8E(BC, 256, 16) \
	STEP8O(BC, 320, 20) \
	STEP8E(BC, 384, 24) \
	STEP8O(BC, 448, 28) \
	VPADDD Z24, Z0, Z0 \
	VPADDD Z25, Z1, Z1 \
	VPADDD Z26, Z2, Z2 \
	VPADDD Z27, Z3, Z3 \
	VPADDD Z28, Z8, Z8 \
	VPADDD Z29, Z9, Z9 \
	VPADDD Z31, Z10, Z10 \
	VPADDD Z12, Z11, Z11 \
	SCALE(Z0, 512(AX), (DX), Z16) \
	SCALE(Z1, 512(AX), (DX)(R11*1), Z17) \
	SCALE(Z2, 512(AX), (DX)(R11*2), Z18) \
	SCALE(Z3, 512(AX), (DX)(R12*1), Z19) \
	SCALE(Z8, 512(AX), (DI), Z20) \
	SCALE(Z9, 512(AX), (DI)(R11*1), Z21) \
	SCALE(Z10, 512(AX), (DI)(R11*2), Z22) \
	SCALE(Z11, 512(AX), (DI)(R12*1), Z23) \
	ADDQ $640, AX \
	PREFETCH8 \
	ADDQ $32, SI \
	ADDQ $32, BX \
	DECQ CX \
	JNE 4(PC) \
	ADDQ $4, DX \
	ADDQ $4, DI \
	MOVQ R9, CX

// STORE816 stores the 8x16 kernels' results.
#define STORE816 \
	SETSTORE \
	MOVQ y+0(FP), DI \
	STORE16(Z16, Z17, Z18, Z19) \
	MOVQ y+0(FP), DI \
	ADDQ $16, DI \
	STORE16(Z20, Z21, Z22, Z23)

// func qgemm8x16VNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a *byte, blocks int, pf *byte, pfstep int)
TEXT ·qgemm8x16VNNI(SB), NOSPLIT, $0-88
	ARGS816
blk816:
	BLOCK816(BCPREP)
	DECQ R13
	JNE blk816
	STORE816
	VZEROUPPER
	RET

// func qgemm8x16RawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a *byte, blocks int, pf *byte, pfstep int)
//
// qgemm8x16VNNI for raw int8 weights.
TEXT ·qgemm8x16RawVNNI(SB), NOSPLIT, $0-88
	MOVL $0x80808080, R14
	VPBROADCASTD R14, Z30
	ARGS816
blk816r:
	BLOCK816(BCRAW)
	DECQ R13
	JNE blk816r
	STORE816
	VZEROUPPER
	RET
