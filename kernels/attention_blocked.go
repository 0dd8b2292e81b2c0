package kernels

// Batched attention on the GEMM micro-kernel (AttentionCausal and
// AttentionBatch when the backend has one and headDim is a multiple of its
// nr). For each KV head the keys are packed once into [block][hd][nr]
// panels. Then each (head, block of mr queries) item computes the score tile
// S = Q·Kᵀ panel by panel, soft-maxes each row over the positions that query
// may see, and forms O = P·V with the same micro-kernel reading V in place.

// blockedAttn holds the arguments shared by both phases.
type blockedAttn struct {
	b                   *backend
	out, q, k, v        []float32
	kp                  []float32 // packed keys: [kv][nPad/nr][hd][nr]
	nTok, nHeads, nKV   int
	hd, stride          int
	first               int  // positions seen by query 0 (causal), or by all
	causal              bool //
	window              int  // with causal: keys a query sees, the latest ones (0: all)
	nMax, nPad, nBlocks int  // positions seen by the last query, padded, in panels
	scale               float32
}

// attnPackJob packs key panels [lo, hi) (item = kv*nBlocks + block).
type attnPackJob struct{ a *blockedAttn }

func (j *attnPackJob) run(lo, hi int) {
	a := j.a
	nr, hd := a.b.gemm.nr, a.hd
	for it := lo; it < hi; it++ {
		kv, blk := it/a.nBlocks, it%a.nBlocks
		dst := a.kp[it*hd*nr : (it+1)*hd*nr]
		for r := 0; r < nr; r++ {
			t := blk*nr + r
			if t >= a.nMax {
				for c := 0; c < hd; c++ {
					dst[c*nr+r] = 0
				}
				continue
			}
			row := a.k[(kv*a.stride+t)*hd : (kv*a.stride+t+1)*hd]
			for c, x := range row {
				dst[c*nr+r] = x
			}
		}
	}
}

// attnBlockJob computes items [lo, hi): item = head*nQB + query block.
type attnBlockJob struct{ a *blockedAttn }

func (j *attnBlockJob) run(lo, hi int) {
	a := j.a
	g := a.b.gemm
	mr, nr, hd := g.mr, g.nr, a.hd
	nQB := (a.nTok + mr - 1) / mr
	group := a.nHeads / a.nKV
	ld := a.nHeads * hd // stride between tokens in q and out

	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	s := grow(buf, hd*mr+2*mr*a.nPad+mr*nr)
	qp := s[:hd*mr]
	sc := s[hd*mr : hd*mr+mr*a.nPad]
	pp := s[hd*mr+mr*a.nPad : hd*mr+2*mr*a.nPad]
	tile := s[hd*mr+2*mr*a.nPad:]

	for it := lo; it < hi; it++ {
		h, qb := it/nQB, it%nQB
		kv := h / group
		i0 := qb * mr
		in := min(mr, a.nTok-i0)
		// Positions seen by the last real query of the block.
		maxN := a.first
		if a.causal {
			maxN += i0 + in - 1
		}
		nb := (maxN + nr - 1) / nr
		ldS := nb * nr // the score rows' stride: the panels computed

		// Pack the queries, pre-scaled: qp[c*mr+i] = scale*Q[i0+i, h, c]
		// (a full block with the backend's 8-row transpose, as P below).
		if tr := a.b.transpose8; tr != nil && in == mr && mr >= 8 && mr <= 16 && hd%8 == 0 {
			q := a.q[i0*ld+h*hd:]
			tr(qp, mr, q, ld, hd)
			tr(qp[mr-8:], mr, q[(mr-8)*ld:], ld, hd)
			a.b.scale(qp[:hd*mr], a.scale)
		} else {
			packQ(qp, a.q[i0*ld+h*hd:], mr, in, hd, ld, a.scale)
		}
		// Scores, one key panel at a time.
		kbase := kv * a.nBlocks * hd * nr
		for blk := 0; blk < nb; blk++ {
			g.fn(hd, &qp[0], &a.kp[kbase+blk*hd*nr], &sc[blk*nr], nr, ldS, 0)
		}
		// Soft-max each query's visible positions; zero the rest of the
		// panels so they add nothing to P·V.
		for i := 0; i < in; i++ {
			n := a.first
			if a.causal {
				n += i0 + i
			}
			row := sc[i*ldS : (i+1)*ldS]
			lo := 0
			if a.window > 0 {
				lo = max(0, n-a.window)
				clear(row[:lo])
			}
			a.b.softmax(row[lo:n])
			clear(row[n:])
		}
		// Pack P as [t][mr] for t < maxN (rows past in are unused): a
		// full block with the backend's 8-row transpose (rows 0-7, then
		// mr-8..mr-1; columns past maxN are the zeros stored above).
		if tr := a.b.transpose8; tr != nil && in == mr && mr >= 8 && mr <= 16 {
			tr(pp, mr, sc[:8*ldS], ldS, ldS)
			tr(pp[mr-8:], mr, sc[(mr-8)*ldS:mr*ldS], ldS, ldS)
		} else {
			packP(pp, sc, mr, in, maxN, ldS)
		}
		// O = P·V, nr output columns at a time, V read in place.
		vbase := kv * a.stride * hd
		for cb := 0; cb < hd; cb += nr {
			vp := &a.v[vbase+cb]
			if in == mr {
				g.fn(maxN, &pp[0], vp, &a.out[i0*ld+h*hd+cb], hd, ld, 0)
				continue
			}
			g.fn(maxN, &pp[0], vp, &tile[0], hd, nr, 0)
			for i := 0; i < in; i++ {
				copy(a.out[(i0+i)*ld+h*hd+cb:(i0+i)*ld+h*hd+cb+nr], tile[i*nr:(i+1)*nr])
			}
		}
	}
}

// packQ stores the first hd values of rows q (stride ld) times scale as
// qp[c*mr+i], zeros for rows i >= in.
func packQ(qp, q []float32, mr, in, hd, ld int, scale float32) {
	for i := 0; i < mr; i++ {
		if i >= in {
			for c := 0; c < hd; c++ {
				qp[c*mr+i] = 0
			}
			continue
		}
		for c, x := range q[i*ld : i*ld+hd] {
			qp[c*mr+i] = x * scale
		}
	}
}

// packP stores the first maxN columns of score rows sc (stride ld) as
// pp[t*mr+i], zeros for rows i >= in.
func packP(pp, sc []float32, mr, in, maxN, ld int) {
	for i := 0; i < mr; i++ {
		if i >= in {
			for t := 0; t < maxN; t++ {
				pp[t*mr+i] = 0
			}
			continue
		}
		row := sc[i*ld : i*ld+maxN]
		for t, p := range row {
			pp[t*mr+i] = p
		}
	}
}

// attentionBlocked runs the two phases; it reports false (doing nothing)
// when the backend or shape does not suit it.
func attentionBlocked(b *backend, out, q, k, v []float32, nTok, nHeads, nKV, hd, first, stride int, causal bool, scale float32) bool {
	return attentionBlockedWindow(b, out, q, k, v, nTok, nHeads, nKV, hd, first, stride, causal, 0, scale)
}

// attentionBlockedWindow is attentionBlocked where, with causal and
// window > 0, a query sees only the last window of its positions (the
// scores of earlier keys are computed and then zeroed).
func attentionBlockedWindow(b *backend, out, q, k, v []float32, nTok, nHeads, nKV, hd, first, stride int, causal bool, window int, scale float32) bool {
	g := b.gemm
	if g == nil || hd%g.nr != 0 || nTok < 2 {
		return false
	}
	nMax := first
	if causal {
		nMax += nTok - 1
	}
	a := blockedAttn{b: b, out: out, q: q, k: k, v: v, nTok: nTok, nHeads: nHeads, nKV: nKV,
		hd: hd, stride: stride, first: first, causal: causal, window: window, nMax: nMax, scale: scale}
	a.nBlocks = (nMax + g.nr - 1) / g.nr
	a.nPad = a.nBlocks * g.nr
	kbuf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(kbuf)
	a.kp = grow(kbuf, nKV*a.nPad*hd)

	nQB := (nTok + g.mr - 1) / g.mr
	pack := attnPackJob{a: &a}
	blocks := attnBlockJob{a: &a}
	if t := workers.acquire(); t != nil {
		pj := &t.jobs.attnBlocked
		*pj = a
		t.jobs.attnPack.a = pj
		t.jobs.attnBlock.a = pj
		t.run(&t.jobs.attnPack, nKV*a.nBlocks, 4)
		t.run(&t.jobs.attnBlock, nHeads*nQB, 1)
		*pj = blockedAttn{}
		t.jobs.attnPack.a, t.jobs.attnBlock.a = nil, nil
		workers.release(t)
		return true
	}
	pack.run(0, nKV*a.nBlocks)
	blocks.run(0, nHeads*nQB)
	return true
}
