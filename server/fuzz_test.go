package server

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// FuzzParseChat feeds arbitrary bodies to the chat request parser: it
// returns a request or an error with a 4xx status, never panics.
func FuzzParseChat(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"stop":["a","b"],"max_tokens":3}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`,
		`{"messages":[{"role":"system","content":null},{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":2,"n":1}`,
		`{"messages":[],"stop":"x","seed":-1,"stream_options":{"include_usage":true}}`,
		`{"temperature":"hot"}`, `[]`, `{"messages":[{"role":"user","content":5}]}`, ``,
	} {
		f.Add([]byte(seed))
	}
	s := &Server{}
	s.cfg.defaults()
	s.cfg.MaxBodyBytes = 1 << 20
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body))
		req, g, aerr := s.parseChat(r)
		if aerr != nil {
			if aerr.status < 400 || aerr.status > 499 || aerr.msg == "" {
				t.Fatalf("error %+v", aerr)
			}
			if _, err := json.Marshal(aerr.body()); err != nil {
				t.Fatal(err)
			}
			return
		}
		if req == nil || g == nil || len(g.prompt.Messages) == 0 || g.logprobs > 20 || len(g.stops) > 4 {
			t.Fatalf("accepted %q as %+v", body, g)
		}
		if err := g.sampling.Validate(); err != nil {
			t.Fatalf("accepted invalid sampling %+v: %v", g.sampling, err)
		}
	})
}

// FuzzCompletionPrompt checks the prompt forms of /v1/completions.
func FuzzCompletionPrompt(f *testing.F) {
	for _, seed := range []string{`"text"`, `["text"]`, `[1,2,3]`, `[[1,2]]`, `[]`, `null`, `{"a":1}`, `[-1]`, `[1.5]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var g genRequest
		if aerr := completionPrompt(raw, &g); aerr != nil {
			if aerr.status != 400 {
				t.Fatalf("status %d", aerr.status)
			}
			return
		}
		if g.prompt.Prompt == "" && len(g.prompt.InputIDs) == 0 {
			t.Fatalf("accepted %q with no prompt", raw)
		}
	})
}
