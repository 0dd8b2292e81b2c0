package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// TestGroupKernels checks each backend's group kernels against the pure-Go
// twins, for groups of 1 to 8 heads, head sizes on and off the SIMD path
// (multiples of 16 or not; of 64, or with 16 or 32 columns past one),
// blocks of one to 17 rows and a score stride larger than the block. The
// weighted sums add to a non-zero output. The SIMD kernels sum in another
// order (16 lanes, then a tree; the sums per row into 64 columns):
// measured at most 1.4e-6 (scores, hd=80 with cancellation) and 3.3e-7
// (sums) of the largest output magnitude; tolerance 3e-6 of it.
func TestGroupKernels(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		if b.group == nil {
			t.Skip("no group kernels")
		}
		r := rand.New(rand.NewPCG(41, 42))
		var worstS, worstW float64
		for _, hd := range []int{16, 40, 48, 64, 80, 96, 128, 256} {
			for g := 1; g <= 8; g++ {
				for _, c := range []int{1, 5, 16, 17} {
					ss := c + 3
					q := randVec(r, g*hd, 1)
					k := randVec(r, c*hd, 1)
					k16 := make([]uint16, len(k))
					F32ToF16(k16, k)
					p := randVec(r, (g-1)*ss+c, 1)
					out0 := randVec(r, g*hd, 1)
					check := func(what string, got, want []float32, worst *float64) {
						t.Helper()
						var m float64
						for _, x := range want {
							m = max(m, math.Abs(float64(x)))
						}
						d := numcheck.MaxAbs(t, what, got, want) / m
						*worst = max(*worst, d)
						if !(d <= 3e-6) {
							t.Errorf("%s hd=%d g=%d c=%d: max diff %g of the largest magnitude", what, hd, g, c, d)
						}
					}
					got, want := make([]float32, len(p)), make([]float32, len(p))
					b.group.scoresF32(got, ss, k, nil, q, c, g, hd)
					groupGeneric.scoresF32(want, ss, k, nil, q, c, g, hd)
					check("scores f32", got, want, &worstS)
					b.group.scoresF16(got, ss, k16, nil, q, c, g, hd)
					groupGeneric.scoresF16(want, ss, k16, nil, q, c, g, hd)
					check("scores f16", got, want, &worstS)

					got, want = append([]float32(nil), out0...), append([]float32(nil), out0...)
					b.group.wsumF32(got, k, k, p, ss, c, g, hd)
					groupGeneric.wsumF32(want, k, k, p, ss, c, g, hd)
					check("wsum f32", got, want, &worstW)
					copy(got, out0)
					copy(want, out0)
					b.group.wsumF16(got, k16, k16, p, ss, c, g, hd)
					groupGeneric.wsumF16(want, k16, k16, p, ss, c, g, hd)
					check("wsum f16", got, want, &worstW)
				}
			}
		}
		t.Logf("largest difference from the generic twins: scores %g, sums %g", worstS, worstW)
	})
}

// decodeSeq is one sequence of the AttentionDecode tests: its position,
// block size and block type ("f32", "f16" or "q8").
type decodeSeq struct {
	pos, bt int
	typ     string
}

// TestAttentionDecode checks that one AttentionDecode call over several
// sequences (f32, f16 and q8 blocks, various block sizes and lengths, with
// and without a sliding window) equals AttentionPagedWindow (or its F16/Q8
// form) run on each sequence alone: both compute each query head with the
// same kernels, so the results must be identical. The group kernels also
// match the one-head-at-a-time path of backends without them: f32/f16
// measured at most 5.1e-7 with |q|, |k|, |v| ~ 1 (tolerance 1e-6), q8 1.1e-6
// (its integer sums round the weights differently; tolerance 3e-6).
func TestAttentionDecode(t *testing.T) {
	defer SetThreads(0)
	seqs := []decodeSeq{{0, 16, "f16"}, {511, 16, "q8"}, {37, 7, "f32"}, {200, 16, "f32"}, {15, 1, "q8"},
		{64, 64, "f32"}, {3, 16, "f16"}, {300, 16, "q8"}, {1, 1, "f16"}}
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(43, 44))
		var worst float64
		if b.group != nil {
			defer func() { t.Logf("group kernels against the one-head path: max diff %g", worst) }()
		}
		for _, shape := range [][3]int{{9, 3, 64}, {4, 4, 32}, {8, 1, 128}, {6, 2, 40}, {16, 2, 64}} {
			heads, kv, hd := shape[0], shape[1], shape[2]
			for _, window := range []int{0, 20} {
				for _, threads := range []int{1, 2, 4} {
					SetThreads(threads)
					qs := make([]DecodeQuery, len(seqs))
					want := make([][]float32, len(seqs))
					for i, s := range seqs {
						total := s.pos + 1
						k := randVec(r, kv*total*hd, 1)
						v := randVec(r, kv*total*hd, 1)
						kb, vb := paged(k, kv, total, hd, s.bt, total), paged(v, kv, total, hd, s.bt, total)
						d := DecodeQuery{Out: make([]float32, heads*hd), Q: randVec(r, heads*hd, 1), BlockTokens: s.bt, Pos: s.pos}
						want[i] = make([]float32, heads*hd)
						switch s.typ {
						case "q8":
							d.K8, d.KScale = pagedQ8Keys(kb, hd, s.bt)
							d.V8, d.VScale = pagedQ8(vb, hd)
							AttentionPagedWindowQ8(want[i], d.Q, d.K8, d.V8, d.KScale, d.VScale, s.bt, 1, heads, kv, hd, s.pos, window, 0.125)
						case "f16":
							d.K16, d.V16 = paged16(kb), paged16(vb)
							AttentionPagedWindowF16(want[i], d.Q, d.K16, d.V16, s.bt, 1, heads, kv, hd, s.pos, window, 0.125)
						default:
							d.K, d.V = kb, vb
							AttentionPagedWindow(want[i], d.Q, kb, vb, s.bt, 1, heads, kv, hd, s.pos, window, 0.125)
						}
						qs[i] = d
					}
					AttentionDecode(qs, heads, kv, hd, window, 0.125)
					for i := range qs {
						what := fmt.Sprintf("heads=%d kv=%d hd=%d window=%d threads=%d seq %+v", heads, kv, hd, window, threads, seqs[i])
						numcheck.Finite(t, what, qs[i].Out)
						if d := numcheck.MaxAbs(t, what, qs[i].Out, want[i]); d != 0 {
							t.Errorf("%s: max diff %g from the sequence alone", what, d)
						}
					}
					if b.group == nil || threads != 1 {
						continue
					}
					// The one-head-at-a-time path of backends without group
					// kernels sums in another order.
					ph := *b
					ph.group = nil
					active = &ph
					AttentionDecode(qs, heads, kv, hd, window, 0.125)
					active = b
					for i := range qs {
						what := fmt.Sprintf("heads=%d kv=%d hd=%d window=%d seq %+v: per-head path", heads, kv, hd, window, seqs[i])
						d := numcheck.MaxAbs(t, what, qs[i].Out, want[i])
						worst = max(worst, d)
						tol := 1e-6
						if seqs[i].typ == "q8" {
							tol = 3e-6
						}
						if !(d <= tol) {
							t.Errorf("%s: max diff %g from the group kernels, want <= %g", what, d, tol)
						}
					}
				}
			}
		}
	})
}

func TestAttentionDecodeZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("scratch buffers are not reused under -race")
	}
	SetThreads(2)
	defer SetThreads(0)
	r := rand.New(rand.NewPCG(45, 46))
	const heads, kv, hd, bt, total = 9, 3, 64, 16, 512
	kb := paged(randVec(r, kv*total*hd, 1), kv, total, hd, bt, total)
	kb16 := paged16(kb)
	qs := make([]DecodeQuery, 4)
	for i := range qs {
		qs[i] = DecodeQuery{Out: make([]float32, heads*hd), Q: randVec(r, heads*hd, 1), BlockTokens: bt, Pos: total - 1 - i}
		if i%2 == 0 {
			qs[i].K, qs[i].V = kb, kb
		} else {
			qs[i].K16, qs[i].V16 = kb16, kb16
		}
	}
	if a := testing.AllocsPerRun(10, func() { AttentionDecode(qs, heads, kv, hd, 0, 0.125) }); a != 0 {
		t.Errorf("AttentionDecode: %v allocs per call", a)
	}
}

func TestAttentionDecodePanics(t *testing.T) {
	blocks := [][]float32{make([]float32, 2*4*8), make([]float32, 2*4*8)}
	blocks16 := [][]uint16{make([]uint16, 2*4*8)}
	q := make([]float32, 4*8)
	for _, tc := range []struct {
		name, want string
		d          DecodeQuery
	}{
		{"too few blocks", "query 0 k has 2 blocks, need 3", DecodeQuery{Out: q, Q: q, K: blocks, V: blocks, BlockTokens: 4, Pos: 8}},
		{"no blocks", "needs either", DecodeQuery{Out: q, Q: q, BlockTokens: 4}},
		{"both types", "needs either", DecodeQuery{Out: q, Q: q, K: blocks, V: blocks, K16: blocks16, V16: blocks16, BlockTokens: 4}},
		{"short q", "len(q)", DecodeQuery{Out: q, Q: q[1:], K: blocks, V: blocks, BlockTokens: 4}},
		{"zero block", "bad shape", DecodeQuery{Out: q, Q: q, K: blocks, V: blocks}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantPanic(t, tc.want, func() { AttentionDecode([]DecodeQuery{tc.d}, 4, 2, 8, 0, 1) })
		})
	}
}

// BenchmarkAttentionDecode times the decode attention of a batched step of
// SmolLM2-135M (9 query heads over 3 KV heads of 64) at context 512: batch
// sequences, each its own blocks of 16 positions, over 8 layers (so that
// a B=16 step reads more than the last-level cache holds). It reports the
// KV bytes read per second; "perhead" is the one-query-head-at-a-time path
// of backends without group kernels, on the same machine.
func BenchmarkAttentionDecode(b *testing.B) {
	const heads, kv, hd, ctx, bt, layers = 9, 3, 64, 512, 16, 8
	r := rand.New(rand.NewPCG(47, 48))
	for _, f16 := range []bool{true, false} {
		for _, batch := range []int{1, 16} {
			qs := make([][]DecodeQuery, layers)
			for l := range qs {
				qs[l] = make([]DecodeQuery, batch)
				for i := range qs[l] {
					d := DecodeQuery{Out: make([]float32, heads*hd), Q: randVec(r, heads*hd, 1), BlockTokens: bt, Pos: ctx - 1}
					kb := paged(randVec(r, kv*ctx*hd, 1), kv, ctx, hd, bt, ctx)
					vb := paged(randVec(r, kv*ctx*hd, 1), kv, ctx, hd, bt, ctx)
					if f16 {
						d.K16, d.V16 = paged16(kb), paged16(vb)
					} else {
						d.K, d.V = kb, vb
					}
					qs[l][i] = d
				}
			}
			elem, name := 4, "f32"
			if f16 {
				elem, name = 2, "f16"
			}
			bytes := int64(layers * batch * 2 * kv * ctx * hd * elem)
			for _, path := range []string{"group", "perhead"} {
				for _, th := range []int{1, 2} {
					b.Run(fmt.Sprintf("%s/B=%d/%s/threads=%d", name, batch, path, th), func(b *testing.B) {
						old := active
						defer func() { active = old }()
						if path == "perhead" {
							ph := *active
							ph.group = nil
							active = &ph
						} else if active.group == nil {
							b.Skip("no group kernels")
						}
						SetThreads(th)
						defer SetThreads(0)
						b.SetBytes(bytes)
						for b.Loop() {
							for l := range qs {
								AttentionDecode(qs[l], heads, kv, hd, 0, 0.125)
							}
						}
						b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
					})
				}
			}
		}
	}
}

// TestBlockKernels checks each backend's block-loop group kernels
// (scoresBlocks*, wsumBlocks*) against blockScores and blockWsum over the
// same backend's per-block kernels, which run the same arithmetic on the
// same rows (want bit-identical results), and against the pure-Go twins
// (tolerance as TestGroupKernels: 3e-6 of the largest magnitude), over
// block sizes 1 to 64, spans starting and ending inside a block (windows),
// and head sizes on and off the SIMD path.
func TestBlockKernels(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		if b.group == nil {
			t.Skip("no group kernels")
		}
		gk := b.group
		r := rand.New(rand.NewPCG(43, 44))
		const kv = 2
		var worst float64
		for _, hd := range []int{16, 40, 64, 96} {
			for _, g := range []int{1, 3, 4, 5, 8} {
				for _, bt := range []int{1, 2, 5, 16, 17, 64} {
					for _, sp := range []struct{ from, n int }{{0, 1}, {0, bt}, {0, 3*bt + 1}, {bt / 2, 2*bt + bt/2 + 1}, {1, 150}, {37, 200}} {
						if sp.from >= sp.n {
							continue
						}
						m := sp.n - sp.from
						nb := (sp.n + bt - 1) / bt
						k, k16 := make([][]float32, nb), make([][]uint16, nb)
						for i := range nb {
							k[i] = randVec(r, kv*bt*hd, 1)
							k16[i] = make([]uint16, len(k[i]))
							F32ToF16(k16[i], k[i])
						}
						off := bt * hd // KV head 1
						q := randVec(r, g*hd, 1)
						p := randVec(r, g*m, 1)
						out0 := randVec(r, g*hd, 1)
						what := fmt.Sprintf("hd=%d g=%d bt=%d from=%d n=%d", hd, g, bt, sp.from, sp.n)
						check := func(kind string, got, same, twin []float32) {
							t.Helper()
							numcheck.Finite(t, kind+" "+what, got)
							if d := numcheck.MaxAbs(t, kind+" "+what, got, same); d != 0 {
								t.Errorf("%s %s: max diff %g from the per-block kernels, want 0", kind, what, d)
							}
							d := relMaxAbs(t, kind+" "+what, got, twin)
							worst = max(worst, d)
							if !(d <= 3e-6) {
								t.Errorf("%s %s: max diff %g of the largest magnitude from the generic twin", kind, what, d)
							}
						}
						got, same, twin := make([]float32, g*m), make([]float32, g*m), make([]float32, g*m)
						gk.scoresBlocksF32(got, k, k, bt, sp.from, sp.n, off, q, g, hd)
						blockScores(gk.scoresF32, same, k, bt, sp.from, sp.n, off, q, g, hd)
						groupGeneric.scoresBlocksF32(twin, k, k, bt, sp.from, sp.n, off, q, g, hd)
						check("scores f32", got, same, twin)
						gk.scoresBlocksF16(got, k16, k16, bt, sp.from, sp.n, off, q, g, hd)
						blockScores(gk.scoresF16, same, k16, bt, sp.from, sp.n, off, q, g, hd)
						groupGeneric.scoresBlocksF16(twin, k16, k16, bt, sp.from, sp.n, off, q, g, hd)
						check("scores f16", got, same, twin)

						reset := func() ([]float32, []float32, []float32) {
							return append([]float32(nil), out0...), append([]float32(nil), out0...), append([]float32(nil), out0...)
						}
						got, same, twin = reset()
						gk.wsumBlocksF32(got, k, bt, sp.from, sp.n, off, p, g, hd)
						blockWsum(gk.wsumF32, same, k, bt, sp.from, sp.n, off, p, g, hd)
						groupGeneric.wsumBlocksF32(twin, k, bt, sp.from, sp.n, off, p, g, hd)
						check("wsum f32", got, same, twin)
						got, same, twin = reset()
						gk.wsumBlocksF16(got, k16, bt, sp.from, sp.n, off, p, g, hd)
						blockWsum(gk.wsumF16, same, k16, bt, sp.from, sp.n, off, p, g, hd)
						groupGeneric.wsumBlocksF16(twin, k16, bt, sp.from, sp.n, off, p, g, hd)
						check("wsum f16", got, same, twin)
					}
				}
			}
		}
		t.Logf("largest difference from the generic twins: %g", worst)
	})
}

// relMaxAbs returns the largest |got[i]-want[i]| divided by the largest
// |want[i]|; NaN (a failed bound) if want holds a NaN. numcheck.MaxAbs fails
// the test on a length mismatch or a non-finite got.
func relMaxAbs(t *testing.T, what string, got, want []float32) float64 {
	t.Helper()
	var mx float64
	for _, x := range want {
		mx = max(mx, math.Abs(float64(x)))
	}
	return numcheck.MaxAbs(t, what, got, want) / mx
}
