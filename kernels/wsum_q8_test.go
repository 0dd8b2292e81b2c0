package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// TestWsumQ8Edges checks the int8 weighted sums where their integer
// arithmetic is at its limits, for every backend against the generic twin
// (bit-exact; NaN where a head's products are not all finite) and against
// float64 sums of the de-quantized rows: runs longer than wsumQ8Span rows,
// whose int32 sums are flushed (all weights the largest and all values
// -128: the int32 sums' extreme), blocks longer than wsumQ8Span, weights
// so small that the quantization's reciprocal overflows, all zero weights,
// and NaN or Inf weights. Measured differences from float64: 4.5e-5 of
// the largest magnitude (peaked softmax weights, up to 512 positions per
// weight scale); tolerance 1e-4.
func TestWsumQ8Edges(t *testing.T) {
	const kv, hd = 2, 64
	cases := []struct {
		name           string
		bt, from, n, g int
		vmin           bool    // every value -128, every weight equal
		vscale         float32 // the value scales' magnitude
		nanAt, infAt   int     // a NaN weight of head 1, an Inf value scale (-1: none)
		zero           bool    // all weights 0
	}{
		{"long", 16, 5, 1300, 3, false, 0.01, -1, -1, false},
		{"long-g6", 16, 9, 1200, 6, false, 0.01, -1, -1, false},
		{"extreme", 16, 0, 1100, 3, true, 0.01, -1, -1, false},
		{"extreme-odd", 48, 3, 1201, 4, true, 0.01, -1, -1, false},
		{"big-blocks", 600, 7, 1300, 3, false, 0.01, -1, -1, false},
		{"tiny", 16, 2, 300, 3, false, 1e-38, -1, -1, false},
		{"zero", 16, 0, 100, 3, false, 0.01, -1, -1, true},
		{"nan", 16, 1, 200, 3, false, 0.01, 77, -1, false},
		{"inf", 16, 1, 200, 3, false, 0.01, -1, 150, false},
	}
	eachBackend(t, func(t *testing.T, b *backend) {
		gk := b.groupKernels()
		r := rand.New(rand.NewPCG(91, 92))
		var worst float64
		for _, tc := range cases {
			m, nb := tc.n-tc.from, (tc.n+tc.bt-1)/tc.bt
			v, vs := make([][]int8, nb), make([][]float32, nb)
			for i := range nb {
				v[i], vs[i] = make([]int8, kv*tc.bt*hd), make([]float32, kv*tc.bt)
				for j := range v[i] {
					v[i][j] = int8(r.IntN(255) - 127)
					if tc.vmin {
						v[i][j] = -128
					}
				}
				for j := range vs[i] {
					vs[i][j] = tc.vscale * float32(0.5+r.Float64())
					if tc.vmin {
						vs[i][j] = tc.vscale
					}
				}
			}
			p := randVec(r, tc.g*m, 4)
			for h := range tc.g {
				softmaxGeneric(p[h*m : (h+1)*m])
				if tc.vmin {
					for i := range m {
						p[h*m+i] = 1 / float32(m)
					}
				}
			}
			if tc.zero {
				clear(p)
			}
			at := func(t int) (int, int) { return t / tc.bt, tc.bt + t%tc.bt } // head 1's rows
			if tc.nanAt >= 0 {
				p[1*m+tc.nanAt] = float32(math.NaN())
			}
			if tc.infAt >= 0 {
				blk, row := at(tc.from + tc.infAt)
				vs[blk][row] = float32(math.Inf(1))
			}
			out0 := randVec(r, tc.g*hd, 1)
			got, want := append([]float32(nil), out0...), append([]float32(nil), out0...)
			gk.wsumQ8(got, v, vs, tc.bt, tc.from, tc.n, tc.bt*hd, p, tc.g, hd)
			groupGeneric.wsumQ8(want, v, vs, tc.bt, tc.from, tc.n, tc.bt*hd, p, tc.g, hd)
			ref := make([]float32, len(out0))
			for h := range tc.g {
				for d := range hd {
					s := float64(out0[h*hd+d])
					for i := range m {
						blk, row := at(tc.from + i)
						w := float64(p[h*m+i]) * float64(vs[blk][row])
						if math.IsInf(w, 0) {
							w = math.NaN() // a NaN weight scale
						}
						s += w * float64(v[blk][row*hd+d])
					}
					ref[h*hd+d] = float32(s)
				}
			}
			for i := range want {
				nanRef, nanGot, nanWant := math.IsNaN(float64(ref[i])), math.IsNaN(float64(got[i])), math.IsNaN(float64(want[i]))
				if nanGot != nanRef || nanWant != nanRef {
					t.Fatalf("%s: out[%d] = %g (generic %g), want %g", tc.name, i, got[i], want[i], ref[i])
				}
				if nanRef {
					got[i], want[i], ref[i] = 0, 0, 0
				}
			}
			if tc.infAt >= 0 {
				continue // every head NaN, as checked
			}
			if d := numcheck.MaxAbs(t, tc.name, got, want); d != 0 {
				t.Errorf("%s: max diff %g from the generic twin (want 0)", tc.name, d)
			}
			d := relMaxAbs(t, tc.name, want, ref)
			worst = max(worst, d)
			if !(d <= 1e-4) {
				t.Errorf("%s: max diff %g of the largest magnitude from float64 sums", tc.name, d)
			}
		}
		t.Logf("largest difference from float64 sums: %g", worst)
	})
}

// BenchmarkWsumQ8 times the int8 weighted sums of one KV head (3 KV heads
// per block, blocks of 16, head size 64) over ctx positions in cache, for
// g query heads of softmax weights, per backend.
func BenchmarkWsumQ8(b *testing.B) {
	const kv, hd, bt = 3, 64, 16
	r := rand.New(rand.NewPCG(83, 84))
	for _, ctx := range []int{128, 640} {
		v, vs := randQ8Blocks(r, ctx/bt, kv, bt, hd)
		for _, sc := range vs {
			for j, s := range sc {
				sc[j] = max(s, -s)
			}
		}
		for _, g := range []int{1, 3, 4} {
			p := randVec(r, g*ctx, 4)
			for h := range g {
				softmaxGeneric(p[h*ctx : (h+1)*ctx])
			}
			out := make([]float32, g*hd)
			for _, be := range backends {
				gk := be.groupKernels()
				b.Run(fmt.Sprintf("ctx=%d/g=%d/%s", ctx, g, be.name), func(b *testing.B) {
					b.SetBytes(int64(ctx * (hd + 4)))
					for b.Loop() {
						gk.wsumQ8(out, v, vs, bt, 0, ctx, bt*hd, p, g, hd)
					}
				})
			}
		}
	}
}

// TestWsumQ8SpanEnd checks wsumQ8SpanEnd's shortcuts against the runs of
// rows it describes, counted one block at a time.
func TestWsumQ8SpanEnd(t *testing.T) {
	for _, bt := range []int{1, 7, 16, 48, 512, 600, 1100} {
		for _, n := range []int{1, 100, 512, 513, 1000, 3000} {
			for t0 := 0; t0 < n; t0 += 1 + t0/3 {
				want, rows := t0, 0
				for want < n {
					c := min(bt-want%bt, n-want, wsumQ8Span)
					if rows > 0 && rows+c > wsumQ8Span {
						break
					}
					rows += c
					want += c
				}
				if got := wsumQ8SpanEnd(t0, n, bt); got != want {
					t.Errorf("wsumQ8SpanEnd(%d, %d, %d) = %d, want %d", t0, n, bt, got, want)
				}
			}
		}
	}
}
