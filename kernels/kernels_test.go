package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// sizes covers multiples and non-multiples of the SIMD widths.
var sizes = []int{1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 300}

// eachBackend runs f once per backend available on this machine, with that
// backend active.
func eachBackend(t *testing.T, f func(t *testing.T, b *backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			old := active
			active = b
			defer func() { active = old }()
			f(t, b)
		})
	}
}

// wantPanic runs f and fails t unless f panics with a message mentioning
// want.
func wantPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		if msg := fmt.Sprint(recover()); !strings.Contains(msg, want) {
			t.Errorf("panic %q, want it to mention %q", msg, want)
		}
	}()
	f()
}

func randVec(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64()) * scale
	}
	return v
}

// randMatrix returns a random Rows x Cols matrix of type t and its exact
// float64 values.
func randMatrix(r *rand.Rand, t DType, rows, cols int) (*Matrix, []float64) {
	m := &Matrix{Type: t, Rows: rows, Cols: cols}
	ref := make([]float64, rows*cols)
	switch t {
	case F32:
		m.F32 = randVec(r, rows*cols, 1)
		for i, v := range m.F32 {
			ref[i] = float64(v)
		}
	case F16:
		m.Half = make([]uint16, rows*cols)
		for i := range m.Half {
			m.Half[i] = half.F32ToF16(float32(r.NormFloat64()))
			ref[i] = float64(half.F16ToF32(m.Half[i]))
		}
	case BF16:
		m.Half = make([]uint16, rows*cols)
		for i := range m.Half {
			m.Half[i] = half.F32ToBF16(float32(r.NormFloat64()))
			ref[i] = float64(half.BF16ToF32(m.Half[i]))
		}
	case Q8:
		m.Q8 = make([]int8, rows*cols)
		m.Scale = make([]float32, rows)
		for i := range m.Scale {
			m.Scale[i] = float32(r.Float64()*0.02 + 0.001)
		}
		for i := range m.Q8 {
			m.Q8[i] = int8(r.IntN(255) - 127)
			ref[i] = float64(m.Q8[i]) * float64(m.Scale[i/cols])
		}
	}
	return m, ref
}

// refMatVec returns W·x in float64 and the sum of |W[r,c]*x[c]| per row,
// the natural scale of the rounding error.
func refMatVec(ref []float64, rows, cols int, x []float32) (y, mag []float64) {
	y = make([]float64, rows)
	mag = make([]float64, rows)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			p := ref[r*cols+c] * float64(x[c])
			y[r] += p
			mag[r] += math.Abs(p)
		}
	}
	return y, mag
}

func TestMatVec(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, dt := range []DType{F32, F16, BF16, Q8} {
			for _, rows := range []int{1, 3, 17, 65, 301} {
				for _, cols := range sizes {
					m, ref := randMatrix(r, dt, rows, cols)
					x := randVec(r, cols+1, 1)[1:] // unaligned
					y := make([]float32, rows)
					MatVec(y, m, x)
					want, mag := refMatVec(ref, rows, cols, x)
					tol := 1e-5
					if dt == Q8 && b.quantizeQ8 != nil {
						tol = 1e-2 // activations are rounded to int8
					}
					if _, err := numcheck.Compare(y, want, numcheck.Tol{Abs: 1e-30, Rel: tol, Scale: mag}); err != nil {
						t.Fatalf("%s %dx%d: %v", dt, rows, cols, err)
					}
				}
			}
		}
	})
}

// TestMatVecQ8Error bounds the error that int8 activation quantization adds,
// relative to the result norm, on a realistic shape, with and without an
// outlier activation (which coarsens the quantization of its block).
func TestMatVecQ8Error(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		for _, tc := range []struct {
			outlier float32
			bound   float64
		}{{0, 0.006}, {40, 0.015}} {
			r := rand.New(rand.NewPCG(3, 4))
			m, ref := randMatrix(r, Q8, 256, 576)
			x := randVec(r, 576, 1)
			if tc.outlier != 0 {
				x[7] = tc.outlier
			}
			y := make([]float32, 256)
			MatVec(y, m, x)
			want, _ := refMatVec(ref, 256, 576, x)
			var num, den float64
			for i := range y {
				d := float64(y[i]) - want[i]
				num += d * d
				den += want[i] * want[i]
			}
			rel := math.Sqrt(num / den)
			if rel > tc.bound {
				t.Errorf("outlier %g: relative L2 error %g > %g", tc.outlier, rel, tc.bound)
			}
			t.Logf("outlier %g: relative L2 error %.5f", tc.outlier, rel)
		}
	})
}

// filledMatrix returns a rows x cols matrix of type t whose every weight is
// the nearest representable value to v (for Q8: 127 or -127 times a scale of
// |v|/127), and that stored value.
func filledMatrix(t DType, rows, cols int, v float32) (*Matrix, float64) {
	m := &Matrix{Type: t, Rows: rows, Cols: cols}
	n := rows * cols
	switch t {
	case F32:
		m.F32 = make([]float32, n)
		for i := range m.F32 {
			m.F32[i] = v
		}
		return m, float64(v)
	case F16, BF16:
		h := half.F32ToF16(v)
		got := half.F16ToF32(h)
		if t == BF16 {
			h = half.F32ToBF16(v)
			got = half.BF16ToF32(h)
		}
		m.Half = make([]uint16, n)
		for i := range m.Half {
			m.Half[i] = h
		}
		return m, float64(got)
	}
	q := int8(127)
	if v < 0 {
		q = -127
	}
	s := abs32(v) / 127
	m.Q8 = make([]int8, n)
	m.Scale = make([]float32, rows)
	for i := range m.Q8 {
		m.Q8[i] = q
	}
	for i := range m.Scale {
		m.Scale[i] = s
	}
	return m, float64(q) * float64(s)
}

func TestMatVecExtremes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		cases := []struct {
			name string
			dt   DType
			w, x float32
		}{
			{"zeros", F32, 0, 0},
			{"large", F32, 1e18, 1e18},
			{"denormal", F32, 1e-40, 1},
			{"tiny x", F32, 1, 1e-40},
			{"negative", F32, -3, 2},
			{"f16 max", F16, 65504, 1e4},
			{"f16 subnormal", F16, 6e-8, 3},
			{"f16 zero", F16, 0, 5},
			{"bf16 large", BF16, 1e30, 1e5},
			{"bf16 denormal", BF16, 1e-39, 2},
			{"q8 large scale", Q8, -1e20, 3},
			{"q8 tiny scale", Q8, 1e-36, 1},
			{"q8 large x", Q8, 2, 1e25},
			{"q8 zero x", Q8, 2, 0},
		}
		for _, c := range cases {
			for _, cols := range []int{5, 64, 130} {
				m, wv := filledMatrix(c.dt, 3, cols, c.w)
				x := make([]float32, cols)
				for i := range x {
					x[i] = c.x
				}
				y := make([]float32, 3)
				MatVec(y, m, x)
				want := wv * float64(c.x) * float64(cols)
				tol := 1e-5*math.Abs(want) + 1e-44
				if c.dt == Q8 && b.quantizeQ8 != nil {
					tol = 1e-2*math.Abs(want) + 1e-44 // x is rounded to int8
				}
				for _, v := range y {
					if d := numcheck.Diff(float64(v), want); d > tol {
						t.Errorf("%s cols=%d: got %g want %g", c.name, cols, v, want)
					}
				}
			}
		}
	})
}

func TestMatMul(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, dt := range []DType{F32, F16, BF16, Q8} {
			for _, sh := range [][3]int{{1, 7, 5}, {2, 17, 33}, {3, 64, 64}, {5, 33, 100}, {9, 130, 77}, {40, 47, 129}, {17, 300, 16}, {12, 32, 64}, {24, 64, 513}, {25, 70, 1030}, {6, 16, 8},
				{13, 5, 0}, {3, 0, 7}, {0, 4, 4}, {40, 1, 1}, {50, 40, 64}, {37, 33, 576}} {
				n, rows, cols := sh[0], sh[1], sh[2]
				m, ref := randMatrix(r, dt, rows, cols)
				x := randVec(r, n*cols+3, 1)[3:]
				y := make([]float32, n*rows)
				MatMul(y, m, x, n)
				tol := 1e-5
				if dt == Q8 && b.quantizeQ8 != nil && (n <= maxRowsN || qgemmApplies(b, m)) {
					tol = 1e-2 // MatVec's kernels or the quantized GEMM: x is rounded to int8
				}
				for i := 0; i < n; i++ {
					want, mag := refMatVec(ref, rows, cols, x[i*cols:(i+1)*cols])
					if _, err := numcheck.Compare(y[i*rows:(i+1)*rows], want, numcheck.Tol{Abs: 1e-30, Rel: tol, Scale: mag}); err != nil {
						t.Fatalf("%s n=%d %dx%d row %d of x: %v", dt, n, rows, cols, i, err)
					}
				}
			}
		}
	})
}

func TestDotAxpy(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range append([]int{0}, sizes...) {
			a := randVec(r, n+1, 1)[1:]
			x := randVec(r, n, 1)
			var want, mag float64
			for i := range a {
				want += float64(a[i]) * float64(x[i])
				mag += math.Abs(float64(a[i]) * float64(x[i]))
			}
			if got := Dot(a, x); numcheck.Diff(float64(got), want) > 1e-5*mag+1e-30 {
				t.Fatalf("Dot n=%d: got %g want %g", n, got, want)
			}
			y := randVec(r, n+2, 1)[2:]
			y0 := append([]float32(nil), y...)
			Axpy(0.75, a, y)
			for i := range y {
				w := y0[i] + 0.75*a[i]
				if numcheck.Diff(float64(y[i]), float64(w)) > 1e-6*(math.Abs(float64(w))+1) {
					t.Fatalf("Axpy n=%d [%d]: got %g want %g", n, i, y[i], w)
				}
			}
		}
	})
}

func TestConversions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		// Every f16 and bf16 pattern widens exactly.
		src := make([]uint16, 1<<16+3)
		for i := range src {
			src[i] = uint16(i)
		}
		src = src[3:] // unaligned, and a length that is no SIMD multiple
		dst := make([]float32, len(src))
		F16ToF32(dst, src)
		for i, h := range src {
			if w := half.F16ToF32(h); math.Float32bits(dst[i]) != math.Float32bits(w) && !(isNaN(w) && isNaN(dst[i])) {
				t.Fatalf("F16ToF32(%#04x) = %g, want %g", h, dst[i], w)
			}
		}
		BF16ToF32(dst, src)
		for i, h := range src {
			if w := half.BF16ToF32(h); math.Float32bits(dst[i]) != math.Float32bits(w) && !(isNaN(w) && isNaN(dst[i])) {
				t.Fatalf("BF16ToF32(%#04x) = %g, want %g", h, dst[i], w)
			}
		}
		// Rounding to f16 matches the scalar reference, including ties,
		// subnormals and overflow.
		r := rand.New(rand.NewPCG(9, 10))
		f := make([]float32, 5000)
		for i := range f {
			switch i % 4 {
			case 0:
				f[i] = math.Float32frombits(r.Uint32())
			case 1:
				f[i] = float32(r.NormFloat64() * 1e-5)
			case 2:
				f[i] = float32(r.NormFloat64() * 7e4)
			default:
				f[i] = half.F16ToF32(uint16(r.Uint32())) + math.Float32frombits(0x33000000)*float32(r.IntN(3)-1)
			}
		}
		h := make([]uint16, len(f))
		F32ToF16(h, f)
		for i, v := range f {
			w := half.F32ToF16(v)
			if h[i] != w && !(isNaN(v) && h[i]&0x7c00 == 0x7c00 && h[i]&0x3ff != 0) {
				t.Fatalf("F32ToF16(%g) = %#04x, want %#04x", v, h[i], w)
			}
		}
	})
}

func isNaN(f float32) bool { return f != f }

func TestElementwise(t *testing.T) { eachBackend(t, testElementwise) }

func testElementwise(t *testing.T, _ *backend) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range sizes {
		x := randVec(r, n, 3)
		wt := randVec(r, n, 1)
		bs := randVec(r, n, 1)

		// RMSNorm, aliasing dst and x.
		got := append([]float32(nil), x...)
		RMSNorm(got, got, wt, 1e-5)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		inv := 1 / math.Sqrt(ss/float64(n)+1e-5)
		for i := range x {
			checkClose(t, "RMSNorm", i, got[i], float64(x[i])*inv*float64(wt[i]), 1e-5)
		}

		// LayerNorm.
		LayerNorm(got, x, wt, bs, 1e-6)
		var mean, vs float64
		for _, v := range x {
			mean += float64(v)
		}
		mean /= float64(n)
		for _, v := range x {
			vs += (float64(v) - mean) * (float64(v) - mean)
		}
		inv = 1 / math.Sqrt(vs/float64(n)+1e-6)
		for i := range x {
			checkClose(t, "LayerNorm", i, got[i], (float64(x[i])-mean)*inv*float64(wt[i])+float64(bs[i]), 1e-5)
		}

		// Softmax.
		copy(got, x)
		Softmax(got)
		m := math.Inf(-1)
		for _, v := range x {
			m = math.Max(m, float64(v))
		}
		var sum float64
		for _, v := range x {
			sum += math.Exp(float64(v) - m)
		}
		for i := range x {
			checkClose(t, "Softmax", i, got[i], math.Exp(float64(x[i])-m)/sum, 1e-5)
		}

		// SiLUMul, aliasing dst and gate.
		copy(got, x)
		SiLUMul(got, got, wt)
		for i, g := range x {
			gg := float64(g)
			checkClose(t, "SiLUMul", i, got[i], gg/(1+math.Exp(-gg))*float64(wt[i]), 1e-5)
		}

		// GELUTanh.
		GELUTanh(got, x)
		for i, v := range x {
			u := float64(v)
			checkClose(t, "GELUTanh", i, got[i], 0.5*u*(1+math.Tanh(math.Sqrt(2/math.Pi)*(u+0.044715*u*u*u))), 1e-5)
		}

		// Add, Scale.
		Add(got, x, wt)
		for i := range x {
			checkClose(t, "Add", i, got[i], float64(x[i])+float64(wt[i]), 1e-6)
		}
		Scale(got, 0.5)
		for i := range x {
			checkClose(t, "Scale", i, got[i], (float64(x[i])+float64(wt[i]))*0.5, 1e-6)
		}
	}
}

func TestActivationExtremes(t *testing.T) { eachBackend(t, testActivationExtremes) }

func testActivationExtremes(t *testing.T, _ *backend) {
	x := []float32{0, -0, 1e-40, -1e-40, 100, -100, 1e30, -1e30, float32(math.Inf(1)), float32(math.Inf(-1))}
	got := make([]float32, len(x))
	GELUTanh(got, x)
	// GELUTanh(-Inf) is -Inf·0 = NaN, as in PyTorch's formula.
	wantG := []float32{0, 0, 5e-41, -5e-41, 100, 0, 1e30, 0, float32(math.Inf(1)), float32(math.NaN())}
	for i := range x {
		if !closeOrEqual(got[i], wantG[i], 1e-6) && !(i == 2 || i == 3) {
			t.Errorf("GELUTanh(%g) = %g, want %g", x[i], got[i], wantG[i])
		}
	}
	one := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	SiLUMul(got[:8], x[:8], one[:8]) // SiLU(±Inf)·1 is left out: -Inf·0 is NaN in PyTorch too
	wantS := []float32{0, 0, 5e-41, -5e-41, 100, -3.7200760e-42, 1e30, 0}
	for i := range wantS {
		if !closeOrEqual(got[i], wantS[i], 1e-5) && !(i == 2 || i == 3 || i == 5) {
			t.Errorf("SiLU(%g) = %g, want %g", x[i], got[i], wantS[i])
		}
	}
	s := []float32{1000, 1000, -1000}
	Softmax(s)
	if s[0] != 0.5 || s[1] != 0.5 || s[2] != 0 {
		t.Errorf("Softmax large = %v", s)
	}
	inf := float32(math.Inf(-1))
	s = []float32{inf, 0, inf, inf, inf, inf, inf, inf, inf, inf, inf, inf, inf, inf, inf, inf, inf, inf}
	Softmax(s)
	for i, v := range s {
		want := float32(0)
		if i == 1 {
			want = 1
		}
		if v != want {
			t.Errorf("Softmax masked [%d] = %g, want %g", i, v, want)
		}
	}
}

// closeOrEqual reports whether got is within rel of a finite want, equals
// an infinite want, or is NaN where want is NaN.
func closeOrEqual(got, want float32, rel float64) bool {
	switch {
	case math.IsNaN(float64(want)):
		return math.IsNaN(float64(got))
	case math.IsInf(float64(want), 0):
		return got == want
	}
	return numcheck.Diff(float64(got), float64(want)) <= rel*math.Abs(float64(want))
}

func checkClose(t *testing.T, what string, i int, got float32, want, tol float64) {
	t.Helper()
	if d := numcheck.Diff(float64(got), want); d > tol*(math.Abs(want)+0.1) {
		t.Fatalf("%s [%d]: got %g want %g", what, i, got, want)
	}
}

func TestRoPE(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, tc := range []struct{ heads, hd int }{{1, 2}, {3, 8}, {9, 64}, {2, 130}} {
		x := randVec(r, tc.heads*tc.hd, 1)
		cos := make([]float32, tc.hd/2)
		sin := make([]float32, tc.hd/2)
		for i := range cos {
			a := r.Float64() * 7
			cos[i], sin[i] = float32(math.Cos(a)), float32(math.Sin(a))
		}
		got := append([]float32(nil), x...)
		RoPE(got, tc.heads, tc.hd, cos, sin)
		h := tc.hd / 2
		for hh := 0; hh < tc.heads; hh++ {
			for i := 0; i < tc.hd; i++ {
				// HF: x*cos_full + rotate_half(x)*sin_full
				xv := float64(x[hh*tc.hd+i])
				var rot float64
				if i < h {
					rot = -float64(x[hh*tc.hd+i+h])
				} else {
					rot = float64(x[hh*tc.hd+i-h])
				}
				want := xv*float64(cos[i%h]) + rot*float64(sin[i%h])
				checkClose(t, fmt.Sprintf("RoPE %v", tc), hh*tc.hd+i, got[hh*tc.hd+i], want, 1e-5)
			}
		}
	}
}

// naiveAttention is the float64 reference for one query position.
func naiveAttention(q []float32, kAt, vAt func(kv, t, d int) float64, nHeads, nKV, hd, n int, scale float32) []float64 {
	out := make([]float64, nHeads*hd)
	group := nHeads / nKV
	for h := 0; h < nHeads; h++ {
		kv := h / group
		s := make([]float64, n)
		m := math.Inf(-1)
		for t := 0; t < n; t++ {
			for d := 0; d < hd; d++ {
				s[t] += float64(q[h*hd+d]) * kAt(kv, t, d)
			}
			s[t] *= float64(scale)
			m = math.Max(m, s[t])
		}
		var sum float64
		for t := range s {
			s[t] = math.Exp(s[t] - m)
			sum += s[t]
		}
		for t := range s {
			for d := 0; d < hd; d++ {
				out[h*hd+d] += s[t] / sum * vAt(kv, t, d)
			}
		}
	}
	return out
}

func TestAttention(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(15, 16))
		for _, tc := range []struct{ nHeads, nKV, hd, n, stride int }{
			{1, 1, 8, 1, 4}, {2, 1, 16, 5, 9}, {4, 2, 64, 33, 40}, {8, 2, 64, 130, 130},
			{9, 3, 64, 200, 256}, {4, 4, 32, 17, 17}, {12, 12, 64, 300, 301}, {3, 1, 40, 77, 80}, {2, 2, 72, 5, 6},
		} {
			hd := tc.hd
			q := randVec(r, tc.nHeads*hd, 1)
			k := randVec(r, tc.nKV*tc.stride*hd, 1)
			v := randVec(r, tc.nKV*tc.stride*hd, 1)
			k16 := make([]uint16, len(k))
			v16 := make([]uint16, len(v))
			F32ToF16(k16, k)
			F32ToF16(v16, v)
			scale := float32(1 / math.Sqrt(float64(hd)))
			at := func(buf []float32) func(kv, t, d int) float64 {
				return func(kv, t, d int) float64 { return float64(buf[(kv*tc.stride+t)*hd+d]) }
			}
			at16 := func(buf []uint16) func(kv, t, d int) float64 {
				return func(kv, t, d int) float64 { return float64(half.F16ToF32(buf[(kv*tc.stride+t)*hd+d])) }
			}
			out := make([]float32, len(q))
			Attention(out, q, k, v, tc.nHeads, tc.nKV, hd, tc.n, tc.stride, scale)
			want := naiveAttention(q, at(k), at(v), tc.nHeads, tc.nKV, hd, tc.n, scale)
			for i := range out {
				checkClose(t, fmt.Sprintf("Attention %+v", tc), i, out[i], want[i], 1e-4)
			}
			AttentionF16(out, q, k16, v16, tc.nHeads, tc.nKV, hd, tc.n, tc.stride, scale)
			want = naiveAttention(q, at16(k16), at16(v16), tc.nHeads, tc.nKV, hd, tc.n, scale)
			for i := range out {
				checkClose(t, fmt.Sprintf("AttentionF16 %+v", tc), i, out[i], want[i], 1e-4)
			}
		}
	})
}

func TestAttentionCausal(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(17, 18))
		for _, tc := range []struct{ nHeads, nKV, hd, start, nTok, stride int }{
			{1, 1, 8, 0, 1, 4}, {2, 1, 16, 0, 5, 9}, {4, 2, 32, 3, 20, 30}, {9, 3, 64, 0, 70, 80}, {4, 1, 64, 10, 33, 64},
			{8, 2, 64, 0, 100, 100}, {2, 2, 48, 5, 13, 18}, {4, 4, 64, 33, 31, 64},
		} {
			hd, row := tc.hd, tc.nHeads*tc.hd
			q := randVec(r, tc.nTok*row, 1)
			k := randVec(r, tc.nKV*tc.stride*hd, 1)
			v := randVec(r, tc.nKV*tc.stride*hd, 1)
			out := make([]float32, len(q))
			AttentionCausal(out, q, k, v, tc.nTok, tc.nHeads, tc.nKV, hd, tc.start, tc.stride, 0.125)
			at := func(buf []float32) func(kv, t, d int) float64 {
				return func(kv, t, d int) float64 { return float64(buf[(kv*tc.stride+t)*hd+d]) }
			}
			for i := 0; i < tc.nTok; i++ {
				want := naiveAttention(q[i*row:(i+1)*row], at(k), at(v), tc.nHeads, tc.nKV, hd, tc.start+i+1, 0.125)
				for d := range want {
					checkClose(t, fmt.Sprintf("%+v token %d", tc, i), d, out[i*row+d], want[d], 1e-4)
				}
			}
			k16 := make([]uint16, len(k))
			v16 := make([]uint16, len(v))
			F32ToF16(k16, k)
			F32ToF16(v16, v)
			at16 := func(buf []uint16) func(kv, t, d int) float64 {
				return func(kv, t, d int) float64 { return float64(half.F16ToF32(buf[(kv*tc.stride+t)*hd+d])) }
			}
			AttentionCausalF16(out, q, k16, v16, tc.nTok, tc.nHeads, tc.nKV, hd, tc.start, tc.stride, 0.125)
			for i := 0; i < tc.nTok; i++ {
				want := naiveAttention(q[i*row:(i+1)*row], at16(k16), at16(v16), tc.nHeads, tc.nKV, hd, tc.start+i+1, 0.125)
				for d := range want {
					checkClose(t, fmt.Sprintf("f16 %+v token %d", tc, i), d, out[i*row+d], want[d], 1e-4)
				}
			}
		}
	})
}

func TestAttentionBatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(23, 24))
		for _, tc := range []struct{ nHeads, nKV, hd, nTok, n, stride int }{
			{1, 1, 8, 1, 3, 4}, {2, 1, 16, 5, 5, 9}, {12, 12, 64, 40, 40, 40}, {4, 2, 24, 7, 30, 31},
			{4, 1, 64, 70, 70, 70}, {2, 2, 32, 13, 3, 3}, {3, 3, 64, 25, 90, 96},
		} {
			hd, row := tc.hd, tc.nHeads*tc.hd
			q := randVec(r, tc.nTok*row, 1)
			k := randVec(r, tc.nKV*tc.stride*hd, 1)
			v := randVec(r, tc.nKV*tc.stride*hd, 1)
			out := make([]float32, len(q))
			AttentionBatch(out, q, k, v, tc.nTok, tc.nHeads, tc.nKV, hd, tc.n, tc.stride, 0.125)
			at := func(buf []float32) func(kv, t, d int) float64 {
				return func(kv, t, d int) float64 { return float64(buf[(kv*tc.stride+t)*hd+d]) }
			}
			for i := 0; i < tc.nTok; i++ {
				want := naiveAttention(q[i*row:(i+1)*row], at(k), at(v), tc.nHeads, tc.nKV, hd, tc.n, 0.125)
				for d := range want {
					checkClose(t, fmt.Sprintf("%+v token %d", tc, i), d, out[i*row+d], want[d], 1e-4)
				}
			}
		}
	})
}

// TestThreads checks that results are bit-identical whatever the thread
// count, on every path and weight type: a row's sum must not depend on which
// chunk (and which row loop of the kernel) computes it.
func TestThreads(t *testing.T) {
	defer SetThreads(0)
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(19, 20))
		for _, dt := range []DType{F32, F16, BF16, Q8} {
			m, _ := randMatrix(r, dt, 999, 333)
			x := randVec(r, 333, 1)
			want := make([]float32, 999)
			SetThreads(1)
			if Threads() != 1 {
				t.Fatalf("Threads() = %d after SetThreads(1)", Threads())
			}
			MatVec(want, m, x)
			for _, n := range []int{2, 3, 8} {
				SetThreads(n)
				got := make([]float32, 999)
				for rep := 0; rep < 5; rep++ {
					MatVec(got, m, x)
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s threads=%d rep %d row %d: %g != %g", dt, n, rep, i, got[i], want[i])
						}
					}
				}
			}
		}
	})
	SetThreads(0)
	if Threads() < 1 {
		t.Fatalf("default Threads() = %d", Threads())
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	r := rand.New(rand.NewPCG(21, 22))
	SetThreads(2)
	defer SetThreads(0)
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		m, _ := randMatrix(r, dt, 1536, 576)
		x := randVec(r, 576*4, 1)
		y := make([]float32, 1536*4)
		if a := testing.AllocsPerRun(20, func() { MatVec(y[:1536], m, x[:576]) }); a != 0 {
			t.Errorf("MatVec %s: %v allocs per call", dt, a)
		}
		if a := testing.AllocsPerRun(10, func() { MatMul(y, m, x, 4) }); a != 0 {
			t.Errorf("MatMul %s: %v allocs per call", dt, a)
		}
	}
	for _, dt := range []DType{Q8, Q4} {
		m, _ := randGrouped(r, dt, 1536, 576, 32)
		x := randVec(r, 576*4, 1)
		y := make([]float32, 1536*4)
		if a := testing.AllocsPerRun(20, func() { MatVec(y[:1536], m, x[:576]) }); a != 0 {
			t.Errorf("MatVec grouped %s: %v allocs per call", dt, a)
		}
		if a := testing.AllocsPerRun(10, func() { MatMul(y, m, x, 4) }); a != 0 {
			t.Errorf("MatMul grouped %s: %v allocs per call", dt, a)
		}
	}
	q := randVec(r, 9*64, 1)
	k := randVec(r, 3*512*64, 1)
	out := make([]float32, len(q))
	if a := testing.AllocsPerRun(20, func() { Attention(out, q, k, k, 9, 3, 64, 500, 512, 0.125) }); a != 0 {
		t.Errorf("Attention: %v allocs per call", a)
	}
	qs := randVec(r, 40*9*64, 1)
	outs := make([]float32, len(qs))
	if a := testing.AllocsPerRun(10, func() { AttentionCausal(outs, qs, k, k, 40, 9, 3, 64, 100, 512, 0.125) }); a != 0 {
		t.Errorf("AttentionCausal: %v allocs per call", a)
	}
	k16 := make([]uint16, len(k))
	F32ToF16(k16, k)
	if a := testing.AllocsPerRun(10, func() { AttentionCausalF16(outs, qs, k16, k16, 40, 9, 3, 64, 100, 512, 0.125) }); a != 0 {
		t.Errorf("AttentionCausalF16: %v allocs per call", a)
	}
	if a := testing.AllocsPerRun(10, func() { AttentionF16(out, q, k16, k16, 9, 3, 64, 500, 512, 0.125) }); a != 0 {
		t.Errorf("AttentionF16: %v allocs per call", a)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		m    *Matrix
		want string // substring of the error; "" for valid
	}{
		{&Matrix{Type: F32, Rows: 2, Cols: 3, F32: make([]float32, 6)}, ""},
		{&Matrix{Type: F32, Rows: 2, Cols: 3, F32: make([]float32, 5)}, "F32 has 5 elements, want 6"},
		{&Matrix{Type: F16, Rows: 2, Cols: 3, Half: make([]uint16, 7)}, ""},
		{&Matrix{Type: BF16, Rows: 1, Cols: 3}, "Half has 0 elements"},
		{&Matrix{Type: Q8, Rows: 2, Cols: 2, Q8: make([]int8, 4), Scale: make([]float32, 1)}, "Scale has 1 elements, want 2"},
		{&Matrix{Type: Q8, Rows: 2, Cols: 2, Q8: make([]int8, 3), Scale: make([]float32, 2)}, "Q8 has 3 elements"},
		{&Matrix{Type: F32, Rows: -1, Cols: 3}, "negative"},
		{&Matrix{Type: F32, Rows: math.MaxInt / 3, Cols: 4}, "overflows"},
		{&Matrix{Type: 7}, "unknown type 7"},
		{nil, "nil matrix"},
	} {
		err := tc.m.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", tc.m, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one containing %q", tc.m, err, tc.want)
		}
	}
}

func TestMatrixRow(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		m, ref := randMatrix(r, dt, 5, 37)
		dst := make([]float32, 37)
		for row := 0; row < 5; row++ {
			m.Row(dst, row)
			for c, v := range dst {
				if want := ref[row*37+c]; numcheck.Diff(float64(v), want) > 1e-7*math.Abs(want) {
					t.Fatalf("%s row %d col %d: %g, want %g", dt, row, c, v, want)
				}
			}
		}
	}
}

func TestPanics(t *testing.T) {
	m := &Matrix{Type: F32, Rows: 2, Cols: 3, F32: make([]float32, 6)}
	cases := map[string]func(){
		"MatVec x":     func() { MatVec(make([]float32, 2), m, make([]float32, 2)) },
		"MatVec short": func() { MatVec(make([]float32, 2), &Matrix{Type: F16, Rows: 2, Cols: 3}, make([]float32, 3)) },
		"MatMul y":     func() { MatMul(make([]float32, 3), m, make([]float32, 6), 2) },
		"Dot":          func() { Dot(make([]float32, 2), make([]float32, 3)) },
		"RoPE odd":     func() { RoPE(make([]float32, 3), 1, 3, nil, nil) },
		"Attention n":  func() { Attention(make([]float32, 4), make([]float32, 4), nil, nil, 1, 1, 4, 5, 4, 1) },
		"bad type":     func() { MatVec(nil, &Matrix{Type: 9}, nil) },
		"nil matrix":   func() { MatVec(nil, nil, nil) },
		"Row range":    func() { m.Row(make([]float32, 3), 2) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			f()
		})
	}
}

// TestConcurrentCalls runs kernels from several goroutines at once: every
// result must match a single-threaded run.
func TestConcurrentCalls(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	m, _ := randMatrix(r, BF16, 700, 300)
	x := randVec(r, 8*300, 1)
	want := make([]float32, 8*700)
	MatMul(want, m, x, 8)
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			y := make([]float32, 8*700)
			for rep := 0; rep < 30; rep++ {
				if rep%2 == 0 {
					MatMul(y, m, x, 8)
				} else {
					for i := 0; i < 8; i++ {
						MatVec(y[i*700:(i+1)*700], m, x[i*300:(i+1)*300])
					}
				}
				for i := range y {
					if d := numcheck.Diff(float64(y[i]), float64(want[i])); d > 1e-4*(math.Abs(float64(want[i]))+1) {
						done <- fmt.Errorf("rep %d [%d]: %g != %g", rep, i, y[i], want[i])
						return
					}
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestBackendsTested logs the backends every eachBackend test runs on this
// machine; CI prints the line so a report shows which instruction sets
// were exercised.
func TestBackendsTested(t *testing.T) {
	var names []string
	for _, b := range backends {
		names = append(names, b.name)
	}
	t.Logf("kernel backends tested (GOARCH=%s): %s", runtime.GOARCH, strings.Join(names, " "))
	if len(names) == 0 || names[0] != "generic" {
		t.Errorf("backends %v do not start with generic", names)
	}
}

func TestSelectBackend(t *testing.T) {
	best := backends[len(backends)-1]
	for _, tc := range []struct{ in, want string }{
		{"generic", "generic"},
		{"", best.name},
		{"no-such-path", best.name},
		{best.name, best.name},
	} {
		if got := selectBackend(tc.in).name; got != tc.want {
			t.Errorf("selectBackend(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if Implementation() == "" {
		t.Error("empty Implementation()")
	}
}

// TestExp32 sweeps the scalar exp over its whole range against math.Exp.
func TestExp32(t *testing.T) {
	for x := -110.0; x <= 95; x += 0.00731 {
		checkExp(t, float32(x), exp32(float32(x)))
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, float32(math.Inf(1)), float32(math.Inf(-1)), 88.72283, 88.72284, -103.97, -87.3365} {
		checkExp(t, x, exp32(x))
	}
	if v := exp32(float32(math.NaN())); v == v {
		t.Errorf("exp32(NaN) = %g", v)
	}
}

// checkExp compares got = exp(x) with math.Exp: 3e-7 relative, exact at the
// overflow and underflow ends, and within 1.2e-38 where the result is denormal.
func checkExp(t *testing.T, x, got float32) {
	t.Helper()
	want := float32(math.Exp(float64(x)))
	if want == 0 || math.IsInf(float64(want), 0) {
		if got != want && !(want == 0 && got < 1.5e-45) {
			t.Fatalf("exp(%g) = %g, want %g", x, got, want)
		}
		return
	}
	tol := 3e-7 * float64(want)
	if want < 1.2e-38 {
		tol = 1.2e-38
	}
	if d := numcheck.Diff(float64(got), float64(want)); d > tol {
		t.Fatalf("exp(%g) = %g, want %g (rel err %g)", x, got, want, d/float64(want))
	}
}

// MatVecs equals separate MatVec calls, for every type and split point.
func TestMatVecs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, typ := range []DType{F32, F16, BF16, Q8} {
		for _, rows := range [][]int{{1}, {64, 16, 16}, {300, 7, 129, 64}} {
			cols := 96
			x := make([]float32, cols)
			for i := range x {
				x[i] = rng.Float32()*2 - 1
			}
			var ws []*Matrix
			var ys, want [][]float32
			for _, r := range rows {
				w := randMatrixOf(rng, typ, r, cols)
				ws = append(ws, w)
				ys = append(ys, make([]float32, r))
				y := make([]float32, r)
				MatVec(y, w, x)
				want = append(want, y)
			}
			MatVecs(ys, ws, x)
			for i := range ys {
				for r := range ys[i] {
					if ys[i][r] != want[i][r] {
						t.Fatalf("%s rows %v: matrix %d row %d: %g, MatVec gives %g", typ, rows, i, r, ys[i][r], want[i][r])
					}
				}
			}
		}
	}
}

func randMatrixOf(rng *rand.Rand, typ DType, rows, cols int) *Matrix {
	m := &Matrix{Type: typ, Rows: rows, Cols: cols}
	n := rows * cols
	switch typ {
	case F32:
		m.F32 = make([]float32, n)
		for i := range m.F32 {
			m.F32[i] = rng.Float32()*2 - 1
		}
	case F16, BF16:
		m.Half = make([]uint16, n)
		for i := range m.Half {
			if typ == F16 {
				m.Half[i] = half.F32ToF16(rng.Float32()*2 - 1)
			} else {
				m.Half[i] = half.F32ToBF16(rng.Float32()*2 - 1)
			}
		}
	case Q8:
		m.Q8 = make([]int8, n)
		m.Scale = make([]float32, rows)
		for i := range m.Q8 {
			m.Q8[i] = int8(rng.IntN(255) - 127)
		}
		for i := range m.Scale {
			m.Scale[i] = rng.Float32() / 100
		}
	}
	return m
}

// TestLayerNormRows checks that the parallel rows are LayerNorm's bits,
// in place and not, with and without a bias, on 1 and 2 threads.
func TestLayerNormRows(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	defer SetThreads(Threads())
	for _, th := range []int{1, 2} {
		SetThreads(th)
		for _, s := range [][2]int{{1, 8}, {100, 768}, {7, 5}, {300, 64}} {
			n, d := s[0], s[1]
			x := randVec(r, n*d, 3)
			w, b := randVec(r, d, 1), randVec(r, d, 1)
			for _, bias := range [][]float32{nil, b} {
				want := make([]float32, n*d)
				for i := range n {
					LayerNorm(want[i*d:(i+1)*d], x[i*d:(i+1)*d], w, bias, 1e-6)
				}
				got := make([]float32, n*d)
				LayerNormRows(got, x, w, bias, n, 1e-6)
				inPlace := append([]float32(nil), x...)
				LayerNormRows(inPlace, inPlace, w, bias, n, 1e-6)
				if !slices.Equal(got, want) || !slices.Equal(inPlace, want) {
					t.Errorf("%d threads, %d x %d, bias %v: rows differ from LayerNorm", th, n, d, bias != nil)
				}
			}
		}
	}
}

// TestAddEqualsGeneric: Add gives the pure-Go sums bit for bit on every
// backend, at lengths around the SIMD width and in place.
func TestAddEqualsGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	eachBackend(t, func(t *testing.T, b *backend) {
		for _, n := range []int{0, 1, 7, 15, 16, 17, 31, 33, 100, 1000, 70000} {
			a, c := randVec(r, n, 3), randVec(r, n, 1)
			want, got := make([]float32, n), make([]float32, n)
			addGeneric(want, a, c)
			Add(got, a, c)
			Add(a, a, c) // dst aliasing a
			for i := range want {
				if got[i] != want[i] || a[i] != want[i] || math.IsNaN(float64(got[i])) {
					t.Fatalf("n=%d: [%d] = %v (in place %v), want %v", n, i, got[i], a[i], want[i])
				}
			}
		}
	})
}
