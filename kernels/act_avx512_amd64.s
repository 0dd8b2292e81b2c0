//go:build amd64 && !purego

#include "textflag.h"

// Vectorized exp for AVX-512, after Cephes expf: n = round(x·log2 e),
// r = x - n·ln 2 (in two parts), exp(r) from a degree-5 polynomial, and the
// result scaled by 2^n with VSCALEFPS, which also yields 0, denormals and Inf
// at the ends of the range. Relative error about 2e-7.
//
// EXPCONSTS loads the constants into Z20..Z31 (uses AX): log2(e), ln2 split
// as 0.693359375 - 2.12194440e-4, the polynomial coefficients from
// 1.9875691500e-4 up to 0.5, 1, and the clamps 89 (exp overflows to +Inf
// above ~88.72) and -104 (exp underflows to 0 below ~-103.97).
#define EXPCONSTS \
	MOVL $0x3fb8aa3b, AX \
	VPBROADCASTD AX, Z31 \
	MOVL $0x3f318000, AX \
	VPBROADCASTD AX, Z30 \
	MOVL $0xb95e8083, AX \
	VPBROADCASTD AX, Z29 \
	MOVL $0x39506967, AX \
	VPBROADCASTD AX, Z28 \
	MOVL $0x3ab743ce, AX \
	VPBROADCASTD AX, Z27 \
	MOVL $0x3c088908, AX \
	VPBROADCASTD AX, Z26 \
	MOVL $0x3d2aa9c1, AX \
	VPBROADCASTD AX, Z25 \
	MOVL $0x3e2aaaaa, AX \
	VPBROADCASTD AX, Z24 \
	MOVL $0x3f000000, AX \
	VPBROADCASTD AX, Z23 \
	MOVL $0x3f800000, AX \
	VPBROADCASTD AX, Z22 \
	MOVL $0x42b20000, AX \
	VPBROADCASTD AX, Z21 \
	MOVL $0xc2d00000, AX \
	VPBROADCASTD AX, Z20

// EXP replaces X by exp(X); T1, T2 are scratch. NaN propagates.
#define EXP(X, T1, T2) \
	VMINPS X, Z21, X \
	VMAXPS X, Z20, X \
	VMULPS Z31, X, T1 \
	VRNDSCALEPS $0, T1, T1 \
	VFNMADD231PS Z30, T1, X \
	VFNMADD231PS Z29, T1, X \
	VMOVAPS Z28, T2 \
	VFMADD213PS Z27, X, T2 \
	VFMADD213PS Z26, X, T2 \
	VFMADD213PS Z25, X, T2 \
	VFMADD213PS Z24, X, T2 \
	VFMADD213PS Z23, X, T2 \
	VMULPS X, T2, T2 \
	VFMADD213PS X, X, T2 \
	VADDPS Z22, T2, T2 \
	VSCALEFPS T1, T2, X

// TAILMASK sets K1 to the low (CX & 15) lanes, using R13 and R14.
#define TAILMASK \
	MOVQ CX, R13 \
	ANDQ $15, CX \
	MOVL $1, R14 \
	SHLL CX, R14 \
	DECL R14 \
	KMOVW R14, K1 \
	MOVQ R13, CX \
	MOVQ CX, BX \
	ANDQ $-16, BX

// func expAVX512(dst, x *float32, n int)
TEXT ·expAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	EXPCONSTS
	TAILMASK
	XORQ AX, AX
exploop:
	CMPQ AX, BX
	JGE exptail
	VMOVUPS (SI)(AX*4), Z0
	EXP(Z0, Z1, Z2)
	VMOVUPS Z0, (DI)(AX*4)
	ADDQ $16, AX
	JMP exploop
exptail:
	CMPQ AX, CX
	JGE expend
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	EXP(Z0, Z1, Z2)
	VMOVUPS Z0, K1, (DI)(AX*4)
expend:
	VZEROUPPER
	RET

// SILU16 computes Z0 = g·u / (1 + exp(-g)) from g in Z0 and u in Z3.
#define SILU16 \
	VMULPS Z3, Z0, Z3 \
	VXORPS Z4, Z4, Z4 \
	VSUBPS Z0, Z4, Z0 \
	EXP(Z0, Z1, Z2) \
	VADDPS Z22, Z0, Z0 \
	VDIVPS Z0, Z3, Z0

// func siluMulAVX512(dst, gate, up *float32, n int)
TEXT ·siluMulAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	EXPCONSTS
	TAILMASK
	XORQ AX, AX
siluloop:
	CMPQ AX, BX
	JGE silutail
	VMOVUPS (SI)(AX*4), Z0
	VMOVUPS (DX)(AX*4), Z3
	SILU16
	VMOVUPS Z0, (DI)(AX*4)
	ADDQ $16, AX
	JMP siluloop
silutail:
	CMPQ AX, CX
	JGE siluend
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VMOVUPS.Z (DX)(AX*4), K1, Z3
	SILU16
	VMOVUPS Z0, K1, (DI)(AX*4)
siluend:
	VZEROUPPER
	RET

// GELU16 computes Z0 = x / (1 + exp(-2c·(x + 0.044715·x³))) from x in Z0,
// which equals 0.5·x·(1 + tanh(c·(x + 0.044715·x³))). Z18 = -2c, Z19 =
// 0.044715.
#define GELU16 \
	VMOVAPS Z0, Z3 \
	VMULPS Z0, Z0, Z4 \
	VMULPS Z19, Z4, Z4 \
	VFMADD213PS Z0, Z0, Z4 \
	VMULPS Z18, Z4, Z0 \
	EXP(Z0, Z1, Z2) \
	VADDPS Z22, Z0, Z0 \
	VDIVPS Z0, Z3, Z0

// func geluTanhAVX512(dst, x *float32, n int)
TEXT ·geluTanhAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	EXPCONSTS
	MOVL $0xbfcc422a, AX // -2·sqrt(2/pi)
	VPBROADCASTD AX, Z18
	MOVL $0x3d372713, AX // 0.044715
	VPBROADCASTD AX, Z19
	TAILMASK
	XORQ AX, AX
geluloop:
	CMPQ AX, BX
	JGE gelutail
	VMOVUPS (SI)(AX*4), Z0
	GELU16
	VMOVUPS Z0, (DI)(AX*4)
	ADDQ $16, AX
	JMP geluloop
gelutail:
	CMPQ AX, CX
	JGE geluend
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	GELU16
	VMOVUPS Z0, K1, (DI)(AX*4)
geluend:
	VZEROUPPER
	RET

// func expSubSumAVX512(x *float32, n int, m float32) float32
// replaces x[i] by exp(x[i] - m) and returns the sum of the results.
TEXT ·expSubSumAVX512(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Z5
	EXPCONSTS
	TAILMASK
	VPXORD Z6, Z6, Z6
	XORQ AX, AX
esloop:
	CMPQ AX, BX
	JGE estail
	VMOVUPS (SI)(AX*4), Z0
	VSUBPS Z5, Z0, Z0
	EXP(Z0, Z1, Z2)
	VMOVUPS Z0, (SI)(AX*4)
	VADDPS Z0, Z6, Z6
	ADDQ $16, AX
	JMP esloop
estail:
	CMPQ AX, CX
	JGE essum
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VSUBPS Z5, Z0, Z0
	EXP(Z0, Z1, Z2)
	VMOVUPS Z0, K1, (SI)(AX*4)
	VADDPS Z0, Z6, K1, Z6
essum:
	VEXTRACTF64X4 $1, Z6, Y4
	VADDPS Y4, Y6, Y6
	VEXTRACTF128 $1, Y6, X4
	VADDPS X4, X6, X6
	VHADDPS X6, X6, X6
	VHADDPS X6, X6, X6
	VZEROUPPER
	MOVSS X6, ret+24(FP)
	RET

// func maxAVX512(x *float32, n int) float32 (n >= 1)
TEXT ·maxAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	TAILMASK
	VBROADCASTSS (SI), Z0
	XORQ AX, AX
mxloop:
	CMPQ AX, BX
	JGE mxtail
	VMAXPS (SI)(AX*4), Z0, Z0
	ADDQ $16, AX
	JMP mxloop
mxtail:
	CMPQ AX, CX
	JGE mxred
	VMAXPS (SI)(AX*4), Z0, K1, Z0
mxred:
	VEXTRACTF64X4 $1, Z0, Y1
	VMAXPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// func scaleAVX512(x *float32, n int, s float32)
TEXT ·scaleAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z5
	TAILMASK
	XORQ AX, AX
scloop:
	CMPQ AX, BX
	JGE sctail
	VMULPS (SI)(AX*4), Z5, Z0
	VMOVUPS Z0, (SI)(AX*4)
	ADDQ $16, AX
	JMP scloop
sctail:
	CMPQ AX, CX
	JGE scend
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VMULPS Z0, Z5, Z0
	VMOVUPS Z0, K1, (SI)(AX*4)
scend:
	VZEROUPPER
	RET
