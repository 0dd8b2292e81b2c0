package kernels

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// qgemmTol bounds |MatMul - MatVec| / sum|w*x| per output for the quantized
// GEMM: both multiply the same integers by the same scales and differ only
// in the order of float32 additions (measured up to 1.2e-7 in TestQgemmNearMatVec).
const qgemmTol = 1e-6

// qgemmTwin returns a copy of b running the pure-Go micro-kernel.
func qgemmTwin(b *backend) *backend {
	t := *b
	t.name = b.name + "+qgemm-generic"
	t.qgemm = qgemm4Generic
	if b.qgemm8 != nil {
		t.qgemm8 = qgemm8Generic
	}
	if b.qgemm16 != nil {
		t.qgemm16 = qgemm16Generic
	}
	return &t
}

// qgemmCases are the quantized matrices of the tests: int8 per row and
// grouped, int4 grouped and per row, with row counts that are not multiples
// of the kernel's 4 rows.
func qgemmCases(r *rand.Rand) []*Matrix {
	var ms []*Matrix
	for _, c := range []struct {
		dt                DType
		rows, cols, group int
	}{
		{Q8, 37, 96, 0}, {Q8, 130, 64, 32}, {Q8, 5, 128, 64},
		{Q4, 37, 96, 32}, {Q4, 66, 128, 64}, {Q4, 3, 64, 0},
	} {
		m, _ := randGrouped(r, c.dt, c.rows, c.cols, c.group)
		ms = append(ms, m)
	}
	return ms
}

// qgemmNs are the input row counts of the tests.
var qgemmNs = func() []int {
	ns := []int{100}
	for n := 2; n <= 33; n++ {
		ns = append(ns, n)
	}
	return ns
}()

// TestQgemmKernelEqualsGeneric: the SIMD micro-kernels give exactly what
// the pure-Go twin gives, for every quantized type and row count.
func TestQgemmKernelEqualsGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	n := 0
	for _, b := range backends {
		if b.qgemm == nil {
			continue
		}
		n++
		twin := qgemmTwin(b)
		for _, m := range qgemmCases(r) {
			for _, n := range qgemmNs {
				x := randVec(r, n*m.Cols, 1)
				got, want := make([]float32, n*m.Rows), make([]float32, n*m.Rows)
				matMul(b, got, m, x, n)
				matMul(twin, want, m, x, n)
				for i := range got {
					if got[i] != want[i] || math.IsNaN(float64(got[i])) {
						t.Fatalf("%s %s %dx%d group %d, n=%d: y[%d,%d] = %v, generic %v",
							b.name, m.Type, m.Rows, m.Cols, m.Group, n, i/m.Rows, i%m.Rows, got[i], want[i])
					}
				}
			}
		}
	}
	t.Logf("%d backends with a quantized GEMM kernel", n)
}

// TestQgemmNearMatVec: each row of the quantized GEMM is MatVec of that row
// up to float32 rounding (same quantized activations and integer dot
// products), on the pure-Go twin and on every backend that has the kernel;
// rows holding Inf or NaN are exactly MatVec (computed in float32).
func TestQgemmNearMatVec(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	var bs []*backend
	for _, b := range backends {
		if b.qgemm != nil {
			bs = append(bs, b)
		}
	}
	bs = append(bs, qgemmTwin(generic))
	for _, b := range bs {
		t.Run(b.name, func(t *testing.T) {
			worst := 0.0
			for _, m := range qgemmCases(r) {
				for _, n := range []int{2, 3, 16, 17, 33, 100} {
					x := randVec(r, n*m.Cols, 1)
					special := map[int]bool{}
					if n >= 3 {
						x[1*m.Cols+5] = float32(math.Inf(-1))
						x[(n-1)*m.Cols] = float32(math.NaN())
						special[1], special[n-1] = true, true
					}
					y := make([]float32, n*m.Rows)
					matMul(b, y, m, x, n)
					want := make([]float32, m.Rows)
					row := make([]float32, m.Cols)
					for i := range n {
						xi := x[i*m.Cols : (i+1)*m.Cols]
						qgemmRef(b, want, m, xi)
						for k, v := range want {
							got := y[i*m.Rows+k]
							if special[i] {
								if got != v && !(math.IsNaN(float64(got)) && math.IsNaN(float64(v))) {
									t.Fatalf("%s n=%d: non-finite row %d, output %d: %v, MatVec %v", m.Type, n, i, k, got, v)
								}
								continue
							}
							m.Row(row, k)
							mag := 0.0
							for c, w := range row {
								mag += math.Abs(float64(w) * float64(xi[c]))
							}
							d := numcheck.Diff(float64(got), float64(v))
							if !(d <= qgemmTol*mag) {
								t.Fatalf("%s %dx%d group %d n=%d: y[%d,%d] = %v, MatVec %v (|d|/mag %.2g)",
									m.Type, m.Rows, m.Cols, m.Group, n, i, k, got, v, d/mag)
							}
							worst = max(worst, d/mag)
						}
					}
				}
			}
			t.Logf("largest |MatMul-MatVec| / sum|w*x|: %.3g", worst)
		})
	}
}

// qgemmRef computes MatVec of x on b, or where b has no SIMD int8 kernels
// (the twin of the generic backend), the pure-Go integer kernels MatVec of
// grouped weights uses (one group per row for per-row int8).
func qgemmRef(b *backend, y []float32, m *Matrix, x []float32) {
	if b.quantizeQ8 != nil {
		matVec(b, y, m, x)
		return
	}
	q := quantizeActivations(generic, x, m.Type)
	defer q8Pool.Put(q)
	if m.Type == Q8 {
		matVecQ8GGeneric(y, m.Q8, m.Scale, m.group(), q)
	} else {
		matVecQ4Generic(y, m.Q4, m.Scale, m.group(), q)
	}
}

// nearMatVec reports whether got, row i of a MatMul by the quantized GEMM,
// is MatVec's want within qgemmTol of sum|w*x| for every output.
func nearMatVec(m *Matrix, x, got, want []float32) (k int, ok bool) {
	if len(got) != len(want) {
		return min(len(got), len(want)), false
	}
	row := make([]float32, m.Cols)
	for k, v := range want {
		m.Row(row, k)
		mag := 0.0
		for c, w := range row {
			mag += math.Abs(float64(w) * float64(x[c]))
		}
		if d := numcheck.Diff(float64(got[k]), float64(v)); !(d <= qgemmTol*mag) {
			return k, false
		}
	}
	return 0, true
}

// TestFma32 checks the float32 fused multiply-add of the twin against an
// exact product and sum rounded once (math/big), over operands whose
// exponents differ widely (so that the float64 sum is often inexact).
func TestFma32(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	for range 50000 {
		a, b, c := float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())
		c = float32(math.Ldexp(float64(c), r.IntN(80)-40))
		p := new(big.Float).SetPrec(300).SetFloat64(float64(a))
		p.Mul(p, new(big.Float).SetFloat64(float64(b)))
		p.Add(p, new(big.Float).SetFloat64(float64(c)))
		want, _ := p.Float32()
		if got := fma32(a, b, c); got != want {
			t.Fatalf("fma32(%v, %v, %v) = %v, want %v", a, b, c, got, want)
		}
	}
}

// BenchmarkQgemm compares MatMul of int8 and int4 weights (SmolLM2-135M
// MLP shapes) with the quantized GEMM ("qgemm") and without it ("float":
// matrix-vector kernels per row up to 32 rows, widened weights and the f32
// GEMM beyond), as GOP/s and percentages of the peak loops.
func BenchmarkQgemm(b *testing.B) {
	r := rand.New(rand.NewPCG(47, 48))
	old := *active
	old.qgemm = nil
	for _, c := range []struct {
		dt                DType
		rows, cols, group int
	}{{Q8, 1536, 576, 0}, {Q8, 576, 1536, 0}, {Q4, 1536, 576, 32}, {Q4, 576, 1536, 32}} {
		m, _ := randGrouped(r, c.dt, c.rows, c.cols, c.group)
		for _, n := range []int{1, 16, 512} {
			x := randVec(r, n*m.Cols, 1)
			y := make([]float32, n*m.Rows)
			for _, p := range []struct {
				name string
				b    *backend
			}{{"qgemm", active}, {"float", &old}} {
				if p.b.qgemm == nil && p.name == "qgemm" {
					continue
				}
				b.Run(fmt.Sprintf("%s/%dx%d/n=%d/%s", c.dt, c.rows, c.cols, n, p.name), func(b *testing.B) {
					benchPeakFraction(b, 2*float64(n*m.Rows*m.Cols), func() { matMul(p.b, y, m, x, n) })
				})
			}
		}
	}
}

// TestQgemmPrep: the weight preparation (SIMD where the build has it)
// equals the pure-Go one, for lengths that exercise every loop tail.
func TestQgemmPrep(t *testing.T) {
	r := rand.New(rand.NewPCG(49, 50))
	for _, n := range []int{32, 64, 96, 160, 1024 + 32} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		got, want := make([]byte, 2*n), make([]byte, 2*n)
		xor80(got, src)
		xor80Generic(want, src)
		if string(got) != string(want) {
			t.Fatalf("xor80, %d bytes: differs from the generic code", n)
		}
		for _, m := range []int{n, n - 16} {
			nibbles(got, src[:m])
			nibblesGeneric(want, src[:m])
			if string(got[:2*m]) != string(want[:2*m]) {
				t.Fatalf("nibbles, %d bytes: differs from the generic code", m)
			}
		}
	}
}

// BenchmarkQgemmKernel runs the micro-kernels alone (one thread, operands in
// cache) as a fraction of the one-thread peaks: 8x8 (n <= 8, raw int8),
// 8x16 (one tile), 4x16
// and 4x32 on prepared (w+128) and raw int8 weights.
func BenchmarkQgemmKernel(b *testing.B) {
	if active.qgemm == nil {
		b.Skip("no quantized GEMM kernel on this backend")
	}
	const cols = 576
	blocks := cols / q8Block
	w := make([]byte, qgRows*cols)
	ws := make([]float32, qgRows)
	a := make([]byte, 2*blocks*qgBlockBytes)
	out := make([]float32, qgOutLen)
	const ldy = qgRows
	defer SetThreads(Threads())
	SetThreads(1)
	if active.qgemm8 != nil {
		w8 := make([]byte, qgRows8*cols)
		ws8 := make([]float32, qgRows8)
		b.Run("8x8", func(b *testing.B) {
			const reps = 64
			benchPeakFraction(b, reps*2*float64(qgRows8*qgSmall*cols), func() {
				for range reps {
					active.qgemm8(out, qgRows8, w8, true, cols, ws8, 1, blocks, a[:blocks*qgBlockBytes], blocks, nil)
				}
			})
		})
	}
	if active.qgemm16 != nil {
		w16 := make([]byte, qgRows8*cols)
		ws16 := make([]float32, qgRows8)
		out16 := make([]float32, qgTile*qgRows8)
		for _, raw := range []bool{false, true} {
			name := "8x16"
			if raw {
				name += "-raw"
			}
			b.Run(name, func(b *testing.B) {
				const reps = 64
				benchPeakFraction(b, reps*2*float64(qgRows8*qgTile*cols), func() {
					for range reps {
						active.qgemm16(out16, qgRows8, w16, raw, cols, ws16, 1, blocks, a[:blocks*qgBlockBytes], blocks, nil)
					}
				})
			})
		}
	}
	for _, nt := range []int{1, 2} {
		for _, raw := range []bool{false, true} {
			name := fmt.Sprintf("4x%d", nt*qgTile)
			if raw {
				name += "-raw"
			}
			b.Run(name, func(b *testing.B) {
				var a2 []byte
				if nt == 2 {
					a2 = a[blocks*qgBlockBytes:]
				}
				const reps = 64
				benchPeakFraction(b, reps*2*float64(qgRows*nt*qgTile*cols), func() {
					for range reps {
						active.qgemm(out, ldy, w, raw, cols, ws, 1, blocks, a[:blocks*qgBlockBytes], a2, blocks, nil)
					}
				})
			})
		}
	}
}

// TestQgemmNoAllocs: the quantized GEMM allocates nothing in steady state,
// through the 8-row kernel (n <= 8) and the 16/32-row ones.
func TestQgemmNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := rand.New(rand.NewPCG(53, 54))
	for _, m := range qgemmCases(r) {
		for _, n := range []int{3, 8, 16, 40} {
			x := randVec(r, n*m.Cols, 1)
			y := make([]float32, n*m.Rows)
			MatMul(y, m, x, n)
			if a := testing.AllocsPerRun(10, func() { MatMul(y, m, x, n) }); a != 0 {
				t.Fatalf("%s %dx%d n=%d: %v allocations per MatMul", m.Type, m.Rows, m.Cols, n, a)
			}
		}
	}
}

// TestMatMulsEqualsMatMul: MatMuls gives MatMul's results bit for bit, for
// matrices of one quantized type (one packing, one parallel call), of mixed
// types (MatMul each), with Inf or NaN input rows and for n = 1, and
// allocates nothing.
func TestMatMulsEqualsMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(55, 56))
	const cols = 128
	q8a, _ := randGrouped(r, Q8, 40, cols, 0)
	q8b, _ := randGrouped(r, Q8, 12, cols, 32)
	q8c, _ := randGrouped(r, Q8, 96, cols, 0)
	q4a, _ := randGrouped(r, Q4, 24, cols, 32)
	q4b, _ := randGrouped(r, Q4, 70, cols, 64)
	f16, _ := randMatrix(r, F16, 8, cols)
	for _, ws := range [][]*Matrix{{q8a, q8b, q8c}, {q4a, q4b}, {q8a}, {q8a, q4a, f16}} {
		for _, n := range []int{1, 2, 5, 8, 9, 16, 17, 33, 40} {
			x := randVec(r, n*cols, 1)
			if n >= 5 {
				x[3*cols+7] = float32(math.Inf(1))
			}
			ys := make([][]float32, len(ws))
			for i, w := range ws {
				ys[i] = make([]float32, n*w.Rows)
			}
			MatMuls(ys, ws, x, n)
			for i, w := range ws {
				want := make([]float32, n*w.Rows)
				MatMul(want, w, x, n)
				if len(ys[i]) != len(want) {
					t.Fatalf("n=%d matrix %d: %d outputs, want %d", n, i, len(ys[i]), len(want))
				}
				for k := range want {
					if ys[i][k] != want[k] && !(math.IsNaN(float64(ys[i][k])) && math.IsNaN(float64(want[k]))) {
						t.Fatalf("n=%d matrix %d (%s): y[%d] = %v, MatMul %v", n, i, w.Type, k, ys[i][k], want[k])
					}
				}
			}
			if !raceEnabled {
				if a := testing.AllocsPerRun(5, func() { MatMuls(ys, ws, x, n) }); a != 0 {
					t.Fatalf("n=%d, %d matrices: %v allocations per MatMuls", n, len(ws), a)
				}
			}
		}
	}
}

// TestMatMulWidened: MatMulWidened is MatMul of a backend without the
// quantized GEMM, bit for bit (f32-widened GEMM past 32 rows, MatVec below).
func TestMatMulWidened(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	old := *active
	old.qgemm = nil
	for _, m := range qgemmCases(r) {
		for _, n := range []int{2, 17, 100} {
			x := randVec(r, n*m.Cols, 1)
			got, want := make([]float32, n*m.Rows), make([]float32, n*m.Rows)
			MatMulWidened(got, m, x, n)
			matMul(&old, want, m, x, n)
			for i := range got {
				if got[i] != want[i] || math.IsNaN(float64(got[i])) {
					t.Fatalf("%s n=%d: y[%d] = %v, want %v", m.Type, n, i, got[i], want[i])
				}
			}
		}
	}
}

// TestMatMulTo: MatMulTo gives MatMul's results bit for bit, each row into
// its own slice and nothing past it, for quantized matrices (the quantized
// GEMM where the backend has it, through the mirrored 8-row kernel, 16-row
// tiles and partial tiles), float matrices, Inf or NaN input rows and
// n = 1, and allocates nothing in steady state.
func TestMatMulTo(t *testing.T) {
	r := rand.New(rand.NewPCG(57, 58))
	ms := qgemmCases(r)
	f16, _ := randMatrix(r, F16, 21, 64)
	f32, _ := randMatrix(r, F32, 9, 32)
	ms = append(ms, f16, f32)
	const guard = 3 // values around each output row that must stay untouched
	for _, m := range ms {
		for _, n := range []int{1, 2, 3, 7, 8, 9, 15, 16, 17, 33, 100} {
			x := randVec(r, n*m.Cols, 1)
			if n >= 5 {
				x[3*m.Cols+7] = float32(math.NaN())
			}
			want := make([]float32, n*m.Rows)
			MatMul(want, m, x, n)
			// Rows in one array, out of order, with gaps between them.
			stride := m.Rows + 2*guard
			back := make([]float32, n*stride)
			for i := range back {
				back[i] = -7
			}
			ys := make([][]float32, n)
			for i := range ys {
				k := (i*5 + 3) % n // a permutation when gcd(5, n) = 1, else reversed
				if gcdInt(5, n) != 1 {
					k = n - 1 - i
				}
				ys[i] = back[k*stride+guard : k*stride+guard+m.Rows]
			}
			MatMulTo(ys, m, x)
			for i, y := range ys {
				if len(y) != m.Rows {
					t.Fatalf("%s n=%d: row %d has %d values, want %d", m.Type, n, i, len(y), m.Rows)
				}
				for k, v := range y {
					w := want[i*m.Rows+k]
					if v != w && !(math.IsNaN(float64(v)) && math.IsNaN(float64(w))) || i != 3 && math.IsNaN(float64(v)) {
						t.Fatalf("%s %dx%d n=%d: row %d, output %d = %v, MatMul %v", m.Type, m.Rows, m.Cols, n, i, k, v, w)
					}
				}
			}
			for k := range n {
				for g := range guard {
					if back[k*stride+g] != -7 || back[(k+1)*stride-1-g] != -7 {
						t.Fatalf("%s n=%d: MatMulTo wrote outside the output rows (slot %d)", m.Type, n, k)
					}
				}
			}
			if !raceEnabled {
				if a := testing.AllocsPerRun(5, func() { MatMulTo(ys, m, x) }); a != 0 {
					t.Fatalf("%s n=%d: %v allocations per MatMulTo", m.Type, n, a)
				}
			}
		}
	}
}

func gcdInt(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// TestQgemmDecodeThreads: a decode step's quantized GEMM (n <= 16) gives
// the single-threaded results bit for bit on 2 to 4 threads, through
// MatMuls and MatMulTo, with the pool's fixed chunks (few panels) and with
// panels claimed by the threads (qgemmGuidedJob: at least qgGuidedItems
// panels), Inf or NaN in an input row.
func TestQgemmDecodeThreads(t *testing.T) {
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(59, 60))
	q8a, _ := randGrouped(r, Q8, 301, 576, 0)
	q8b, _ := randGrouped(r, Q8, 67, 576, 0)
	q4a, _ := randGrouped(r, Q4, 90, 640, 64)
	q4b, _ := randGrouped(r, Q4, 45, 640, 32)
	// Many panels: 64 KiB of prepared weights each, so 1024 columns give
	// 64 rows per panel.
	bigRows := qgGuidedItems*(qgPanelBytes/1024) + 13
	q8big, _ := randGrouped(r, Q8, bigRows, 1024, 0)
	q4big, _ := randGrouped(r, Q4, bigRows, 1024, 64)
	for _, ws := range [][]*Matrix{{q8a, q8b, q8a}, {q4a, q4b}, {q8b}, {q8big}, {q4big}} {
		cols := ws[0].Cols
		reps := 20
		if ws[0].Rows == bigRows {
			reps = 3
		}
		for _, n := range []int{2, 3, 7, 8, 9, 15, 16} {
			x := randVec(r, n*cols, 1)
			if n >= 3 {
				x[2*cols+cols-5] = float32(math.NaN())
			}
			outs := func() ([][]float32, [][]float32) {
				ys := make([][]float32, len(ws))
				for i, w := range ws {
					ys[i] = make([]float32, n*w.Rows)
				}
				to := make([][]float32, n)
				for i := range to {
					to[i] = make([]float32, ws[0].Rows)
				}
				return ys, to
			}
			SetThreads(1)
			want, wantTo := outs()
			MatMuls(want, ws, x, n)
			MatMulTo(wantTo, ws[0], x)
			// The reference itself: NaN throughout the NaN input's row,
			// finite elsewhere, so that equal bits cannot hide a bad one.
			for i := range n {
				rows := [][]float32{wantTo[i]}
				for k, w := range ws {
					rows = append(rows, want[k][i*w.Rows:(i+1)*w.Rows])
				}
				for _, row := range rows {
					if n >= 3 && i == 2 {
						if k := slices.IndexFunc(row, func(v float32) bool { return !math.IsNaN(float64(v)) }); k >= 0 {
							t.Fatalf("n=%d: 1 thread: output %d of the NaN row is %g, want NaN", n, k, row[k])
						}
						continue
					}
					numcheck.Finite(t, fmt.Sprintf("n=%d row %d, 1 thread", n, i), row)
				}
			}
			for th := 2; th <= 4; th++ {
				SetThreads(th)
				for rep := range reps {
					got, gotTo := outs()
					MatMuls(got, ws, x, n)
					MatMulTo(gotTo, ws[0], x)
					for i := range got {
						if k, ok := sameFloats(got[i], want[i]); !ok {
							t.Fatalf("%s %dx%d n=%d, %d threads (rep %d): matrix %d output %d = %v, 1 thread %v", ws[0].Type, ws[0].Rows, cols, n, th, rep, i, k, got[i][k], want[i][k])
						}
					}
					for i := range gotTo {
						if k, ok := sameFloats(gotTo[i], wantTo[i]); !ok {
							t.Fatalf("%s %dx%d n=%d, %d threads (rep %d): MatMulTo row %d output %d = %v, 1 thread %v", ws[0].Type, ws[0].Rows, cols, n, th, rep, i, k, gotTo[i][k], wantTo[i][k])
						}
					}
				}
			}
		}
	}
}

// sameFloats reports whether a and b hold the same values (NaN equal to
// NaN), else the first index where they differ.
func sameFloats(a, b []float32) (int, bool) {
	if len(a) != len(b) {
		return min(len(a), len(b)), false
	}
	for k := range a {
		if a[k] != b[k] && !(math.IsNaN(float64(a[k])) && math.IsNaN(float64(b[k]))) {
			return k, false
		}
	}
	return 0, true
}
