package engine

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models"
)

// Session is one conversation: a KV cache sequence of the engine's pool and
// the ids of the positions it holds. The cache is kept between turns:
// Prefill of the next turn's whole prompt reuses the longest common prefix
// with what is cached. A Session belongs to one goroutine at a time; Close
// it to give its blocks back (a published prefix stays cached for others
// until evicted).
type Session struct {
	e   *Engine
	seq *kvcache.Seq
	ids []int // ids of the cached positions
	// exact is the number of leading positions computed from their ids
	// alone (not from caller embeddings): only those are reusable by id.
	exact int

	ws   *Workspace // for the session's own forward passes, made on first use
	work [1]Work
	tok  [1]int
}

// NewSession returns an empty session.
func (e *Engine) NewSession() *Session {
	return &Session{e: e, seq: e.pool.NewSeq()}
}

// Len returns the number of cached positions.
func (s *Session) Len() int { return s.seq.Len() }

// Cap returns the most positions the session may hold (the engine's MaxContext).
func (s *Session) Cap() int { return s.e.maxCtx }

// History returns the ids of the cached positions (read-only).
func (s *Session) History() []int { return s.ids[:s.seq.Len()] }

// Seq returns the session's KV cache sequence.
func (s *Session) Seq() *kvcache.Seq { return s.seq }

// appended records n new positions after a successful step.
func (s *Session) appended(ids []int, fromEmbeds bool) {
	if s.exact == len(s.ids) && !fromEmbeds {
		s.exact += len(ids)
	}
	s.ids = append(s.ids, ids...)
}

// Truncate keeps the first n cached positions.
func (s *Session) Truncate(n int) error {
	if err := s.seq.Truncate(n); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	s.ids = s.ids[:n]
	s.exact = min(s.exact, n)
	return nil
}

// Reserve makes room for n more positions now (kvcache.Seq.Reserve), so
// that later steps take no block from the pool: a caller that knows its
// budget claims it up front. An exhausted pool returns an error wrapping
// kvcache.ErrBudget.
func (s *Session) Reserve(n int) error {
	if s.Len()+n > s.e.maxCtx {
		return fmt.Errorf("%w: %d cached + %d reserved positions exceed %d", ErrContext, s.Len(), n, s.e.maxCtx)
	}
	if err := s.seq.Reserve(n); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	s.ids = slices.Grow(s.ids, n)
	return nil
}

// Reset empties the session (its blocks go back to the pool).
func (s *Session) Reset() { _ = s.Truncate(0) }

// Close releases the session's cache. The session may be used again
// afterwards, starting empty.
func (s *Session) Close() {
	s.seq.Release()
	s.ids, s.exact = s.ids[:0], 0
}

// Fork returns a new session sharing this one's cached positions
// (copy-on-write): for example several continuations of one prompt.
func (s *Session) Fork() *Session {
	return &Session{e: s.e, seq: s.seq.Fork(), ids: append([]int(nil), s.ids...), exact: s.exact}
}

// Publish offers the session's full cache blocks of id-computed positions
// to other sessions of the engine (see Prefill, which adopts them).
func (s *Session) Publish() { s.seq.Publish(s.ids[:s.exact]) }

// Reusable returns how many leading positions of ids the session's cache
// already holds, keeping at least one position of ids to compute (so that
// the last position's logits can be produced).
func (s *Session) Reusable(ids []int) int {
	n := 0
	for n < s.exact && n < len(ids)-1 && s.ids[n] == ids[n] {
		n++
	}
	return n
}

func (s *Session) workspace() *Workspace {
	if s.ws == nil {
		s.ws = s.e.NewWorkspace()
	}
	return s.ws
}

// Prefill makes the session hold exactly ids and writes the last
// position's logits (len Vocab; nil for none). The cached positions that
// match a prefix of ids are kept (an empty session first adopts a prefix
// another session published), the rest is dropped and the new tail is
// prefilled in chunks. embeds, if not nil, are the input embeddings of all
// of ids (len(ids) x Hidden; for example with image features spliced in);
// then only the positions before the first differing id are reused and
// the new positions are never matched by id later. It returns the number of
// positions reused. On error (kvcache.ErrBudget, ErrContext, bad ids) the
// session keeps the positions computed before it (Len tells how many).
func (s *Session) Prefill(ids []int, embeds []float32, logits []float32) (reused int, err error) {
	return s.PrefillKnown(ids, embeds, logits, 0)
}

// PrefillKnown is Prefill for a caller that vouches that the first known
// cached positions hold what ids and embeds describe, including positions
// computed from embeddings (which Prefill never reuses), for example after
// comparing the embeddings it gave before with the new ones. They are kept
// (at most Len, and one position of ids is always computed).
func (s *Session) PrefillKnown(ids []int, embeds []float32, logits []float32, known int) (reused int, err error) {
	h := s.e.spec.Hidden
	if len(ids) == 0 {
		return 0, fmt.Errorf("%w: engine: empty prompt", models.ErrBadInput)
	}
	if len(ids) > s.e.maxCtx {
		return 0, fmt.Errorf("%w: the prompt's %d tokens exceed %d", ErrContext, len(ids), s.e.maxCtx)
	}
	if embeds != nil && len(embeds) != len(ids)*h {
		return 0, fmt.Errorf("%w: engine: %d embedding values for %d tokens of %d", models.ErrBadInput, len(embeds), len(ids), h)
	}
	if logits != nil && len(logits) != s.e.spec.Vocab {
		return 0, fmt.Errorf("%w: engine: len(logits) = %d, want %d", models.ErrBadInput, len(logits), s.e.spec.Vocab)
	}
	if reused, err = s.begin(ids, embeds != nil, known); err != nil {
		return 0, err
	}
	ws := s.workspace()
	for start := reused; start < len(ids); start += s.e.chunk {
		end := min(start+s.e.chunk, len(ids))
		w := &s.work[0]
		*w = Work{Session: s, Tokens: ids[start:end]}
		if embeds != nil {
			w.Embeds = embeds[start*h : end*h]
		}
		if end == len(ids) {
			w.Logits = logits
		}
		err := s.e.Step(ws, s.work[:])
		s.work[0] = Work{}
		if err != nil {
			return reused, err
		}
	}
	if embeds == nil {
		s.Publish()
	}
	return reused, nil
}

// Begin prepares the session to hold ids without computing anything: the
// cached positions matching a prefix of ids are kept (an empty session
// first adopts a prefix another session published, unless withEmbeds says
// the prompt's positions come from caller embeddings) and the rest is
// dropped. It returns the positions kept; ids[reused:] remain to be
// stepped, at least one. A scheduler calls Begin, then feeds the tail in
// chunks through Step, interleaved with other sessions' decode tokens.
func (s *Session) Begin(ids []int, withEmbeds bool) (reused int, err error) {
	return s.begin(ids, withEmbeds, 0)
}

// begin is Begin keeping also the first known positions (PrefillKnown).
func (s *Session) begin(ids []int, withEmbeds bool, known int) (reused int, err error) {
	if len(ids) == 0 {
		return 0, fmt.Errorf("%w: engine: empty prompt", models.ErrBadInput)
	}
	if len(ids) > s.e.maxCtx {
		return 0, fmt.Errorf("%w: the prompt's %d tokens exceed %d", ErrContext, len(ids), s.e.maxCtx)
	}
	reused = max(s.Reusable(ids), min(known, s.Len(), len(ids)-1))
	if reused < s.Len() {
		if err := s.Truncate(reused); errors.Is(err, kvcache.ErrWindow) {
			// The sliding-window layers no longer hold the keys before
			// reused: recompute from the start.
			reused = 0
			err = s.Truncate(0)
		}
		if err != nil {
			return 0, err
		}
	}
	if reused == 0 && !withEmbeds {
		s.adopt(ids[:len(ids)-1])
		reused = s.Len()
	}
	return reused, nil
}

// adopt attaches a published prefix of ids to the empty session.
func (s *Session) adopt(ids []int) {
	if s.seq.Len() != 0 || s.seq.Cap() != 0 {
		return // not empty, or holding reserved room
	}
	n := s.seq.AdoptPrefix(ids)
	s.ids = append(s.ids[:0], ids[:n]...)
	s.exact = n
}

// Append feeds one token at the next position and writes its logits (len
// Vocab): one decode step of this session alone.
func (s *Session) Append(id int, logits []float32) error {
	s.tok[0] = id
	s.work[0] = Work{Session: s, Tokens: s.tok[:], Logits: logits}
	err := s.e.Step(s.workspace(), s.work[:])
	s.work[0] = Work{}
	return err
}
