package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMatMulFewRowsEqualsMatVec: MatMul over a few rows (the batched decode
// path) gives each row exactly what MatVec gives it, for every weight type,
// including a row holding Inf (which Q8 computes in float32); with the
// quantized GEMM, finite rows up to float rounding (qgemmTol).
func TestMatMulFewRowsEqualsMatVec(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		w, _ := randMatrix(r, dt, 1000, 96) // several row blocks, spread over the pool
		for _, n := range []int{2, 5, 16, maxRowsN} {
			t.Run(fmt.Sprintf("%s/n=%d", dt, n), func(t *testing.T) {
				x := randVec(r, n*w.Cols, 1)
				if n == 5 {
					x[3*w.Cols+7] = float32(math.Inf(1))
				}
				y := make([]float32, n*w.Rows)
				MatMul(y, w, x, n)
				want := make([]float32, w.Rows)
				for i := range n {
					MatVec(want, w, x[i*w.Cols:(i+1)*w.Cols])
					if qgemmApplies(active, w) && !math.IsInf(float64(x[i*w.Cols+7]), 0) {
						// The quantized GEMM: MatVec up to float rounding.
						if k, ok := nearMatVec(w, x[i*w.Cols:(i+1)*w.Cols], y[i*w.Rows:(i+1)*w.Rows], want); !ok {
							t.Fatalf("row %d, output %d: MatMul %v, MatVec %v", i, k, y[i*w.Rows+k], want[k])
						}
						continue
					}
					for k, v := range want {
						got := y[i*w.Rows+k]
						if got != v && !(math.IsNaN(float64(got)) && math.IsNaN(float64(v))) {
							t.Fatalf("row %d, output %d: MatMul %v, MatVec %v", i, k, got, v)
						}
					}
				}
			})
		}
	}
}
