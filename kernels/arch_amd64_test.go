//go:build amd64 && !purego

package kernels

import (
	"math"
	"testing"
)

// TestExp sweeps the vector exp over its whole range against math.Exp.
func TestExp(t *testing.T) {
	for _, tc := range []struct {
		name string
		exp  func(dst, x *float32, n int)
	}{{"avx2", expAVX2}, {"avx512", expAVX512}} {
		t.Run(tc.name, func(t *testing.T) {
			if !hasBackend(tc.name) {
				t.Skip("CPU lacks", tc.name)
			}
			testExp(t, tc.exp)
		})
	}
}

func testExp(t *testing.T, exp func(dst, x *float32, n int)) {
	var xs []float32
	for x := -110.0; x <= 95; x += 0.0137 {
		xs = append(xs, float32(x))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, float32(math.Inf(1)), float32(math.Inf(-1)))
	for len(xs)%8 != 0 {
		xs = append(xs, 1)
	}
	got := make([]float32, len(xs))
	exp(&got[0], &xs[0], len(xs))
	for i, x := range xs {
		want := float32(math.Exp(float64(x)))
		if want == 0 || math.IsInf(float64(want), 0) {
			if got[i] != want {
				t.Fatalf("exp(%g) = %g, want %g", x, got[i], want)
			}
			continue
		}
		tol := 3e-7 * float64(want)
		if want < 1.2e-38 { // denormal results keep fewer bits, or flush to 0
			tol = 1.2e-38
		}
		if d := math.Abs(float64(got[i]) - float64(want)); d > tol {
			t.Fatalf("exp(%g) = %g, want %g (rel err %g)", x, got[i], want, d/float64(want))
		}
	}
	nan := make([]float32, 8)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	exp(&nan[0], &nan[0], 8)
	if nan[0] == nan[0] {
		t.Errorf("exp(NaN) = %g", nan[0])
	}
}

func hasBackend(name string) bool {
	for _, b := range backends {
		if b.name == name {
			return true
		}
	}
	return false
}
