package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
)

// TestPackBF16Fast checks the transposing packers word for word against
// the panel layouts' definitions: weight panels of bf16 and f16 rows
// (partial groups of 8 rows and pairs, zero rows past the matrix) and
// full X panels.
func TestPackBF16Fast(t *testing.T) {
	if !hasBF16Dot(active) {
		t.Skip("the packers run only beside the AVX512_BF16 micro-kernel")
	}
	r := rand.New(rand.NewPCG(61, 62))
	pair := func(lo, hi uint16) uint32 { return uint32(lo) | uint32(hi)<<16 }
	for _, s := range [][5]int{{int(BF16), 64, 600, 0, 256}, {int(BF16), 70, 600, 256, 44}, {int(BF16), 7, 20, 0, 10},
		{int(F16), 40, 768, 128, 256}, {int(F16), 13, 34, 0, 17}} {
		typ, rows, cols, k0, kn := DType(s[0]), s[1], s[2], s[3], s[4]
		w, _ := randMatrix(r, typ, rows, cols)
		for r0 := 0; r0 < rows; r0 += bf16NR {
			rn := min(bf16NR, rows-r0)
			wp := make([]uint16, kn*bf16NR*2)
			tmp := make([]uint16, bf16NR*2*kn)
			if !packWBF16Fast(wp, tmp, w, r0, rn, k0, kn) {
				t.Fatalf("%v: packWBF16Fast refused %d columns", s, cols)
			}
			got := words(wp)
			for q := range kn {
				for j := range bf16NR {
					var want uint32
					if j < rn {
						a, b := w.Half[(r0+j)*cols+2*(k0+q)], w.Half[(r0+j)*cols+2*(k0+q)+1]
						if typ == F16 {
							a, b = half.F32ToBF16(half.F16ToF32(a)), half.F32ToBF16(half.F16ToF32(b))
						}
						want = pair(a, b)
					}
					if got[q*bf16NR+j] != want {
						t.Fatalf("%v rows %d+: pair %d row %d = %#x, want %#x", s, r0, q, j, got[q*bf16NR+j], want)
					}
				}
			}
		}
	}
	if packWBF16Fast(nil, nil, &Matrix{Type: BF16, Rows: 1, Cols: 3, Half: make([]uint16, 3)}, 0, 1, 0, 2) {
		t.Error("packWBF16Fast accepted an odd number of columns")
	}
	for _, k := range []int{2, 16, 18, 576, 1536} {
		n := 2 * bf16MR
		x := randVec(r, n*k, 3)
		dst := make([]uint32, k/2*bf16MR)
		rows := make([]uint16, bf16MR*k)
		packXBF16Fast(dst, rows, x, 1, k)
		for q := range k / 2 {
			for i := range bf16MR {
				row := x[(bf16MR+i)*k:]
				want := pair(half.F32ToBF16(row[2*q]), half.F32ToBF16(row[2*q+1]))
				if dst[q*bf16MR+i] != want {
					t.Fatalf("k=%d: X pair %d row %d = %#x, want %#x", k, q, i, dst[q*bf16MR+i], want)
				}
			}
		}
	}
}

// BenchmarkPackWBF16 packs one 32-row weight panel of 576 columns (SmolLM2
// q_proj's depth): "transpose" through packWBF16Fast, "scalar" with 577
// columns, which the transpose refuses.
func BenchmarkPackWBF16(b *testing.B) {
	for _, c := range []struct {
		name string
		typ  DType
		cols int
	}{{"bf16/transpose", BF16, 576}, {"bf16/scalar", BF16, 577}, {"f16/transpose", F16, 576}, {"f16/scalar", F16, 577}} {
		w := fastMatrix(c.typ, bf16NR, c.cols, 1)
		kn := c.cols / 2
		wp, tmp := make([]uint16, kn*bf16NR*2), make([]uint16, bf16NR*2*kn)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				packWBF16(wp, tmp, w, 0, bf16NR, 0, kn)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(bf16NR*kn), "ns/pair")
		})
	}
}
