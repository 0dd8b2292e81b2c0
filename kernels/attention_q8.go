package kernels

// Attention over a paged KV cache of int8 rows (kvcache.Q8): each row of
// headDim values (one position of one KV head) is stored as int8 with one
// float32 scale (value = scale * int8, see QuantizeQ8Row). The kernels read
// the int8 rows, widened to float32, and never multiply by a scale inside
// their loops: a key row's scale multiplies its score (once per position
// and head, with the softmax scale), and a value row's scale multiplies its
// soft-max weight before the weighted sum. Several query rows (prefill)
// de-quantize the visible rows into the contiguous float32 cache of the
// blocked GEMM path, as the f16 form converts them.

// AttentionPagedQ8 is AttentionPaged over blocks of int8 rows: k and v are
// laid out [kvHeads][blockTokens][headDim] as for AttentionPaged, and
// kScale, vScale hold their rows' scales laid out [kvHeads][blockTokens]
// (a key element is kScale[b][h*blockTokens+t] * k[b][(h*blockTokens+t)*headDim+d]).
// It equals AttentionPaged on the de-quantized values (to rounding).
func AttentionPagedQ8(out, q []float32, k, v [][]int8, kScale, vScale [][]float32, blockTokens, n, heads, kvHeads, headDim, pos0 int, scale float32) {
	AttentionPagedWindowQ8(out, q, k, v, kScale, vScale, blockTokens, n, heads, kvHeads, headDim, pos0, 0, scale)
}

// AttentionPagedWindowQ8 is AttentionPagedWindow over blocks of int8 rows
// (see AttentionPagedQ8).
func AttentionPagedWindowQ8(out, q []float32, k, v [][]int8, kScale, vScale [][]float32, blockTokens, n, heads, kvHeads, headDim, pos0, window int, scale float32) {
	const fn = "AttentionPagedWindowQ8"
	checkPaged(fn, len(out), len(q), blockTokens, n, heads, kvHeads, headDim, pos0, window)
	j := pagedJob{src: pagedBlocks{k8: k, v8: v, ks: kScale, vs: vScale, q8: true, bt: blockTokens}}
	lo, nb := pagedWindow(pos0, n, &window, blockTokens)
	checkBlocks(fn, "k", k, lo, nb, kvHeads*blockTokens*headDim)
	checkBlocks(fn, "v", v, lo, nb, kvHeads*blockTokens*headDim)
	checkBlocks(fn, "kScale", kScale, lo, nb, kvHeads*blockTokens)
	checkBlocks(fn, "vScale", vScale, lo, nb, kvHeads*blockTokens)
	attentionPaged(&j, out, q, blockTokens, n, heads, kvHeads, headDim, pos0, window, scale)
}

// attendPagedQ8 is attendPaged for int8 blocks: the per query heads q of
// the KV head whose rows start at element off of each block, over
// positions [from, n). Backends without group kernels use the pure-Go
// twins (one head per call then, see headsPerItem).
func attendPagedQ8(b *backend, out, q []float32, src *pagedBlocks, from, n, off, per, hd int, scale float32, s []float32) {
	gk := b.group
	if gk == nil {
		gk = groupGeneric
	}
	bt, m := src.bt, n-from
	so := off / hd // the KV head's first scale in a block
	last := (n - 1) / bt
	nxt := func(blocks [][]int8, blk int) []int8 {
		if blk >= last {
			return nil
		}
		return blocks[blk+1][off : off+bt*hd]
	}
	scores := s[:per*m]
	// Gather the rows' scales first (the key ones times the softmax
	// scale): the loads of every block's scales are independent, so their
	// cache misses overlap instead of stalling each block in turn.
	kscl, vscl := s[per*m:per*m+m], s[per*m+m:per*m+2*m]
	for t := from; t < n; {
		blk, o := t/bt, t%bt
		c := min(bt-o, n-t)
		ks, vs := src.ks[blk][so+o:so+o+c], src.vs[blk][so+o:so+o+c]
		kd, vd := kscl[t-from:t-from+c], vscl[t-from:t-from+c]
		for i := range c {
			kd[i], vd[i] = ks[i]*scale, vs[i]
		}
		t += c
	}
	for t := from; t < n; {
		blk, o := t/bt, t%bt
		c := min(bt-o, n-t)
		gk.scoresQ8(scores[t-from:], m, src.k8[blk][off+o*hd:off+(o+c)*hd], nxt(src.k8, blk), q, c, per, hd)
		t += c
	}
	for h := range per {
		row := scores[h*m : (h+1)*m]
		for i, x := range kscl {
			row[i] *= x
		}
		b.softmax(row)
		// The value rows' scales go into the weights.
		for i, x := range vscl {
			row[i] *= x
		}
	}
	clear(out)
	for t := from; t < n; {
		blk, o := t/bt, t%bt
		c := min(bt-o, n-t)
		gk.wsumQ8(out, src.v8[blk][off+o*hd:off+(o+c)*hd], nxt(src.v8, blk), scores[t-from:], m, c, per, hd)
		t += c
	}
}

// dequantQ8Rows sets dst to the rows of hd int8 values of src times their
// scales (len(scales) rows).
func dequantQ8Rows(dst []float32, src []int8, scales []float32, hd int) {
	for r, sc := range scales {
		d, x := dst[r*hd:(r+1)*hd], src[r*hd:(r+1)*hd]
		for i, v := range x {
			d[i] = sc * float32(v)
		}
	}
}

func scoresGroupQ8Generic(s []float32, ss int, k, _ []int8, q []float32, c, g, hd int) {
	for t := range c {
		row := k[t*hd : (t+1)*hd]
		for h := range g {
			qh := q[h*hd : (h+1)*hd]
			var sum float32
			for d, x := range row {
				sum += float32(x) * qh[d]
			}
			s[h*ss+t] = sum
		}
	}
}

func wsumGroupQ8Generic(out []float32, v, _ []int8, p []float32, ps, c, g, hd int) {
	for t := range c {
		row := v[t*hd : (t+1)*hd]
		for h := range g {
			pt, oh := p[h*ps+t], out[h*hd:(h+1)*hd]
			for d, x := range row {
				oh[d] += pt * float32(x)
			}
		}
	}
}
