// Package engine runs a models.Decoder for many conversations at once. An
// Engine owns the decoder and one paged KV cache pool (package kvcache); a
// Session is one conversation: its cache sequence and the token ids it
// holds, kept between turns so that the next turn only prefills what is new
// (the longest common prefix with the cached history is reused). Step runs
// one batched forward pass over many sessions, each contributing a prefill
// chunk or one decode token: the call a scheduler makes between sessions
// joining and leaving. When the pool's budget is exhausted, Step and the
// Session methods return an error wrapping kvcache.ErrBudget and change
// nothing: the signal for a scheduler to wait for sessions to finish.
package engine

import (
	"errors"
	"fmt"

	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models"
)

// Options configure an Engine.
type Options struct {
	// KVType is the storage of keys and values (kvcache.F32, F16 or Q8).
	KVType kvcache.DType
	// MaxContext caps the positions of one session; 0 uses the decoder's
	// max_position_embeddings (2048 if unknown).
	MaxContext int
	// KVBudgetBytes is the memory all sessions' caches may take together;
	// 0 allows 4 sessions at MaxContext. The pool allocates lazily.
	KVBudgetBytes int64
	// BlockTokens is the number of positions per cache block (0: kvcache's default).
	BlockTokens int
	// PrefillChunk caps the positions one session prefills per forward
	// pass (bounding the workspace); 0 means 512.
	PrefillChunk int
}

// Engine is a decoder with its KV cache pool. Its methods are safe for
// concurrent use; each Session and Workspace belongs to one goroutine at a
// time.
type Engine struct {
	dec    models.Decoder
	spec   models.Spec
	pool   *kvcache.Pool
	maxCtx int
	chunk  int
}

// ErrContext is returned when a session would exceed the context limit.
var ErrContext = errors.New("engine: context limit reached")

// New returns an Engine over dec.
func New(dec models.Decoder, o Options) (*Engine, error) {
	if dec == nil {
		return nil, fmt.Errorf("engine: nil decoder")
	}
	if o.MaxContext < 0 || o.KVBudgetBytes < 0 || o.PrefillChunk < 0 {
		return nil, fmt.Errorf("engine: negative MaxContext, KVBudgetBytes or PrefillChunk")
	}
	e := &Engine{dec: dec, spec: dec.Spec(), maxCtx: o.MaxContext, chunk: o.PrefillChunk}
	if e.maxCtx == 0 {
		if e.maxCtx = e.spec.MaxPositions; e.maxCtx <= 0 {
			e.maxCtx = 2048
		}
	}
	if e.chunk == 0 {
		e.chunk = 512
	}
	cc := e.spec.CacheConfig(o.KVType, o.KVBudgetBytes)
	cc.BlockTokens = o.BlockTokens
	if cc.BudgetBytes == 0 {
		bt := int64(o.BlockTokens)
		if bt == 0 {
			bt = kvcache.DefaultBlockTokens
		}
		blocks := (int64(e.maxCtx) + bt - 1) / bt
		cc.BudgetBytes = 4 * blocks * bt * kvcache.BytesPerToken(o.KVType, e.spec.Layers, e.spec.KVHeads, e.spec.HeadDim)
	}
	pool, err := kvcache.NewPool(cc)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.pool = pool
	return e, nil
}

// Decoder returns the engine's decoder.
func (e *Engine) Decoder() models.Decoder { return e.dec }

// Spec returns the decoder's shape.
func (e *Engine) Spec() models.Spec { return e.spec }

// Pool returns the engine's KV cache pool (for its Stats).
func (e *Engine) Pool() *kvcache.Pool { return e.pool }

// MaxContext returns the positions one session may hold.
func (e *Engine) MaxContext() int { return e.maxCtx }

// Workspace is the scratch memory of one caller of Step: the decoder's
// workspace and the step's inputs. It grows to the largest step served;
// use one per goroutine.
type Workspace struct {
	dec models.Workspace
	in  []models.Input
}

// NewWorkspace returns empty scratch memory for Step.
func (e *Engine) NewWorkspace() *Workspace { return &Workspace{dec: e.dec.NewWorkspace()} }

// Bytes returns the scratch memory held.
func (w *Workspace) Bytes() int64 { return w.dec.Bytes() }

// Work is one session's part of a Step.
type Work struct {
	Session *Session
	// Tokens are the ids of the new positions: one decode token or a
	// prefill chunk.
	Tokens []int
	// Embeds optionally gives the input embeddings of those positions
	// (len(Tokens) x Hidden), for example with image features spliced in.
	// Positions given this way are never reused as a prefix by id.
	Embeds []float32
	// Logits, if not nil (len Vocab), receives the last new position's logits.
	Logits []float32
	// Hidden, if not nil (len(Tokens) x Hidden), receives the new positions'
	// final-norm hidden rows.
	Hidden []float32
}

// Step runs one batched forward pass over works, one per session. Every
// session's room is reserved first: an exhausted budget returns an error
// wrapping kvcache.ErrBudget, and a session over the context limit one
// wrapping ErrContext, with no session changed.
func (e *Engine) Step(ws *Workspace, works []Work) error {
	if ws == nil {
		return fmt.Errorf("engine: nil workspace")
	}
	if cap(ws.in) < len(works) {
		ws.in = make([]models.Input, len(works))
	}
	in := ws.in[:len(works)]
	defer clear(in) // the workspace keeps no reference to the caller's buffers
	for i := range works {
		w := &works[i]
		s := w.Session
		if s == nil || s.e != e {
			return fmt.Errorf("engine: work %d: the session is nil or belongs to another engine", i)
		}
		if len(w.Tokens) == 0 {
			return fmt.Errorf("%w: engine: work %d: no token", models.ErrBadInput, i)
		}
		if s.Len()+len(w.Tokens) > e.maxCtx {
			return fmt.Errorf("%w: work %d: %d cached + %d new positions exceed %d", ErrContext, i, s.Len(), len(w.Tokens), e.maxCtx)
		}
		if w.Embeds != nil && len(w.Embeds) != len(w.Tokens)*e.spec.Hidden {
			return fmt.Errorf("%w: engine: work %d: %d embedding values for %d tokens of %d", models.ErrBadInput, i, len(w.Embeds), len(w.Tokens), e.spec.Hidden)
		}
		in[i] = models.Input{Seq: s.seq, Tokens: w.Tokens, Hidden: w.Hidden}
		if w.Embeds != nil {
			in[i].Tokens, in[i].Embeds = nil, w.Embeds
		}
		if w.Logits != nil {
			in[i].Logits, in[i].LogitsOut = models.LastLogits, w.Logits
		}
	}
	if err := e.dec.Step(ws.dec, in); err != nil {
		return err
	}
	for i := range works {
		works[i].Session.appended(works[i].Tokens, works[i].Embeds != nil)
	}
	return nil
}
