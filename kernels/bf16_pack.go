package kernels

import (
	"unsafe"

	"github.com/cellm-ai/cellm-go/internal/half"
)

// Packing of f32 rows into the bf16 pair panels of the AVX512_BF16
// micro-kernel: a row is rounded to contiguous bf16 (toBF16, SIMD where the
// CPU has it), then its pairs of consecutive values, each one 32-bit word,
// are written with a stride of words. The panels are only read by the
// amd64 micro-kernel, so the word view is little-endian.

// toBF16Generic rounds src to bf16 into dst (same length), ties to even.
func toBF16Generic(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		dst[i] = half.F32ToBF16(x)
	}
}

// words views a bf16 buffer of even length as its 32-bit pairs.
func words(h []uint16) []uint32 {
	if len(h) < 2 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&h[0])), len(h)/2)
}

// scatterPairs stores the pairs of row (bf16, len 2*np; the caller pads an
// odd length) at dst[p*stride] for p < np.
func scatterPairs(dst []uint32, stride int, row []uint16) {
	w := words(row)
	if len(w) == 0 {
		return
	}
	_ = dst[(len(w)-1)*stride]
	for p, x := range w {
		dst[p*stride] = x
	}
}

// interleavePairs stores (a[j], b[j]) as one word at dst[j], for j < len(a).
func interleavePairs(dst []uint32, a, b []uint16) {
	dst = dst[:len(a)]
	b = b[:len(a)]
	for j, x := range a {
		dst[j] = uint32(x) | uint32(b[j])<<16
	}
}

// f16ToBF16Generic rounds the f16 values of src to bf16 into dst (same
// length): widened exactly, then rounded to nearest even.
func f16ToBF16Generic(dst, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = half.F32ToBF16(half.F16ToF32(h))
	}
}

// softmaxBF16Generic is backend b's soft-max of row (overwritten) rounded
// to bf16 into dst (same length).
func softmaxBF16Generic(b *backend, dst []uint16, row []float32) {
	b.softmax(row)
	toBF16(b, dst, row)
}
