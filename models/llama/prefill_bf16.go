package llama

import (
	"math/bits"
	"unsafe"

	"github.com/cellm-ai/cellm-go/kernels"
)

// bf16MinRows is the fewest rows a projection runs on bf16 activations
// (UseBF16Prefill): up to 32 rows (a batched decode step, a short prompt)
// MatMul is exactly MatVec row by row, so a sequence decodes alike alone
// or batched with others, whatever the prefill precision.
const bf16MinRows = 33

// UseBF16Prefill makes the layers' projections (q, k, v, o, gate, up,
// down) of steps longer than 32 rows (prompt prefill) round their inputs to
// bf16 and run on the CPU's bf16 dot-product instructions
// (kernels.MatMulBF16, AVX512_BF16), as llama.cpp does for bf16 weights:
// 1.6-1.7x the f32-FMA GEMM's speed. It applies to bf16 weights, and to
// f16 weights that all hold bf16 values exactly (a bf16 checkpoint stored
// as f16: the products are then those of the bf16 file); with halfToo, to
// every f16 weight, rounded to bf16 as they are packed (3 bits of their
// mantissa lost). The activations' rounding is the only other difference
// from the f32 path. Other weight types, the output head and steps of at
// most 32 rows are unchanged. Call it before the model is used; it has no
// effect on CPUs without AVX512_BF16.
func (m *Model) UseBF16Prefill(on, halfToo bool) {
	m.bf16Prefill = on
	m.bf16PrefillF16 = on && (halfToo || m.f16IsBF16())
	m.bf16PrefillAllF16 = on && halfToo
}

// BF16Prefill reports whether UseBF16Prefill is on, and whether for every
// f16 weight too.
func (m *Model) BF16Prefill() (on, halfToo bool) { return m.bf16Prefill, m.bf16PrefillAllF16 }

// BF16PrefillRuns reports whether long steps' projections run on bf16
// activations on this CPU (UseBF16Prefill, the weight type and, for f16,
// the weights' values).
func (m *Model) BF16PrefillRuns() bool {
	if !kernels.HasBF16Dot() {
		return false
	}
	switch m.cfg.WeightType {
	case kernels.BF16:
		return m.bf16Prefill
	case kernels.F16:
		return m.bf16PrefillF16
	}
	return false
}

// project computes y = x·wᵀ for the n rows of a layer projection (see
// UseBF16Prefill).
func (m *Model) project(y []float32, w *kernels.Matrix, x []float32, n int) {
	if m.bf16Rows(w.Type, n) {
		kernels.MatMulBF16(y, w, x, n)
		return
	}
	kernels.MatMul(y, w, x, n)
}

// bf16Rows reports whether a projection of n rows of weight type t runs
// on bf16 activations (UseBF16Prefill).
func (m *Model) bf16Rows(t kernels.DType, n int) bool {
	return n >= bf16MinRows && (m.bf16Prefill && t == kernels.BF16 || m.bf16PrefillF16 && t == kernels.F16)
}

// f16IsBF16 reports whether the model has f16 projections and every value
// of them is a bf16 value (rounding to bf16 leaves it unchanged).
func (m *Model) f16IsBF16() bool {
	found := false
	for i := range m.layers {
		ly := &m.layers[i]
		for _, w := range []*kernels.Matrix{&ly.q, &ly.k, &ly.v, &ly.o, &ly.gate, &ly.up, &ly.down} {
			if w.Type != kernels.F16 {
				continue
			}
			if !halvesAreBF16(w.Half) {
				return false
			}
			found = true
		}
	}
	return found
}

// halvesAreBF16 reports whether every f16 value of h is exactly a bf16
// value: the 3 low bits of a normal value's mantissa are zero (bf16 has 7
// bits and a wider exponent), a subnormal's significant bits span at most
// 8 bits. It reads 16 values per step while the low bits are all zero.
func halvesAreBF16(h []uint16) bool {
	const low3 = 0x0007_0007_0007_0007
	n16 := len(h) / 16
	if n16 > 0 {
		w := unsafe.Slice((*uint64)(unsafe.Pointer(&h[0])), 4*n16)
		for i := 0; i < len(w); i += 4 {
			if (w[i]|w[i+1]|w[i+2]|w[i+3])&low3 != 0 && !halvesAreBF16Slow(h[4*i:4*i+16]) {
				return false
			}
		}
	}
	return halvesAreBF16Slow(h[16*n16:])
}

func halvesAreBF16Slow(h []uint16) bool {
	for _, v := range h {
		if v&7 == 0 {
			continue
		}
		if v&0x7c00 != 0 { // normal (or Inf/NaN with a payload)
			return false
		}
		mant := uint(v & 0x3ff) // subnormal: mant * 2^-24
		if bits.Len(mant)-bits.TrailingZeros(mant) > 8 {
			return false
		}
	}
	return true
}
