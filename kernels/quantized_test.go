package kernels

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// randGrouped returns a random rows x cols Q8 or Q4 matrix with one scale
// per group columns (0: per row), and its exact float64 values.
func randGrouped(r *rand.Rand, t DType, rows, cols, group int) (*Matrix, []float64) {
	g := group
	if g == 0 {
		g = cols
	}
	m := &Matrix{Type: t, Rows: rows, Cols: cols, Group: group, Scale: make([]float32, rows*cols/g)}
	for i := range m.Scale {
		m.Scale[i] = float32(r.Float64()*0.02 + 0.001)
	}
	ref := make([]float64, rows*cols)
	switch t {
	case Q8:
		m.Q8 = make([]int8, rows*cols)
		for i := range m.Q8 {
			m.Q8[i] = int8(r.IntN(255) - 127)
			ref[i] = float64(m.Q8[i]) * float64(m.Scale[i/g])
		}
	case Q4:
		m.Q4 = make([]byte, rows*cols/2)
		for i := range ref {
			v := r.IntN(16) - 8 // every code, -8 included
			m.Q4[i/2] |= byte(v+8) << (4 * (i % 2))
			ref[i] = float64(v) * float64(m.Scale[i/g])
		}
	}
	return m, ref
}

var groupedShapes = []struct{ rows, cols, group int }{
	{1, 32, 32}, {3, 64, 32}, {17, 128, 64}, {65, 256, 128}, {7, 384, 0}, {5, 96, 0},
	{9, 576, 64}, {4, 40, 0}, {6, 20, 10}, {2, 2, 0}, {301, 64, 32},
}

// TestMatVecGrouped checks grouped int8 and int4 MatVec on every backend
// against exact float64 products: within float rounding where activations
// stay float, within the int8 activation rounding (0.5% of sum|w*x| per
// block step, bounded by 1%) where they are quantized.
func TestMatVecGrouped(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, dt := range []DType{Q8, Q4} {
			for _, s := range groupedShapes {
				m, ref := randGrouped(r, dt, s.rows, s.cols, s.group)
				x := randVec(r, s.cols+1, 1)[1:]
				y := make([]float32, s.rows)
				MatVec(y, m, x)
				want, mag := refMatVec(ref, s.rows, s.cols, x)
				tol := 1e-5
				perRowQ8 := dt == Q8 && m.group() == s.cols // the per-row kernels
				if (perRowQ8 && b.quantizeQ8 != nil) || (!perRowQ8 && m.group()%q8Block == 0) {
					tol = 1e-2
				}
				for i := range y {
					if d := math.Abs(float64(y[i]) - want[i]); !(d <= tol*mag[i]+1e-30) {
						t.Fatalf("%s %v row %d: got %g want %g (err %g, mag %g)", dt, s, i, y[i], want[i], d, mag[i])
					}
				}
			}
		}
	})
}

// TestGroupedKernelsMatchGeneric checks each backend's grouped int8 / int4
// kernel against the pure-Go one on the same int8 activations: they sum the
// same integer products, so only float rounding order differs.
func TestGroupedKernelsMatchGeneric(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, dt := range []DType{Q8, Q4} {
			for _, s := range groupedShapes {
				m, ref := randGrouped(r, dt, s.rows, s.cols, s.group)
				x := randVec(r, s.cols, 1)
				_, mag := refMatVec(ref, s.rows, s.cols, x)
				q := quantizeActivations(b, x, dt)
				got, want := make([]float32, s.rows), make([]float32, s.rows)
				switch dt {
				case Q8:
					b.matVecQ8G(got, m.Q8, m.Scale, m.group(), q)
					matVecQ8GGeneric(want, m.Q8, m.Scale, m.group(), q)
				case Q4:
					b.matVecQ4(got, m.Q4, m.Scale, m.group(), q)
					matVecQ4Generic(want, m.Q4, m.Scale, m.group(), q)
				}
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-5*mag[i]+1e-30) {
						t.Fatalf("%s %v row %d: %s %g, generic %g", dt, s, i, b.name, got[i], want[i])
					}
				}
				q8Pool.Put(q)
			}
		}
	})
}

// TestMatMulGrouped checks Matrix.Row, the blocked GEMM (weights widened to
// float32 exactly) and the few-row path (MatVec per row) for grouped int8
// and int4; where the quantized GEMM runs, MatMul is MatVec per row up to
// float rounding.
func TestMatMulGrouped(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, dt := range []DType{Q8, Q4} {
			for _, s := range groupedShapes {
				m, ref := randGrouped(r, dt, s.rows, s.cols, s.group)
				row := make([]float32, s.cols)
				for i := range s.rows {
					m.Row(row, i)
					for c, v := range row {
						if float64(v) != float64(float32(ref[i*s.cols+c])) {
							t.Fatalf("%s %v: Row(%d)[%d] = %g, want %g", dt, s, i, c, v, ref[i*s.cols+c])
						}
					}
				}
				// Past maxRowsN rows, the GEMM: weights widened exactly.
				const n = maxRowsN + 5
				x := randVec(r, n*s.cols, 1)
				y := make([]float32, n*s.rows)
				MatMul(y, m, x, n)
				qg := qgemmApplies(b, m)
				yv := make([]float32, s.rows)
				for i := range n {
					if qg { // the quantized GEMM: MatVec up to float rounding
						xi := x[i*s.cols : (i+1)*s.cols]
						MatVec(yv, m, xi)
						if j, ok := nearMatVec(m, xi, y[i*s.rows:(i+1)*s.rows], yv); !ok {
							t.Fatalf("%s %v: y[%d,%d] = %g, MatVec %g", dt, s, i, j, y[i*s.rows+j], yv[j])
						}
						continue
					}
					want, mag := refMatVec(ref, s.rows, s.cols, x[i*s.cols:(i+1)*s.cols])
					for j := range s.rows {
						if d := math.Abs(float64(y[i*s.rows+j]) - want[j]); !(d <= 1e-5*mag[j]+1e-30) {
							t.Fatalf("%s %v: y[%d,%d] = %g, want %g", dt, s, i, j, y[i*s.rows+j], want[j])
						}
					}
				}
				// A few rows: exactly MatVec row by row.
				const few = 7
				yf := make([]float32, few*s.rows)
				MatMul(yf, m, x[:few*s.cols], few)
				for i := range few {
					MatVec(yv, m, x[i*s.cols:(i+1)*s.cols])
					if qg {
						if j, ok := nearMatVec(m, x[i*s.cols:(i+1)*s.cols], yf[i*s.rows:(i+1)*s.rows], yv); !ok {
							t.Fatalf("%s %v: %d rows: y[%d,%d] = %g, MatVec %g", dt, s, few, i, j, yf[i*s.rows+j], yv[j])
						}
						continue
					}
					for j, v := range yv {
						if yf[i*s.rows+j] != v {
							t.Fatalf("%s %v: %d rows: y[%d,%d] = %g, MatVec %g", dt, s, few, i, j, yf[i*s.rows+j], v)
						}
					}
				}
			}
		}
	})
}

func TestValidateGrouped(t *testing.T) {
	for _, c := range []struct {
		m    Matrix
		want string
	}{
		{Matrix{Type: Q4, Rows: 2, Cols: 3, Q4: make([]byte, 4), Scale: make([]float32, 2)}, "even number of columns"},
		{Matrix{Type: Q4, Rows: 2, Cols: 4, Q4: make([]byte, 3), Scale: make([]float32, 2)}, "Q4 has 3 elements, want 4"},
		{Matrix{Type: Q8, Rows: 2, Cols: 64, Group: 48, Q8: make([]int8, 128), Scale: make([]float32, 4)}, "group 48 does not divide"},
		{Matrix{Type: Q8, Rows: 2, Cols: 64, Group: 32, Q8: make([]int8, 128), Scale: make([]float32, 3)}, "Scale has 3 elements, want 4"},
		{Matrix{Type: Q4, Rows: 1, Cols: 64, Group: -32, Q4: make([]byte, 32), Scale: make([]float32, 2)}, "group -32"},
		{Matrix{Type: DType(200)}, "unknown type"},
	} {
		err := c.m.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.m, err, c.want)
		}
	}
	if _, err := NewQ4(2, 64, 32, make([]byte, 64), make([]float32, 4)); err != nil {
		t.Errorf("NewQ4: %v", err)
	}
}

// TestMatVecQ4Rows checks that each backend's int4 kernel gives every row
// the same bits however the rows are split (as across threads: row blocks
// of four, single rows, the padded last row) and whether or not the
// weights and scales continue past the rows it is given.
func TestMatVecQ4Rows(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, s := range groupedShapes {
			if s.cols%2 != 0 {
				continue
			}
			m, _ := randGrouped(r, Q4, s.rows, s.cols, s.group)
			g, groups := m.group(), m.groups()
			x := randVec(r, s.cols, 1)
			q := quantizeActivations(b, x, Q4)
			whole := make([]float32, s.rows)
			b.matVecQ4(whole, m.Q4, m.Scale, g, q)
			// The same rows with slack after them, split into parts of
			// 1 to 6 rows.
			w := append(append([]byte(nil), m.Q4...), make([]byte, 64)...)
			sc := append(append([]float32(nil), m.Scale...), 1, 2, 3, 4)
			part := make([]float32, s.rows)
			for lo, n := 0, 1; lo < s.rows; lo, n = lo+n, n%6+1 {
				hi := min(lo+n, s.rows)
				b.matVecQ4(part[lo:hi], w[lo*s.cols/2:], sc[lo*groups:], g, q)
			}
			for i := range whole {
				if whole[i] != part[i] || math.IsNaN(float64(whole[i])) {
					t.Fatalf("%v row %d: %g whole, %g in parts", s, i, whole[i], part[i])
				}
			}
			q8Pool.Put(q)
		}
	})
}
