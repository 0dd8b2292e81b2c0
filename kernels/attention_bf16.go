package kernels

// AttentionBF16 is AttentionBatch (every query sees the same n positions,
// no causal mask) with both products on the CPU's bf16 dot-product
// instructions: the scaled queries and the keys are rounded to bf16 for
// S = Q·Kᵀ, the soft-max is f32, and the probabilities and the values are
// rounded to bf16 for O = P·V, each product summed in f32 by the 12x32
// micro-kernel of MatMulBF16. Results differ from AttentionBatch's by
// about 2^-8 relative to the magnitude of the scores and of the values.
// Without AVX512_BF16 or with fewer than 12 queries it is AttentionBatch.
func AttentionBF16(out, q, k, v []float32, nTok, nHeads, nKVHeads, headDim, n, stride int, scale float32) {
	checkAttention("AttentionBF16", len(out), len(q), len(k), len(v), nTok, nHeads, nKVHeads, headDim, n, stride)
	if !hasBF16Dot(active) || nTok < bf16MR {
		AttentionBatch(out, q, k, v, nTok, nHeads, nKVHeads, headDim, n, stride, scale)
		return
	}
	attentionBF16(out, q, k, v, nTok, nHeads, nKVHeads, headDim, n, stride*headDim, headDim, scale)
}

// AttentionBF16Tokens is AttentionBF16 with the keys and values laid out
// token-major like the queries: position t of KV head h at
// k[(t*nKVHeads+h)*headDim:], the rows a projection writes, so they need
// no copy into AttentionBF16's head-major layout (its packing reads them
// in place).
func AttentionBF16Tokens(out, q, k, v []float32, nTok, nHeads, nKVHeads, headDim, n int, scale float32) {
	checkAttention("AttentionBF16Tokens", len(out), len(q), len(k), len(v), nTok, nHeads, nKVHeads, headDim, n, n)
	if hasBF16Dot(active) && nTok >= bf16MR {
		attentionBF16(out, q, k, v, nTok, nHeads, nKVHeads, headDim, n, headDim, nKVHeads*headDim, scale)
		return
	}
	// AttentionBatch reads head-major keys and values: copy them.
	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	need := n * nKVHeads * headDim
	hm := grow(buf, 2*need)
	kh, vh := hm[:need], hm[need:]
	for t := range n {
		for h := range nKVHeads {
			src := (t*nKVHeads + h) * headDim
			dst := (h*n + t) * headDim
			copy(kh[dst:dst+headDim], k[src:src+headDim])
			copy(vh[dst:dst+headDim], v[src:src+headDim])
		}
	}
	AttentionBatch(out, q, kh, vh, nTok, nHeads, nKVHeads, headDim, n, n, scale)
}

// attentionBF16 runs the bf16 attention with position t of KV head h's
// keys and values at k[h*headStep+t*rowStep:] (and v likewise).
func attentionBF16(out, q, k, v []float32, nTok, nHeads, nKVHeads, headDim, n, headStep, rowStep int, scale float32) {
	a := bf16Attn{out: out, q: q, k: k, v: v, nTok: nTok, nHeads: nHeads, nKV: nKVHeads,
		hd: headDim, n: n, headStep: headStep, rowStep: rowStep, scale: scale}
	a.hdp = (headDim + 1) / 2
	a.nb = (n + bf16NR - 1) / bf16NR
	a.np = (n + 1) / 2
	a.kSize = a.nb * a.hdp * bf16NR * 2
	a.ncb = (headDim + bf16NR - 1) / bf16NR
	a.vSize = a.ncb * a.np * bf16NR * 2
	buf := halfPool.Get().(*[]uint16)
	defer halfPool.Put(buf)
	a.kv = growHalf(buf, nKVHeads*(a.kSize+a.vSize))
	nQB := (nTok + bf16MR - 1) / bf16MR
	if t := workers.acquire(); t != nil {
		pa := &t.jobs.attnBF16
		*pa = a
		t.jobs.attnBF16Pack.a, t.jobs.attnBF16Block.a = pa, pa
		t.run(&t.jobs.attnBF16Pack, nKVHeads, 1)
		t.run(&t.jobs.attnBF16Block, nHeads*nQB, 1)
		*pa = bf16Attn{}
		t.jobs.attnBF16Pack.a, t.jobs.attnBF16Block.a = nil, nil
		workers.release(t)
		return
	}
	(&attnBF16PackJob{a: &a}).run(0, nKVHeads)
	(&attnBF16BlockJob{a: &a}).run(0, nHeads*nQB)
}

// bf16Attn holds AttentionBF16's arguments and its packed keys and values:
// per KV head, kSize values of keys as [nb][hdp][32][2] (32 positions per
// block, pairs of head dimensions) then vSize of values as
// [ncb][np][32][2] (32 head dimensions per block, pairs of positions),
// zero-padded past n positions and hd dimensions. Position t of KV head h
// is at k[h*headStep+t*rowStep:] (v likewise).
type bf16Attn struct {
	out, q, k, v      []float32
	kv                []uint16
	nTok, nHeads, nKV int
	hd, n             int
	headStep, rowStep int
	hdp, nb, np, ncb  int // head-dimension pairs, key blocks, position pairs, value column blocks
	kSize, vSize      int
	scale             float32
}

// row is position t of KV head h in x (the keys or the values).
func (a *bf16Attn) row(x []float32, h, t int) []float32 {
	o := h*a.headStep + t*a.rowStep
	return x[o : o+a.hd]
}

// attnBF16PackJob packs the keys and values of KV heads [lo, hi).
type attnBF16PackJob struct{ a *bf16Attn }

func (j *attnBF16PackJob) run(lo, hi int) {
	a := j.a
	hd := a.hd
	buf := halfPool.Get().(*[]uint16)
	defer halfPool.Put(buf)
	w := a.ncb * bf16NR
	hs := growHalf(buf, 2*w+bf16NR*hd+2*a.hdp)
	rows, keys, tmp := hs[:2*w], hs[2*w:2*w+bf16NR*hd], hs[2*w+bf16NR*hd:]
	clear(rows) // padding past hd
	r0, r1 := rows[:w], rows[w:]
	for kv := lo; kv < hi; kv++ {
		base := kv * (a.kSize + a.vSize)
		vp := words(a.kv[base+a.kSize : base+a.kSize+a.vSize])
		// Keys: each block of 32 positions is a 32 x hd weight panel.
		for blk := range a.nb {
			t0 := blk * bf16NR
			rn := min(bf16NR, a.n-t0)
			if a.rowStep == hd { // the block's rows are contiguous
				o := kv*a.headStep + t0*hd
				toBF16(active, keys[:rn*hd], a.k[o:o+rn*hd])
			} else {
				for r := range rn {
					toBF16(active, keys[r*hd:(r+1)*hd], a.row(a.k, kv, t0+r))
				}
			}
			m := Matrix{Type: BF16, Rows: rn, Cols: hd, Half: keys[:rn*hd]}
			off := base + blk*a.hdp*bf16NR*2
			packWBF16(a.kv[off:off+a.hdp*bf16NR*2], tmp, &m, 0, rn)
		}
		// Values: pairs of positions, 32 head dimensions per block.
		for p := range a.np {
			t := 2 * p
			v0 := a.row(a.v, kv, t)
			if t+1 < a.n && hd%bf16NR == 0 {
				v1 := a.row(a.v, kv, t+1)
				if pairRows(active, vp[p*bf16NR:p*bf16NR+bf16NR], v0[:bf16NR], v1[:bf16NR]) {
					for cb := bf16NR; cb < hd; cb += bf16NR {
						dst := vp[(cb/bf16NR*a.np+p)*bf16NR:]
						pairRows(active, dst[:bf16NR], v0[cb:cb+bf16NR], v1[cb:cb+bf16NR])
					}
					continue
				}
			}
			toBF16(active, r0[:hd], v0)
			if t+1 < a.n {
				toBF16(active, r1[:hd], a.row(a.v, kv, t+1))
			} else {
				clear(r1)
			}
			for cb := 0; cb < w; cb += bf16NR {
				interleavePairs(vp[(cb/bf16NR*a.np+p)*bf16NR:], r0[cb:cb+bf16NR], r1[cb:cb+bf16NR])
			}
		}
	}
}

// attnBF16BlockJob computes items [lo, hi): item = head*nQB + block of 12
// queries.
type attnBF16BlockJob struct{ a *bf16Attn }

func (j *attnBF16BlockJob) run(lo, hi int) {
	a := j.a
	hd := a.hd
	nQB := (a.nTok + bf16MR - 1) / bf16MR
	group := a.nHeads / a.nKV
	ld := a.nHeads * hd
	nPad := a.nb * bf16NR

	hbuf := halfPool.Get().(*[]uint16)
	defer halfPool.Put(hbuf)
	// Queries and probabilities as 12 bf16 rows each (the micro-kernel reads
	// rows in place): rows of 2*hdp and of 2*np values, zero-padded.
	qld, pld := 2*a.hdp, rowStrideBF16(2*a.np)
	hs := growHalf(hbuf, bf16MR*(qld+pld))
	qa, pa := hs[:bf16MR*qld], hs[bf16MR*qld:]
	clear(hs) // padding past hd and n, rows past in
	fbuf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(fbuf)
	fs := grow(fbuf, bf16MR*nPad+bf16MR*bf16NR+hd)
	sc, tile, qs := fs[:bf16MR*nPad], fs[bf16MR*nPad:bf16MR*nPad+bf16MR*bf16NR], fs[bf16MR*nPad+bf16MR*bf16NR:]

	for it := lo; it < hi; it++ {
		h, qb := it/nQB, it%nQB
		kv := h / group
		i0 := qb * bf16MR
		in := min(bf16MR, a.nTok-i0)
		kp := a.kv[kv*(a.kSize+a.vSize):]
		vp := a.kv[kv*(a.kSize+a.vSize)+a.kSize:]

		// Queries, scaled; rows past in stay zero.
		if in < bf16MR {
			clear(hs)
		}
		for i := range in {
			row := a.q[(i0+i)*ld+h*hd : (i0+i)*ld+(h+1)*hd]
			for c, x := range row {
				qs[c] = x * a.scale
			}
			toBF16(active, qa[i*qld:i*qld+hd], qs)
		}
		for blk := range a.nb {
			gemmBF16R(a.hdp, &qa[0], qld, &kp[blk*a.hdp*bf16NR*2], &sc[blk*bf16NR], nPad, 0, nil)
		}
		// Soft-max in f32; P as bf16 rows, zero past n.
		for i := range in {
			softmaxBF16(active, pa[i*pld:i*pld+a.n], sc[i*nPad:i*nPad+a.n])
		}
		for cb := 0; cb < hd; cb += bf16NR {
			b := &vp[cb/bf16NR*a.np*bf16NR*2]
			cn := min(bf16NR, hd-cb)
			if in == bf16MR && cn == bf16NR {
				gemmBF16R(a.np, &pa[0], pld, b, &a.out[i0*ld+h*hd+cb], ld, 0, nil)
				continue
			}
			gemmBF16R(a.np, &pa[0], pld, b, &tile[0], bf16NR, 0, nil)
			for i := range in {
				copy(a.out[(i0+i)*ld+h*hd+cb:(i0+i)*ld+h*hd+cb+cn], tile[i*bf16NR:i*bf16NR+cn])
			}
		}
	}
}
