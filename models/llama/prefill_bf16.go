package llama

import "github.com/cellm-ai/cellm-go/kernels"

// bf16MinRows is the fewest rows a projection runs on bf16 activations
// (UseBF16Prefill): up to 32 rows (a batched decode step, a short prompt)
// MatMul is exactly MatVec row by row, so a sequence decodes alike alone
// or batched with others, whatever the prefill precision.
const bf16MinRows = 33

// UseBF16Prefill makes the layers' projections (q, k, v, o, gate, up,
// down) of steps longer than 32 rows (prompt prefill) round their inputs to
// bf16 and run on the CPU's bf16 dot-product instructions
// (kernels.MatMulBF16, AVX512_BF16), as llama.cpp does for bf16 weights:
// 1.5-1.7x the f32-FMA GEMM's speed. bf16 weights then differ from the f32
// path by the rounding of the activations only; with halfToo, f16 weights
// take the same path, rounded to bf16 as they are packed (3 bits of their
// mantissa lost too). Other weight types, the output head and steps of at
// most 32 rows are unchanged. Call it before the model is used; it has no
// effect on CPUs without AVX512_BF16.
func (m *Model) UseBF16Prefill(on, halfToo bool) {
	m.bf16Prefill = on
	m.bf16PrefillF16 = on && halfToo
}

// BF16Prefill reports whether UseBF16Prefill is on, and for f16 weights too.
func (m *Model) BF16Prefill() (on, halfToo bool) { return m.bf16Prefill, m.bf16PrefillF16 }

// project computes y = x·wᵀ for the n rows of a layer projection (see
// UseBF16Prefill).
func (m *Model) project(y []float32, w *kernels.Matrix, x []float32, n int) {
	if n >= bf16MinRows && (m.bf16Prefill && w.Type == kernels.BF16 || m.bf16PrefillF16 && w.Type == kernels.F16) {
		kernels.MatMulBF16(y, w, x, n)
		return
	}
	kernels.MatMul(y, w, x, n)
}
