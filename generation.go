package cellm

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go/generate"
	"github.com/cellm-ai/cellm-go/models/idefics3"
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
}

// PrefillTokensPerSec returns the prompt processing speed.
func (s *Stats) PrefillTokensPerSec() float64 { return perSec(s.PromptTokens, s.Prefill) }

// DecodeTokensPerSec returns the decoding speed.
func (s *Stats) DecodeTokensPerSec() float64 { return perSec(s.DecodeSteps, s.Decode) }

func perSec(n int, d time.Duration) float64 {
	if n == 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Result is a finished generation.
type Result struct {
	// Text is the generated text, cut before a stop string.
	Text string
	// Tokens are the generated ids (without a terminating EOS id).
	Tokens []int
	// PromptIDs are the ids the prompt was tokenized to.
	PromptIDs []int
	// StopReason is "eos", "max_tokens", "context_full", "stop_string" or "canceled".
	StopReason string
	Stats      Stats
}

// generate is Generate, on weights that stay mapped until it returns.
func (m *Model) generate(ctx context.Context, req Request, onToken func(Token) bool) (*Result, error) {
	start := time.Now()
	p, err := m.tokenize(&req)
	if err != nil {
		return nil, err
	}
	res := &Result{PromptIDs: p.ids}
	res.Stats.ImagePreprocess = time.Since(start)
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
	capacity := len(p.ids) + opts.MaxNewTokens
	if limit > 0 {
		if len(p.ids) >= limit {
			return nil, fmt.Errorf("the prompt's %d tokens fill the context limit of %d", len(p.ids), limit)
		}
		capacity = min(limit, capacity)
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

	x, err := m.text.embed(p.ids)
	if err != nil {
		return nil, err
	}
	if p.images != nil {
		if m.imageCfgErr != nil {
			return nil, m.imageCfgErr
		}
		feats := req.ImageFeatures
		if feats == nil {
			t := idefics3.Timing{OnTile: req.ImageProgress}
			if feats, err = m.imageFeatures(p.images, &t); err != nil {
				return nil, err
			}
			res.Stats.VisionEncode, res.Stats.Projection = t.Encode, t.Project
		}
		res.Stats.Images, res.Stats.Tiles = len(p.images.Grids), p.images.N
		if err := idefics3.Splice(x, p.ids, m.imageTokenID, feats, m.text.hidden()); err != nil {
			return nil, err
		}
		// The tiles and the vision activations are garbage now; collect them
		// before the KV cache is allocated, so the two peaks do not add up
		// (one collection costs a few milliseconds next to the vision encoder).
		p.images, feats = nil, nil
		runtime.GC()
	}
	logits := make([]float32, m.text.vocab())
	pstart := time.Now()
	seq, release, err := m.text.prefill(x, len(p.ids), capacity, req.KVF16, logits)
	if err != nil {
		return nil, err
	}
	defer release()
	res.Stats.Prefill = time.Since(pstart)
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
	res.StopReason = g.Stop.String()
	switch {
	case stoppedByString:
		res.StopReason = "stop_string"
	case g.Stop == generate.StopCallback:
		res.StopReason = "stopped_by_caller"
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
