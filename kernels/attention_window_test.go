package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// naiveWindow is float64 sliding-window attention over a contiguous cache
// [kv][stride][hd]: the row at position p sees positions max(0, p-window+1)..p.
func naiveWindow(q, k, v []float32, n, heads, kv, hd, pos0, stride, window int, scale float32) []float32 {
	out := make([]float32, n*heads*hd)
	group := heads / kv
	for i := range n {
		p := pos0 + i
		from := 0
		if window > 0 {
			from = max(0, p-window+1)
		}
		for h := range heads {
			qh := q[(i*heads+h)*hd : (i*heads+h+1)*hd]
			kh := h / group
			s := make([]float64, p+1-from)
			m := math.Inf(-1)
			for t := from; t <= p; t++ {
				var d float64
				for x := range hd {
					d += float64(qh[x]) * float64(k[(kh*stride+t)*hd+x])
				}
				s[t-from] = d * float64(scale)
				m = math.Max(m, s[t-from])
			}
			var sum float64
			for j := range s {
				s[j] = math.Exp(s[j] - m)
				sum += s[j]
			}
			for x := range hd {
				var acc float64
				for t := from; t <= p; t++ {
					acc += s[t-from] / sum * float64(v[(kh*stride+t)*hd+x])
				}
				out[(i*heads+h)*hd+x] = float32(acc)
			}
		}
	}
	return out
}

// TestAttentionPagedWindow checks sliding-window paged attention against a
// float64 reference, with the blocks wholly below every row's window set to
// nil (they must not be read), for windows smaller than, equal to and larger
// than the positions, block-aligned or not. Measured error about 3e-7 with
// |v| ~ 1; tolerance 2e-6.
func TestAttentionPagedWindow(t *testing.T) {
	defer SetThreads(0)
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(41, 42))
		var worst float64
		for _, threads := range []int{1, 2} {
			SetThreads(threads)
			for _, tc := range []struct {
				pagedCase
				window int
			}{
				{pagedCase{4, 1, 32, 0, 40, 16}, 32}, {pagedCase{4, 1, 32, 39, 1, 16}, 32},
				{pagedCase{4, 2, 16, 100, 1, 16}, 32}, {pagedCase{4, 2, 16, 90, 30, 16}, 32},
				{pagedCase{2, 1, 8, 0, 20, 4}, 5}, {pagedCase{2, 1, 8, 17, 3, 4}, 5},
				{pagedCase{2, 1, 8, 3, 4, 4}, 64}, {pagedCase{3, 3, 64, 31, 1, 16}, 32},
				{pagedCase{3, 3, 64, 32, 1, 16}, 32}, {pagedCase{4, 1, 32, 150, 10, 16}, 1},
			} {
				total := tc.pos0 + tc.n
				stride := total + 2
				q := randVec(r, tc.n*tc.heads*tc.hd, 1)
				k := randVec(r, tc.kv*stride*tc.hd, 1)
				v := randVec(r, tc.kv*stride*tc.hd, 1)
				kb, vb := paged(k, tc.kv, stride, tc.hd, tc.bt, total), paged(v, tc.kv, stride, tc.hd, tc.bt, total)
				k16, v16 := paged16(kb), paged16(vb)
				for blk := range max(0, tc.pos0-tc.window+1) / tc.bt {
					kb[blk], vb[blk], k16[blk], v16[blk] = nil, nil, nil, nil
				}
				scale := float32(1 / math.Sqrt(float64(tc.hd)))
				want := naiveWindow(q, k, v, tc.n, tc.heads, tc.kv, tc.hd, tc.pos0, stride, tc.window, scale)
				got := make([]float32, len(q))
				AttentionPagedWindow(got, q, kb, vb, tc.bt, tc.n, tc.heads, tc.kv, tc.hd, tc.pos0, tc.window, scale)
				d := numcheck.MaxAbs(t, fmt.Sprintf("window %+v f32", tc), got, want)
				worst = max(worst, d)
				if !(d <= 2e-6) {
					t.Errorf("threads=%d %+v f32: max diff %g", threads, tc, d)
				}
				// f16 blocks: compare with the reference over the rounded cache.
				kr, vr := make([]float32, len(k)), make([]float32, len(v))
				tmp := make([]uint16, len(k))
				F32ToF16(tmp, k)
				F16ToF32(kr, tmp)
				F32ToF16(tmp, v)
				F16ToF32(vr, tmp)
				want = naiveWindow(q, kr, vr, tc.n, tc.heads, tc.kv, tc.hd, tc.pos0, stride, tc.window, scale)
				AttentionPagedWindowF16(got, q, k16, v16, tc.bt, tc.n, tc.heads, tc.kv, tc.hd, tc.pos0, tc.window, scale)
				if d := numcheck.MaxAbs(t, fmt.Sprintf("window %+v f16", tc), got, want); !(d <= 2e-6) {
					t.Errorf("threads=%d %+v f16: max diff %g", threads, tc, d)
				}
			}
		}
		t.Logf("largest difference from float64: %g", worst)
	})
}
