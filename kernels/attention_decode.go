package kernels

import (
	"fmt"

	"github.com/cellm-ai/cellm-go/internal/half"
)

// Decode attention over a paged KV cache, one GQA group at a time: the g
// query heads that share a KV head read each key and value row once (load
// and, for binary16 blocks, conversion), instead of once per query head.
// Backends without group kernels (see backend.group) keep the one-head-at-a-
// time path. AttentionDecode runs the decode queries of several sequences
// as one parallel call.

// groupKernels compute attention for the g query heads of one GQA group.
// Each reads a key or value row once for all g heads.
type groupKernels struct {
	// scores* set s[h*ss+t] = Q[h,:]·K[t,:] for t < c and h < g, where Q
	// holds g rows and K c rows of hd values (ss >= c).
	scoresF32 func(s []float32, ss int, k, next, q []float32, c, g, hd int)
	scoresF16 func(s []float32, ss int, k, next []uint16, q []float32, c, g, hd int)
	// wsum* add sum_t p[h*ps+t]·V[t,:] to out[h*hd:(h+1)*hd] for t < c and
	// h < g, where V holds c rows of hd values (ps >= c).
	wsumF32 func(out, v, next, p []float32, ps, c, g, hd int)
	wsumF16 func(out []float32, v, next []uint16, p []float32, ps, c, g, hd int)
	// (next, above, is the block read after k or v, nil if none: SIMD
	// kernels prefetch its first c rows.)

	// scoresBlocks* and wsumBlocks* run scores* and wsum* over positions
	// [from, n) of one KV head in blocks of bt positions (the head's rows
	// at element off of each block) in one call: with m = n-from,
	// scoresBlocks* sets s[h*m+t-from] = Q[h,:]·K[t,:] and wsumBlocks*
	// adds sum_t p[h*m+t-from]·V[t,:] to out[h*hd:(h+1)*hd], for h < g,
	// with the same results as blockScores and blockWsum over the same
	// backend's per-block kernels. (v in scoresBlocks*: the value blocks,
	// whose first blocks SIMD forms prefetch.)
	scoresBlocksF32 func(s []float32, k, v [][]float32, bt, from, n, off int, q []float32, g, hd int)
	scoresBlocksF16 func(s []float32, k, v [][]uint16, bt, from, n, off int, q []float32, g, hd int)
	wsumBlocksF32   func(out []float32, v [][]float32, bt, from, n, off int, p []float32, g, hd int)
	wsumBlocksF16   func(out []float32, v [][]uint16, bt, from, n, off int, p []float32, g, hd int)

	// scoresQ8 and wsumQ8 read the int8 rows of one KV head (element off
	// of each block of bt positions, scales from element off/hd) over
	// positions [from, n) of the blocks k, ks or v, vs (keys laid out as
	// Q8KeyIndex says), all in one call,
	// with the query heads quantized to int8 (exact integer dot
	// products; qsc[h] is the head's scale times the softmax scale and
	// qc[h] its key-bias correction, see quantizeQ8Heads). With
	// m = n-from, scoresQ8 sets s[h*m+t-from] =
	// float32(Q[h,:]·K[t,:]) * (ks[t]*qsc[h]) and wsumQ8 adds
	// sum_t p[h*m+t-from]·(vs[t]·V[t,:]) to out[h*hd:(h+1)*hd] (see
	// wsumQ8Generic), for h < g. SIMD forms prefetch the blocks read
	// next (scoresQ8 also the first blocks of the values v, vs, which
	// wsumQ8 reads next).
	scoresQ8 func(s []float32, k [][]int8, ks [][]float32, v [][]int8, vs [][]float32, bt, from, n, off int, q []int8, qsc []float32, qc []int32, g, hd int)
	wsumQ8   func(out []float32, v [][]int8, vs [][]float32, bt, from, n, off int, p []float32, g, hd int)
	// prefetchQ8Values, if not nil, starts loading what wsumQ8 (same
	// arguments) reads first, before the scores run: all the value scales
	// and the value rows that scoresQ8 does not prefetch but wsumQ8 reads
	// before its own prefetching reaches them.
	prefetchQ8Values func(v [][]int8, vs [][]float32, bt, from, n, off, hd int)
}

// groupKernels returns b's group kernels, or their pure-Go twins for a
// backend without any.
func (b *backend) groupKernels() *groupKernels {
	if b.group == nil {
		return groupGeneric
	}
	return b.group
}

// groupGeneric is the pure-Go twin of the SIMD group kernels.
var groupGeneric = &groupKernels{
	scoresF32: scoresGroupF32Generic,
	scoresF16: scoresGroupF16Generic,
	wsumF32:   wsumGroupF32Generic,
	wsumF16:   wsumGroupF16Generic,
	scoresQ8:  scoresQ8Generic,
	wsumQ8:    wsumQ8Generic,

	scoresBlocksF32: func(s []float32, k, _ [][]float32, bt, from, n, off int, q []float32, g, hd int) {
		blockScores(scoresGroupF32Generic, s, k, bt, from, n, off, q, g, hd)
	},
	scoresBlocksF16: func(s []float32, k, _ [][]uint16, bt, from, n, off int, q []float32, g, hd int) {
		blockScores(scoresGroupF16Generic, s, k, bt, from, n, off, q, g, hd)
	},
	wsumBlocksF32: func(out []float32, v [][]float32, bt, from, n, off int, p []float32, g, hd int) {
		blockWsum(wsumGroupF32Generic, out, v, bt, from, n, off, p, g, hd)
	},
	wsumBlocksF16: func(out []float32, v [][]uint16, bt, from, n, off int, p []float32, g, hd int) {
		blockWsum(wsumGroupF16Generic, out, v, bt, from, n, off, p, g, hd)
	},
}

// blockNext returns the KV head's part of the block decodeAhead(bt) after
// blk, for the per-block kernels to prefetch, or nil if blk is the last
// block read.
func blockNext[T float32 | uint16](blocks [][]T, blk, last, bt, off, hd int) []T {
	if blk >= last {
		return nil
	}
	blk = min(blk+decodeAhead(bt), last)
	return blocks[blk][off : off+bt*hd]
}

// blockScores is groupKernels.scoresBlocks* as a loop over the blocks
// calling the per-block kernel f.
func blockScores[T float32 | uint16](f func(s []float32, ss int, k, next []T, q []float32, c, g, hd int), s []float32, k [][]T, bt, from, n, off int, q []float32, g, hd int) {
	m, last := n-from, (n-1)/bt
	for t := from; t < n; {
		blk, o := t/bt, t%bt
		c := min(bt-o, n-t)
		f(s[t-from:], m, k[blk][off+o*hd:off+(o+c)*hd], blockNext(k, blk, last, bt, off, hd), q, c, g, hd)
		t += c
	}
}

// blockWsum is groupKernels.wsumBlocks* as a loop over the blocks calling
// the per-block kernel f.
func blockWsum[T float32 | uint16](f func(out []float32, v, next []T, p []float32, ps, c, g, hd int), out []float32, v [][]T, bt, from, n, off int, p []float32, g, hd int) {
	m, last := n-from, (n-1)/bt
	for t := from; t < n; {
		blk, o := t/bt, t%bt
		c := min(bt-o, n-t)
		f(out, v[blk][off+o*hd:off+(o+c)*hd], blockNext(v, blk, last, bt, off, hd), p[t-from:], m, c, g, hd)
		t += c
	}
}

func scoresGroupF32Generic(s []float32, ss int, k, _, q []float32, c, g, hd int) {
	for t := range c {
		row := k[t*hd : (t+1)*hd]
		for h := range g {
			qh := q[h*hd : (h+1)*hd]
			s[h*ss+t] = dotGeneric(row, qh)
		}
	}
}

func scoresGroupF16Generic(s []float32, ss int, k, _ []uint16, q []float32, c, g, hd int) {
	for t := range c {
		row := k[t*hd : (t+1)*hd]
		for h := range g {
			qh := q[h*hd : (h+1)*hd]
			s[h*ss+t] = dotF16(row, qh)
		}
	}
}

func wsumGroupF32Generic(out, v, _, p []float32, ps, c, g, hd int) {
	for t := range c {
		row := v[t*hd : (t+1)*hd]
		for h := range g {
			axpyGeneric(p[h*ps+t], row, out[h*hd:(h+1)*hd])
		}
	}
}

func wsumGroupF16Generic(out []float32, v, _ []uint16, p []float32, ps, c, g, hd int) {
	for t := range c {
		row := v[t*hd : (t+1)*hd]
		for h := range g {
			pt, oh := p[h*ps+t], out[h*hd:(h+1)*hd]
			for d, x := range row {
				oh[d] += pt * half.F16ToF32(x)
			}
		}
	}
}

// pagedBlocks is one sequence's cache of one layer: blocks of bt positions,
// float32 (k, v), binary16 (k16, v16, f16 set) or int8 rows with one scale
// each (k8, v8, ks, vs, q8 set).
type pagedBlocks struct {
	k, v     [][]float32
	k16, v16 [][]uint16
	k8, v8   [][]int8
	ks, vs   [][]float32
	f16, q8  bool
	bt       int
}

// headsPerItem returns how many query heads one parallel work item of paged
// attention covers: a whole GQA group with group kernels, else one head.
func headsPerItem(b *backend, heads, kvHeads int) int {
	if b.group != nil {
		return heads / kvHeads
	}
	return 1
}

// pagedScratch returns the scratch floats attendPaged needs for per heads
// over at most n positions in blocks of bt.
func pagedScratch(n, bt, per, hd int) int {
	nb := n/bt + 2
	return per*n + nb*(hd+1)
}

// attendPaged computes the attention of the per query heads q (per*hd
// values, all of KV head off/(bt*hd)) over positions [from, n) of src into
// out. s is scratch of pagedScratch(n-from, ...) floats at least.
func attendPaged(b *backend, out, q []float32, src *pagedBlocks, from, n, off, per, hd int, scale float32, s []float32) {
	if src.q8 {
		attendPagedQ8(b, out, q, src, from, n, off, per, hd, scale, s)
		return
	}
	bt, m := src.bt, n-from
	if gk := b.group; gk != nil {
		scores := s[:per*m]
		if src.f16 {
			gk.scoresBlocksF16(scores, src.k16, src.v16, bt, from, n, off, q, per, hd)
		} else {
			gk.scoresBlocksF32(scores, src.k, src.v, bt, from, n, off, q, per, hd)
		}
		b.scale(scores, scale)
		for h := range per {
			b.softmax(scores[h*m : (h+1)*m])
		}
		clear(out)
		if src.f16 {
			gk.wsumBlocksF16(out, src.v16, bt, from, n, off, scores, per, hd)
		} else {
			gk.wsumBlocksF32(out, src.v, bt, from, n, off, scores, per, hd)
		}
		return
	}
	// One head at a time: scores block by block, one soft-max, one partial
	// P·V row per block, and one more weighted sum (weights 1) of those rows.
	nb := (n-1)/bt - from/bt + 1 // blocks touched
	scores, parts, ones := s[:m], s[m:m+nb*hd], s[m+nb*hd:m+nb*hd+nb]
	for i := range ones {
		ones[i] = 1
	}
	for h := range per {
		qh, oh := q[h*hd:(h+1)*hd], out[h*hd:(h+1)*hd]
		for t := from; t < n; {
			blk, o := t/bt, t%bt
			c := min(bt-o, n-t)
			if src.f16 {
				b.matVecF16(scores[t-from:t-from+c], src.k16[blk][off+o*hd:off+(o+c)*hd], qh)
			} else {
				b.matVecF32(scores[t-from:t-from+c], src.k[blk][off+o*hd:off+(o+c)*hd], qh)
			}
			t += c
		}
		b.scale(scores, scale)
		b.softmax(scores)
		for t, i := from, 0; t < n; i++ {
			blk, o := t/bt, t%bt
			c := min(bt-o, n-t)
			dst := oh
			if nb > 1 {
				dst = parts[i*hd : (i+1)*hd]
			}
			if src.f16 {
				b.wsumF16(dst, src.v16[blk][off+o*hd:off+(o+c)*hd], scores[t-from:t-from+c])
			} else {
				b.wsumF32(dst, src.v[blk][off+o*hd:off+(o+c)*hd], scores[t-from:t-from+c])
			}
			t += c
		}
		if nb > 1 {
			b.wsumF32(oh, parts[:nb*hd], ones)
		}
	}
}

// DecodeQuery is one single-position query of AttentionDecode: the query of
// position Pos of one sequence, whose keys and values (position Pos
// included) are in paged blocks of BlockTokens positions laid out
// [kvHeads][BlockTokens][headDim] (see AttentionPaged). Set K and V for
// float32 blocks, K16 and V16 for binary16 ones, or K8, V8, KScale and
// VScale for int8 ones (see AttentionPagedQ8: K8 holds each KV head's keys
// of a block interleaved by quads of dimensions, see Q8KeyIndex).
type DecodeQuery struct {
	Out, Q         []float32 // heads*headDim values each; Out must not overlap any Q
	K, V           [][]float32
	K16, V16       [][]uint16
	K8, V8         [][]int8
	KScale, VScale [][]float32
	BlockTokens    int
	Pos            int
}

// AttentionDecode computes the attention of several single-position queries
// (the decode rows of a batched step, one per sequence) in one parallel
// call over (query, KV head) items; each query's result equals
// AttentionPagedWindow (or its F16 form) with n = 1 on the same data. window
// is as in AttentionPagedWindow. A call allocates nothing in steady state.
// It panics on inconsistent sizes.
func AttentionDecode(qs []DecodeQuery, heads, kvHeads, headDim, window int, scale float32) {
	const fn = "AttentionDecode"
	maxN := 0
	for i := range qs {
		d := &qs[i]
		checkPaged(fn, len(d.Out), len(d.Q), d.BlockTokens, 1, heads, kvHeads, headDim, d.Pos, window)
		w := window
		lo, nb := pagedWindow(d.Pos, 1, &w, d.BlockTokens)
		size := kvHeads * d.BlockTokens * headDim
		switch {
		case d.K != nil && d.K16 == nil && d.K8 == nil:
			checkQueryBlocks(i, "k", d.K, lo, nb, size)
			checkQueryBlocks(i, "v", d.V, lo, nb, size)
		case d.K16 != nil && d.K == nil && d.K8 == nil:
			checkQueryBlocks(i, "k16", d.K16, lo, nb, size)
			checkQueryBlocks(i, "v16", d.V16, lo, nb, size)
		case d.K8 != nil && d.K == nil && d.K16 == nil:
			checkQ8HeadDim(fn, headDim)
			checkQueryBlocks(i, "k8", d.K8, lo, nb, size)
			checkQueryBlocks(i, "v8", d.V8, lo, nb, size)
			checkQueryBlocks(i, "kScale", d.KScale, lo, nb, kvHeads*d.BlockTokens)
			checkQueryBlocks(i, "vScale", d.VScale, lo, nb, kvHeads*d.BlockTokens)
		default:
			panic(fmt.Sprintf("kernels.%s: query %d needs either K/V, K16/V16 or K8/V8 blocks", fn, i))
		}
		maxN = max(maxN, d.Pos+1)
	}
	if len(qs) == 0 {
		return
	}
	b := active
	j := decodeJob{b: b, qs: qs, heads: heads, kvHeads: kvHeads, hd: headDim,
		per: headsPerItem(b, heads, kvHeads), maxN: maxN, window: window, scale: scale}
	items := len(qs) * heads / j.per
	grain := matVecGrain/(2*maxN*headDim*j.per) + 1
	if items >= 2*grain {
		if t := workers.acquire(); t != nil {
			dj := &t.jobs.decode // the task's slot: no allocation to hand it over
			*dj = j
			t.runDecode(dj, items, grain)
			*dj = decodeJob{}
			workers.release(t)
			return
		}
	}
	j.run(0, items)
}

// checkQueryBlocks is checkBlocks for query i of AttentionDecode (the name
// is formatted only on failure, so a call does not allocate).
func checkQueryBlocks[T float32 | uint16 | int8](i int, name string, blocks [][]T, lo, nb, size int) {
	ok := len(blocks) >= nb
	for b := lo; ok && b < nb; b++ {
		ok = len(blocks[b]) >= size
	}
	if !ok {
		checkBlocks("AttentionDecode", fmt.Sprintf("query %d %s", i, name), blocks, lo, nb, size)
	}
}

// decodeJob computes AttentionDecode for items [lo, hi) of per query heads
// each: item = (query*heads + first head) / per.
type decodeJob struct {
	b              *backend
	qs             []DecodeQuery
	heads, kvHeads int
	hd, per        int
	maxN           int // positions seen by the longest query
	window         int
	scale          float32
}

func (j *decodeJob) run(lo, hi int) {
	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	hd, per, group := j.hd, j.per, j.heads/j.kvHeads
	var s []float32
	var src pagedBlocks
	for it := lo; it < hi; it++ {
		h0 := it * per
		d := &j.qs[h0/j.heads]
		h := h0 % j.heads
		src = pagedBlocks{k: d.K, v: d.V, k16: d.K16, v16: d.V16, f16: d.K16 != nil,
			k8: d.K8, v8: d.V8, ks: d.KScale, vs: d.VScale, q8: d.K8 != nil, bt: d.BlockTokens}
		n := d.Pos + 1
		from := 0
		if j.window > 0 {
			from = max(0, n-j.window)
		}
		if need := pagedScratch(n-from, src.bt, per, hd); len(s) < need {
			s = grow(buf, max(need, pagedScratch(j.maxN, src.bt, per, hd)))
		}
		off := (h / group) * src.bt * hd
		attendPaged(j.b, d.Out[h*hd:(h+per)*hd], d.Q[h*hd:(h+per)*hd], &src, from, n, off, per, hd, j.scale, s)
	}
}
