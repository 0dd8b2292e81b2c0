package kernels

import "fmt"

// Causal attention over a paged KV cache (see package kvcache): the keys and
// values of one layer are a list of blocks, block b holding positions
// [b*blockTokens, (b+1)*blockTokens) laid out [kvHeads][blockTokens][headDim].
//
// A single query (decode) reads the blocks in place (see attendPaged): with
// group kernels (AVX-512 and the pure-Go twins), the query heads of a GQA
// group together, each K and V row read once for all of them: their scores
// block by block, one soft-max per head, the weighted sums of V block by
// block into the output. Otherwise one head at a time with the
// matrix-vector kernel and partial P·V rows per block summed at the end.
// Several queries (prefill, or a chunk of a prompt) gather the visible
// positions into a contiguous scratch cache and take AttentionCausal's
// blocked GEMM path when the backend has one. AttentionDecode (attention_
// decode.go) runs the single queries of several sequences in one call.

// AttentionPaged computes causal attention for n query rows at positions
// pos0..pos0+n-1 over a paged cache of float32 blocks: row i attends to
// positions 0..pos0+i, so the blocks must already hold the keys and values of
// all n new positions. q and out hold n rows of heads*headDim values (out
// must not overlap q); query head h uses KV head h / (heads/kvHeads). The
// result equals AttentionCausal on the same data in a contiguous cache (to
// rounding). Work is spread over the worker pool across (row, head) items;
// a call allocates nothing in steady state. It panics on inconsistent sizes.
func AttentionPaged(out, q []float32, k, v [][]float32, blockTokens, n, heads, kvHeads, headDim, pos0 int, scale float32) {
	AttentionPagedWindow(out, q, k, v, blockTokens, n, heads, kvHeads, headDim, pos0, 0, scale)
}

// AttentionPagedWindow is AttentionPaged with sliding-window attention:
// with window > 0, the row at position p attends to positions
// max(0, p-window+1)..p only (window keys including itself, as Gemma 3 and
// Mistral do), and the blocks holding only positions below every row's
// window are not read (they may be nil). window 0 is plain causal attention.
func AttentionPagedWindow(out, q []float32, k, v [][]float32, blockTokens, n, heads, kvHeads, headDim, pos0, window int, scale float32) {
	checkPaged("AttentionPagedWindow", len(out), len(q), blockTokens, n, heads, kvHeads, headDim, pos0, window)
	j := pagedJob{src: pagedBlocks{k: k, v: v, bt: blockTokens}}
	lo, nb := pagedWindow(pos0, n, &window, blockTokens)
	checkBlocks("AttentionPagedWindow", "k", k, lo, nb, kvHeads*blockTokens*headDim)
	checkBlocks("AttentionPagedWindow", "v", v, lo, nb, kvHeads*blockTokens*headDim)
	attentionPaged(&j, out, q, blockTokens, n, heads, kvHeads, headDim, pos0, window, scale)
}

// AttentionPagedF16 is AttentionPaged over blocks of IEEE binary16 bit
// patterns (accumulation in float32); it equals AttentionCausalF16 on the
// same data in a contiguous cache (to rounding).
func AttentionPagedF16(out, q []float32, k, v [][]uint16, blockTokens, n, heads, kvHeads, headDim, pos0 int, scale float32) {
	AttentionPagedWindowF16(out, q, k, v, blockTokens, n, heads, kvHeads, headDim, pos0, 0, scale)
}

// AttentionPagedWindowF16 is AttentionPagedWindow over binary16 blocks.
func AttentionPagedWindowF16(out, q []float32, k, v [][]uint16, blockTokens, n, heads, kvHeads, headDim, pos0, window int, scale float32) {
	checkPaged("AttentionPagedWindowF16", len(out), len(q), blockTokens, n, heads, kvHeads, headDim, pos0, window)
	j := pagedJob{src: pagedBlocks{k16: k, v16: v, f16: true, bt: blockTokens}}
	lo, nb := pagedWindow(pos0, n, &window, blockTokens)
	checkBlocks("AttentionPagedWindowF16", "k", k, lo, nb, kvHeads*blockTokens*headDim)
	checkBlocks("AttentionPagedWindowF16", "v", v, lo, nb, kvHeads*blockTokens*headDim)
	attentionPaged(&j, out, q, blockTokens, n, heads, kvHeads, headDim, pos0, window, scale)
}

// pagedWindow returns the blocks [lo, nb) the n rows from pos0 read, and
// drops a window every row's prefix fits in (plain causal attention then).
func pagedWindow(pos0, n int, window *int, bt int) (lo, nb int) {
	if pos0+n <= *window {
		*window = 0 // every row sees its whole prefix
	}
	return windowStart(pos0, *window, bt), (pos0 + n + bt - 1) / bt
}

// attentionPaged runs the attention of j's blocks (f32, f16 or q8, checked by
// the caller): several rows gather the visible blocks into a contiguous
// cache for the blocked GEMM path; otherwise the blocks are read in place.
func attentionPaged(j *pagedJob, out, q []float32, blockTokens, n, heads, kvHeads, headDim, pos0, window int, scale float32) {
	if n == 0 {
		return
	}
	b := active
	if g := b.gemm; g != nil && headDim%g.nr == 0 && n >= 2 {
		lo, nb := pagedWindow(pos0, n, &window, blockTokens)
		base := lo * blockTokens
		total := pos0 + n - base
		buf := scratchPool.Get().(*[]float32)
		defer scratchPool.Put(buf)
		s := grow(buf, 2*kvHeads*total*headDim)
		kf, vf := s[:kvHeads*total*headDim], s[kvHeads*total*headDim:]
		for kv := 0; kv < kvHeads; kv++ {
			for blk := lo; blk < nb; blk++ {
				t := blk*blockTokens - base
				c := min(blockTokens, total-t)
				src := kv * blockTokens * headDim
				dst := (kv*total + t) * headDim
				switch {
				case j.src.f16:
					b.f16ToF32(kf[dst:dst+c*headDim], j.src.k16[blk][src:src+c*headDim])
					b.f16ToF32(vf[dst:dst+c*headDim], j.src.v16[blk][src:src+c*headDim])
				case j.src.q8:
					r := kv * blockTokens // the block's first scale of this KV head
					dequantQ8Keys(kf[dst:dst+c*headDim], j.src.k8[blk][src:src+blockTokens*headDim], j.src.ks[blk][r:r+c], blockTokens, headDim)
					dequantQ8Rows(vf[dst:dst+c*headDim], j.src.v8[blk][src:src+c*headDim], j.src.vs[blk][r:r+c], headDim)
				default:
					copy(kf[dst:dst+c*headDim], j.src.k[blk][src:src+c*headDim])
					copy(vf[dst:dst+c*headDim], j.src.v[blk][src:src+c*headDim])
				}
			}
		}
		attentionBlockedWindow(b, out, q, kf, vf, n, heads, kvHeads, headDim, pos0+1-base, total, true, window, scale)
		return
	}
	j.b, j.out, j.q = b, out, q
	j.heads, j.kvHeads, j.hd, j.per = heads, kvHeads, headDim, headsPerItem(b, heads, kvHeads)
	j.first, j.window, j.scale = pos0+1, window, scale
	runPaged(j, n*heads/j.per, pos0+n)
}

func checkPaged(fn string, lout, lq, bt, n, heads, kvHeads, hd, pos0, window int) {
	if kvHeads <= 0 || heads <= 0 || heads%kvHeads != 0 || hd <= 0 || n < 0 || bt <= 0 || pos0 < 0 {
		panic(fmt.Sprintf("kernels.%s: bad shape blockTokens=%d n=%d heads=%d kvHeads=%d headDim=%d pos0=%d",
			fn, bt, n, heads, kvHeads, hd, pos0))
	}
	if window < 0 {
		panic(fmt.Sprintf("kernels.%s: negative window %d", fn, window))
	}
	mustLen(fn, "q", lq, n*heads*hd)
	mustLen(fn, "out", lout, n*heads*hd)
}

// windowStart returns the first block the row at pos0 reads (0 without a window).
func windowStart(pos0, window, bt int) int {
	if window == 0 {
		return 0
	}
	return max(0, pos0-window+1) / bt
}

// checkBlocks checks blocks [lo, nb) (the blocks attention reads).
func checkBlocks[T float32 | uint16 | int8](fn, name string, blocks [][]T, lo, nb, size int) {
	if len(blocks) < nb {
		panic(fmt.Sprintf("kernels.%s: %s has %d blocks, need %d", fn, name, len(blocks), nb))
	}
	for i := lo; i < nb; i++ {
		if b := blocks[i]; len(b) < size {
			panic(fmt.Sprintf("kernels.%s: %s block %d has length %d, need %d", fn, name, i, len(b), size))
		}
	}
}

func runPaged(j *pagedJob, items, n int) {
	grain := matVecGrain/(2*n*j.hd*j.per) + 1
	if items >= 2*grain {
		if t := workers.acquire(); t != nil {
			pj := &t.jobs.paged // the task's slot: no allocation to hand it over
			*pj = *j
			t.run(pj, items, grain)
			*pj = pagedJob{}
			workers.release(t)
			return
		}
	}
	j.run(0, items)
}

// pagedJob computes attention for items [lo, hi) of per query heads each
// (see headsPerItem): item = (row*heads + first head) / per.
type pagedJob struct {
	b              *backend
	out, q         []float32
	src            pagedBlocks
	heads, kvHeads int
	hd, per        int
	first          int // positions seen by row 0 (pos0+1)
	window         int // keys per row (0: all of its prefix)
	scale          float32
}

func (j *pagedJob) run(lo, hi int) {
	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	hd, per, group := j.hd, j.per, j.heads/j.kvHeads
	s := grow(buf, pagedScratch(j.first+(hi-1)*per/j.heads, j.src.bt, per, hd))
	for it := lo; it < hi; it++ {
		h0 := it * per // first query head of the item, counted over all rows
		n := j.first + h0/j.heads
		from := 0
		if j.window > 0 {
			from = max(0, n-j.window)
		}
		off := (h0 % j.heads / group) * j.src.bt * hd
		attendPaged(j.b, j.out[h0*hd:(h0+per)*hd], j.q[h0*hd:(h0+per)*hd], &j.src, from, n, off, per, hd, j.scale, s)
	}
}
