//go:build amd64 && !purego

package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"golang.org/x/sys/cpu"
)

// packPairsBF16 packs rows [r0, r0+rows) of the n x k row-major matrix x
// (zero rows past n, zero column past an odd k) into [kp][rows][2] bf16.
func packPairsBF16(dst []uint16, x []float32, n, k, r0, rows int) {
	kp := (k + 1) / 2
	for p := range kp {
		for i := range rows {
			for h := range 2 {
				c, r := 2*p+h, r0+i
				v := float32(0)
				if r < n && c < k {
					v = x[r*k+c]
				}
				dst[(p*rows+i)*2+h] = half.F32ToBF16(v)
			}
		}
	}
}

func needBF16(t testing.TB) {
	if !cpu.X86.HasAVX512BF16 || !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512BW {
		t.Skip("the CPU lacks AVX512_BF16")
	}
}

// TestGemmBF16x12x32R compares the micro-kernel with a float64 product of
// the same bf16 values, overwriting and accumulating, with and without a
// bias, for odd and even depths; A's rows are strided past their end (the
// padding holds NaN, which must not be read) and C has columns outside
// the tile.
func TestGemmBF16x12x32R(t *testing.T) {
	needBF16(t)
	r := rand.New(rand.NewPCG(21, 22))
	for _, k := range []int{1, 2, 7, 64, 768, 3072} {
		const mr, nr, ldc = 12, 32, 40
		x := randVec(r, mr*k, 1)
		w := randVec(r, nr*k, 1) // row j of W is output column j
		bias := randVec(r, nr, 1)
		kp := (k + 1) / 2
		lda := 2*kp + 6
		a := make([]uint16, mr*lda)
		for i := range a {
			a[i] = 0x7fc0 // NaN
		}
		for i := range mr {
			toBF16Generic(a[i*lda:i*lda+k], x[i*k:(i+1)*k])
			if k%2 == 1 {
				a[i*lda+k] = 0
			}
		}
		b := make([]uint16, kp*nr*2)
		packPairsBF16(b, w, nr, k, 0, nr)
		c := make([]float32, mr*ldc)
		for i := range c {
			c[i] = float32(i % 5)
		}
		for _, load := range []int{0, 1} {
			for _, bs := range [][]float32{nil, bias} {
				got := append([]float32(nil), c...)
				var bp *float32
				if bs != nil {
					bp = &bs[0]
				}
				gemmBF16x12x32R(kp, &a[0], lda, &b[0], &got[0], ldc, load, bp)
				worst := 0.0
				for i := range mr {
					for j := range ldc {
						if j >= nr {
							if got[i*ldc+j] != c[i*ldc+j] {
								t.Fatalf("k %d: wrote C[%d][%d] outside the tile", k, i, j)
							}
							continue
						}
						var sum, mag float64
						for q := range k {
							p := float64(half.BF16ToF32(half.F32ToBF16(x[i*k+q]))) * float64(half.BF16ToF32(half.F32ToBF16(w[j*k+q])))
							sum += p
							mag += math.Abs(p)
						}
						if bs != nil {
							sum += float64(bs[j])
							mag += math.Abs(float64(bs[j]))
						}
						if load == 1 {
							sum += float64(c[i*ldc+j])
						}
						v := float64(got[i*ldc+j])
						if math.IsNaN(v) || math.IsInf(v, 0) {
							t.Fatalf("k %d: C[%d][%d] = %v", k, i, j, v)
						}
						worst = max(worst, numcheck.Diff(v, sum)/(mag+1))
					}
				}
				// f32 accumulation of exact bf16 products: about an ulp of the magnitude.
				if !(worst <= 5e-7) { // measured: at most 1.2e-7
					t.Errorf("k %d load %d bias %v: worst error %.3g of the magnitude", k, load, bs != nil, worst)
				}
			}
		}
	}
}

// BenchmarkGemmBF16Tile runs the micro-kernel over one SigLIP-shaped GEMM
// (1024 rows x 768 deep, 768 or 3072 output columns; 3072 deep, 768) with
// MatMulBF16's blocking (bf16 rows strided by rowStrideBF16, weight panels
// packed once, items of 8 row panels x one weight panel over the full
// depth) without its packing, on one thread, with the bf16-dot peak
// measured between the calls on one thread.
func BenchmarkGemmBF16Tile(b *testing.B) {
	needBF16(b)
	const n, mr, nr = 1024, 12, 32
	for _, s := range []struct {
		name    string
		k, cols int
	}{{"768x768", 768, 768}, {"fc1-3072x768", 768, 3072}, {"fc2-768x3072", 3072, 768}} {
		b.Run(s.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			kp := s.k / 2
			panels, wpanels := (n+mr-1)/mr, s.cols/nr
			x := randVec(r, n*s.k, 1)
			w := randVec(r, s.cols*s.k, 1)
			lda := rowStrideBF16(s.k)
			a := make([]uint16, panels*mr*lda)
			for i := range n {
				toBF16Generic(a[i*lda:i*lda+s.k], x[i*s.k:(i+1)*s.k])
			}
			bp := make([]uint16, wpanels*kp*nr*2)
			for q := range wpanels {
				packPairsBF16(bp[q*kp*nr*2:], w, s.cols, s.k, q*nr, nr)
			}
			c := make([]float32, panels*mr*s.cols)
			run := func() {
				for p0 := 0; p0 < panels; p0 += bf16RB {
					for q := range wpanels {
						for p := p0; p < min(panels, p0+bf16RB); p++ {
							gemmBF16x12x32R(kp, &a[p*mr*lda], lda, &bp[q*kp*nr*2], &c[p*mr*s.cols+q*nr], s.cols, 0, nil)
						}
					}
				}
			}
			flops := 2 * float64(panels*mr) * float64(s.k) * float64(s.cols)
			var busy time.Duration
			var peakOps float64
			for b.Loop() {
				start := time.Now()
				run()
				el := time.Since(start)
				b.StopTimer()
				busy += el
				p, err := MeasurePeak(PeakBF16Dot, 1, el)
				if err != nil {
					b.Fatal(err)
				}
				peakOps += p * el.Seconds()
				b.StartTimer()
			}
			rate := flops * float64(b.N) / busy.Seconds()
			b.ReportMetric(rate/1e9, "GFLOP/s")
			b.ReportMetric(100*rate/(peakOps/busy.Seconds()), "%bf16-dot")
		})
	}
}

// TestPackWBF16 checks the weight panels (SIMD transposes of 16 rows x 16
// pairs plus the scalar tails) bit for bit against packPairsBF16, for bf16
// and f16 weights, full and partial panels, odd and even depths.
func TestPackWBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	for _, be := range backends {
		for _, dt := range []DType{BF16, F16} {
			for _, s := range [][2]int{{32, 64}, {70, 768}, {33, 45}, {48, 33}, {40, 1}, {32, 290}} {
				rows, cols := s[0], s[1]
				w, _ := randMatrix(r, dt, rows, cols)
				f := make([]float32, rows*cols)
				for i, h := range w.Half {
					if dt == F16 {
						f[i] = half.F16ToF32(h)
					} else {
						f[i] = half.BF16ToF32(h)
					}
				}
				kp := (cols + 1) / 2
				old := active
				active = be
				for r0 := 0; r0 < rows; r0 += bf16NR {
					got := make([]uint16, kp*bf16NR*2)
					for i := range got {
						got[i] = 0xffff
					}
					packWBF16(got, make([]uint16, 2*kp), w, r0, min(bf16NR, rows-r0))
					want := make([]uint16, kp*bf16NR*2)
					packPairsBF16(want, f, rows, cols, r0, bf16NR)
					if !slices.Equal(got, want) {
						t.Errorf("%s %v %dx%d rows %d..: packed panel differs", be.name, dt, rows, cols, r0)
					}
				}
				active = old
			}
		}
	}
}
