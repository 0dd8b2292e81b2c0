package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestRoPEHeadsEqualsGeneric: ropeHeads (AVX-512 where the CPU has it)
// gives exactly ropeGeneric's values, for head sizes the SIMD code takes
// (half a multiple of 16) and ones it leaves to Go, with extreme inputs.
func TestRoPEHeadsEqualsGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	for _, headDim := range []int{32, 64, 96, 128, 256, 48, 2} {
		for _, heads := range []int{1, 3, 9, 12} {
			half := headDim / 2
			x := randVec(r, heads*headDim, 4)
			x[0] = float32(math.Inf(1))
			x[len(x)-1] = 3e38
			cos, sin := make([]float32, half), make([]float32, half)
			for i := range cos {
				a := r.Float64() * 1000
				cos[i], sin[i] = float32(math.Cos(a)), float32(math.Sin(a))
			}
			got, want := append([]float32(nil), x...), append([]float32(nil), x...)
			ropeHeads(got, heads, headDim, cos, sin)
			ropeGeneric(want, heads, headDim, cos, sin)
			name := fmt.Sprintf("headDim=%d/heads=%d", headDim, heads)
			if k := firstDiff(got, want); k >= 0 {
				t.Fatalf("%s: x[%d] = %v, generic %v", name, k, got[k], want[k])
			}
		}
	}
}

// firstDiff returns the first index where got and want differ in bits
// (any NaN equals any NaN), 0 for a length mismatch, or -1.
func firstDiff(got, want []float32) int {
	if len(got) != len(want) {
		return 0
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			return i
		}
	}
	return -1
}

// BenchmarkRoPERows measures RoPE of 16 rows of SmolLM2-135M's query and
// key heads (9 and 3 heads of 64), a batched decode step's rows of one
// layer.
func BenchmarkRoPERows(b *testing.B) {
	r := rand.New(rand.NewPCG(83, 84))
	const n, hd = 16, 64
	q, k := randVec(r, n*9*hd, 1), randVec(r, n*3*hd, 1)
	cos, sin := randVec(r, 600*hd/2, 1), randVec(r, 600*hd/2, 1)
	pos := make([]int, n)
	for i := range pos {
		pos[i] = 500 + i
	}
	for b.Loop() {
		RoPERows(q, k, pos, 9, 3, hd, cos, sin)
	}
}
