package llama

import (
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/kernels"
)

// MaxChunk is the largest number of positions processed in one batched
// pass; longer inputs are split into consecutive chunks (which gives the
// same result, as attention is causal). It bounds the scratch memory of a State.
const MaxChunk = 512

// State is the per-sequence mutable part of inference: the KV cache of every
// layer, the rotary tables, scratch buffers and the current position. A
// State belongs to one goroutine at a time; create one per concurrent
// generation with NewState.
type State struct {
	m      *Model
	maxSeq int
	pos    int
	f16    bool

	kc, vc     [][]float32 // per layer [KVHeads][maxSeq][HeadDim], f32 cache
	kc16, vc16 [][]uint16  // per layer, f16 cache (NewStateF16)
	cos, sin   []float32   // maxSeq x HeadDim/2

	batch               int // rows the scratch below can hold
	x, xb, q, k, v, att []float32
	gate, up            []float32
	ys                  [3][]float32 // outputs of a fused MatVecs call
	scaleAttn           float32

	// OnHidden, if set, is called during Forward with the hidden states of
	// the positions just processed (rows of Hidden values, one row per
	// position of the current chunk): stage 0 holds the input embeddings,
	// stage i (1..Layers) the residual stream after decoder layer i, stage
	// Layers+1 the output of the final RMSNorm (all rows). h is only valid
	// during the call. Intended for tests and debugging.
	OnHidden func(stage int, h []float32)
}

// NewState returns a State with a float32 KV cache for maxSeq positions.
// maxSeq <= 0 selects the model's max_position_embeddings (2048 if unknown).
func (m *Model) NewState(maxSeq int) *State { return m.newState(maxSeq, false) }

// NewStateF16 is NewState with the KV cache stored as IEEE binary16, halving
// its memory at a small cost in accuracy.
func (m *Model) NewStateF16(maxSeq int) *State { return m.newState(maxSeq, true) }

func (m *Model) newState(maxSeq int, f16 bool) *State {
	c := &m.cfg
	if maxSeq <= 0 {
		maxSeq = c.MaxPositions
		if maxSeq <= 0 {
			maxSeq = 2048
		}
	}
	s := &State{m: m, maxSeq: maxSeq, f16: f16,
		scaleAttn: float32(1 / math.Sqrt(float64(c.HeadDim)))}
	per := c.KVHeads * maxSeq * c.HeadDim
	if f16 {
		slab := make([]uint16, 2*c.Layers*per)
		s.kc16, s.vc16 = make([][]uint16, c.Layers), make([][]uint16, c.Layers)
		for l := range c.Layers {
			s.kc16[l] = slab[(2*l)*per : (2*l+1)*per : (2*l+1)*per]
			s.vc16[l] = slab[(2*l+1)*per : (2*l+2)*per : (2*l+2)*per]
		}
	} else {
		slab := make([]float32, 2*c.Layers*per)
		s.kc, s.vc = make([][]float32, c.Layers), make([][]float32, c.Layers)
		for l := range c.Layers {
			s.kc[l] = slab[(2*l)*per : (2*l+1)*per : (2*l+1)*per]
			s.vc[l] = slab[(2*l+1)*per : (2*l+2)*per : (2*l+2)*per]
		}
	}
	s.cos, s.sin = m.ropeTable(maxSeq)
	s.grow(1)
	return s
}

// Pos returns the number of positions already in the cache (the position
// the next token will take).
func (s *State) Pos() int { return s.pos }

// MaxSeq returns the cache capacity in positions.
func (s *State) MaxSeq() int { return s.maxSeq }

// Reset empties the cache so that the State can start a new sequence.
func (s *State) Reset() { s.pos = 0 }

// Truncate drops the cached positions from n on, so that generation can
// resume from position n (for example to reuse a shared prompt prefix).
func (s *State) Truncate(n int) error {
	if n < 0 || n > s.pos {
		return fmt.Errorf("llama: Truncate(%d): the cache holds %d positions", n, s.pos)
	}
	s.pos = n
	return nil
}

// grow makes the scratch buffers hold n rows.
func (s *State) grow(n int) {
	if n <= s.batch {
		return
	}
	c := &s.m.cfg
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	s.batch = n
	s.x = make([]float32, n*c.Hidden)
	s.xb = make([]float32, n*c.Hidden)
	s.q = make([]float32, n*q)
	s.att = make([]float32, n*q)
	s.k = make([]float32, n*kv)
	s.v = make([]float32, n*kv)
	s.gate = make([]float32, n*c.Intermediate)
	s.up = make([]float32, n*c.Intermediate)
}

// Forward appends tokens to the sequence in s and computes the logits. With
// allPositions false, logits (len Vocab) receives the logits of the last
// token; with allPositions true, logits (len(tokens) x Vocab) receives every
// position's logits. logits may be nil to only fill the cache. Nothing is
// changed when an error is returned (token out of range, context overflow,
// bad logits length).
func (m *Model) Forward(s *State, tokens []int, logits []float32, allPositions bool) error {
	if err := m.checkForward(s, len(tokens), logits, allPositions); err != nil {
		return err
	}
	if err := m.checkTokens(tokens); err != nil {
		return err
	}
	h := m.cfg.Hidden
	for start := 0; start < len(tokens); start += MaxChunk {
		n := min(MaxChunk, len(tokens)-start)
		s.grow(n)
		for i, t := range tokens[start : start+n] {
			m.embedRow(s.x[i*h:(i+1)*h], t)
		}
		m.forwardChunk(s, n, chunkLogits(logits, allPositions, start, n, len(tokens), m.cfg.Vocab), allPositions)
	}
	return nil
}

// ForwardEmbeddings is Forward for precomputed input embeddings x (n rows of
// Hidden values), such as token embeddings with image features spliced in.
func (m *Model) ForwardEmbeddings(s *State, x []float32, n int, logits []float32, allPositions bool) error {
	h := m.cfg.Hidden
	if n < 0 || len(x) != n*h {
		return fmt.Errorf("llama: ForwardEmbeddings: len(x) = %d, want %d rows x %d", len(x), n, h)
	}
	if err := m.checkForward(s, n, logits, allPositions); err != nil {
		return err
	}
	for start := 0; start < n; start += MaxChunk {
		c := min(MaxChunk, n-start)
		s.grow(c)
		copy(s.x[:c*h], x[start*h:(start+c)*h])
		m.forwardChunk(s, c, chunkLogits(logits, allPositions, start, c, n, m.cfg.Vocab), allPositions)
	}
	return nil
}

func (m *Model) checkForward(s *State, n int, logits []float32, allPositions bool) error {
	if s == nil || s.m != m {
		return fmt.Errorf("llama: the State was not created by this Model")
	}
	if n == 0 {
		return fmt.Errorf("llama: Forward needs at least one token")
	}
	if s.pos+n > s.maxSeq {
		return fmt.Errorf("llama: context overflow: %d cached + %d new positions exceed the state's capacity of %d",
			s.pos, n, s.maxSeq)
	}
	want := m.cfg.Vocab
	if allPositions {
		want *= n
	}
	if logits != nil && len(logits) != want {
		return fmt.Errorf("llama: len(logits) = %d, want %d", len(logits), want)
	}
	return nil
}

// chunkLogits returns the part of logits a chunk [start, start+n) of total
// positions writes: its rows, or for the last-position mode the whole slice
// for the final chunk and nil before it.
func chunkLogits(logits []float32, all bool, start, n, total, vocab int) []float32 {
	if logits == nil {
		return nil
	}
	if all {
		return logits[start*vocab : (start+n)*vocab]
	}
	if start+n == total {
		return logits
	}
	return nil
}

// forwardChunk runs the decoder over the n rows of embeddings in s.x at
// positions s.pos.. and advances s.pos.
func (m *Model) forwardChunk(s *State, n int, logits []float32, all bool) {
	c := &m.cfg
	h, hd, half := c.Hidden, c.HeadDim, c.HeadDim/2
	qd, kvd := c.Heads*hd, c.KVHeads*hd
	x, xb := s.x[:n*h], s.xb[:n*h]
	q, k, v, att := s.q[:n*qd], s.k[:n*kvd], s.v[:n*kvd], s.att[:n*qd]
	gate, up := s.gate[:n*c.Intermediate], s.up[:n*c.Intermediate]
	pos := s.pos
	if s.OnHidden != nil {
		s.OnHidden(0, x)
	}
	for l := range m.layers {
		ly := &m.layers[l]
		// Attention block.
		for i := range n {
			kernels.RMSNorm(xb[i*h:(i+1)*h], x[i*h:(i+1)*h], ly.attnNorm, c.Eps)
		}
		if n == 1 && ly.qkv[0] != nil { // decode: one parallel call for the three projections
			s.ys[0], s.ys[1], s.ys[2] = q, k, v
			kernels.MatVecs(s.ys[:3], ly.qkv[:], xb)
		} else {
			kernels.MatMul(q, &ly.q, xb, n)
			kernels.MatMul(k, &ly.k, xb, n)
			kernels.MatMul(v, &ly.v, xb, n)
		}
		for i := range n {
			p := pos + i
			cs, sn := s.cos[p*half:(p+1)*half], s.sin[p*half:(p+1)*half]
			kernels.RoPE(q[i*qd:(i+1)*qd], c.Heads, hd, cs, sn)
			kernels.RoPE(k[i*kvd:(i+1)*kvd], c.KVHeads, hd, cs, sn)
			s.store(l, p, k[i*kvd:(i+1)*kvd], v[i*kvd:(i+1)*kvd])
		}
		switch {
		case s.f16 && n == 1:
			kernels.AttentionF16(att, q, s.kc16[l], s.vc16[l], c.Heads, c.KVHeads, hd, pos+1, s.maxSeq, s.scaleAttn)
		case s.f16:
			kernels.AttentionCausalF16(att, q, s.kc16[l], s.vc16[l], n, c.Heads, c.KVHeads, hd, pos, s.maxSeq, s.scaleAttn)
		case n == 1:
			kernels.Attention(att, q, s.kc[l], s.vc[l], c.Heads, c.KVHeads, hd, pos+1, s.maxSeq, s.scaleAttn)
		default:
			kernels.AttentionCausal(att, q, s.kc[l], s.vc[l], n, c.Heads, c.KVHeads, hd, pos, s.maxSeq, s.scaleAttn)
		}
		kernels.MatMul(xb, &ly.o, att, n)
		kernels.Add(x, x, xb)
		// Feed-forward block.
		for i := range n {
			kernels.RMSNorm(xb[i*h:(i+1)*h], x[i*h:(i+1)*h], ly.mlpNorm, c.Eps)
		}
		if n == 1 && ly.gateUp[0] != nil {
			s.ys[0], s.ys[1] = gate, up
			kernels.MatVecs(s.ys[:2], ly.gateUp[:], xb)
		} else {
			kernels.MatMul(gate, &ly.gate, xb, n)
			kernels.MatMul(up, &ly.up, xb, n)
		}
		kernels.SiLUMul(gate, gate, up)
		kernels.MatMul(xb, &ly.down, gate, n)
		kernels.Add(x, x, xb)
		if s.OnHidden != nil {
			s.OnHidden(l+1, x)
		}
	}
	s.pos += n
	// Final norm and output projection: every row when all positions'
	// logits (or the hidden states) are wanted, else the last row only.
	first := n - 1
	if all || s.OnHidden != nil {
		first = 0
	}
	for i := first; i < n; i++ {
		kernels.RMSNorm(xb[i*h:(i+1)*h], x[i*h:(i+1)*h], m.norm, c.Eps)
	}
	if s.OnHidden != nil {
		s.OnHidden(c.Layers+1, xb)
	}
	switch {
	case logits == nil:
	case all:
		kernels.MatMul(logits, &m.lmHead, xb, n)
	default:
		kernels.MatVec(logits, &m.lmHead, xb[(n-1)*h:n*h])
	}
}

// store writes the key and value rows (KVHeads x HeadDim) of position p
// into layer l's cache.
func (s *State) store(l, p int, k, v []float32) {
	c := &s.m.cfg
	hd := c.HeadDim
	for kh := range c.KVHeads {
		off := (kh*s.maxSeq + p) * hd
		if s.f16 {
			kernels.F32ToF16(s.kc16[l][off:off+hd], k[kh*hd:(kh+1)*hd])
			kernels.F32ToF16(s.vc16[l][off:off+hd], v[kh*hd:(kh+1)*hd])
		} else {
			copy(s.kc[l][off:off+hd], k[kh*hd:(kh+1)*hd])
			copy(s.vc[l][off:off+hd], v[kh*hd:(kh+1)*hd])
		}
	}
}
