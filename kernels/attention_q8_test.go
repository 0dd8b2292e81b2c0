package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// pagedQ8 quantizes float32 blocks of [kv][bt][hd] rows (see paged) into
// int8 value blocks and their row scales. A row of NaN (past the cache's
// end) gets a NaN scale, so a kernel that reads it produces NaN.
func pagedQ8(blocks [][]float32, hd int) (q [][]int8, scales [][]float32) {
	q, scales = make([][]int8, len(blocks)), make([][]float32, len(blocks))
	for i, b := range blocks {
		q[i], scales[i] = make([]int8, len(b)), make([]float32, len(b)/hd)
		for r := range scales[i] {
			scales[i][r] = QuantizeQ8Row(q[i][r*hd:(r+1)*hd], b[r*hd:(r+1)*hd])
		}
	}
	return q, scales
}

// pagedQ8Keys is pagedQ8 for keys: each KV head's rows of a block of bt
// positions interleaved by quads of dimensions and biased (SetQ8Key).
func pagedQ8Keys(blocks [][]float32, hd, bt int) (q [][]int8, scales [][]float32) {
	rows, scales := pagedQ8(blocks, hd)
	q = make([][]int8, len(rows))
	for i, b := range rows {
		q[i] = make([]int8, len(b))
		for r := range scales[i] {
			h := r / bt
			SetQ8Key(q[i][h*bt*hd:(h+1)*bt*hd], bt, r%bt, b[r*hd:(r+1)*hd])
		}
	}
	return q, scales
}

// dequantContiguous returns the contiguous cache [kv][stride][hd] with its
// first total positions replaced by the de-quantized rows of the blocks
// (keys laid out as Q8KeyIndex says if keys is set).
func dequantContiguous(c []float32, q [][]int8, scales [][]float32, kv, stride, hd, bt, total int, keys bool) []float32 {
	out := append([]float32(nil), c...)
	for h := range kv {
		for p := range total {
			b, r := p/bt, h*bt+p%bt
			for d := range hd {
				x := q[b][r*hd+d]
				if keys {
					x = Q8Key(q[b][h*bt*hd:], bt, hd, p%bt, d)
				}
				out[(h*stride+p)*hd+d] = scales[b][r] * float32(x)
			}
		}
	}
	return out
}

// TestQ8KeyLayout checks Q8KeyIndex against the layout [hd/4][bt][4] (the
// last hd%4 dimensions [bt][hd%4] after it): a permutation of the bt*hd
// places; and that SetQ8Key stores rows there biased (key+128 as an
// unsigned byte) and Q8Key and dequantQ8Keys read them back.
func TestQ8KeyLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(59, 60))
	for _, bt := range []int{1, 3, 16, 32} {
		for _, hd := range []int{1, 2, 3, 4, 5, 6, 7, 8, 64} {
			seen := make([]bool, bt*hd)
			for tt := range bt {
				for d := range hd {
					i := Q8KeyIndex(bt, hd, tt, d)
					want := ((d/4)*bt+tt)*4 + d%4
					if r, q := hd%4, hd-hd%4; d >= q {
						want = q*bt + tt*r + d - q
					}
					if i != want || seen[i] {
						t.Fatalf("bt=%d hd=%d (%d, %d): index %d, want %d (seen before: %v)", bt, hd, tt, d, i, want, seen[i])
					}
					seen[i] = true
				}
			}
			rows := make([]int8, bt*hd)
			for i := range rows {
				rows[i] = int8(r.IntN(256) - 128)
			}
			k := make([]int8, bt*hd)
			scales := randVec(r, bt, 1)
			for tt := range bt {
				SetQ8Key(k, bt, tt, rows[tt*hd:(tt+1)*hd])
			}
			got := make([]float32, bt*hd)
			dequantQ8Keys(got, k, scales, bt, hd)
			for tt := range bt {
				for d := range hd {
					x, b := rows[tt*hd+d], uint8(k[Q8KeyIndex(bt, hd, tt, d)])
					if int(b) != int(x)+128 || Q8Key(k, bt, hd, tt, d) != x || got[tt*hd+d] != scales[tt]*float32(x) {
						t.Fatalf("bt=%d hd=%d (%d, %d): stored %d (read %d), de-quantized %g, want %d+128, %g",
							bt, hd, tt, d, b, Q8Key(k, bt, hd, tt, d), got[tt*hd+d], x, scales[tt]*float32(x))
					}
				}
			}
		}
	}
	wantPanic(t, "position 4 of 4", func() { SetQ8Key(make([]int8, 32), 4, 4, make([]int8, 8)) })
	wantPanic(t, "with 31 keys", func() { SetQ8Key(make([]int8, 31), 4, 0, make([]int8, 8)) })
}

// TestSumInt8 checks sumInt8 against a plain sum for every length up to
// MaxQ8HeadDim, on random bytes and on all -128 and all 127.
func TestSumInt8(t *testing.T) {
	r := rand.New(rand.NewPCG(69, 70))
	for n := 0; n <= MaxQ8HeadDim; n++ {
		for _, fill := range []func() int8{func() int8 { return int8(r.IntN(256) - 128) }, func() int8 { return -128 }, func() int8 { return 127 }} {
			x := make([]int8, n)
			var want int32
			for i := range x {
				x[i] = fill()
				want += int32(x[i])
			}
			if got := sumInt8(x); got != want {
				t.Fatalf("n=%d: sum %d, want %d", n, got, want)
			}
		}
	}
}

func TestQuantizeQ8Row(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, n := range []int{1, 7, 64, 128} {
		x := randVec(r, n, 3)
		q := make([]int8, n)
		s := QuantizeQ8Row(q, x)
		var amax float64
		for _, v := range x {
			amax = max(amax, math.Abs(float64(v)))
		}
		if want := float32(amax / 127); !(math.Abs(float64(s-want)) <= 1e-6*float64(want)) {
			t.Errorf("n=%d: scale %g, want %g", n, s, want)
		}
		for i, v := range x {
			// Half a step, plus float32 rounding of x/scale.
			if d := math.Abs(float64(s)*float64(q[i]) - float64(v)); !(d <= float64(s)*0.5001) {
				t.Errorf("n=%d element %d: %g*%d is %g from %g", n, i, s, q[i], d, v)
			}
		}
	}
	q := []int8{1, 2, 3}
	if s := QuantizeQ8Row(q, []float32{0, 0, 0}); s != 0 || q[0]|q[1]|q[2] != 0 {
		t.Errorf("zeros: scale %g, %v", s, q)
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		if s := QuantizeQ8Row(q, []float32{1, bad, 2}); !math.IsNaN(float64(s)) && !math.IsInf(float64(s), 0) {
			t.Errorf("row with %g: scale %g, want NaN or Inf", bad, s)
		}
	}
	if s := QuantizeQ8Row(q, []float32{1, float32(math.NaN()), 2}); !math.IsNaN(float64(s * float32(q[0]))) {
		t.Errorf("row with NaN: de-quantized element 0 is %g, want NaN", s*float32(q[0]))
	}
}

// TestGroupKernelsQ8 checks each backend's int8 group kernels against the
// pure-Go twins (as TestGroupKernels does for f32 and f16) over positions
// [from, n) of one KV head of paged blocks (whole and partial blocks, the
// block sizes of sliding windows and of one position; GQA groups 1-8 and
// 17, five calls of up to four heads); the int8 values
// are exact in float32, so only the summation order differs (measured at
// most 7.6e-7 of the largest output magnitude, int8 values up to 127
// cancelling in the dot products; tolerance 3e-6). Both scores and sums are
// integer arithmetic with the same roundings, so they must be exact; the
// sums' int16 weights are also checked against float32 sums of the
// de-quantized rows (measured 1.16e-4 of the largest magnitude, with
// weights of both signs cancelling, one int16 scale per head over up to 150
// positions; tolerance 2e-4).
func TestGroupKernelsQ8(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		if b.group == nil {
			t.Skip("no group kernels")
		}
		r := rand.New(rand.NewPCG(63, 64))
		var worst, wworst float64
		for _, hd := range []int{4, 7, 16, 32, 36, 40, 48, 64, 96, 128, 256} {
			for _, g := range []int{1, 2, 3, 4, 5, 6, 7, 8, 17} {
				for _, sp := range []struct{ bt, from, n int }{{16, 0, 1}, {16, 0, 3}, {16, 0, 5}, {16, 0, 16}, {16, 0, 17},
					{16, 5, 100}, {16, 13, 19}, {7, 3, 40}, {64, 10, 150}, {64, 63, 64}, {48, 20, 100}, {1, 0, 5},
					{32, 31, 33}, {32, 0, 32}, {24, 2, 50}} {
					const kv = 2
					m := sp.n - sp.from
					// Random int8 rows and scales in blocks of kv heads; the
					// kernels read head 1.
					nb := (sp.n + sp.bt - 1) / sp.bt
					src := pagedBlocks{k8: make([][]int8, nb), ks: make([][]float32, nb), q8: true, bt: sp.bt}
					for i := range nb {
						src.k8[i] = make([]int8, kv*sp.bt*hd)
						for j := range src.k8[i] {
							src.k8[i][j] = int8(r.IntN(255) - 127)
						}
						src.ks[i] = randVec(r, kv*sp.bt, 0.01)
					}
					src.v8, src.vs = src.k8, src.ks
					off := sp.bt * hd
					q := randVec(r, g*hd, 1)
					p := randVec(r, g*m, 1)
					out0 := randVec(r, g*hd, 1)
					what := fmt.Sprintf("hd=%d g=%d %+v", hd, g, sp)
					check := func(kind string, got, want []float32) {
						t.Helper()
						d := relMaxAbs(t, kind, got, want)
						worst = max(worst, d)
						if !(d <= 3e-6) {
							t.Errorf("%s %s: max diff %g of the largest magnitude", kind, what, d)
						}
						if d != 0 {
							t.Errorf("%s %s: max diff %g from the generic twin (integer arithmetic, same roundings: want 0)", kind, what, d)
						}
					}
					q8, qsc, qc := make([]int8, len(q)), make([]float32, g), make([]int32, g)
					quantizeQ8Heads(q8, qsc, qc, q, g, hd, 0.125)
					got, want := make([]float32, len(p)), make([]float32, len(p))
					b.group.scoresQ8(got, src.k8, src.ks, src.v8, src.vs, sp.bt, sp.from, sp.n, off, q8, qsc, qc, g, hd)
					groupGeneric.scoresQ8(want, src.k8, src.ks, src.v8, src.vs, sp.bt, sp.from, sp.n, off, q8, qsc, qc, g, hd)
					check("scores q8", got, want)
					got, want = append([]float32(nil), out0...), append([]float32(nil), out0...)
					b.group.wsumQ8(got, src.v8, src.vs, sp.bt, sp.from, sp.n, off, p, g, hd)
					groupGeneric.wsumQ8(want, src.v8, src.vs, sp.bt, sp.from, sp.n, off, p, g, hd)
					check("wsum q8", got, want)
					// The int16 weights against float32 sums of the
					// de-quantized rows.
					ref := append([]float32(nil), out0...)
					deq := make([]float32, m*hd)
					for i := range m {
						blk, row := (sp.from+i)/sp.bt, sp.bt+(sp.from+i)%sp.bt
						dequantQ8Rows(deq[i*hd:(i+1)*hd], src.v8[blk][row*hd:(row+1)*hd], src.vs[blk][row:row+1], hd)
					}
					wsumGroupF32Generic(ref, deq, nil, p, m, m, g, hd)
					d := relMaxAbs(t, "wsum q8 vs f32", want, ref)
					wworst = max(wworst, d)
					if !(d <= 2e-4) {
						t.Errorf("wsum q8 %s: max diff %g of the largest magnitude from float32 sums", what, d)
					}
				}
			}
		}
		t.Logf("largest difference from the generic twins: %g; int16 weights vs float32 sums: %g", worst, wworst)
	})
}

// TestAttentionPagedQ8 checks AttentionPagedQ8 against AttentionCausal on
// the de-quantized values in a contiguous cache, for every backend and
// thread count: prefill de-quantizes into the GEMM path's layout (exact
// match); the other paths read the int8 rows with the query heads
// quantized to int8 (see TestQ8QueryQuantization for what that costs),
// compared here with the de-quantized query heads (the int16 weights of
// the sums and float32 roundings remain): measured at most 8.2e-5 with
// |q|, |k|, |v| ~ 1; tolerance 3e-4.
func TestAttentionPagedQ8(t *testing.T) {
	defer SetThreads(0)
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(65, 66))
		var worst float64
		for _, threads := range []int{1, 2, 4} {
			SetThreads(threads)
			for _, tc := range pagedCases {
				total := tc.pos0 + tc.n
				stride := total + 3
				q := randVec(r, tc.n*tc.heads*tc.hd, 1)
				k := randVec(r, tc.kv*stride*tc.hd, 1)
				v := randVec(r, tc.kv*stride*tc.hd, 1)
				k8, ks := pagedQ8Keys(paged(k, tc.kv, stride, tc.hd, tc.bt, total), tc.hd, tc.bt)
				v8, vs := pagedQ8(paged(v, tc.kv, stride, tc.hd, tc.bt, total), tc.hd)
				kd := dequantContiguous(k, k8, ks, tc.kv, stride, tc.hd, tc.bt, total, true)
				vd := dequantContiguous(v, v8, vs, tc.kv, stride, tc.hd, tc.bt, total, false)
				scale := float32(1 / math.Sqrt(float64(tc.hd)))
				want := make([]float32, len(q))
				got := make([]float32, len(q))
				exact := b.gemm != nil && tc.hd%b.gemm.nr == 0 && tc.n >= 2
				qd := q
				if !exact {
					qd = dequantQ8Heads(q, tc.hd)
				}
				AttentionCausal(want, qd, kd, vd, tc.n, tc.heads, tc.kv, tc.hd, tc.pos0, stride, scale)
				AttentionPagedQ8(got, q, k8, v8, ks, vs, tc.bt, tc.n, tc.heads, tc.kv, tc.hd, tc.pos0, scale)
				d := numcheck.MaxAbs(t, "paged q8", got, want)
				worst = max(worst, d)
				if !(d <= 3e-4) || exact && d != 0 {
					t.Errorf("threads=%d %+v q8: max diff %g (exact path %v)", threads, tc, d, exact)
				}
			}
		}
		t.Logf("largest difference from the contiguous kernel on de-quantized values: %g", worst)
	})
}

// dequantQ8Heads returns the query heads of hd values in q as the int8
// decode kernels see them: each head quantized to int8 with one scale
// (quantizeQ8Heads) and de-quantized.
func dequantQ8Heads(q []float32, hd int) []float32 {
	out := make([]float32, len(q))
	q8 := make([]int8, hd)
	for h := 0; h < len(q); h += hd {
		sc := QuantizeQ8Row(q8, q[h:h+hd])
		for d, x := range q8 {
			out[h+d] = sc * float32(x)
		}
	}
	return out
}

// TestQ8QueryQuantization measures what quantizing the query heads to
// int8 in the int8 decode scores costs against what storing the keys and
// values as int8 costs, on random SmolLM2-135M-shaped decode steps (9
// query heads over 3 KV heads of 64) at contexts 16, 128 and 512: the
// root-mean-square error of the attention output of AttentionPagedQ8 vs
// AttentionCausal on the de-quantized cache (the query's share) and of
// that vs the float32 cache (the cache's share). Measured: the query's
// share is 0.63-0.70 of the cache's, the total 1.17-1.21 times the cache's
// alone; bounds 0.9 and 1.35.
func TestQ8QueryQuantization(t *testing.T) {
	const heads, kv, hd, bt, trials = 9, 3, 64, 16, 20
	r := rand.New(rand.NewPCG(67, 68))
	meanSq := func(a, b []float32) float64 {
		var s float64
		for i := range a {
			d := float64(a[i] - b[i])
			s += d * d
		}
		return s / float64(len(a))
	}
	for _, total := range []int{16, 128, 512} {
		var cache, query, both float64
		for range trials {
			q := randVec(r, heads*hd, 1)
			k := randVec(r, kv*total*hd, 1)
			v := randVec(r, kv*total*hd, 1)
			k8, ks := pagedQ8Keys(paged(k, kv, total, hd, bt, total), hd, bt)
			v8, vs := pagedQ8(paged(v, kv, total, hd, bt, total), hd)
			kd := dequantContiguous(k, k8, ks, kv, total, hd, bt, total, true)
			vd := dequantContiguous(v, v8, vs, kv, total, hd, bt, total, false)
			scale := float32(1 / math.Sqrt(hd))
			f32, deq, got := make([]float32, len(q)), make([]float32, len(q)), make([]float32, len(q))
			AttentionCausal(f32, q, k, v, 1, heads, kv, hd, total-1, total, scale)
			AttentionCausal(deq, q, kd, vd, 1, heads, kv, hd, total-1, total, scale)
			AttentionPagedQ8(got, q, k8, v8, ks, vs, bt, 1, heads, kv, hd, total-1, scale)
			numcheck.Finite(t, "q8 attention", got)
			cache += meanSq(deq, f32)
			query += meanSq(got, deq)
			both += meanSq(got, f32)
		}
		cache, query, both = math.Sqrt(cache/trials), math.Sqrt(query/trials), math.Sqrt(both/trials)
		t.Logf("context %d: rms error of the int8 cache %.3g, of the int8 query heads %.3g (%.2f of it), both %.3g (%.2fx)",
			total, cache, query, query/cache, both, both/cache)
		if !(query <= 0.9*cache) || !(both <= 1.35*cache) {
			t.Errorf("context %d: int8 query heads add rms error %.3g (total %.3g) to the int8 cache's %.3g, want at most 0.9x (total 1.35x)",
				total, query, both, cache)
		}
	}
}

// TestAttentionPagedQ8Error bounds the error of a Q8 cache against f32
// attention on the original (not quantized) values: SmolLM2-135M's shape,
// 300 positions of unit-variance keys and values, one decode query. int8
// rows with one scale each are within max|row|/254 of the input, and so
// are the int8 query heads; measured max |out - f32| 0.0034 (0.0023 with
// the query heads in int16; outputs ~ 0.1); tolerance 0.007.
func TestAttentionPagedQ8Error(t *testing.T) {
	r := rand.New(rand.NewPCG(67, 68))
	const heads, kv, hd, bt, total = 9, 3, 64, 16, 300
	q := randVec(r, heads*hd, 1)
	k := randVec(r, kv*total*hd, 1)
	v := randVec(r, kv*total*hd, 1)
	kb, vb := paged(k, kv, total, hd, bt, total), paged(v, kv, total, hd, bt, total)
	k8, ks := pagedQ8Keys(kb, hd, bt)
	v8, vs := pagedQ8(vb, hd)
	want, got := make([]float32, len(q)), make([]float32, len(q))
	AttentionPaged(want, q, kb, vb, bt, 1, heads, kv, hd, total-1, 0.125)
	AttentionPagedQ8(got, q, k8, v8, ks, vs, bt, 1, heads, kv, hd, total-1, 0.125)
	numcheck.Finite(t, "q8", got)
	d := numcheck.MaxAbs(t, "q8 vs f32", got, want)
	t.Logf("max |q8 - f32| = %g", d)
	if !(d <= 0.007) {
		t.Errorf("max |q8 - f32| = %g, want <= 0.007", d)
	}
}

func TestAttentionQ8ZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("scratch buffers are not reused under -race")
	}
	SetThreads(2)
	defer SetThreads(0)
	r := rand.New(rand.NewPCG(71, 72))
	const heads, kv, hd, bt, total = 9, 3, 64, 16, 512
	k8, ks := pagedQ8(paged(randVec(r, kv*total*hd, 1), kv, total, hd, bt, total), hd)
	qs := make([]DecodeQuery, 4)
	for i := range qs {
		qs[i] = DecodeQuery{Out: make([]float32, heads*hd), Q: randVec(r, heads*hd, 1), BlockTokens: bt, Pos: total - 1 - i,
			K8: k8, V8: k8, KScale: ks, VScale: ks}
	}
	if a := testing.AllocsPerRun(10, func() { AttentionDecode(qs, heads, kv, hd, 0, 0.125) }); a != 0 {
		t.Errorf("AttentionDecode q8: %v allocs per call", a)
	}
	q := randVec(r, 40*heads*hd, 1)
	out := make([]float32, len(q))
	for _, n := range []int{1, 40} {
		if a := testing.AllocsPerRun(10, func() {
			AttentionPagedQ8(out[:n*heads*hd], q[:n*heads*hd], k8, k8, ks, ks, bt, n, heads, kv, hd, total-n, 0.125)
		}); a != 0 {
			t.Errorf("AttentionPagedQ8 n=%d: %v allocs per call", n, a)
		}
	}
}

func TestAttentionQ8Panics(t *testing.T) {
	blocks := [][]int8{make([]int8, 2*4*8), make([]int8, 2*4*8)}
	scales := [][]float32{make([]float32, 2*4), make([]float32, 2*4)}
	short := [][]float32{make([]float32, 2*4), make([]float32, 2*4-1)}
	q := make([]float32, 4*8)
	for _, tc := range []struct {
		name, want string
		f          func()
	}{
		{"too few blocks", "k has 2 blocks, need 3", func() { AttentionPagedQ8(q, q, blocks, blocks, scales, scales, 4, 1, 4, 2, 8, 8, 1) }},
		{"short scales", "vScale block 1 has length 7", func() { AttentionPagedQ8(q, q, blocks, blocks, scales, short, 4, 1, 4, 2, 8, 5, 1) }},
		{"decode short scales", "query 0 kScale block 1 has length 7", func() {
			AttentionDecode([]DecodeQuery{{Out: q, Q: q, K8: blocks, V8: blocks, KScale: short, VScale: scales, BlockTokens: 4, Pos: 5}}, 4, 2, 8, 0, 1)
		}},
		{"decode two types", "needs either", func() {
			AttentionDecode([]DecodeQuery{{Out: q, Q: q, K8: blocks, V8: blocks, KScale: scales, VScale: scales,
				K: [][]float32{make([]float32, 64)}, BlockTokens: 4}}, 4, 2, 8, 0, 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantPanic(t, tc.want, tc.f) })
	}
}

// BenchmarkAttentionDecodeQ8 times the decode attention of a batched step
// of SmolLM2-135M (9 query heads over 3 KV heads of 64, 30 layers) with
// f16 and q8 blocks of 16 positions: batch sequences at context ctx, their
// blocks laid out as kvcache lays them out (one allocation per block for
// every layer, so that a KV head's rows of one layer are 1 KiB or 2 KiB
// islands in a 184 KiB or 368 KiB block), in 4 KiB or transparent huge
// pages. A B=8 step at context 640 reads 63 MB of q8 KV, about twice the
// last-level cache. It reports the KV bytes read per second ("GB/s") and
// their fraction of the streaming bandwidth on as many threads in the same
// run ("roofline", see rooflineBW), and the process CPU time per step
// ("cpu-ns/op", Linux).
func BenchmarkAttentionDecodeQ8(b *testing.B) {
	const heads, kv, hd, bt, layers = 9, 3, 64, 16, 30
	r := rand.New(rand.NewPCG(73, 74))
	for _, ctx := range []int{512, 640} {
		// One sequence's random keys and values, copied into every
		// sequence's own blocks (the values do not change the speed).
		d := newDecodeBenchKV(r, kv, ctx, hd, bt)
		k16, v16, k8, v8, ks, vs := d.k16, d.v16, d.k8, d.v8, d.ks, d.vs
		for _, batch := range []int{1, 8, 16} {
			for _, typ := range []string{"f16", "q8"} {
				bytes := decodeBenchBytes(typ, layers, batch, kv, ctx, hd)
				for _, pages := range []string{"4k", "huge"} {
					var qs [][]DecodeQuery
					arena := &kvArena{}
					unmap := func() {}
					setup := func(b *testing.B) {
						buf, un, err := mapBuffer(int(bytes)+len(k8)*batch*4*64+1<<21, pages == "huge")
						if err != nil {
							b.Skip(err)
						}
						arena.buf, unmap = buf, un
						qs = make([][]DecodeQuery, layers)
						for l := range qs {
							qs[l] = make([]DecodeQuery, batch)
						}
						for i := range batch {
							var lk16, lv16 [][][]uint16
							var lk8, lv8 [][][]int8
							var lks, lvs [][][]float32
							if typ == "f16" {
								lk16, lv16 = kvLayout(arena, k16, v16, layers)
							} else {
								lk8, lv8 = kvLayout(arena, k8, v8, layers)
								lks, lvs = kvLayout(arena, ks, vs, layers)
							}
							for l := range layers {
								d := DecodeQuery{Out: make([]float32, heads*hd), Q: randVec(r, heads*hd, 1), BlockTokens: bt, Pos: ctx - 1}
								if typ == "f16" {
									d.K16, d.V16 = lk16[l], lv16[l]
								} else {
									d.K8, d.V8, d.KScale, d.VScale = lk8[l], lv8[l], lks[l], lvs[l]
								}
								qs[l][i] = d
							}
						}
					}
					for _, th := range []int{1, 2} {
						b.Run(fmt.Sprintf("ctx=%d/B=%d/%s/pages=%s/threads=%d", ctx, batch, typ, pages, th), func(b *testing.B) {
							if qs == nil {
								setup(b)
							}
							SetThreads(th)
							defer SetThreads(0)
							bw := rooflineBW(b, th, false)
							b.SetBytes(bytes)
							cpu0 := processCPU()
							for b.Loop() {
								for l := range qs {
									AttentionDecode(qs[l], heads, kv, hd, 0, 0.125)
								}
							}
							if cpu := processCPU() - cpu0; cpu > 0 {
								// CPU time (all threads, idle workers' polling
								// included) is less sensitive than wall time to
								// other processes on a shared machine.
								b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
							}
							b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
							reportRoofline(b, bytes, bw)
						})
					}
					qs = nil
					unmap() // after both thread counts ran on the blocks
				}
			}
		}
	}
}

// kvArena hands out the KV blocks of BenchmarkAttentionDecodeQ8 from one
// mapping, 64-byte aligned.
type kvArena struct {
	buf []byte
	off int
}

// arenaSlice returns n zero values of T from a.
func arenaSlice[T int8 | uint16 | float32](a *kvArena, n int) []T {
	var z T
	a.off = (a.off + 63) &^ 63
	p := unsafe.Slice((*T)(unsafe.Pointer(&a.buf[a.off])), n)
	a.off += n * int(unsafe.Sizeof(z))
	return p
}

// kvLayout copies one layer's blocks k and v (of one sequence) into blocks
// from a that hold layers copies of them the way kvcache lays a block out
// (every layer's keys, then its values, in one allocation), and returns
// each layer's block tables.
func kvLayout[T int8 | uint16 | float32](a *kvArena, k, v [][]T, layers int) (lk, lv [][][]T) {
	e := len(k[0])
	lk, lv = make([][][]T, layers), make([][][]T, layers)
	for l := range layers {
		lk[l], lv[l] = make([][]T, len(k)), make([][]T, len(k))
	}
	for b := range k {
		blk := arenaSlice[T](a, 2*layers*e)
		for l := range layers {
			o := 2 * l * e
			lk[l][b], lv[l][b] = blk[o:o+e:o+e], blk[o+e:o+2*e:o+2*e]
			copy(lk[l][b], k[b])
			copy(lv[l][b], v[b])
		}
	}
	return lk, lv
}

// TestQuantizeQ8RowRounding checks the rounding of QuantizeQ8Row against
// math.RoundToEven on every element of random rows and on ties.
func TestQuantizeQ8RowRounding(t *testing.T) {
	r := rand.New(rand.NewPCG(75, 76))
	q := make([]int8, 64)
	for range 200 {
		x := randVec(r, 64, float32(r.ExpFloat64()))
		QuantizeQ8Row(q, x)
		var amax float32
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		inv := 127 / amax
		for i, v := range x {
			if want := int8(math.RoundToEven(float64(v * inv))); q[i] != want {
				t.Fatalf("%g * %g: got %d, want %d", v, inv, q[i], want)
			}
		}
	}
	// max 127: x*inv is x itself, ties at .5 go to even.
	QuantizeQ8Row(q[:5], []float32{127, 0.5, 1.5, -2.5, -0.5})
	if want := []int8{127, 0, 2, -2, 0}; !slices.Equal(q[:5], want) {
		t.Errorf("ties: got %v, want %v", q[:5], want)
	}
}

// TestQuantizeQ8RowBackends checks each backend's QuantizeQ8Row (and
// int16 row quantizer of the query heads) against the Go twins, values and
// scale exactly, over lengths around the SIMD width,
// rounding ties, zeros, subnormal and non-finite values.
func TestQuantizeQ8RowBackends(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		r := rand.New(rand.NewPCG(77, 78))
		nan, inf := float32(math.NaN()), float32(math.Inf(1))
		for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 128, 256} {
			for trial := range 40 {
				x := randVec(r, n, float32(r.ExpFloat64()))
				switch trial % 8 {
				case 1: // ties: the largest is 127, halves round to even
					for i := range x {
						x[i] = float32(math.Round(float64(x[i])*20)) / 2
					}
					x[r.IntN(n)] = -127
				case 2:
					clear(x)
				case 3:
					x[r.IntN(n)] = nan
				case 4:
					x[r.IntN(n)] = -inf
				case 5:
					for i := range x {
						x[i] *= 1e-40 // subnormal
					}
				case 6:
					x[n-1] = inf // in the masked tail when n%16 != 0
				}
				got, want := make([]int8, n), make([]int8, n)
				for i := range got {
					got[i], want[i] = 99, 99
				}
				gs, ws := QuantizeQ8Row(got, x), quantizeQ8RowGeneric(want, x)
				if !slices.Equal(got, want) || math.Float32bits(gs) != math.Float32bits(ws) && !(gs != gs && ws != ws) {
					t.Fatalf("n=%d trial %d: got scale %g bytes %v, want %g %v", n, trial, gs, got, ws, want)
				}
			}
		}
	})
}

// BenchmarkQuantizeQ8Row times quantizing one 64-value KV row (a decode
// step stores two per layer, KV head and sequence) with each backend.
func BenchmarkQuantizeQ8Row(b *testing.B) {
	r := rand.New(rand.NewPCG(79, 80))
	x, q := randVec(r, 64, 1), make([]int8, 64)
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			old := active
			active = be
			defer func() { active = old }()
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				QuantizeQ8Row(q, x)
			}
		})
	}
}

// BenchmarkScoresQ8 times each backend's int8 scores kernel alone, in
// cache: one KV head of SmolLM2-135M's shape (head size 64, 3 KV heads per
// block of 16 positions) over ctx positions, for g query heads. It
// reports the key bytes read per second.
func BenchmarkScoresQ8(b *testing.B) {
	const kv, hd, bt = 3, 64, 16
	r := rand.New(rand.NewPCG(81, 82))
	for _, ctx := range []int{128, 640} {
		k, ks := randQ8Blocks(r, ctx/bt, kv, bt, hd)
		for _, g := range []int{1, 3, 4} {
			q8, qsc, qc := make([]int8, g*hd), make([]float32, g), make([]int32, g)
			quantizeQ8Heads(q8, qsc, qc, randVec(r, g*hd, 1), g, hd, 0.125)
			s := make([]float32, g*ctx)
			for _, be := range backends {
				gk := be.groupKernels()
				b.Run(fmt.Sprintf("ctx=%d/g=%d/%s", ctx, g, be.name), func(b *testing.B) {
					b.SetBytes(int64(ctx * (hd + 4)))
					for b.Loop() {
						gk.scoresQ8(s, k, ks, k, ks, bt, 0, ctx, bt*hd, q8, qsc, qc, g, hd)
					}
				})
			}
		}
	}
}

// decodeBenchKV is one sequence's random keys and values of the decode
// attention benchmarks, paged in blocks of bt positions, as f16 and int8.
type decodeBenchKV struct {
	k16, v16 [][]uint16
	k8, v8   [][]int8
	ks, vs   [][]float32
}

func newDecodeBenchKV(r *rand.Rand, kv, ctx, hd, bt int) decodeBenchKV {
	kb := paged(randVec(r, kv*ctx*hd, 1), kv, ctx, hd, bt, ctx)
	vb := paged(randVec(r, kv*ctx*hd, 1), kv, ctx, hd, bt, ctx)
	d := decodeBenchKV{k16: paged16(kb), v16: paged16(vb)}
	d.k8, d.ks = pagedQ8Keys(kb, hd, bt)
	d.v8, d.vs = pagedQ8(vb, hd)
	return d
}

// decodeBenchBytes returns the KV bytes a decode attention step of batch
// sequences reads over all layers: f16 rows, or int8 rows with a scale.
func decodeBenchBytes(typ string, layers, batch, kv, ctx, hd int) int64 {
	row := 2 * hd
	if typ == "q8" {
		row = hd + 4
	}
	return int64(layers * batch * 2 * kv * ctx * row)
}

// randQ8Blocks returns nb blocks of kv*bt*hd random int8 values and their
// kv*bt random row scales (spread 0.01, either sign).
func randQ8Blocks(r *rand.Rand, nb, kv, bt, hd int) ([][]int8, [][]float32) {
	q, sc := make([][]int8, nb), make([][]float32, nb)
	for i := range nb {
		q[i] = make([]int8, kv*bt*hd)
		for j := range q[i] {
			q[i][j] = int8(r.IntN(255) - 127)
		}
		sc[i] = randVec(r, kv*bt, 0.01)
	}
	return q, sc
}
