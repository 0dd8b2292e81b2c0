package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/cellm-ai/cellm-go/chat"
)

// chatRequest is the body of POST /v1/chat/completions (the fields used;
// others are accepted and ignored).
type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
	samplingParams
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Logprobs    bool `json:"logprobs"`
	TopLogprobs *int `json:"top_logprobs"`
}

// chatMessage is one message; content is a string or a list of parts.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type contentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

// messages converts OpenAI messages to chat messages and images.
func (s *Server) messages(in []chatMessage) ([]chat.Message, [][]byte, *apiError) {
	if len(in) == 0 {
		return nil, nil, badRequest("messages", "messages must hold at least one message")
	}
	var out []chat.Message
	var images [][]byte
	for i, m := range in {
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "user", "assistant", "developer", "tool":
		default:
			return nil, nil, badRequest(param+".role", "%s.role %q: want system, user, assistant, developer or tool", param, m.Role)
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		msg := chat.Message{Role: role}
		c := strings.TrimSpace(string(m.Content))
		switch {
		case c == "" || c == "null":
		case c[0] == '"':
			if err := json.Unmarshal(m.Content, &msg.Content); err != nil {
				return nil, nil, badRequest(param+".content", "%s.content: %v", param, err)
			}
		case c[0] == '[':
			var parts []contentPart
			if err := json.Unmarshal(m.Content, &parts); err != nil {
				return nil, nil, badRequest(param+".content", "%s.content: want a string or a list of {type, text | image_url} parts", param)
			}
			var text strings.Builder
			for k, p := range parts {
				switch p.Type {
				case "text":
					msg.Parts = append(msg.Parts, chat.Part{Type: "text", Text: p.Text})
					text.WriteString(p.Text)
				case "image_url":
					if p.ImageURL == nil {
						return nil, nil, badRequest(param+".content", "%s.content[%d]: image_url part without image_url.url", param, k)
					}
					img, err := s.decodeImage(p.ImageURL.URL)
					if err != nil {
						return nil, nil, err
					}
					images = append(images, img)
					msg.Parts = append(msg.Parts, chat.Part{Type: "image"})
					msg.Images++
				default:
					return nil, nil, badRequest(param+".content", "%s.content[%d].type %q: want text or image_url", param, k, p.Type)
				}
			}
			msg.Content = text.String()
			if msg.Images == 0 {
				msg.Parts = nil // plain text: templates take string content
			}
		default:
			return nil, nil, badRequest(param+".content", "%s.content: want a string or a list of parts", param)
		}
		out = append(out, msg)
	}
	return out, images, nil
}

// parseChat reads and checks a chat completion request.
func (s *Server) parseChat(r *http.Request) (*chatRequest, *genRequest, *apiError) {
	var req chatRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, nil, err
	}
	g := &genRequest{logprobs: -1}
	if aerr := req.samplingParams.apply(g); aerr != nil {
		return nil, nil, aerr
	}
	if req.TopLogprobs != nil && (*req.TopLogprobs < 0 || *req.TopLogprobs > 20) {
		return nil, nil, badRequest("top_logprobs", "top_logprobs %d: want 0 to 20", *req.TopLogprobs)
	}
	if req.Logprobs {
		g.logprobs = 0
		if req.TopLogprobs != nil {
			g.logprobs = *req.TopLogprobs
		}
	} else if req.TopLogprobs != nil {
		return nil, nil, badRequest("top_logprobs", "top_logprobs needs logprobs: true")
	}
	msgs, images, aerr := s.messages(req.Messages)
	if aerr != nil {
		return nil, nil, aerr
	}
	g.prompt.Messages, g.prompt.Images = msgs, images
	return &req, g, nil
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) int {
	req, g, aerr := s.parseChat(r)
	if aerr != nil {
		return writeError(w, false, aerr)
	}
	m, aerr := s.lookup(req.Model)
	if aerr != nil {
		return writeError(w, false, aerr)
	}
	if aerr := checkImages(m, len(g.prompt.Images), "messages"); aerr != nil {
		return writeError(w, false, aerr)
	}
	st, aerr := s.start(r, m, g)
	if aerr != nil {
		return writeError(w, false, aerr)
	}
	defer st.cancel()
	usage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	if req.Stream {
		return s.streamOpenAI(w, st, "chat.completion.chunk", usage)
	}
	text, lps, end := st.collect()
	if end.err != nil {
		return writeError(w, false, errStatus(end.err))
	}
	choice := map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text},
		"logprobs": nil, "finish_reason": finishReason(end)}
	if g.logprobs >= 0 {
		choice["logprobs"] = map[string]any{"content": s.logprobContent(m, lps)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": "chatcmpl-" + st.id, "object": "chat.completion",
		"created": st.at.Unix(), "model": m.Name, "system_fingerprint": nil,
		"choices": []any{choice}, "usage": usageOf(end)})
	return http.StatusOK
}

func usageOf(end event) map[string]any {
	return map[string]any{"prompt_tokens": end.prompt, "completion_tokens": end.complete,
		"total_tokens":          end.prompt + end.complete,
		"prompt_tokens_details": map[string]int{"cached_tokens": end.reused}}
}

// logprobContent is OpenAI's logprobs.content list.
func (s *Server) logprobContent(m *served, lps []*tokenLogprob) []map[string]any {
	out := make([]map[string]any, 0, len(lps))
	for _, lp := range lps {
		e := s.tokenEntry(m, lp.id, lp.logprob)
		top := make([]map[string]any, 0, len(lp.top))
		for _, a := range lp.top {
			top = append(top, s.tokenEntry(m, a.id, a.logprob))
		}
		e["top_logprobs"] = top
		out = append(out, e)
	}
	return out
}

func (s *Server) tokenEntry(m *served, id int, lp float32) map[string]any {
	t := tokenText(m, id)
	b := make([]int, len(t))
	for i := range len(t) {
		b[i] = int(t[i])
	}
	return map[string]any{"token": t, "logprob": safeFloat(lp), "bytes": b}
}

// tokenText is token id's text, empty for a model served without a
// tokenizer (token-id prompts only).
func tokenText(m *served, id int) string {
	tok := m.Model.Model.Tokenizer()
	if tok == nil {
		return ""
	}
	t, _ := tok.Decode([]int{id}, false)
	return t
}

// completionLogprobs is the legacy completions' logprobs object for lps:
// the tokens, their log probabilities and each token's top alternatives.
func completionLogprobs(m *served, lps []*tokenLogprob) map[string]any {
	tokens := make([]string, 0, len(lps))
	lp := make([]float64, 0, len(lps))
	top := make([]map[string]float64, 0, len(lps))
	for _, l := range lps {
		tokens = append(tokens, tokenText(m, l.id))
		lp = append(lp, safeFloat(l.logprob))
		alt := map[string]float64{}
		for _, a := range l.top {
			alt[tokenText(m, a.id)] = safeFloat(a.logprob)
		}
		top = append(top, alt)
	}
	return map[string]any{"tokens": tokens, "token_logprobs": lp, "top_logprobs": top}
}

// streamOpenAI writes the job's tokens as server-sent events ending in
// "data: [DONE]".
func (s *Server) streamOpenAI(w http.ResponseWriter, st *started, object string, includeUsage bool) int {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	chatAPI := object == "chat.completion.chunk"
	prefix := "cmpl-"
	if chatAPI {
		prefix = "chatcmpl-"
	}
	send := func(choices []any, usage any) bool {
		body := map[string]any{"id": prefix + st.id, "object": object, "created": st.at.Unix(),
			"model": st.model.Name, "system_fingerprint": nil, "choices": choices}
		if includeUsage {
			body["usage"] = usage
		}
		b, _ := json.Marshal(body)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	choice := func(text string, lp *tokenLogprob, finish any) map[string]any {
		c := map[string]any{"index": 0, "finish_reason": finish, "logprobs": nil}
		if chatAPI {
			c["delta"] = map[string]any{"content": text}
			if lp != nil {
				c["logprobs"] = map[string]any{"content": s.logprobContent(st.model, []*tokenLogprob{lp})}
			}
		} else {
			c["text"] = text
			if lp != nil {
				c["logprobs"] = completionLogprobs(st.model, []*tokenLogprob{lp})
			}
		}
		return c
	}
	if chatAPI {
		if !send([]any{map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""},
			"logprobs": nil, "finish_reason": nil}}, nil) {
			return 499
		}
	}
	for {
		ev, ok := st.next()
		if !ok {
			return 499
		}
		if ev.done {
			if ev.err != nil {
				e := errStatus(ev.err)
				b, _ := json.Marshal(e.body())
				fmt.Fprintf(w, "data: %s\n\n", b)
				_ = rc.Flush()
				return e.status
			}
			c := choice("", nil, finishReason(ev))
			if chatAPI {
				c["delta"] = map[string]any{}
			}
			send([]any{c}, nil)
			if includeUsage {
				send([]any{}, usageOf(ev))
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
			_ = rc.Flush()
			return http.StatusOK
		}
		if ev.text == "" && ev.logprob == nil {
			continue
		}
		if !send([]any{choice(ev.text, ev.logprob, nil)}, nil) {
			return 499
		}
	}
}

// completionRequest is the body of POST /v1/completions.
type completionRequest struct {
	Model  string          `json:"model"`
	Prompt json.RawMessage `json:"prompt"`
	samplingParams
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Logprobs *int `json:"logprobs"`
	Echo     bool `json:"echo"`
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) int {
	var req completionRequest
	if err := decodeJSON(r, &req); err != nil {
		return writeError(w, false, err)
	}
	m, aerr := s.lookup(req.Model)
	if aerr != nil {
		return writeError(w, false, aerr)
	}
	g := genRequest{logprobs: -1}
	if aerr = req.samplingParams.apply(&g); aerr != nil {
		return writeError(w, false, aerr)
	}
	if req.Echo {
		return writeError(w, false, badRequest("echo", "echo is not supported"))
	}
	if req.Logprobs != nil {
		if *req.Logprobs < 0 || *req.Logprobs > 5 {
			return writeError(w, false, badRequest("logprobs", "logprobs %d: want 0 to 5", *req.Logprobs))
		}
		g.logprobs = *req.Logprobs
	}
	if aerr := completionPrompt(req.Prompt, &g); aerr != nil {
		return writeError(w, false, aerr)
	}
	st, aerr := s.start(r, m, &g)
	if aerr != nil {
		return writeError(w, false, aerr)
	}
	defer st.cancel()
	if req.Stream {
		return s.streamOpenAI(w, st, "text_completion", req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
	}
	text, lps, end := st.collect()
	if end.err != nil {
		return writeError(w, false, errStatus(end.err))
	}
	choice := map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": finishReason(end)}
	if g.logprobs >= 0 {
		choice["logprobs"] = completionLogprobs(m, lps)
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": "cmpl-" + st.id, "object": "text_completion",
		"created": st.at.Unix(), "model": m.Name, "system_fingerprint": nil,
		"choices": []any{choice}, "usage": usageOf(end)})
	return http.StatusOK
}

// completionPrompt reads a prompt given as a string, a one-string array, or
// token ids (an array of integers, or an array of one such array).
func completionPrompt(raw json.RawMessage, g *genRequest) *apiError {
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		g.prompt.Prompt = text
	} else {
		var texts []string
		var ids []int
		var idLists [][]int
		switch {
		case json.Unmarshal(raw, &texts) == nil && len(texts) == 1:
			g.prompt.Prompt = texts[0]
		case json.Unmarshal(raw, &ids) == nil && len(ids) > 0:
			g.prompt.InputIDs = ids
		case json.Unmarshal(raw, &idLists) == nil && len(idLists) == 1 && len(idLists[0]) > 0:
			g.prompt.InputIDs = idLists[0]
		default:
			return badRequest("prompt", "prompt: want a string or an array of token ids (one prompt per request)")
		}
	}
	if g.prompt.Prompt == "" && g.prompt.InputIDs == nil {
		return badRequest("prompt", "the prompt is empty")
	}
	return nil
}

func (s *Server) modelObject(m *served) map[string]any {
	return map[string]any{"id": m.Name, "object": "model", "created": m.Modified.Unix(), "owned_by": "cellm"}
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) int {
	data := make([]any, 0, len(s.models))
	for _, m := range s.models {
		data = append(data, s.modelObject(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	return http.StatusOK
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) int {
	m, aerr := s.lookup(r.PathValue("id"))
	if aerr != nil || r.PathValue("id") == "" {
		if aerr == nil {
			aerr = badRequest("model", "no model id")
		}
		return writeError(w, false, aerr)
	}
	writeJSON(w, http.StatusOK, s.modelObject(m))
	return http.StatusOK
}
