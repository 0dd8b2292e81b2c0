package llama

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models"
)

// Spec returns the architecture-neutral shape of the model (models.Decoder).
func (m *Model) Spec() models.Spec {
	c := &m.cfg
	return models.Spec{ModelType: c.ModelType, Vocab: c.Vocab, Hidden: c.Hidden, Layers: c.Layers,
		KVHeads: c.KVHeads, HeadDim: c.HeadDim, MaxPositions: c.MaxPositions, BOS: c.BOS,
		EOS: append([]int(nil), c.EOS...), WindowLayers: m.windowLayers(), Window: c.SlidingWindow}
}

// windowLayers returns the sliding layers (nil if none).
func (m *Model) windowLayers() []bool {
	for _, s := range m.cfg.Sliding {
		if s {
			return append([]bool(nil), m.cfg.Sliding...)
		}
	}
	return nil
}

// Workspace is the scratch memory of one caller of Step (models.Workspace).
// It grows to the largest step it served. Use one per goroutine.
type Workspace struct {
	rows                int // rows the buffers hold
	x, xb, q, k, v, att []float32
	gate, up            []float32
	ys                  [3][]float32          // outputs of a fused MatVecs or MatMuls call
	pos                 []int                 // position of each row
	sel                 []float32             // last rows of several sequences
	selOut              [][]float32           // their LogitsOut, during outputs
	dec                 []kernels.DecodeQuery // the single-position inputs of a layer
	rs                  ropeStore             // a layer's rotation and cache stores

	// onHidden is the per-layer hidden-state hook of State.OnHidden (tests).
	onHidden func(stage int, h []float32)
}

// NewWorkspace returns an empty workspace (models.Decoder).
func (m *Model) NewWorkspace() models.Workspace { return &Workspace{} }

// Bytes returns the scratch memory held.
func (w *Workspace) Bytes() int64 {
	n := len(w.x) + len(w.xb) + len(w.q) + len(w.k) + len(w.v) + len(w.att) + len(w.gate) + len(w.up) +
		len(w.sel)
	return int64(n)*4 + int64(len(w.pos))*8
}

func (w *Workspace) grow(c *Config, n int) {
	if n <= w.rows {
		return
	}
	n = max(n, 2*w.rows) // geometric: a stream of growing steps reallocates rarely
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	w.rows = n
	w.x = make([]float32, n*c.Hidden)
	w.xb = make([]float32, n*c.Hidden)
	w.q = make([]float32, n*q)
	w.att = make([]float32, n*q)
	w.k = make([]float32, n*kv)
	w.v = make([]float32, n*kv)
	w.gate = make([]float32, n*c.Intermediate)
	w.up = make([]float32, n*c.Intermediate)
	w.pos = make([]int, n)
}

// ropeTable holds cos and sin of every position below n (n x HeadDim/2).
type ropeTable struct {
	n        int
	cos, sin []float32
}

// ropeCache is the model's lazily grown rotary table: computed once per
// position for the model's lifetime, shared by every sequence.
type ropeCache struct {
	mu  sync.Mutex
	cur atomic.Pointer[ropeTable]
}

// rope returns the global layers' table covering positions [0, n).
func (m *Model) rope(n int) *ropeTable { return m.ropeOf(&m.ropeC, m.invFreq, n) }

// ropeOf returns the table of inverse frequencies invFreq cached in rc,
// covering positions [0, n).
func (m *Model) ropeOf(rc *ropeCache, invFreq []float32, n int) *ropeTable {
	if t := rc.cur.Load(); t != nil && t.n >= n {
		return t
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	old := rc.cur.Load()
	if old != nil && old.n >= n {
		return old
	}
	size := max(n, 256)
	if old != nil {
		size = max(size, 2*old.n)
	}
	if mp := m.cfg.MaxPositions; mp > 0 && n <= mp {
		size = min(size, mp)
	}
	half := len(invFreq)
	t := &ropeTable{n: size, cos: make([]float32, size*half), sin: make([]float32, size*half)}
	from := 0
	if old != nil {
		copy(t.cos, old.cos)
		copy(t.sin, old.sin)
		from = old.n
	}
	for p := from; p < size; p++ {
		for i, f := range invFreq {
			a := float64(float32(p) * f) // angle rounded to float32 as torch computes it
			t.cos[p*half+i] = float32(math.Cos(a))
			t.sin[p*half+i] = float32(math.Sin(a))
		}
	}
	rc.cur.Store(t)
	return t
}

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: llama: %s", models.ErrBadInput, fmt.Sprintf(format, args...))
}

// checkStep validates a batch and returns its total rows.
func (m *Model) checkStep(ws models.Workspace, batch []models.Input) (*Workspace, int, error) {
	w, ok := ws.(*Workspace)
	if !ok || w == nil {
		return nil, 0, badInput("the workspace was not made by a llama model (%T)", ws)
	}
	c := &m.cfg
	if len(batch) == 0 {
		return nil, 0, badInput("empty batch")
	}
	total := 0
	for i := range batch {
		in := &batch[i]
		if in.Seq == nil {
			return nil, 0, badInput("input %d: nil Seq", i)
		}
		pc := in.Seq.Pool().Config()
		if pc.Layers != c.Layers || pc.KVHeads != c.KVHeads || pc.HeadDim != c.HeadDim {
			return nil, 0, badInput("input %d: kvcache pool of %d layers x %d KV heads x %d, the model has %d x %d x %d",
				i, pc.Layers, pc.KVHeads, pc.HeadDim, c.Layers, c.KVHeads, c.HeadDim)
		}
		if pc.WindowLayers != nil && (pc.Window != c.SlidingWindow || !slices.Equal(pc.WindowLayers, c.Sliding)) {
			return nil, 0, badInput("input %d: kvcache pool keeps a window of %d positions for layers %v, the model's sliding layers are %v (window %d)",
				i, pc.Window, pc.WindowLayers, c.Sliding, c.SlidingWindow)
		}
		for j := range i {
			if batch[j].Seq == in.Seq {
				return nil, 0, badInput("inputs %d and %d share one Seq", j, i)
			}
		}
		n := in.Len(c.Hidden)
		switch {
		case in.Tokens != nil:
			if err := m.checkTokens(in.Tokens); err != nil {
				return nil, 0, fmt.Errorf("%w: input %d: %w", models.ErrBadInput, i, err)
			}
		case len(in.Embeds) != n*c.Hidden:
			return nil, 0, badInput("input %d: %d embedding values are not rows of %d", i, len(in.Embeds), c.Hidden)
		}
		if n == 0 {
			return nil, 0, badInput("input %d: no new position", i)
		}
		want := 0
		switch in.Logits {
		case models.NoLogits:
		case models.LastLogits:
			want = c.Vocab
		case models.AllLogits:
			want = n * c.Vocab
		default:
			return nil, 0, badInput("input %d: unknown logits mode %d", i, in.Logits)
		}
		if len(in.LogitsOut) != want {
			return nil, 0, badInput("input %d: len(LogitsOut) = %d, want %d", i, len(in.LogitsOut), want)
		}
		if in.Hidden != nil && len(in.Hidden) != n*c.Hidden {
			return nil, 0, badInput("input %d: len(Hidden) = %d, want %d", i, len(in.Hidden), n*c.Hidden)
		}
		total += n
	}
	return w, total, nil
}

// Step runs one batched forward pass (models.Decoder): see models.Decoder.Step.
func (m *Model) Step(ws models.Workspace, batch []models.Input) error {
	w, total, err := m.checkStep(ws, batch)
	if err != nil {
		return err
	}
	c := &m.cfg
	for i := range batch {
		if err := batch[i].Seq.Reserve(batch[i].Len(c.Hidden)); err != nil {
			return fmt.Errorf("llama: input %d: %w", i, err)
		}
	}
	w.grow(c, total)
	h := c.Hidden
	row, maxPos := 0, 0
	for i := range batch {
		in := &batch[i]
		n, p0 := in.Len(h), in.Seq.Len()
		if in.Tokens != nil {
			for j, t := range in.Tokens {
				m.embedRow(w.x[(row+j)*h:(row+j+1)*h], t)
			}
		} else {
			copy(w.x[row*h:(row+n)*h], in.Embeds)
		}
		for j := range n {
			w.pos[row+j] = p0 + j
		}
		row += n
		maxPos = max(maxPos, p0+n)
	}
	var local *ropeTable
	if m.invFreqLocal != nil {
		local = m.ropeOf(&m.ropeLocal, m.invFreqLocal, maxPos)
	}
	w.rs.first = w.rs.first[:0]
	row = 0
	for i := range batch {
		w.rs.first = append(w.rs.first, row)
		row += batch[i].Len(h)
	}
	if w.rs.fn == nil {
		w.rs.fn = w.rs.run
	}
	m.runLayers(w, batch, total, m.rope(maxPos), local)
	w.rs = ropeStore{first: w.rs.first, fn: w.rs.fn} // keep no reference to the caller's inputs
	for i := range batch {
		batch[i].Seq.Commit(batch[i].Len(h))
	}
	m.outputs(w, batch, total)
	return nil
}

// runLayers runs every decoder layer over the total rows in w.x; global
// layers rotate with rt, sliding ones with local.
func (m *Model) runLayers(w *Workspace, batch []models.Input, total int, global, local *ropeTable) {
	c := &m.cfg
	n := total
	h, hd := c.Hidden, c.HeadDim
	qd, kvd := c.Heads*hd, c.KVHeads*hd
	x, xb := w.x[:n*h], w.xb[:n*h]
	q, k, v, att := w.q[:n*qd], w.k[:n*kvd], w.v[:n*kvd], w.att[:n*qd]
	gate, up := w.gate[:n*c.Intermediate], w.up[:n*c.Intermediate]
	scale := c.AttnScale
	if w.onHidden != nil {
		w.onHidden(0, x)
	}
	for l := range m.layers {
		ly := &m.layers[l]
		// Attention block.
		kernels.RMSNormRows(xb, x, ly.attnNorm, n, c.Eps)
		if ly.qkv[0] != nil && !m.bf16Rows(ly.q.Type, n) { // one parallel call for the three projections
			w.ys[0], w.ys[1], w.ys[2] = q, k, v
			if n == 1 {
				kernels.MatVecs(w.ys[:3], ly.qkv[:], xb)
			} else {
				kernels.MatMuls(w.ys[:3], ly.qkv[:], xb, n)
			}
		} else {
			m.project(q, &ly.q, xb, n)
			m.project(k, &ly.k, xb, n)
			m.project(v, &ly.v, xb, n)
		}
		if ly.qBias != nil {
			addRows(q, ly.qBias, n)
			addRows(k, ly.kBias, n)
			addRows(v, ly.vBias, n)
		}
		if ly.qNorm != nil {
			normRows(q, ly.qNorm, n*c.Heads, c.Eps)
			normRows(k, ly.kNorm, n*c.KVHeads, c.Eps)
		}
		rt := global
		if ly.window > 0 {
			rt = local
		}
		// Inputs of one new position (decode) share one parallel attention
		// call; longer ones (prefill chunks) each take their own.
		rs := &w.rs
		rs.m, rs.batch, rs.q, rs.k, rs.v, rs.pos, rs.layer, rs.rt = m, batch, q, k, v, w.pos, l, rt
		if len(batch) >= ropeStoreParallelMin && total == len(batch) {
			kernels.ForEach(len(batch), rs.fn)
		} else {
			for bi := range batch {
				rs.run(bi)
			}
		}
		w.dec = w.dec[:0]
		row := 0
		for bi := range batch {
			in := &batch[bi]
			rows := in.Len(h)
			qs, os := q[row*qd:(row+rows)*qd], att[row*qd:(row+rows)*qd]
			pc := in.Seq.Pool().Config()
			if rows == 1 {
				d := kernels.DecodeQuery{Out: os, Q: qs, BlockTokens: pc.BlockTokens, Pos: w.pos[row]}
				switch pc.DType {
				case kvcache.F16:
					d.K16, d.V16 = in.Seq.BlocksF16(l)
				case kvcache.Q8:
					d.K8, d.V8, d.KScale, d.VScale = in.Seq.BlocksQ8(l)
				default:
					d.K, d.V = in.Seq.BlocksF32(l)
				}
				w.dec = append(w.dec, d)
			} else if pc.DType == kvcache.F16 {
				kb, vb := in.Seq.BlocksF16(l)
				kernels.AttentionPagedWindowF16(os, qs, kb, vb, pc.BlockTokens, rows, c.Heads, c.KVHeads, hd, w.pos[row], ly.window, scale)
			} else if pc.DType == kvcache.Q8 {
				kb, vb, ks, vs := in.Seq.BlocksQ8(l)
				kernels.AttentionPagedWindowQ8(os, qs, kb, vb, ks, vs, pc.BlockTokens, rows, c.Heads, c.KVHeads, hd, w.pos[row], ly.window, scale)
			} else {
				kb, vb := in.Seq.BlocksF32(l)
				kernels.AttentionPagedWindow(os, qs, kb, vb, pc.BlockTokens, rows, c.Heads, c.KVHeads, hd, w.pos[row], ly.window, scale)
			}
			row += rows
		}
		if len(w.dec) > 0 {
			kernels.AttentionDecode(w.dec, c.Heads, c.KVHeads, hd, ly.window, scale)
			clear(w.dec) // keep no block of a sequence alive past the step
		}
		m.project(xb, &ly.o, att, n)
		if ly.oBias != nil {
			addRows(xb, ly.oBias, n)
		}
		if ly.postAttn != nil {
			normRows(xb, ly.postAttn, n, c.Eps)
		}
		kernels.Add(x, x, xb)
		// Feed-forward block.
		kernels.RMSNormRows(xb, x, ly.mlpNorm, n, c.Eps)
		if ly.gateUp[0] != nil && !m.bf16Rows(ly.gate.Type, n) {
			w.ys[0], w.ys[1] = gate, up
			if n == 1 {
				kernels.MatVecs(w.ys[:2], ly.gateUp[:], xb)
			} else {
				kernels.MatMuls(w.ys[:2], ly.gateUp[:], xb, n)
			}
		} else {
			m.project(gate, &ly.gate, xb, n)
			m.project(up, &ly.up, xb, n)
		}
		if c.GELU {
			kernels.GELUTanh(gate, gate)
			for i, u := range up {
				gate[i] *= u
			}
		} else {
			kernels.SiLUMul(gate, gate, up)
		}
		m.project(xb, &ly.down, gate, n)
		if ly.postFF != nil {
			normRows(xb, ly.postFF, n, c.Eps)
		}
		kernels.Add(x, x, xb)
		if w.onHidden != nil {
			w.onHidden(l+1, x)
		}
	}
}

// ropeStoreParallelMin is the number of single-position inputs from which
// a layer rotates and stores them in parallel (kernels.ForEach): one input
// takes ~1-1.7 µs (SmolLM2-135M, int8 cache), a parallel call ~2 µs. Done
// serially at 16 inputs, this pass and the attention call's checks kept
// the caller alone for ~27 µs per layer, past the pool's poll window, so
// the worker went to sleep every layer and each wake cost tens of µs;
// in parallel, B=16 decode ran 1460-1580 against 1140-1230 tok/s (q8 KV,
// 2 threads, 5 alternated runs, quiet), B=8 within noise.
const ropeStoreParallelMin = 8

// ropeStore rotates the queries and keys of one layer and stores the keys
// and values in each input's cache; run(bi) does input bi. The fields are
// set per layer; fn is run, made once per workspace so that handing it to
// kernels.ForEach does not allocate.
type ropeStore struct {
	m       *Model
	batch   []models.Input
	first   []int // first row of each input
	q, k, v []float32
	pos     []int
	layer   int
	rt      *ropeTable
	fn      func(bi int)
}

func (j *ropeStore) run(bi int) {
	c := &j.m.cfg
	hd := c.HeadDim
	qd, kvd := c.Heads*hd, c.KVHeads*hd
	in := &j.batch[bi]
	row := j.first[bi]
	rows := in.Len(c.Hidden)
	kernels.RoPERows(j.q[row*qd:(row+rows)*qd], j.k[row*kvd:(row+rows)*kvd], j.pos[row:row+rows], c.Heads, c.KVHeads, hd, j.rt.cos, j.rt.sin)
	for i := row; i < row+rows; i++ {
		in.Seq.Store(j.layer, j.pos[i], j.k[i*kvd:(i+1)*kvd], j.v[i*kvd:(i+1)*kvd])
	}
}

// addRows adds the bias b to each of the n rows of x.
func addRows(x, b []float32, n int) {
	d := len(b)
	for i := range n {
		kernels.Add(x[i*d:(i+1)*d], x[i*d:(i+1)*d], b)
	}
}

// normRows applies RMSNorm with weight w to each of the n rows of x, in place.
func normRows(x, w []float32, n int, eps float32) {
	kernels.RMSNormRows(x, x, w, n, eps)
}

// outputs applies the final norm to the rows some output needs and writes
// hidden rows and logits. Several sequences' last-position logits are one
// matrix product, so the LM head is read once per step.
func (m *Model) outputs(w *Workspace, batch []models.Input, total int) {
	c := &m.cfg
	h := c.Hidden
	x, xb := w.x, w.xb
	norm := func(i int) { kernels.RMSNorm(xb[i*h:(i+1)*h], x[i*h:(i+1)*h], m.norm, c.Eps) }
	last := 0 // inputs wanting last-position logits
	row := 0
	for bi := range batch {
		in := &batch[bi]
		n := in.Len(h)
		switch {
		case in.Hidden != nil || in.Logits == models.AllLogits || w.onHidden != nil:
			for i := row; i < row+n; i++ {
				norm(i)
			}
		case in.Logits == models.LastLogits:
			norm(row + n - 1)
		}
		if in.Hidden != nil {
			copy(in.Hidden, xb[row*h:(row+n)*h])
		}
		switch in.Logits {
		case models.AllLogits:
			kernels.MatMul(in.LogitsOut, &m.lmHead, xb[row*h:(row+n)*h], n)
		case models.LastLogits:
			last++
		}
		row += n
	}
	if w.onHidden != nil {
		w.onHidden(c.Layers+1, xb[:total*h])
	}
	if last == 0 {
		return
	}
	if last == 1 {
		row = 0
		for bi := range batch {
			in := &batch[bi]
			n := in.Len(h)
			if in.Logits == models.LastLogits {
				kernels.MatVec(in.LogitsOut, &m.lmHead, xb[(row+n-1)*h:(row+n)*h])
			}
			row += n
		}
		return
	}
	if len(w.sel) < last*h {
		w.sel = make([]float32, last*h)
	}
	w.selOut = w.selOut[:0]
	row, k := 0, 0
	for bi := range batch {
		in := &batch[bi]
		n := in.Len(h)
		if in.Logits == models.LastLogits {
			copy(w.sel[k*h:(k+1)*h], xb[(row+n-1)*h:(row+n)*h])
			w.selOut = append(w.selOut, in.LogitsOut)
			k++
		}
		row += n
	}
	// Each sequence's logits go straight to its LogitsOut.
	kernels.MatMulTo(w.selOut, &m.lmHead, w.sel[:last*h])
	clear(w.selOut) // keep no reference to the caller's buffers
}

// LMHead projects n final-norm hidden rows to logits (models.Decoder).
func (m *Model) LMHead(logits, hidden []float32, n int) error {
	c := &m.cfg
	if n < 0 || len(hidden) != n*c.Hidden || len(logits) != n*c.Vocab {
		return badInput("LMHead: %d hidden and %d logit values for %d rows of %d / %d", len(hidden), len(logits), n, c.Hidden, c.Vocab)
	}
	kernels.MatMul(logits, &m.lmHead, hidden, n)
	return nil
}
