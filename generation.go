package cellm

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go/generate"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/tokenizer"
)

// Token is one generated token and the text it completes. Text may be empty
// while a multi-byte character is still incomplete.
type Token struct {
	ID   int
	Text string
}

// Stats are the timings of one generation.
type Stats struct {
	PromptTokens     int
	GeneratedTokens  int
	Images, Tiles    int
	ImagePreprocess  time.Duration // decode, resize, split, normalize
	VisionEncode     time.Duration // vision tower, all tiles
	Projection       time.Duration // connector (pixel shuffle + projection), all tiles
	Prefill          time.Duration
	TimeToFirstToken time.Duration // from the start of Generate
	Decode           time.Duration
	DecodeSteps      int
	ReusedTokens     int // prompt positions a Session already held (not prefilled again)
	ImageCacheHits   int // images whose features came from the model's image-feature cache
	PrefilledAhead   int // prompt positions before the first image prefilled while the vision tower ran
}

// PrefillTokensPerSec returns the prompt processing speed (positions
// computed, the reused ones excluded).
func (s *Stats) PrefillTokensPerSec() float64 {
	return perSec(s.PromptTokens-s.ReusedTokens, s.Prefill)
}

// DecodeTokensPerSec returns the decoding speed.
func (s *Stats) DecodeTokensPerSec() float64 { return perSec(s.DecodeSteps, s.Decode) }

func perSec(n int, d time.Duration) float64 {
	if n == 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// StopReason tells why a generation ended.
type StopReason string

// Stop reasons.
const (
	StopEOS        StopReason = "eos"               // an end-of-sequence token was generated
	StopMaxTokens  StopReason = "max_tokens"        // MaxNewTokens reached
	StopContext    StopReason = "context_full"      // the context limit was reached
	StopString     StopReason = "stop_string"       // one of Request.Stop appeared
	StopCanceled   StopReason = "canceled"          // the context was canceled
	StopByCallback StopReason = "stopped_by_caller" // onToken returned false
)

func stopReason(r generate.StopReason) StopReason {
	switch r {
	case generate.StopEOS:
		return StopEOS
	case generate.StopMaxTokens:
		return StopMaxTokens
	case generate.StopContext:
		return StopContext
	case generate.StopCanceled:
		return StopCanceled
	case generate.StopCallback:
		return StopByCallback
	}
	return StopReason(r.String())
}

// Result is a finished generation.
type Result struct {
	// Text is the generated text, cut before a stop string.
	Text string
	// Tokens are the generated ids (without a terminating EOS id).
	Tokens []int
	// PromptIDs are the ids the prompt was tokenized to.
	PromptIDs []int
	// StopReason tells why generation ended.
	StopReason StopReason
	Stats      Stats
}

// generate is Generate, on weights that stay mapped until it returns: one
// generation in a session of its own, whose KV cache is given back at the
// end (a Session keeps it for the next turn).
func (m *Model) generate(ctx context.Context, req Request, onToken func(Token) bool) (*Result, error) {
	s := m.NewSession()
	defer s.Close()
	return s.generate(ctx, req, onToken)
}

// Session is a conversation that keeps its KV cache between generations:
// each Generate's prompt reuses the cached positions it starts with (the
// previous prompt and reply, when the next request re-renders the whole
// chat), so only the new tail is prefilled. A Session is used by one
// goroutine at a time; Close it to free its cache.
type Session struct {
	m     *Model
	convs [3]conversation // by KV type (kvcache.F32, F16, Q8), made on first use
}

// NewSession returns an empty conversation.
func (m *Model) NewSession() *Session { return &Session{m: m} }

// Close releases the session's KV cache.
func (s *Session) Close() {
	for i, c := range s.convs {
		if c != nil {
			c.close()
			s.convs[i] = nil
		}
	}
}

func (s *Session) conversation(kv kvcache.DType) (conversation, error) {
	i := int(kv)
	if i >= len(s.convs) {
		return nil, fmt.Errorf("cellm: KV type %s is not supported", kv)
	}
	if s.convs[i] == nil {
		c, err := s.m.text.conversation(kv)
		if err != nil {
			return nil, err
		}
		s.convs[i] = c
	}
	return s.convs[i], nil
}

// Generate runs one generation in the session: as Model.Generate, but the
// prompt's leading positions that the session already holds are not
// computed again. Stats.ReusedTokens counts them. After the Model's Close it
// returns ErrClosed.
func (s *Session) Generate(ctx context.Context, req Request, onToken func(Token) bool) (res *Result, err error) {
	err = s.m.use(func() error {
		res, err = s.generate(ctx, req, onToken)
		return err
	})
	return res, err
}

func (s *Session) generate(ctx context.Context, req Request, onToken func(Token) bool) (*Result, error) {
	m := s.m
	start := time.Now()
	p, err := m.tokenize(&req, true)
	if err != nil {
		return nil, err
	}
	defer p.abandon() // an early return stops the image encoding
	res := &Result{PromptIDs: p.ids}
	res.Stats.ImagePreprocess = time.Since(start)
	if p.enc != nil {
		// The images were decoded and tiled while others were encoding.
		res.Stats.ImagePreprocess = p.prep
	}
	opts := generate.Options{MaxNewTokens: req.MaxNewTokens, MinNewTokens: req.MinNewTokens,
		IgnoreEOS: req.IgnoreEOS, Sampling: req.Sampling, EOS: m.eosIDs}
	if opts.MaxNewTokens == 0 {
		opts.MaxNewTokens = 128
	}
	if opts.EOS == nil {
		opts.EOS = []int{}
	}
	limit := req.MaxContext
	if limit <= 0 {
		limit = m.maxPos
	}
	if limit > 0 && len(p.ids) >= limit {
		return nil, fmt.Errorf("%w: %d prompt tokens for a context limit of %d", ErrContextFull, len(p.ids), limit)
	}

	var stream *tokenizer.Stream
	if m.tok != nil {
		stream = m.tok.NewStream(true)
	}
	stops := stopMatcher{stops: req.Stop}
	var text strings.Builder
	stoppedByString := false
	callerStopped := false // onToken returned false: never call it again
	var cbErr error
	callback := func(id int) bool {
		if res.Stats.TimeToFirstToken == 0 {
			res.Stats.TimeToFirstToken = time.Since(start)
		}
		res.Tokens = append(res.Tokens, id)
		piece := ""
		if stream != nil {
			if piece, cbErr = stream.Push(id); cbErr != nil {
				return false
			}
		}
		emit, hit := stops.push(piece)
		text.WriteString(emit)
		keep := true
		if onToken != nil && (emit != "" || !hit) {
			keep = onToken(Token{ID: id, Text: emit})
		}
		if hit {
			stoppedByString = true
			return false
		}
		callerStopped = !keep
		return keep
	}

	kv, err := req.kvType()
	if err != nil {
		return nil, err
	}
	conv, err := s.conversation(kv)
	if err != nil {
		return nil, err
	}
	// While the vision tower runs, the text before the first image is
	// prefilled (by id: the full prefill below then reuses it).
	ahead := m.prefillAhead(conv, p, &req)
	x, err := m.promptEmbeddings(p, &req, &res.Stats)
	early := ahead.wait()
	if err != nil {
		return nil, err
	}
	logits := make([]float32, m.text.vocab())
	pstart := time.Now()
	reused, err := conv.prefill(p.ids, x, logits)
	if err != nil {
		return nil, err
	}
	res.Stats.Prefill = time.Since(pstart)
	if early.end > 0 && reused >= early.end {
		// Positions prefilled ahead count as computed, not reused.
		reused -= early.end - early.reused
		res.Stats.PrefilledAhead = early.end - early.reused
	}
	res.Stats.ReusedTokens = reused
	var seq generate.Sequence = conv
	if limit > 0 && limit < conv.Cap() {
		seq = cappedSeq{conv, limit}
	}
	g, err := generate.Decode(ctx, seq, logits, p.ids, opts, callback)
	if err != nil {
		return nil, err
	}
	if cbErr != nil {
		return nil, cbErr
	}
	if !stoppedByString {
		rest := stops.flush()
		if stream != nil {
			rest += stream.Flush()
		}
		if rest != "" {
			text.WriteString(rest)
			if onToken != nil && !callerStopped {
				onToken(Token{ID: -1, Text: rest})
			}
		}
	}
	res.Text = text.String()
	res.StopReason = stopReason(g.Stop)
	if stoppedByString {
		res.StopReason = StopString
	}
	res.Stats.PromptTokens = len(p.ids)
	res.Stats.GeneratedTokens = len(res.Tokens)
	res.Stats.Decode = g.Decode
	res.Stats.DecodeSteps = g.DecodeSteps
	if g.Stop == generate.StopCanceled {
		return res, ctx.Err()
	}
	return res, nil
}

// cappedSeq lowers a sequence's capacity to a request's context limit.
type cappedSeq struct {
	generate.Sequence
	limit int
}

func (c cappedSeq) Cap() int { return c.limit }

// Tokens is Generate as an iterator of tokens. A failure is yielded as a
// final (Token{ID: -1}, err). Breaking out of the loop stops generation.
func (m *Model) Tokens(ctx context.Context, req Request) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		broke := false
		_, err := m.Generate(ctx, req, func(t Token) bool {
			if broke || !yield(t, nil) {
				broke = true
				return false
			}
			return true
		})
		if err != nil && !broke {
			yield(Token{ID: -1}, err)
		}
	}
}

// aheadPrefill is a prefill of the text before a prompt's first image,
// running while the vision tower encodes the image.
type aheadPrefill struct {
	done chan aheadResult // nil: nothing started
}

// aheadResult is what an ahead prefill did: positions [0, end) held,
// of which reused came from the conversation's cache.
type aheadResult struct {
	end, reused int
}

// wait returns the ahead prefill's result (zero if none ran or it failed:
// the full prefill then computes those positions itself).
func (a aheadPrefill) wait() aheadResult {
	if a.done == nil {
		return aheadResult{}
	}
	return <-a.done
}

// prefillAhead starts prefilling, on the native decoder, the ids before the
// first image token of a prompt whose images the vision tower is about to
// encode. It does not when the conversation's cache holds more of the
// prompt than that text (possibly the image's positions from an earlier
// turn, which the shorter prefill would drop).
func (m *Model) prefillAhead(conv conversation, p *prompt, r *Request) aheadPrefill {
	encoding := p.enc != nil || (p.images != nil && r.ImageFeatures == nil)
	if m.noPrefillAhead || !encoding {
		return aheadPrefill{}
	}
	nc, ok := conv.(*nativeConv)
	if !ok {
		return aheadPrefill{}
	}
	end := slices.Index(p.ids, m.imageTokenID)
	if end < 2 {
		return aheadPrefill{}
	}
	h, held := nc.History(), 0
	for held < len(h) && held < len(p.ids) && h[held] == p.ids[held] {
		held++
	}
	if held >= end {
		return aheadPrefill{}
	}
	a := aheadPrefill{done: make(chan aheadResult, 1)}
	go func() {
		reused, err := nc.prefill(p.ids[:end], nil, nil)
		if err != nil {
			a.done <- aheadResult{}
			return
		}
		a.done <- aheadResult{end: end, reused: reused}
	}()
	return a
}
