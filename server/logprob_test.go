package server

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLogSumExp checks the SIMD log-sum-exp of logprobOf against a float64
// reference over vocabulary-sized logits of several spreads (measured at
// most 1.8e-8 relative to max(1, |lse|); tolerance 1e-7), and that a NaN
// logit gives NaN.
func TestLogSumExp(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var worst float64
	for _, spread := range []float64{0.01, 1, 8, 40, 200} {
		for _, n := range []int{1, 2, 17, 1000, 49152} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64()*spread + 3)
			}
			mx := math.Inf(-1)
			for _, v := range x {
				mx = max(mx, float64(v))
			}
			var sum float64
			for _, v := range x {
				sum += math.Exp(float64(v) - mx)
			}
			want := mx + math.Log(sum)
			got := logSumExp(x, make([]float32, n), -1)
			if at := slices.Index(x, float32(mx)); logSumExp(x, make([]float32, n), at) != got {
				t.Errorf("spread %g n %d: logSumExp given the largest index %d differs from the searched one", spread, n, at)
			}
			rel := math.Abs(got-want) / max(1, math.Abs(want))
			worst = max(worst, rel)
			if !(rel <= 1e-7) {
				t.Errorf("spread %g n %d: logSumExp %v, want %v (rel %g)", spread, n, got, want, rel)
			}
		}
	}
	t.Logf("largest relative error %g", worst)
	x := []float32{1, float32(math.NaN()), 2}
	if got := logSumExp(x, make([]float32, 3), -1); !math.IsNaN(got) {
		t.Errorf("logSumExp with a NaN logit = %v, want NaN", got)
	}
}
