//go:build amd64 && !purego

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
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
		if d := numcheck.Diff(float64(got[i]), float64(want)); d > tol {
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

// TestQuantizeQ8AVX512 checks the assembly quantizer against the Go one:
// identical int8 values and scales, the same bias, and the same verdict on
// non-finite input.
func TestQuantizeQ8AVX512(t *testing.T) {
	if !hasBackend("avx512") {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct {
		name string
		x    []float32
	}{
		{"normal", randVec(r, 576, 1)},
		{"tail", randVec(r, 100, 3)},
		{"zero block", append(make([]float32, 32), randVec(r, 64, 1)...)},
		{"ties", []float32{127, 0.5, 1.5, 2.5, -0.5, -1.5, 3.5, 63.5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, -127}},
		{"inf", append(randVec(r, 40, 1), float32(math.Inf(1)), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23)},
		{"nan", append([]float32{float32(math.NaN())}, randVec(r, 31, 1)...)},
		{"denormal", []float32{1e-40, -3e-41, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2e-45}},
	} {
		var a, b q8Vec
		quantizeQ8Generic(&a, tc.x)
		quantizeQ8Z(&b, tc.x)
		if a.ok != b.ok {
			t.Fatalf("%s: ok %v (Go) vs %v (asm)", tc.name, a.ok, b.ok)
		}
		if !a.ok {
			continue
		}
		for i := range a.q {
			if a.q[i] != b.q[i] {
				t.Fatalf("%s: q[%d] = %d (Go) vs %d (asm), x = %g", tc.name, i, a.q[i], b.q[i], tc.x[i])
			}
		}
		for i := range a.ls {
			if a.ls[i] != b.ls[i] {
				t.Fatalf("%s: ls[%d] = %g (Go) vs %g (asm)", tc.name, i, a.ls[i], b.ls[i])
			}
		}
		if d := numcheck.Diff(float64(a.bias), float64(b.bias)); d > 1e-5*math.Abs(float64(a.bias))+1e-30 {
			t.Fatalf("%s: bias %g (Go) vs %g (asm)", tc.name, a.bias, b.bias)
		}
	}
}

// TestMatVecHalfStream checks that the f16 and bf16 AVX-512 kernels give
// bit-identical rows whether they stream the rows one after another or take
// them four at a time, so results do not depend on the matrix size or on
// how rows are split across threads.
func TestMatVecHalfStream(t *testing.T) {
	if !hasBackend("avx512") {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(11, 12))
	kernels := map[DType]func(y *float32, w *uint16, x *float32, rows, cols, n, stream int){
		F16: matVecF16AVX512, BF16: matVecBF16AVX512,
	}
	for dt, kernel := range kernels {
		for _, rows := range []int{1, 4, 7, 9} {
			for _, cols := range []int{1, 31, 32, 33, 64, 100, 576} {
				m, _ := randMatrix(r, dt, rows, cols)
				x := randVec(r, cols, 1)
				four, one := make([]float32, rows), make([]float32, rows)
				kernel(&four[0], &m.Half[0], &x[0], rows, cols, cols, 0)
				kernel(&one[0], &m.Half[0], &x[0], rows, cols, cols, 1)
				for i := range four {
					if math.Float32bits(four[i]) != math.Float32bits(one[i]) || math.IsNaN(float64(four[i])) {
						t.Fatalf("%s %dx%d row %d: four rows at a time %g, streamed %g", dt, rows, cols, i, four[i], one[i])
					}
				}
			}
		}
	}
}

// TestChunkOrderQ4Z checks the AVX-512 int4 activation layout against the
// pure-Go one, full chunks and short last ones, extremes included.
func TestChunkOrderQ4Z(t *testing.T) {
	if !hasBackend("avx512") {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(33, 34))
	for _, n := range []int{32, 64, 96, 128, 160, 576, 1536, 1600} {
		x := randVec(r, n, 2)
		x[0], x[n-1] = 1000, -1000 // blocks with +-127
		var a, b q8Vec
		quantizeQ8Generic(&a, x)
		quantizeQ8Generic(&b, x)
		b.q4 = make([]q4Act, 1) // reused, too short
		b.q4[0].lo[5] = 9
		a.chunkOrderQ4()
		chunkOrderQ4Z(&b)
		if len(a.q4) != len(b.q4) || len(a.q4) != (n+q4Chunk-1)/q4Chunk {
			t.Fatalf("n=%d: %d chunks (Go) vs %d (asm)", n, len(a.q4), len(b.q4))
		}
		for k := range a.q4 {
			if a.q4[k] != b.q4[k] {
				t.Fatalf("n=%d chunk %d: Go %+v\nasm %+v", n, k, a.q4[k], b.q4[k])
			}
		}
	}
}
