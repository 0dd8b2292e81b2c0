package llama

import (
	"errors"
	"fmt"

	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models"
)

// MaxChunk is the largest number of positions State.Forward processes in
// one batched pass; longer inputs are split into consecutive chunks (which
// gives the same result, as attention is causal). It bounds the scratch
// memory of a State.
const MaxChunk = 512

// State is one sequence with its own KV cache (a private kvcache pool sized
// for its capacity) and workspace: the simplest way to run the model on one
// sequence. Serving several sequences goes through Step with a shared pool
// (package engine). A State belongs to one goroutine at a time.
type State struct {
	m      *Model
	maxSeq int
	pool   *kvcache.Pool
	seq    *kvcache.Seq
	ws     Workspace
	in     [1]models.Input

	// OnHidden, if set, is called during Forward with the hidden states of
	// the positions just processed (rows of Hidden values, one row per
	// position of the current chunk): stage 0 holds the input embeddings,
	// stage i (1..Layers) the residual stream after decoder layer i, stage
	// Layers+1 the output of the final RMSNorm (all rows). h is only valid
	// during the call. A per-layer view for parity tests; the final hidden
	// rows of a sequence are an output of Step (models.Input.Hidden).
	OnHidden func(stage int, h []float32)
}

// NewState returns a State with a float32 KV cache for maxSeq positions.
// maxSeq <= 0 selects the model's max_position_embeddings (2048 if unknown).
func (m *Model) NewState(maxSeq int) *State { return m.newState(maxSeq, kvcache.F32) }

// NewStateF16 is NewState with the KV cache stored as IEEE binary16, halving
// its memory at a small cost in accuracy.
func (m *Model) NewStateF16(maxSeq int) *State { return m.newState(maxSeq, kvcache.F16) }

// NewStateQ8 is NewState with the KV cache stored as int8 rows with one
// scale each (kvcache.Q8), about a quarter of the f32 memory. It panics if
// the model's head_dim exceeds kernels.MaxQ8HeadDim (engine.New reports
// that as an error instead).
func (m *Model) NewStateQ8(maxSeq int) *State { return m.newState(maxSeq, kvcache.Q8) }

func (m *Model) newState(maxSeq int, dt kvcache.DType) *State {
	c := &m.cfg
	if maxSeq <= 0 {
		maxSeq = c.MaxPositions
		if maxSeq <= 0 {
			maxSeq = 2048
		}
	}
	const blockTokens = 16
	blocks := (maxSeq + blockTokens - 1) / blockTokens
	budget := int64(blocks) * blockTokens * kvcache.BytesPerToken(dt, c.Layers, c.KVHeads, c.HeadDim)
	cc := m.Spec().CacheConfig(dt, budget)
	cc.BlockTokens = blockTokens
	pool, err := kvcache.NewPool(cc)
	if err != nil {
		panic(fmt.Sprintf("llama: KV cache of a validated model: %v", err)) // the model's shape was validated by Load
	}
	s := &State{m: m, maxSeq: maxSeq, pool: pool, seq: pool.NewSeq()}
	// Every block up front: decoding then never allocates. (Sliding-window
	// layers take blocks as they go and give back the ones that leave the
	// window, so a model with such layers reserves step by step.)
	if cc.WindowLayers == nil {
		if err := s.seq.Reserve(maxSeq); err != nil {
			panic(fmt.Sprintf("llama: KV cache of %d positions: %v", maxSeq, err))
		}
	}
	s.ws.grow(c, 1)
	return s
}

// Pos returns the number of positions already in the cache (the position
// the next token will take).
func (s *State) Pos() int { return s.seq.Len() }

// MaxSeq returns the cache capacity in positions.
func (s *State) MaxSeq() int { return s.maxSeq }

// Reset empties the cache so that the State can start a new sequence.
func (s *State) Reset() { _ = s.Truncate(0) }

// Truncate drops the cached positions from n on, so that generation can
// resume from position n (for example to reuse a shared prompt prefix).
func (s *State) Truncate(n int) error {
	if n < 0 || n > s.seq.Len() {
		return fmt.Errorf("llama: Truncate(%d): the cache holds %d positions", n, s.seq.Len())
	}
	return s.seq.Truncate(n)
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
	for start := 0; start < len(tokens); start += MaxChunk {
		n := min(MaxChunk, len(tokens)-start)
		s.in[0] = models.Input{Tokens: tokens[start : start+n]}
		if err := m.forwardChunk(s, start, n, len(tokens), logits, allPositions); err != nil {
			return err
		}
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
		s.in[0] = models.Input{Embeds: x[start*h : (start+c)*h]}
		if err := m.forwardChunk(s, start, c, n, logits, allPositions); err != nil {
			return err
		}
	}
	return nil
}

// forwardChunk runs s.in[0] (rows [start, start+n) of total) through Step.
func (m *Model) forwardChunk(s *State, start, n, total int, logits []float32, all bool) error {
	in := &s.in[0]
	in.Seq = s.seq
	vocab := m.cfg.Vocab
	switch {
	case logits == nil:
	case all:
		in.Logits, in.LogitsOut = models.AllLogits, logits[start*vocab:(start+n)*vocab]
	case start+n == total:
		in.Logits, in.LogitsOut = models.LastLogits, logits
	}
	s.ws.onHidden = s.OnHidden
	err := m.Step(&s.ws, s.in[:])
	s.ws.onHidden = nil
	*in = models.Input{}
	if errors.Is(err, kvcache.ErrBudget) {
		return fmt.Errorf("llama: context overflow: %w", err) // checkForward rules this out
	}
	return err
}

func (m *Model) checkForward(s *State, n int, logits []float32, allPositions bool) error {
	if s == nil || s.m != m {
		return fmt.Errorf("llama: the State was not created by this Model")
	}
	if n == 0 {
		return fmt.Errorf("llama: Forward needs at least one token")
	}
	if s.Pos()+n > s.maxSeq {
		return fmt.Errorf("llama: context overflow: %d cached + %d new positions exceed the state's capacity of %d",
			s.Pos(), n, s.maxSeq)
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
