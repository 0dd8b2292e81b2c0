package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// TestMatMulBF16 compares MatMulBF16 with a float64 product of the
// bf16-rounded activations and the bf16 weights, on every backend, over
// shapes with partial row and column tiles and an odd depth.
func TestMatMulBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, be := range backends {
		old := active
		active = be
		for _, s := range [][4]int{{12, 32, 8, int(BF16)}, {13, 40, 33, int(BF16)}, {30, 7, 64, int(BF16)}, {100, 70, 768, int(BF16)},
			{25, 64, 600, int(BF16)}, {20, 33, 4201, int(BF16)}, {12, 32, 8, int(F16)}, {14, 33, 4201, int(F16)}, {13, 40, 33, int(F16)}, {100, 70, 768, int(F16)}} {
			n, rows, cols := s[0], s[1], s[2]
			w, _ := randMatrix(r, DType(s[3]), rows, cols)
			x := randVec(r, n*cols, 1)
			y := make([]float32, n*rows)
			for i := range y {
				y[i] = float32(math.NaN()) // every output must be written
			}
			MatMulBF16(y, w, x, n)
			worst := 0.0
			for i := range n {
				for j := range rows {
					var sum, mag float64
					for c := range cols {
						xv := x[i*cols+c]
						if hasBF16Dot(be) && n >= bf16MR {
							xv = half.BF16ToF32(half.F32ToBF16(xv))
						}
						wf := half.BF16ToF32(w.Half[j*cols+c])
						if w.Type == F16 {
							wf = half.F16ToF32(w.Half[j*cols+c])
							if hasBF16Dot(be) && n >= bf16MR {
								wf = half.BF16ToF32(half.F32ToBF16(wf))
							}
						}
						p := float64(xv) * float64(wf)
						sum += p
						mag += math.Abs(p)
					}
					v := float64(y[i*rows+j])
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("%s %v: y[%d][%d] = %v", be.name, s, i, j, v)
					}
					worst = max(worst, numcheck.Diff(v, sum)/(mag+1e-30))
				}
			}
			// f32 accumulation of exact products: measured at most 1.5e-7.
			if !(worst <= 6e-7) {
				t.Errorf("%s %v: worst error %.3g of the magnitude", be.name, s, worst)
			}
			t.Logf("%s %v: worst error %.3g of the magnitude (bf16 dot: %v)", be.name, s, worst, hasBF16Dot(be) && n >= bf16MR)
		}
		active = old
	}
	// Other weight types are MatMul, bit for bit.
	w, _ := randMatrix(r, F32, 40, 64)
	x := randVec(r, 20*64, 1)
	got, want := make([]float32, 20*40), make([]float32, 20*40)
	MatMulBF16(got, w, x, 20)
	MatMul(want, w, x, 20)
	if !slices.Equal(got, want) {
		t.Error("MatMulBF16 on f32 weights differs from MatMul")
	}
}

// TestMatMulBF16Passes checks that packing the weights in several passes
// (a large matrix) gives the same bits as one pass, partial last panel and
// pass included.
func TestMatMulBF16Passes(t *testing.T) {
	if !hasBF16Dot(active) {
		t.Skip("no bf16 micro-kernel on this backend")
	}
	r := rand.New(rand.NewPCG(33, 34))
	const n, rows, cols = 30, 170, 96
	w, _ := randMatrix(r, F16, rows, cols)
	x := randVec(r, n*cols, 1)
	want := make([]float32, n*rows)
	MatMulBF16(want, w, x, n)
	old := bf16WMax
	defer func() { bf16WMax = old }()
	for _, per := range []int{1, 2, 5} {
		bf16WMax = per * cols / 2 * bf16NR * 2
		got := make([]float32, n*rows)
		for i := range got {
			got[i] = float32(math.NaN())
		}
		MatMulBF16(got, w, x, n)
		if !slices.Equal(got, want) {
			t.Errorf("%d weight panels per pass: result differs from one pass", per)
		}
	}
}

// TestMatMulBF16Fused compares every epilogue with MatMulBF16 followed by
// the separate calls (Add of the bias, Add into y, GELUTanh), bit for bit,
// on every backend, full and partial tiles included.
func TestMatMulBF16Fused(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	for _, be := range backends {
		old := active
		active = be
		for _, s := range [][3]int{{24, 64, 96}, {13, 40, 33}, {100, 70, 768}, {5, 8, 16}} {
			n, rows, cols := s[0], s[1], s[2]
			w, _ := randMatrix(r, F16, rows, cols)
			x := randVec(r, n*cols, 1)
			bias := randVec(r, rows, 1)
			y0 := randVec(r, n*rows, 1)
			for _, ep := range []Epilogue{{}, {Bias: bias}, {Accumulate: true}, {Bias: bias, Accumulate: true}, {GELU: true}, {Bias: bias, GELU: true}} {
				want := append([]float32(nil), y0...)
				h := make([]float32, n*rows)
				MatMulBF16(h, w, x, n)
				for i := range n {
					hr, wr := h[i*rows:(i+1)*rows], want[i*rows:(i+1)*rows]
					if ep.Bias != nil {
						Add(hr, hr, ep.Bias)
					}
					switch {
					case ep.Accumulate:
						Add(wr, wr, hr)
					case ep.GELU:
						GELUTanh(wr, hr)
					default:
						copy(wr, hr)
					}
				}
				got := append([]float32(nil), y0...)
				MatMulBF16Fused(got, w, x, n, ep)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %v bias %v accumulate %v gelu %v: y[%d] = %v, separate calls %v",
							be.name, s, ep.Bias != nil, ep.Accumulate, ep.GELU, i, got[i], want[i])
					}
				}
			}
		}
		active = old
	}
}
