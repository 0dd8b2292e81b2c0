package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkQgemmCall measures one decode step's quantized GEMM calls at
// SmolLM2-135M's shapes (int8 per row, n = 8 and 16 input rows), weights
// hot in cache, on 1 and 2 threads: the fused q/k/v and gate/up products
// (MatMuls), o, down and the LM head (MatMul; 28 MB, mostly from L3). The
// time per call beyond the 1-thread time divided by 2 is what the parallel
// structure of a call costs.
func BenchmarkQgemmCall(b *testing.B) {
	r := rand.New(rand.NewPCG(12, 36))
	mat := func(rows, cols int) *Matrix {
		w, _ := randGrouped(r, Q8, rows, cols, 0)
		return w
	}
	q, k, v := mat(576, 576), mat(192, 576), mat(192, 576)
	gate, up := mat(1536, 576), mat(1536, 576)
	down := mat(576, 1536)
	lm := mat(49152, 576)
	x := randVec(r, 16*1536, 1)
	defer SetThreads(0)
	for _, c := range []struct {
		name string
		ws   []*Matrix
	}{
		{"qkv", []*Matrix{q, k, v}},
		{"o", []*Matrix{q}},
		{"gateup", []*Matrix{gate, up}},
		{"down", []*Matrix{down}},
		{"lm_head", []*Matrix{lm}},
	} {
		for _, n := range []int{8, 16} {
			ys := make([][]float32, len(c.ws))
			for i, w := range c.ws {
				ys[i] = make([]float32, n*w.Rows)
			}
			xs := x[:n*c.ws[0].Cols]
			for _, th := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/n=%d/t=%d", c.name, n, th), func(b *testing.B) {
					SetThreads(th)
					for b.Loop() {
						MatMuls(ys, c.ws, xs, n)
					}
				})
			}
		}
	}
}
