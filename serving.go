package cellm

import "time"

// Prompt is a request assembled for a scheduler that drives an
// engine.Engine over Model.Decoder itself: the prompt's token ids and, when it holds
// images, the input embeddings of every position with the image features
// spliced in.
type Prompt struct {
	// IDs are the prompt's token ids.
	IDs []int
	// Embeds is nil for a text prompt, else len(IDs) x Hidden values.
	Embeds []float32
	// Stats holds the image counts and timings of the assembly.
	Stats Stats
}

// Prepare assembles req's prompt as Generate does (messages, chat
// template, images, tokenization, vision encoder) without running the
// decoder. Only the prompt fields of req are used. After Close it
// returns ErrClosed; a scheduler stepping the decoder itself keeps the
// Model open until it stops.
func (m *Model) Prepare(req Request) (out *Prompt, err error) {
	err = m.use(func() error {
		start := time.Now()
		p, err := m.tokenize(&req, true)
		if err != nil {
			return err
		}
		defer p.abandon() // an early return stops the image encoding
		out = &Prompt{IDs: p.ids}
		out.Stats.ImagePreprocess = time.Since(start)
		if p.enc != nil {
			out.Stats.ImagePreprocess = p.prep
		}
		if out.Embeds, err = m.promptEmbeddings(p, &req, &out.Stats); err != nil {
			return err
		}
		out.Stats.PromptTokens = len(p.ids)
		return nil
	})
	return out, err
}

// EOS returns the end-of-sequence token ids.
func (m *Model) EOS() []int { return m.eosIDs }

// MaxPositions returns the model's context length (0 if unknown).
func (m *Model) MaxPositions() int { return m.maxPos }

// StopMatcher streams generated text while watching for stop strings: it
// holds back any tail that could still become one of them, so that a stop
// string is never emitted, even when it spans several tokens.
type StopMatcher struct{ m stopMatcher }

// NewStopMatcher returns a matcher for stops (none: text passes through).
func NewStopMatcher(stops []string) *StopMatcher {
	return &StopMatcher{m: stopMatcher{stops: stops}}
}

// Push adds text and returns what can be emitted now, and whether a stop
// string was found (the text before it is emitted, the rest dropped).
func (s *StopMatcher) Push(text string) (emit string, stopped bool) { return s.m.push(text) }

// Flush returns the held-back text at the end of generation.
func (s *StopMatcher) Flush() string { return s.m.flush() }
