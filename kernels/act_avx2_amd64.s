//go:build amd64 && !purego

#include "textflag.h"

// AVX2 versions of the exp-based activations: the same Cephes expf scheme as
// the AVX-512 code, with 2^n built in the exponent bits. Inputs below
// -104 give exactly 0 and above 88.72 give +Inf, as float32 exp does; n
// must be a multiple of 8 (the caller finishes the rest).

// Constants, each repeated over 8 lanes: log2(e), ln2 high and low parts,
// polynomial coefficients p0..p5, 1, the input clamps 88.7228 and -104, the
// exponent bias, +Inf, the overflow threshold ln(MaxFloat32), -2·sqrt(2/pi)
// and 0.044715.
DATA expc<>+0(SB)/4, $0x3fb8aa3b
DATA expc<>+4(SB)/4, $0x3fb8aa3b
DATA expc<>+8(SB)/4, $0x3fb8aa3b
DATA expc<>+12(SB)/4, $0x3fb8aa3b
DATA expc<>+16(SB)/4, $0x3fb8aa3b
DATA expc<>+20(SB)/4, $0x3fb8aa3b
DATA expc<>+24(SB)/4, $0x3fb8aa3b
DATA expc<>+28(SB)/4, $0x3fb8aa3b
DATA expc<>+32(SB)/4, $0x3f318000
DATA expc<>+36(SB)/4, $0x3f318000
DATA expc<>+40(SB)/4, $0x3f318000
DATA expc<>+44(SB)/4, $0x3f318000
DATA expc<>+48(SB)/4, $0x3f318000
DATA expc<>+52(SB)/4, $0x3f318000
DATA expc<>+56(SB)/4, $0x3f318000
DATA expc<>+60(SB)/4, $0x3f318000
DATA expc<>+64(SB)/4, $0xb95e8083
DATA expc<>+68(SB)/4, $0xb95e8083
DATA expc<>+72(SB)/4, $0xb95e8083
DATA expc<>+76(SB)/4, $0xb95e8083
DATA expc<>+80(SB)/4, $0xb95e8083
DATA expc<>+84(SB)/4, $0xb95e8083
DATA expc<>+88(SB)/4, $0xb95e8083
DATA expc<>+92(SB)/4, $0xb95e8083
DATA expc<>+96(SB)/4, $0x39506967
DATA expc<>+100(SB)/4, $0x39506967
DATA expc<>+104(SB)/4, $0x39506967
DATA expc<>+108(SB)/4, $0x39506967
DATA expc<>+112(SB)/4, $0x39506967
DATA expc<>+116(SB)/4, $0x39506967
DATA expc<>+120(SB)/4, $0x39506967
DATA expc<>+124(SB)/4, $0x39506967
DATA expc<>+128(SB)/4, $0x3ab743ce
DATA expc<>+132(SB)/4, $0x3ab743ce
DATA expc<>+136(SB)/4, $0x3ab743ce
DATA expc<>+140(SB)/4, $0x3ab743ce
DATA expc<>+144(SB)/4, $0x3ab743ce
DATA expc<>+148(SB)/4, $0x3ab743ce
DATA expc<>+152(SB)/4, $0x3ab743ce
DATA expc<>+156(SB)/4, $0x3ab743ce
DATA expc<>+160(SB)/4, $0x3c088908
DATA expc<>+164(SB)/4, $0x3c088908
DATA expc<>+168(SB)/4, $0x3c088908
DATA expc<>+172(SB)/4, $0x3c088908
DATA expc<>+176(SB)/4, $0x3c088908
DATA expc<>+180(SB)/4, $0x3c088908
DATA expc<>+184(SB)/4, $0x3c088908
DATA expc<>+188(SB)/4, $0x3c088908
DATA expc<>+192(SB)/4, $0x3d2aa9c1
DATA expc<>+196(SB)/4, $0x3d2aa9c1
DATA expc<>+200(SB)/4, $0x3d2aa9c1
DATA expc<>+204(SB)/4, $0x3d2aa9c1
DATA expc<>+208(SB)/4, $0x3d2aa9c1
DATA expc<>+212(SB)/4, $0x3d2aa9c1
DATA expc<>+216(SB)/4, $0x3d2aa9c1
DATA expc<>+220(SB)/4, $0x3d2aa9c1
DATA expc<>+224(SB)/4, $0x3e2aaaaa
DATA expc<>+228(SB)/4, $0x3e2aaaaa
DATA expc<>+232(SB)/4, $0x3e2aaaaa
DATA expc<>+236(SB)/4, $0x3e2aaaaa
DATA expc<>+240(SB)/4, $0x3e2aaaaa
DATA expc<>+244(SB)/4, $0x3e2aaaaa
DATA expc<>+248(SB)/4, $0x3e2aaaaa
DATA expc<>+252(SB)/4, $0x3e2aaaaa
DATA expc<>+256(SB)/4, $0x3f000000
DATA expc<>+260(SB)/4, $0x3f000000
DATA expc<>+264(SB)/4, $0x3f000000
DATA expc<>+268(SB)/4, $0x3f000000
DATA expc<>+272(SB)/4, $0x3f000000
DATA expc<>+276(SB)/4, $0x3f000000
DATA expc<>+280(SB)/4, $0x3f000000
DATA expc<>+284(SB)/4, $0x3f000000
DATA expc<>+288(SB)/4, $0x3f800000
DATA expc<>+292(SB)/4, $0x3f800000
DATA expc<>+296(SB)/4, $0x3f800000
DATA expc<>+300(SB)/4, $0x3f800000
DATA expc<>+304(SB)/4, $0x3f800000
DATA expc<>+308(SB)/4, $0x3f800000
DATA expc<>+312(SB)/4, $0x3f800000
DATA expc<>+316(SB)/4, $0x3f800000
DATA expc<>+320(SB)/4, $0x42b17218
DATA expc<>+324(SB)/4, $0x42b17218
DATA expc<>+328(SB)/4, $0x42b17218
DATA expc<>+332(SB)/4, $0x42b17218
DATA expc<>+336(SB)/4, $0x42b17218
DATA expc<>+340(SB)/4, $0x42b17218
DATA expc<>+344(SB)/4, $0x42b17218
DATA expc<>+348(SB)/4, $0x42b17218
DATA expc<>+352(SB)/4, $0xc2d00000
DATA expc<>+356(SB)/4, $0xc2d00000
DATA expc<>+360(SB)/4, $0xc2d00000
DATA expc<>+364(SB)/4, $0xc2d00000
DATA expc<>+368(SB)/4, $0xc2d00000
DATA expc<>+372(SB)/4, $0xc2d00000
DATA expc<>+376(SB)/4, $0xc2d00000
DATA expc<>+380(SB)/4, $0xc2d00000
DATA expc<>+384(SB)/4, $0x7f
DATA expc<>+388(SB)/4, $0x7f
DATA expc<>+392(SB)/4, $0x7f
DATA expc<>+396(SB)/4, $0x7f
DATA expc<>+400(SB)/4, $0x7f
DATA expc<>+404(SB)/4, $0x7f
DATA expc<>+408(SB)/4, $0x7f
DATA expc<>+412(SB)/4, $0x7f
DATA expc<>+416(SB)/4, $0x7f800000
DATA expc<>+420(SB)/4, $0x7f800000
DATA expc<>+424(SB)/4, $0x7f800000
DATA expc<>+428(SB)/4, $0x7f800000
DATA expc<>+432(SB)/4, $0x7f800000
DATA expc<>+436(SB)/4, $0x7f800000
DATA expc<>+440(SB)/4, $0x7f800000
DATA expc<>+444(SB)/4, $0x7f800000
DATA expc<>+448(SB)/4, $0x42b17218
DATA expc<>+452(SB)/4, $0x42b17218
DATA expc<>+456(SB)/4, $0x42b17218
DATA expc<>+460(SB)/4, $0x42b17218
DATA expc<>+464(SB)/4, $0x42b17218
DATA expc<>+468(SB)/4, $0x42b17218
DATA expc<>+472(SB)/4, $0x42b17218
DATA expc<>+476(SB)/4, $0x42b17218
DATA expc<>+480(SB)/4, $0xbfcc422a
DATA expc<>+484(SB)/4, $0xbfcc422a
DATA expc<>+488(SB)/4, $0xbfcc422a
DATA expc<>+492(SB)/4, $0xbfcc422a
DATA expc<>+496(SB)/4, $0xbfcc422a
DATA expc<>+500(SB)/4, $0xbfcc422a
DATA expc<>+504(SB)/4, $0xbfcc422a
DATA expc<>+508(SB)/4, $0xbfcc422a
DATA expc<>+512(SB)/4, $0x3d372713
DATA expc<>+516(SB)/4, $0x3d372713
DATA expc<>+520(SB)/4, $0x3d372713
DATA expc<>+524(SB)/4, $0x3d372713
DATA expc<>+528(SB)/4, $0x3d372713
DATA expc<>+532(SB)/4, $0x3d372713
DATA expc<>+536(SB)/4, $0x3d372713
DATA expc<>+540(SB)/4, $0x3d372713
GLOBL expc<>(SB), RODATA|NOPTR, $544

#define LOG2E expc<>+0(SB)
#define C1 expc<>+32(SB)
#define C2 expc<>+64(SB)
#define P0 expc<>+96(SB)
#define P1 expc<>+128(SB)
#define P2 expc<>+160(SB)
#define P3 expc<>+192(SB)
#define P4 expc<>+224(SB)
#define P5 expc<>+256(SB)
#define ONE expc<>+288(SB)
#define HI expc<>+320(SB)
#define LO expc<>+352(SB)
#define BIAS expc<>+384(SB)
#define INF expc<>+416(SB)
#define OVF expc<>+448(SB)
#define M2C expc<>+480(SB)
#define GC expc<>+512(SB)

// EXPY replaces X by exp(X); T1..T4 are scratch. 2^n is applied as
// 2^(n/2)·2^(n-n/2) so that n may span [-150, 128], down to denormals. The clamps and the
// final max keep X as the second source operand so that NaN propagates.
#define EXPY(X, T1, T2, T3, T4) \
	VMOVAPS X, T3 \
	VMOVAPS HI, T1 \
	VMINPS X, T1, X \
	VMOVAPS LO, T1 \
	VMAXPS X, T1, X \
	VMULPS LOG2E, X, T1 \
	VROUNDPS $0, T1, T1 \
	VFNMADD231PS C1, T1, X \
	VFNMADD231PS C2, T1, X \
	VMOVAPS P0, T2 \
	VFMADD213PS P1, X, T2 \
	VFMADD213PS P2, X, T2 \
	VFMADD213PS P3, X, T2 \
	VFMADD213PS P4, X, T2 \
	VFMADD213PS P5, X, T2 \
	VMULPS X, T2, T2 \
	VFMADD213PS X, X, T2 \
	VADDPS ONE, T2, T2 \
	VCVTPS2DQ T1, T1 \
	VPSRAD $1, T1, T4 \
	VPSUBD T4, T1, T1 \
	VPADDD BIAS, T1, T1 \
	VPSLLD $23, T1, T1 \
	VPADDD BIAS, T4, T4 \
	VPSLLD $23, T4, T4 \
	VMULPS T1, T2, X \
	VMULPS T4, X, X \
	VCMPPS $1, LO, T3, T1 \
	VANDNPS X, T1, X \
	VCMPPS $14, OVF, T3, T1 \
	VANDPS INF, T1, T1 \
	VMAXPS X, T1, X

// func expAVX2(dst, x *float32, n int)
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
exploop:
	CMPQ AX, CX
	JGE expend
	VMOVUPS (SI)(AX*4), Y0
	EXPY(Y0, Y1, Y2, Y3, Y7)
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP exploop
expend:
	VZEROUPPER
	RET

// func siluMulAVX2(dst, gate, up *float32, n int)
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	XORQ AX, AX
siluloop:
	CMPQ AX, CX
	JGE siluend
	VMOVUPS (SI)(AX*4), Y0
	VMULPS (DX)(AX*4), Y0, Y4
	VXORPS Y5, Y5, Y5
	VSUBPS Y0, Y5, Y0
	EXPY(Y0, Y1, Y2, Y3, Y7)
	VADDPS ONE, Y0, Y0
	VDIVPS Y0, Y4, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP siluloop
siluend:
	VZEROUPPER
	RET

// func geluTanhAVX2(dst, x *float32, n int)
TEXT ·geluTanhAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
geluloop:
	CMPQ AX, CX
	JGE geluend
	VMOVUPS (SI)(AX*4), Y4
	VMULPS Y4, Y4, Y0
	VMULPS GC, Y0, Y0
	VFMADD213PS Y4, Y4, Y0
	VMULPS M2C, Y0, Y0
	EXPY(Y0, Y1, Y2, Y3, Y7)
	VADDPS ONE, Y0, Y0
	VDIVPS Y0, Y4, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP geluloop
geluend:
	VZEROUPPER
	RET

// func expSubSumAVX2(x *float32, n int, m float32) float32
TEXT ·expSubSumAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y5
	VXORPS Y6, Y6, Y6
	XORQ AX, AX
esloop:
	CMPQ AX, CX
	JGE essum
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS Y5, Y0, Y0
	EXPY(Y0, Y1, Y2, Y3, Y7)
	VMOVUPS Y0, (SI)(AX*4)
	VADDPS Y0, Y6, Y6
	ADDQ $8, AX
	JMP esloop
essum:
	VEXTRACTF128 $1, Y6, X4
	VADDPS X4, X6, X6
	VHADDPS X6, X6, X6
	VHADDPS X6, X6, X6
	VZEROUPPER
	MOVSS X6, ret+24(FP)
	RET

// func maxAVX2(x *float32, n int) float32 (n >= 8)
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	MOVQ $8, AX
mxloop:
	CMPQ AX, CX
	JGE mxred
	VMAXPS (SI)(AX*4), Y0, Y0
	ADDQ $8, AX
	JMP mxloop
mxred:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

