package kernels

import "fmt"

// Attention computes scaled dot-product attention for ONE query position
// with grouped-query heads over a KV cache.
//
// q and out hold nHeads heads of headDim values. The K and V caches of one
// layer are laid out [nKVHeads][stride][headDim], where stride is the cache
// capacity in positions; positions 0..n-1 are valid (1 <= n <= stride). Query
// head h uses KV head h / (nHeads/nKVHeads). For each head the scores
// q·k_t·scale are soft-maxed and the V rows summed with those weights. out
// must not overlap q.
func Attention(out, q, k, v []float32, nHeads, nKVHeads, headDim, n, stride int, scale float32) {
	checkAttention("Attention", len(out), len(q), len(k), len(v), 1, nHeads, nKVHeads, headDim, n, stride)
	j := attnJob{b: active, out: out, q: q, k: k, v: v, nHeads: nHeads, nKV: nKVHeads,
		hd: headDim, n: n, stride: stride, scale: scale}
	runAttention(&j, nHeads, n)
}

// AttentionF16 is Attention over a KV cache stored as IEEE binary16 bit
// patterns (same layout). Accumulation is in float32.
func AttentionF16(out, q []float32, k, v []uint16, nHeads, nKVHeads, headDim, n, stride int, scale float32) {
	checkAttention("AttentionF16", len(out), len(q), len(k), len(v), 1, nHeads, nKVHeads, headDim, n, stride)
	j := attnJob{b: active, out: out, q: q, k16: k, v16: v, f16: true, nHeads: nHeads, nKV: nKVHeads,
		hd: headDim, n: n, stride: stride, scale: scale}
	runAttention(&j, nHeads, n)
}

// AttentionCausal computes attention for nTok consecutive query positions at
// once (prompt prefill). q and out hold nTok rows of nHeads*headDim values;
// query row i sits at position start+i and attends to cache positions
// 0..start+i, so the caches must already hold the keys and values of all
// nTok new positions (start+nTok <= stride). Everything else is as in
// Attention. When the CPU path has a GEMM micro-kernel and headDim is a
// multiple of its width (16 or 32; 64 always qualifies), blocks of queries
// are processed as small matrix products (see attention_blocked.go);
// otherwise query rows and heads are spread over the worker pool one by one.
func AttentionCausal(out, q, k, v []float32, nTok, nHeads, nKVHeads, headDim, start, stride int, scale float32) {
	if start < 0 {
		panic(fmt.Sprintf("kernels.AttentionCausal: negative start %d", start))
	}
	checkAttention("AttentionCausal", len(out), len(q), len(k), len(v), nTok, nHeads, nKVHeads, headDim, start+nTok, stride)
	if attentionBlocked(active, out, q, k, v, nTok, nHeads, nKVHeads, headDim, start+1, stride, true, scale) {
		return
	}
	j := attnJob{b: active, out: out, q: q, k: k, v: v, nHeads: nHeads, nKV: nKVHeads,
		hd: headDim, n: start + 1, stride: stride, scale: scale, causal: true}
	runAttention(&j, nTok*nHeads, start+nTok)
}

// AttentionCausalF16 is AttentionCausal over a KV cache stored as IEEE
// binary16 bit patterns (same layout), for prompt prefill with an f16 cache.
// On the blocked fast path the visible part of the cache is widened to f32
// once per call.
func AttentionCausalF16(out, q []float32, k, v []uint16, nTok, nHeads, nKVHeads, headDim, start, stride int, scale float32) {
	if start < 0 {
		panic(fmt.Sprintf("kernels.AttentionCausalF16: negative start %d", start))
	}
	checkAttention("AttentionCausalF16", len(out), len(q), len(k), len(v), nTok, nHeads, nKVHeads, headDim, start+nTok, stride)
	b := active
	if g := b.gemm; g != nil && headDim%g.nr == 0 && nTok >= 2 {
		n := start + nTok
		buf := scratchPool.Get().(*[]float32)
		defer scratchPool.Put(buf)
		s := grow(buf, 2*nKVHeads*n*headDim)
		kf, vf := s[:nKVHeads*n*headDim], s[nKVHeads*n*headDim:]
		for kv := 0; kv < nKVHeads; kv++ {
			src := kv * stride * headDim
			dst := kv * n * headDim
			b.f16ToF32(kf[dst:dst+n*headDim], k[src:src+n*headDim])
			b.f16ToF32(vf[dst:dst+n*headDim], v[src:src+n*headDim])
		}
		attentionBlocked(b, out, q, kf, vf, nTok, nHeads, nKVHeads, headDim, start+1, n, true, scale)
		return
	}
	j := attnJob{b: b, out: out, q: q, k16: k, v16: v, f16: true, nHeads: nHeads, nKV: nKVHeads,
		hd: headDim, n: start + 1, stride: stride, scale: scale, causal: true}
	runAttention(&j, nTok*nHeads, start+nTok)
}

// AttentionBatch computes attention for nTok query rows that all see the
// same n cache positions 0..n-1, with no causal mask: the bidirectional
// self-attention of an encoder such as SigLIP (with n = nTok and the keys and
// values of all tokens in the caches). Layouts and the blocked fast path are
// as in AttentionCausal.
func AttentionBatch(out, q, k, v []float32, nTok, nHeads, nKVHeads, headDim, n, stride int, scale float32) {
	checkAttention("AttentionBatch", len(out), len(q), len(k), len(v), nTok, nHeads, nKVHeads, headDim, n, stride)
	if attentionBlocked(active, out, q, k, v, nTok, nHeads, nKVHeads, headDim, n, stride, false, scale) {
		return
	}
	j := attnJob{b: active, out: out, q: q, k: k, v: v, nHeads: nHeads, nKV: nKVHeads,
		hd: headDim, n: n, stride: stride, scale: scale}
	runAttention(&j, nTok*nHeads, n)
}

func checkAttention(fn string, lout, lq, lk, lv, nTok, nHeads, nKV, hd, n, stride int) {
	if nKV <= 0 || nHeads <= 0 || nHeads%nKV != 0 || hd <= 0 || nTok < 0 {
		panic(fmt.Sprintf("kernels.%s: bad heads nHeads=%d nKVHeads=%d headDim=%d nTok=%d", fn, nHeads, nKV, hd, nTok))
	}
	if n < 1 || n > stride {
		panic(fmt.Sprintf("kernels.%s: need 1 <= positions (%d) <= stride (%d)", fn, n, stride))
	}
	mustLen(fn, "q", lq, nTok*nHeads*hd)
	mustLen(fn, "out", lout, nTok*nHeads*hd)
	need := nKV * stride * hd
	mustAtLeast(fn, "k", lk, need)
	mustAtLeast(fn, "v", lv, need)
}

func runAttention(j *attnJob, items, n int) {
	grain := matVecGrain/(2*n*j.hd) + 1
	if items >= 2*grain {
		if t := workers.acquire(); t != nil {
			pj := &t.jobs.attn
			*pj = *j
			t.run(pj, items, grain)
			*pj = attnJob{}
			workers.release(t)
			return
		}
	}
	j.run(0, items)
}

// attnJob computes attention one query head at a time for items [lo, hi),
// item = token*nHeads + head (token 0 for a single query).
type attnJob struct {
	b               *backend
	out, q, k, v    []float32
	k16, v16        []uint16
	f16, causal     bool
	nHeads, nKV, hd int
	n, stride       int // n: positions seen by the first (or only) query
	scale           float32
}

func (j *attnJob) run(lo, hi int) {
	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	hd, group := j.hd, j.nHeads/j.nKV
	maxN := j.n
	if j.causal {
		maxN += (hi - 1) / j.nHeads
	}
	scores0 := grow(buf, maxN)
	for it := lo; it < hi; it++ {
		h, n := it%j.nHeads, j.n
		if j.causal {
			n += it / j.nHeads
		}
		qh := j.q[it*hd : (it+1)*hd]
		oh := j.out[it*hd : (it+1)*hd]
		base := (h / group) * j.stride * hd
		scores := scores0[:n]
		if j.f16 {
			j.b.matVecF16(scores, j.k16[base:base+n*hd], qh)
		} else {
			j.b.matVecF32(scores, j.k[base:base+n*hd], qh)
		}
		j.b.scale(scores, j.scale)
		j.b.softmax(scores)
		if j.f16 {
			j.b.wsumF16(oh, j.v16[base:base+n*hd], scores)
		} else {
			j.b.wsumF32(oh, j.v[base:base+n*hd], scores)
		}
	}
}
