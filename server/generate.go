package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/sample"
)

// genRequest is a generation request in the API-neutral form both the
// OpenAI and Ollama handlers build.
type genRequest struct {
	prompt    cellm.Request // prompt fields only
	maxTokens int           // 0: as many as the context and the cap allow
	sampling  sample.Options
	presence  float32
	frequency float32
	stops     []string
	logprobs  int // -1: none
	ignoreEOS bool
}

// samplingParams are the sampling fields of OpenAI requests (pointers: absent
// fields take OpenAI's defaults).
type samplingParams struct {
	Temperature         *float32 `json:"temperature"`
	TopP                *float32 `json:"top_p"`
	MinP                *float32 `json:"min_p"`
	TopK                *int     `json:"top_k"`
	Seed                *int64   `json:"seed"`
	MaxTokens           *int     `json:"max_tokens"`
	MaxCompletionTokens *int     `json:"max_completion_tokens"`
	Stop                stopList `json:"stop"`
	PresencePenalty     *float32 `json:"presence_penalty"`
	FrequencyPenalty    *float32 `json:"frequency_penalty"`
	RepetitionPenalty   *float32 `json:"repetition_penalty"`
	N                   *int     `json:"n"`
	// IgnoreEOS (an extension, as in llama.cpp's server) generates
	// max_tokens tokens whatever comes: for benchmarks.
	IgnoreEOS bool `json:"ignore_eos"`
}

// apply validates p into g.
func (p *samplingParams) apply(g *genRequest) *apiError {
	g.sampling = sample.Options{Temperature: 1, Seed: uint64(time.Now().UnixNano())}
	if p.N != nil && *p.N != 1 {
		return badRequest("n", "n = %d: only n = 1 is supported", *p.N)
	}
	if v := p.Temperature; v != nil {
		if !(*v >= 0 && *v <= 2) {
			return badRequest("temperature", "temperature %v: want 0 to 2", *v)
		}
		g.sampling.Temperature = *v
	}
	if v := p.TopP; v != nil {
		if !(*v > 0 && *v <= 1) {
			return badRequest("top_p", "top_p %v: want more than 0, at most 1", *v)
		}
		g.sampling.TopP = *v
	}
	if v := p.MinP; v != nil {
		if !(*v >= 0 && *v <= 1) {
			return badRequest("min_p", "min_p %v: want 0 to 1", *v)
		}
		g.sampling.MinP = *v
	}
	if v := p.TopK; v != nil {
		if *v < 0 {
			return badRequest("top_k", "top_k %d: want 0 (off) or more", *v)
		}
		g.sampling.TopK = *v
	}
	if v := p.Seed; v != nil {
		g.sampling.Seed = uint64(*v)
	}
	if v := p.RepetitionPenalty; v != nil {
		if !(*v > 0 && *v <= 10) {
			return badRequest("repetition_penalty", "repetition_penalty %v: want more than 0, at most 10", *v)
		}
		g.sampling.RepetitionPenalty = *v
	}
	for _, f := range []struct {
		name string
		v    *float32
		dst  *float32
	}{{"presence_penalty", p.PresencePenalty, &g.presence}, {"frequency_penalty", p.FrequencyPenalty, &g.frequency}} {
		if f.v != nil {
			if !(*f.v >= -2 && *f.v <= 2) {
				return badRequest(f.name, "%s %v: want -2 to 2", f.name, *f.v)
			}
			*f.dst = *f.v
		}
	}
	mt := p.MaxCompletionTokens
	if mt == nil {
		mt = p.MaxTokens
	}
	if mt != nil {
		if *mt < 1 {
			return badRequest("max_tokens", "max_tokens %d: want 1 or more", *mt)
		}
		g.maxTokens = *mt
	}
	for _, s := range p.Stop {
		if s == "" {
			return badRequest("stop", "stop strings must not be empty")
		}
	}
	if len(p.Stop) > 4 {
		return badRequest("stop", "%d stop strings: at most 4", len(p.Stop))
	}
	g.stops = p.Stop
	g.ignoreEOS = p.IgnoreEOS
	return nil
}

// checkImages refuses n > 0 images for a model without a vision tower,
// naming field, the request field that carried them.
func checkImages(m *served, n int, field string) *apiError {
	if n > 0 && !m.Model.Model.IsVLM() {
		return badRequest(field, "model %s takes no images", m.Name)
	}
	return nil
}

// started is a submitted job with what the response needs.
type started struct {
	job    *job
	client context.Context // the request's: done when the client leaves
	model  *served
	cancel context.CancelFunc
	id     string
	at     time.Time
}

// start assembles g's prompt (tokenizer, chat template, vision encoder),
// checks it against the context and submits it to the model's scheduler.
func (s *Server) start(r *http.Request, m *served, g *genRequest) (*started, *apiError) {
	if m.sched.full() { // refuse before the work of assembling the prompt
		return nil, errStatus(ErrQueueFull)
	}
	g.prompt.MaxImagePixels = s.cfg.MaxImagePixels
	if len(g.prompt.Images) > 0 { // bound the vision encoders running at once
		select {
		case s.vision <- struct{}{}:
			defer func() { <-s.vision }()
		case <-r.Context().Done():
			return nil, errStatus(r.Context().Err())
		}
	}
	p, err := m.Model.Model.Prepare(g.prompt)
	if err != nil {
		return nil, badRequest("messages", "%v", err)
	}
	n := len(p.IDs)
	if n >= m.ctxLen {
		return nil, badRequest("messages", "the prompt has %d tokens; the context holds %d (prompt and generated tokens)", n, m.ctxLen)
	}
	max := min(s.cfg.MaxTokens, m.ctxLen-n)
	if g.maxTokens > 0 {
		max = min(max, g.maxTokens)
	}
	ctx, cancel := s.jobContext(r)
	j := &job{ctx: ctx, ids: p.IDs, embeds: p.Embeds, maxTokens: max, sampling: g.sampling,
		presence: g.presence, frequency: g.frequency, stops: g.stops, logprobs: g.logprobs, ignoreEOS: g.ignoreEOS}
	if err := m.sched.submit(j); err != nil {
		cancel()
		return nil, errStatus(err)
	}
	return &started{job: j, client: r.Context(), model: m, cancel: cancel, id: newID(), at: time.Now()}, nil
}

// next returns the job's next event, or the context's error when the
// client went away.
func (st *started) next() (event, bool) {
	select {
	case ev := <-st.job.events:
		return ev, true
	case <-st.client.Done():
		// the client left: the scheduler ends the job within a step
		// (its events are buffered, nobody needs to read them)
		return event{done: true, err: st.client.Err()}, false
	}
}

// collect reads events until the end, for a non-streamed response.
func (st *started) collect() (text string, lps []*tokenLogprob, end event) {
	var b strings.Builder
	for {
		ev, _ := st.next()
		if ev.done {
			return b.String(), lps, ev
		}
		b.WriteString(ev.text)
		if ev.logprob != nil {
			lps = append(lps, ev.logprob)
		}
	}
}

// decodeImage reads a data: URI (base64), refusing remote URLs and files.
func (s *Server) decodeImage(uri string) ([]byte, *apiError) {
	rest, ok := strings.CutPrefix(uri, "data:")
	if !ok {
		if strings.Contains(uri, "://") {
			return nil, badRequest("image_url", "image URLs are not fetched: send the image inline as a data: URI (data:image/png;base64,...)")
		}
		rest = ";base64," + uri // Ollama sends bare base64
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return nil, badRequest("image_url", "an image data URI must be base64 (data:image/png;base64,...)")
	}
	if base64.StdEncoding.DecodedLen(len(data)) > s.cfg.MaxImageBytes+3 {
		return nil, badRequest("image_url", "an image is larger than %d bytes", s.cfg.MaxImageBytes)
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, badRequest("image_url", "image data: %v", err)
	}
	return b, nil
}

// finishReason maps an end event to OpenAI's finish_reason.
func finishReason(ev event) string {
	if ev.finish != "" {
		return ev.finish
	}
	return finishLength
}

// safeFloat turns NaN and infinities into values JSON can carry.
func safeFloat(v float32) float64 {
	switch {
	case math.IsNaN(float64(v)):
		return 0
	case math.IsInf(float64(v), -1):
		return -9999
	}
	return float64(v)
}

func newID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Sprintf("%x", time.Now().UnixNano())
	}
	return fmt.Sprintf("%x", b)
}
