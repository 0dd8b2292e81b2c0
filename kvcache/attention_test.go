package kvcache

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"github.com/cellm-ai/cellm-go/kernels"
)

// TestAttentionThroughSeq fills Seqs (one adopting a published prefix,
// one forked) and checks that kernels.AttentionPaged over their blocks
// equals kernels.AttentionCausal over a contiguous copy of the same keys
// and values, for the last prefill chunk and for a decode step. The
// kernels' own tests bound the difference (1e-6 with |v| ~ 1, 3e-4 for Q8
// blocks); here it is the same bound. For F16 and Q8 the reference holds
// the values the pool stores (rounded to f16, or de-quantized rows); Q8
// decode also quantizes the query heads to int8, so Q8 results match the
// reference with either the query or its int8-rounded heads (prefill
// de-quantizes the rows and keeps the float32 query).
func TestAttentionThroughSeq(t *testing.T) {
	for _, dt := range []DType{F32, F16, Q8} {
		for _, bt := range []int{1, 5, 16} {
			t.Run(fmt.Sprintf("%s-bt%d", dt, bt), func(t *testing.T) {
				const layers, heads, kvHeads, hd = 2, 6, 2, 64
				p := newPool(t, Config{Layers: layers, KVHeads: kvHeads, HeadDim: hd, BlockTokens: bt, DType: dt, BudgetBytes: 8 << 20})
				r := rand.New(rand.NewPCG(uint64(bt), uint64(dt)))
				const total = 70
				w := kvHeads * hd
				// Contiguous reference caches [layer][kv][total][hd].
				kc := make([][]float32, layers)
				vc := make([][]float32, layers)
				rows := make([][2][]float32, layers*total)
				for l := range layers {
					kc[l] = make([]float32, kvHeads*total*hd)
					vc[l] = make([]float32, kvHeads*total*hd)
					for pos := range total {
						k, v := randRow(r, w), randRow(r, w)
						switch dt { // the reference sees the stored values
						case F16:
							k, v = roundF16(k), roundF16(v)
						case Q8:
							k, v = roundQ8(k, hd), roundQ8(v, hd)
						}
						rows[l*total+pos] = [2][]float32{k, v}
						for h := range kvHeads {
							copy(kc[l][(h*total+pos)*hd:(h*total+pos+1)*hd], k[h*hd:(h+1)*hd])
							copy(vc[l][(h*total+pos)*hd:(h*total+pos+1)*hd], v[h*hd:(h+1)*hd])
						}
					}
				}
				store := func(s *Seq, from, to int) {
					if err := s.Reserve(to - from); err != nil {
						t.Fatal(err)
					}
					for pos := from; pos < to; pos++ {
						for l := range layers {
							s.Store(l, pos, rows[l*total+pos][0], rows[l*total+pos][1])
						}
					}
				}
				ids := make([]int, total)
				for i := range ids {
					ids[i] = i
				}
				// a writes the first 40 positions and publishes them; b
				// adopts them and writes the rest in two chunks; c forks b
				// before the last position.
				a := p.NewSeq()
				store(a, 0, 40)
				a.Commit(40)
				a.Publish(ids)
				b := p.NewSeq()
				n := b.AdoptPrefix(ids)
				if n != 40/bt*bt {
					t.Fatalf("adopted %d", n)
				}
				store(b, n, 50)
				b.Commit(50 - n)
				c := b.Fork()
				for _, s := range []*Seq{b, c} {
					store(s, 50, total-1)
					check(t, s, kc, vc, 50, total-1-50, heads, r)
					s.Commit(total - 1 - 50)
					store(s, total-1, total)
					check(t, s, kc, vc, total-1, 1, heads, r)
					s.Commit(1)
				}
			})
		}
	}
}

func randRow(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func roundF16(x []float32) []float32 {
	h := make([]uint16, len(x))
	kernels.F32ToF16(h, x)
	out := make([]float32, len(x))
	kernels.F16ToF32(out, h)
	return out
}

// roundQ8 returns x with each row of hd values quantized as a Q8 pool
// stores it and de-quantized.
func roundQ8(x []float32, hd int) []float32 {
	out := make([]float32, len(x))
	q := make([]int8, hd)
	for o := 0; o < len(x); o += hd {
		s := kernels.QuantizeQ8Row(q, x[o:o+hd])
		for i, v := range q {
			out[o+i] = s * float32(v)
		}
	}
	return out
}

// check runs n query rows at positions pos0.. through s's blocks and through
// the contiguous caches, for every layer.
func check(t *testing.T, s *Seq, kc, vc [][]float32, pos0, n, heads int, r *rand.Rand) {
	t.Helper()
	c := s.Pool().Config()
	hd, stride := c.HeadDim, len(kc[0])/(c.KVHeads*c.HeadDim)
	q := randRow(r, n*heads*hd)
	got := make([]float32, len(q))
	want := make([]float32, len(q))
	scale := float32(1 / math.Sqrt(float64(hd)))
	for l := range c.Layers {
		kernels.AttentionCausal(want, q, kc[l], vc[l], n, heads, c.KVHeads, hd, pos0, stride, scale)
		tol := 1e-6
		switch c.DType {
		case F16:
			k, v := s.BlocksF16(l)
			kernels.AttentionPagedF16(got, q, k, v, c.BlockTokens, n, heads, c.KVHeads, hd, pos0, scale)
		case Q8:
			k, v, ks, vs := s.BlocksQ8(l)
			kernels.AttentionPagedQ8(got, q, k, v, ks, vs, c.BlockTokens, n, heads, c.KVHeads, hd, pos0, scale)
			tol = 3e-4
		default:
			k, v := s.BlocksF32(l)
			kernels.AttentionPaged(got, q, k, v, c.BlockTokens, n, heads, c.KVHeads, hd, pos0, scale)
		}
		_, err := numcheck.Compare(got, want, numcheck.Tol{Abs: tol})
		if err != nil && c.DType == Q8 {
			kernels.AttentionCausal(want, roundQ8(q, hd), kc[l], vc[l], n, heads, c.KVHeads, hd, pos0, stride, scale)
			if _, err2 := numcheck.Compare(got, want, numcheck.Tol{Abs: tol}); err2 == nil {
				err = nil
			} else {
				err = fmt.Errorf("%w; with int8 query heads: %w", err, err2)
			}
		}
		if err != nil {
			t.Fatalf("layer %d pos0 %d n %d vs contiguous: %v", l, pos0, n, err)
		}
	}
}

// TestDecodeZeroAllocs checks that a steady-state decode (Reserve, Store
// every layer, Commit) allocates nothing once freed blocks are reused.
func TestDecodeZeroAllocs(t *testing.T) {
	for _, dt := range []DType{F32, F16, Q8} {
		p := newPool(t, Config{Layers: 4, KVHeads: 2, HeadDim: 64, BlockTokens: 16, DType: dt, BudgetBytes: 4 << 20})
		s := p.NewSeq()
		k, v := randRow(rand.New(rand.NewPCG(1, 2)), 128), randRow(rand.New(rand.NewPCG(3, 4)), 128)
		run := func() {
			s.Release()
			for pos := range 100 {
				if err := s.Reserve(1); err != nil {
					t.Fatal(err)
				}
				for l := range 4 {
					s.Store(l, pos, k, v)
				}
				s.Commit(1)
			}
		}
		run()
		if a := testing.AllocsPerRun(5, run); a != 0 {
			t.Errorf("%s: %v allocations per 100 decode steps", dt, a)
		}
	}
}

// BenchmarkDecodeStep measures the cache side of one decoded token on
// SmolLM2-135M's shape (30 layers, 3 KV heads of 64): Reserve, Store of
// every layer, Commit, with the blocks already allocated (steady state).
func BenchmarkDecodeStep(b *testing.B) {
	for _, dt := range []DType{F32, F16, Q8} {
		b.Run(dt.String(), func(b *testing.B) {
			p := newPool(b, Config{Layers: 30, KVHeads: 3, HeadDim: 64, DType: dt, BudgetBytes: 256 << 20})
			s := p.NewSeq()
			k, v := randRow(rand.New(rand.NewPCG(1, 2)), 192), randRow(rand.New(rand.NewPCG(3, 4)), 192)
			// Warm up: allocate the blocks of 1024 positions once.
			if err := s.Reserve(1024); err != nil {
				b.Fatal(err)
			}
			s.Release()
			for b.Loop() {
				if s.Len() == 1024 {
					s.Release()
				}
				if err := s.Reserve(1); err != nil {
					b.Fatal(err)
				}
				for l := range 30 {
					s.Store(l, s.Len(), k, v)
				}
				s.Commit(1)
			}
		})
	}
}
