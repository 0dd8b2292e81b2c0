package cellm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/chat"
)

// qwen3Model is the shipped model with the genuine Qwen3 chat template in
// place of its own (the template is what the variables reach).
func qwen3Model(t *testing.T) *Model {
	t.Helper()
	m := micro(t)
	cfg, err := os.ReadFile(filepath.Join("chat", "testdata", "Qwen3-0.6B", "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	src, _, eos, err := chat.FromConfigs(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.template, err = chat.Parse(src); err != nil {
		t.Fatal(err)
	}
	m.bos, m.eos = "", eos
	return m
}

// TestTemplateVars: Request.TemplateVars reach the chat template (Qwen3's
// enable_thinking, as a Go bool or raw JSON), change the prompt ids, and are
// refused for a prompt that is not a chat.
func TestTemplateVars(t *testing.T) {
	m := qwen3Model(t)
	msgs := []chat.Message{{Role: "user", Content: "What is a list?"}}
	const empty = "<|im_start|>assistant\n<think>\n\n</think>\n\n"
	for _, c := range []struct {
		name      string
		vars      map[string]any
		wantEmpty bool
	}{
		{"default", nil, false},
		{"thinking on", map[string]any{"enable_thinking": true}, false},
		{"thinking off", map[string]any{"enable_thinking": false}, true},
		{"raw json off", map[string]any{"enable_thinking": json.RawMessage("false")}, true},
	} {
		req := Request{Messages: msgs, TemplateVars: c.vars}
		text, templated, err := m.render(&req, 0)
		if err != nil || !templated {
			t.Fatalf("%s: templated %v, err %v", c.name, templated, err)
		}
		if !strings.HasSuffix(text, "<|im_start|>assistant\n") && !c.wantEmpty {
			t.Errorf("%s: prompt ends %q", c.name, text[max(0, len(text)-60):])
		}
		if got := strings.HasSuffix(text, empty); got != c.wantEmpty {
			t.Errorf("%s: empty think block %v, want %v in %q", c.name, got, c.wantEmpty, text)
		}
		ids, err := m.Tokenize(req)
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.Tokenizer().Encode(text, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != len(want) {
			t.Errorf("%s: %d prompt ids, the rendered text encodes to %d", c.name, len(ids), len(want))
		}
	}
	if _, err := m.Tokenize(Request{Prompt: "hi", TemplateVars: map[string]any{"enable_thinking": false}}); err == nil ||
		!strings.Contains(err.Error(), "not a chat") {
		t.Errorf("template variables on a plain prompt: err %v", err)
	}
	// chatml has no template: the variables are ignored, not an error.
	if _, err := m.Tokenize(Request{Messages: msgs, ChatFormat: "chatml", TemplateVars: map[string]any{"enable_thinking": false}}); err != nil {
		t.Errorf("chatml with template variables: %v", err)
	}
}

// TestContextFullSentinel: a prompt that fills the context limit fails with
// an error wrapping ErrContextFull that gives both numbers.
func TestContextFullSentinel(t *testing.T) {
	m := micro(t)
	_, err := m.Generate(t.Context(), Request{Prompt: strings.Repeat("a class is ", 20), MaxContext: 8}, nil)
	if !errors.Is(err, ErrContextFull) || !strings.Contains(err.Error(), "context limit of 8") {
		t.Errorf("err %v", err)
	}
	if got := m.ContextLength(); got != 512 {
		t.Errorf("ContextLength %d, want the fixture's max_position_embeddings 512", got)
	}
}
