package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go/chat"
)

// ollamaOptions are the "options" of Ollama requests (the ones used).
type ollamaOptions struct {
	Temperature      *float32 `json:"temperature"`
	TopP             *float32 `json:"top_p"`
	TopK             *int     `json:"top_k"`
	MinP             *float32 `json:"min_p"`
	Seed             *int64   `json:"seed"`
	NumPredict       *int     `json:"num_predict"`
	Stop             stopList `json:"stop"`
	RepeatPenalty    *float32 `json:"repeat_penalty"`
	PresencePenalty  *float32 `json:"presence_penalty"`
	FrequencyPenalty *float32 `json:"frequency_penalty"`
}

// apply maps o onto OpenAI's sampling parameters (Ollama's defaults:
// temperature 0.8, top_k 40, top_p 0.9; num_predict < 0 means no limit).
func (o *ollamaOptions) apply(g *genRequest) *apiError {
	p := samplingParams{Temperature: o.Temperature, TopP: o.TopP, TopK: o.TopK, MinP: o.MinP, Seed: o.Seed,
		Stop: o.Stop, PresencePenalty: o.PresencePenalty, FrequencyPenalty: o.FrequencyPenalty, RepetitionPenalty: o.RepeatPenalty}
	def := func(v **float32, d float32) {
		if *v == nil {
			*v = &d
		}
	}
	def(&p.Temperature, 0.8)
	def(&p.TopP, 0.9)
	if p.TopK == nil {
		k := 40
		p.TopK = &k
	}
	if o.NumPredict != nil && *o.NumPredict > 0 {
		p.MaxTokens = o.NumPredict
	}
	if p.RepetitionPenalty != nil && *p.RepetitionPenalty == 0 {
		p.RepetitionPenalty = nil
	}
	return p.apply(g)
}

type ollamaMessage struct {
	Role    string   `json:"role"`
	Content string   `json:"content"`
	Images  []string `json:"images"`
}

type ollamaChatRequest struct {
	Model    string          `json:"model"`
	Messages []ollamaMessage `json:"messages"`
	Stream   *bool           `json:"stream"`
	Options  ollamaOptions   `json:"options"`
}

type ollamaGenerateRequest struct {
	Model   string        `json:"model"`
	Prompt  string        `json:"prompt"`
	System  string        `json:"system"`
	Raw     bool          `json:"raw"`
	Images  []string      `json:"images"`
	Stream  *bool         `json:"stream"`
	Options ollamaOptions `json:"options"`
}

func (s *Server) ollamaImages(in []string) ([][]byte, *apiError) {
	var out [][]byte
	for _, b64 := range in {
		img, err := s.decodeImage(b64)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

func (s *Server) ollamaChat(w http.ResponseWriter, r *http.Request) int {
	var req ollamaChatRequest
	if err := decodeJSON(r, &req); err != nil {
		return writeError(w, true, err)
	}
	m, aerr := s.lookup(req.Model)
	if aerr != nil {
		return writeError(w, true, aerr)
	}
	g := genRequest{logprobs: -1}
	if aerr = req.Options.apply(&g); aerr != nil {
		return writeError(w, true, aerr)
	}
	if len(req.Messages) == 0 {
		return writeError(w, true, badRequest("messages", "messages must hold at least one message"))
	}
	for i, msg := range req.Messages {
		imgs, aerr := s.ollamaImages(msg.Images)
		if aerr != nil {
			return writeError(w, true, aerr)
		}
		switch msg.Role {
		case "system", "user", "assistant", "tool":
		default:
			return writeError(w, true, badRequest("messages", "messages[%d].role %q: want system, user, assistant or tool", i, msg.Role))
		}
		g.prompt.Messages = append(g.prompt.Messages, chat.Message{Role: msg.Role, Content: msg.Content, Images: len(imgs)})
		g.prompt.Images = append(g.prompt.Images, imgs...)
	}
	if aerr := checkImages(m, len(g.prompt.Images), "images"); aerr != nil {
		return writeError(w, true, aerr)
	}
	return s.ollamaRun(w, r, m, &g, req.Stream == nil || *req.Stream, true)
}

func (s *Server) ollamaGenerate(w http.ResponseWriter, r *http.Request) int {
	var req ollamaGenerateRequest
	if err := decodeJSON(r, &req); err != nil {
		return writeError(w, true, err)
	}
	m, aerr := s.lookup(req.Model)
	if aerr != nil {
		return writeError(w, true, aerr)
	}
	if req.Prompt == "" { // Ollama's "load the model" request
		writeJSON(w, http.StatusOK, map[string]any{"model": m.Name, "created_at": time.Now().UTC(), "response": "", "done": true, "done_reason": "load"})
		return http.StatusOK
	}
	g := genRequest{logprobs: -1}
	if aerr = req.Options.apply(&g); aerr != nil {
		return writeError(w, true, aerr)
	}
	imgs, aerr := s.ollamaImages(req.Images)
	if aerr != nil {
		return writeError(w, true, aerr)
	}
	if aerr := checkImages(m, len(imgs), "images"); aerr != nil {
		return writeError(w, true, aerr)
	}
	g.prompt.Prompt, g.prompt.System, g.prompt.Images = req.Prompt, req.System, imgs
	g.prompt.Chat = !req.Raw && m.Model.Model.HasChatTemplate()
	return s.ollamaRun(w, r, m, &g, req.Stream == nil || *req.Stream, false)
}

// ollamaRun runs g and writes NDJSON lines (stream) or one object.
func (s *Server) ollamaRun(w http.ResponseWriter, r *http.Request, m *served, g *genRequest, stream, chatAPI bool) int {
	st, aerr := s.start(r, m, g)
	if aerr != nil {
		return writeError(w, true, aerr)
	}
	defer st.cancel()
	line := func(text string, done bool) map[string]any {
		o := map[string]any{"model": m.Name, "created_at": time.Now().UTC().Format(time.RFC3339Nano), "done": done}
		if chatAPI {
			o["message"] = map[string]any{"role": "assistant", "content": text}
		} else {
			o["response"] = text
		}
		return o
	}
	final := func(o map[string]any, end event) map[string]any {
		o["done_reason"] = finishReason(end)
		o["total_duration"] = time.Since(st.at).Nanoseconds()
		o["load_duration"] = 0
		o["prompt_eval_count"] = end.prompt
		o["eval_count"] = end.complete
		return o
	}
	if !stream {
		text, _, end := st.collect()
		if end.err != nil {
			return writeError(w, true, errStatus(end.err))
		}
		writeJSON(w, http.StatusOK, final(line(text, true), end))
		return http.StatusOK
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for {
		ev, ok := st.next()
		if !ok {
			return 499
		}
		if ev.done {
			if ev.err != nil {
				e := errStatus(ev.err)
				_ = enc.Encode(map[string]string{"error": e.msg})
				_ = rc.Flush()
				return e.status
			}
			_ = enc.Encode(final(line("", true), ev))
			_ = rc.Flush()
			return http.StatusOK
		}
		if ev.text == "" {
			continue
		}
		if enc.Encode(line(ev.text, false)) != nil || rc.Flush() != nil {
			return 499
		}
	}
}

func (s *Server) details(m *served) map[string]any {
	d := map[string]any{"format": "cellm", "family": "", "parameter_size": "", "quantization_level": ""}
	if f := m.Model.Model.File(); f != nil {
		h := f.Header
		d["family"] = h.ModelType
		if h.SourceModelType != "" {
			d["family"] = h.SourceModelType
		}
		var params int64
		dtypes := map[string]bool{}
		for _, t := range h.Tensors {
			n := int64(1)
			for _, x := range t.Shape {
				n *= int64(x)
			}
			params += n
			dtypes[strings.ToUpper(string(t.DType))] = true
		}
		d["parameter_size"] = fmt.Sprintf("%.0fM", float64(params)/1e6)
		var q []string
		for k := range dtypes {
			q = append(q, k)
		}
		d["quantization_level"] = strings.Join(slices.Sorted(slices.Values(q)), "+")
	}
	return d
}

func (s *Server) ollamaTags(w http.ResponseWriter, r *http.Request) int {
	list := make([]any, 0, len(s.models))
	for _, m := range s.models {
		list = append(list, map[string]any{"name": m.Name, "model": m.Name, "modified_at": m.Modified.UTC(),
			"size": m.Size, "digest": "", "details": s.details(m)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": list})
	return http.StatusOK
}

func (s *Server) ollamaShow(w http.ResponseWriter, r *http.Request) int {
	var req struct {
		Model string `json:"model"`
		Name  string `json:"name"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return writeError(w, true, err)
	}
	if req.Model == "" {
		req.Model = req.Name
	}
	m, aerr := s.lookup(req.Model)
	if aerr != nil {
		return writeError(w, true, aerr)
	}
	caps := []string{"completion"}
	if m.Model.Model.IsVLM() {
		caps = append(caps, "vision")
	}
	info := map[string]any{"general.architecture": s.details(m)["family"], "general.context_length": m.ctxLen}
	writeJSON(w, http.StatusOK, map[string]any{"modelfile": "", "parameters": "", "template": "",
		"details": s.details(m), "model_info": info, "capabilities": caps, "modified_at": m.Modified.UTC()})
	return http.StatusOK
}

func (s *Server) ollamaVersion(w http.ResponseWriter, r *http.Request) int {
	writeJSON(w, http.StatusOK, map[string]string{"version": "0.6.0"})
	return http.StatusOK
}
