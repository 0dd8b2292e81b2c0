package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// pagedCase is one shape for the paged attention tests.
type pagedCase struct{ heads, kv, hd, pos0, n, bt int }

// pagedCases covers decode (n == 1) and prefill, block sizes that divide the
// positions or not, a block of one position, GQA groups of 1, 3 and 4, head
// sizes on and off the GEMM path, and positions far past the first block.
var pagedCases = []pagedCase{
	{1, 1, 8, 0, 1, 4}, {2, 1, 16, 0, 5, 4}, {4, 2, 32, 3, 20, 16}, {9, 3, 64, 0, 70, 16},
	{9, 3, 64, 511, 1, 16}, {9, 3, 64, 200, 1, 7}, {4, 1, 64, 10, 33, 1}, {8, 2, 64, 0, 100, 32},
	{2, 2, 48, 5, 13, 16}, {4, 4, 64, 33, 31, 8}, {3, 3, 24, 40, 1, 5}, {4, 1, 64, 63, 2, 16},
	{6, 2, 64, 16, 16, 16}, {2, 1, 40, 0, 1, 16}, {8, 8, 64, 300, 1, 64},
}

// paged splits a contiguous cache [kv][stride][hd] into blocks of bt
// positions, each its own allocation. Positions past total in the last
// block hold NaN, so a kernel that reads them produces NaN.
func paged(c []float32, kv, stride, hd, bt, total int) [][]float32 {
	nb := (total + bt - 1) / bt
	blocks := make([][]float32, nb)
	for b := range blocks {
		blk := make([]float32, kv*bt*hd)
		for h := 0; h < kv; h++ {
			for t := 0; t < bt; t++ {
				dst := blk[(h*bt+t)*hd : (h*bt+t+1)*hd]
				if p := b*bt + t; p < total {
					copy(dst, c[(h*stride+p)*hd:(h*stride+p+1)*hd])
				} else {
					for i := range dst {
						dst[i] = float32(math.NaN())
					}
				}
			}
		}
		blocks[b] = blk
	}
	return blocks
}

func paged16(blocks [][]float32) [][]uint16 {
	out := make([][]uint16, len(blocks))
	for i, b := range blocks {
		out[i] = make([]uint16, len(b))
		F32ToF16(out[i], b)
	}
	return out
}

// TestAttentionPaged checks the paged kernels against AttentionCausal and
// AttentionCausalF16 on the same data in a contiguous cache, for every
// backend and thread count. With a GEMM micro-kernel, prefill gathers the
// blocks into the contiguous layout and runs the same code, so it must match
// exactly; the other paths sum V block by block, which reorders float32
// additions (measured at most 3.6e-7 with |v| ~ 1; tolerance 1e-6).
func TestAttentionPaged(t *testing.T) {
	defer SetThreads(0)
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(31, 32))
		var worst float64
		for _, threads := range []int{1, 2, 4} {
			SetThreads(threads)
			for _, tc := range pagedCases {
				total := tc.pos0 + tc.n
				stride := total + 3
				row := tc.heads * tc.hd
				q := randVec(r, tc.n*row, 1)
				k := randVec(r, tc.kv*stride*tc.hd, 1)
				v := randVec(r, tc.kv*stride*tc.hd, 1)
				kb, vb := paged(k, tc.kv, stride, tc.hd, tc.bt, total), paged(v, tc.kv, stride, tc.hd, tc.bt, total)
				scale := float32(1 / math.Sqrt(float64(tc.hd)))

				want := make([]float32, len(q))
				got := make([]float32, len(q))
				AttentionCausal(want, q, k, v, tc.n, tc.heads, tc.kv, tc.hd, tc.pos0, stride, scale)
				AttentionPaged(got, q, kb, vb, tc.bt, tc.n, tc.heads, tc.kv, tc.hd, tc.pos0, scale)
				exact := b.gemm != nil && tc.hd%b.gemm.nr == 0 && tc.n >= 2
				d := numcheck.MaxAbs(t, "paged f32", got, want)
				worst = max(worst, d)
				if !(d <= 1e-6) || exact && d != 0 {
					t.Errorf("threads=%d %+v f32: max diff %g (exact path %v)", threads, tc, d, exact)
				}

				k16, v16 := make([]uint16, len(k)), make([]uint16, len(v))
				F32ToF16(k16, k)
				F32ToF16(v16, v)
				AttentionCausalF16(want, q, k16, v16, tc.n, tc.heads, tc.kv, tc.hd, tc.pos0, stride, scale)
				AttentionPagedF16(got, q, paged16(kb), paged16(vb), tc.bt, tc.n, tc.heads, tc.kv, tc.hd, tc.pos0, scale)
				d = numcheck.MaxAbs(t, "paged f16", got, want)
				worst = max(worst, d)
				if !(d <= 1e-6) || exact && d != 0 {
					t.Errorf("threads=%d %+v f16: max diff %g (exact path %v)", threads, tc, d, exact)
				}
			}
		}
		t.Logf("largest difference from the contiguous kernels: %g", worst)
	})
}

// TestAttentionPagedNaN checks that a NaN in a visible key reaches the
// output (it is not masked or skipped), as in the contiguous kernels.
func TestAttentionPagedNaN(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(33, 34))
		const heads, kv, hd, bt, pos0 = 4, 2, 64, 16, 40
		for _, n := range []int{1, 5} {
			total := pos0 + n
			k := randVec(r, kv*total*hd, 1)
			v := randVec(r, kv*total*hd, 1)
			k[(1*total+17)*hd+3] = float32(math.NaN()) // KV head 1, position 17
			kb, vb := paged(k, kv, total, hd, bt, total), paged(v, kv, total, hd, bt, total)
			q := randVec(r, n*heads*hd, 1)
			out := make([]float32, len(q))
			AttentionPaged(out, q, kb, vb, bt, n, heads, kv, hd, pos0, 0.125)
			for row := 0; row < n; row++ {
				for h := 0; h < heads; h++ {
					o := out[(row*heads+h)*hd : (row*heads+h+1)*hd]
					if nan := o[0] != o[0]; nan != (h >= 2) {
						t.Errorf("n=%d row %d head %d: out[0] = %g, want NaN only for heads of KV head 1", n, row, h, o[0])
					}
				}
			}
		}
	})
}

func TestAttentionPagedZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("scratch buffers are not reused under -race")
	}
	SetThreads(2)
	defer SetThreads(0)
	r := rand.New(rand.NewPCG(35, 36))
	const heads, kv, hd, bt, total = 9, 3, 64, 16, 512
	k := randVec(r, kv*total*hd, 1)
	kb := paged(k, kv, total, hd, bt, total)
	kb16 := paged16(kb)
	q := randVec(r, 40*heads*hd, 1)
	out := make([]float32, len(q))
	for _, n := range []int{1, 40} {
		if a := testing.AllocsPerRun(10, func() {
			AttentionPaged(out[:n*heads*hd], q[:n*heads*hd], kb, kb, bt, n, heads, kv, hd, total-n, 0.125)
		}); a != 0 {
			t.Errorf("AttentionPaged n=%d: %v allocs per call", n, a)
		}
		if a := testing.AllocsPerRun(10, func() {
			AttentionPagedF16(out[:n*heads*hd], q[:n*heads*hd], kb16, kb16, bt, n, heads, kv, hd, total-n, 0.125)
		}); a != 0 {
			t.Errorf("AttentionPagedF16 n=%d: %v allocs per call", n, a)
		}
	}
}

func TestAttentionPagedPanics(t *testing.T) {
	blocks := [][]float32{make([]float32, 2*4*8), make([]float32, 2*4*8)}
	short := [][]float32{make([]float32, 2*4*8), make([]float32, 2*4*8-1)}
	q := make([]float32, 4*8)
	for _, tc := range []struct {
		name, want string
		f          func()
	}{
		{"too few blocks", "k has 2 blocks, need 3", func() { AttentionPaged(q, q, blocks, blocks, 4, 1, 4, 2, 8, 8, 1) }},
		{"short block", "v block 1 has length 63", func() { AttentionPaged(q, q, blocks, short, 4, 1, 4, 2, 8, 5, 1) }},
		{"bad groups", "bad shape", func() { AttentionPaged(q, q, blocks, blocks, 4, 1, 4, 3, 8, 0, 1) }},
		{"zero block", "bad shape", func() { AttentionPaged(q, q, blocks, blocks, 0, 1, 4, 2, 8, 0, 1) }},
		{"negative pos0", "bad shape", func() { AttentionPaged(q, q, blocks, blocks, 4, 1, 4, 2, 8, -1, 1) }},
		{"q length", "q", func() { AttentionPaged(q, q, blocks, blocks, 4, 2, 4, 2, 8, 0, 1) }},
		{"f16 blocks", "k has 0 blocks", func() { AttentionPagedF16(q, q, nil, nil, 4, 1, 4, 2, 8, 0, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) { wantPanic(t, tc.want, tc.f) })
	}
}

// BenchmarkAttentionPaged compares decode attention (one query, 512
// positions, SmolLM2-135M's 9 heads over 3 KV heads of 64) in a contiguous
// cache and in blocks of 16 and 64 positions.
func BenchmarkAttentionPaged(b *testing.B) {
	r := rand.New(rand.NewPCG(37, 38))
	const heads, kv, hd, ctx = 9, 3, 64, 512
	q := randVec(r, heads*hd, 1)
	k := randVec(r, kv*ctx*hd, 1)
	v := randVec(r, kv*ctx*hd, 1)
	k16, v16 := make([]uint16, len(k)), make([]uint16, len(v))
	F32ToF16(k16, k)
	F32ToF16(v16, v)
	out := make([]float32, len(q))
	b.Run("f32/contiguous", func(b *testing.B) {
		for b.Loop() {
			AttentionCausal(out, q, k, v, 1, heads, kv, hd, ctx-1, ctx, 0.125)
		}
	})
	b.Run("f16/contiguous", func(b *testing.B) {
		for b.Loop() {
			AttentionCausalF16(out, q, k16, v16, 1, heads, kv, hd, ctx-1, ctx, 0.125)
		}
	})
	for _, bt := range []int{16, 64} {
		kb, vb := paged(k, kv, ctx, hd, bt, ctx), paged(v, kv, ctx, hd, bt, ctx)
		kb16, vb16 := paged16(kb), paged16(vb)
		b.Run(fmt.Sprintf("f32/paged%d", bt), func(b *testing.B) {
			for b.Loop() {
				AttentionPaged(out, q, kb, vb, bt, 1, heads, kv, hd, ctx-1, 0.125)
			}
		})
		b.Run(fmt.Sprintf("f16/paged%d", bt), func(b *testing.B) {
			for b.Loop() {
				AttentionPagedF16(out, q, kb16, vb16, bt, 1, heads, kv, hd, ctx-1, 0.125)
			}
		})
	}
}
