package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestScaleMulEqualGeneric: scaleMul (AVX-512 where the CPU has it) gives
// exactly its pure-Go twin's values for every tail length,
// in place (dst aliasing an input) and with Inf, NaN and overflowing
// values, and write nothing past len(dst).
func TestScaleMulEqualGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(91, 92))
	for _, n := range []int{0, 1, 7, 15, 16, 17, 31, 33, 64, 576, 1000} {
		a, b := randVec(r, n+8, 3), randVec(r, n+8, 3)
		if n > 2 {
			a[0], b[1], a[2], b[2] = float32(math.Inf(-1)), float32(math.NaN()), 3e38, 3e38
		}
		s := float32(r.NormFloat64())
		for _, inPlace := range []bool{false, true} {
			name := fmt.Sprintf("n=%d/inPlace=%v", n, inPlace)
			got, want := randVec(r, n+8, 1), make([]float32, n+8)
			if inPlace {
				copy(got, a)
			}
			copy(want, got)
			src := a
			if inPlace {
				src = got
			}
			srcW := a
			if inPlace {
				srcW = want
			}
			scaleMul(got[:n], src[:n], b[:n], s)
			scaleMulGeneric(want[:n], srcW[:n], b[:n], s)
			if k := firstDiff(got, want); k >= 0 {
				t.Fatalf("scaleMul %s: dst[%d] = %v, generic %v", name, k, got[k], want[k])
			}
		}
	}
}
