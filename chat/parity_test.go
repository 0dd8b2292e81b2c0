package chat

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/testutil"
)

func readTestdata(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "chat", "testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureMessage is a message as the reference fixtures store it.
type fixtureMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// toMessages converts fixture messages to Messages (string content, or
// explicit parts).
func toMessages(t *testing.T, raw []fixtureMessage) []Message {
	t.Helper()
	msgs := make([]Message, len(raw))
	for i, m := range raw {
		msgs[i].Role = m.Role
		if err := json.Unmarshal(m.Content, &msgs[i].Content); err == nil {
			continue
		}
		var parts []struct{ Type, Text string }
		if err := json.Unmarshal(m.Content, &parts); err != nil {
			t.Fatalf("message %d: content: %v", i, err)
		}
		msgs[i].Parts = []Part{}
		for _, p := range parts {
			msgs[i].Parts = append(msgs[i].Parts, Part{Type: p.Type, Text: p.Text})
		}
	}
	return msgs
}

// readConfig returns a model's tokenizer_config.json, kept gzipped when large.
func readConfig(t testing.TB, model string) []byte {
	t.Helper()
	dir := filepath.Join(testutil.RepoRoot(t), "chat", "testdata", model)
	if b, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		return b
	}
	f, err := os.Open(filepath.Join(dir, "tokenizer_config.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsCase is one conversation of testdata/chat_templates.json.
type jsCase struct {
	ID                   string                     `json:"id"`
	AddGenerationPrompt  bool                       `json:"add_generation_prompt"`
	Messages             json.RawMessage            `json:"messages"`
	Tools                json.RawMessage            `json:"tools"`
	TemplateKwargs       map[string]json.RawMessage `json:"template_kwargs"`
	Rendered             string                     `json:"rendered"`
	RenderedViaProcessor *string                    `json:"rendered_via_processor"`
	Error                string                     `json:"error"`
}

// options returns the render options of c: the template kwargs (e.g.
// Qwen3's enable_thinking) and tools go to Extra, as transformers passes
// them to the template.
func (c jsCase) options(bos, eos string) Options {
	opts := Options{AddGenerationPrompt: c.AddGenerationPrompt, BOSToken: bos, EOSToken: eos}
	if len(c.Tools) > 0 || len(c.TemplateKwargs) > 0 {
		opts.Extra = map[string]any{}
		for k, v := range c.TemplateKwargs {
			opts.Extra[k] = v
		}
		if len(c.Tools) > 0 {
			opts.Extra["tools"] = c.Tools
		}
	}
	return opts
}

// TestParityTransformersJS renders every conversation of
// testdata/chat_templates.json with the model's genuine template and
// compares byte for byte with transformers' output (Python transformers
// renders the same bytes). Conversations are rendered both from Messages
// (when they have only roles and contents) and from their JSON.
func TestParityTransformersJS(t *testing.T) {
	var fx struct {
		Models          map[string][]jsCase `json:"models"`
		RenderingErrors map[string][]jsCase `json:"rendering_errors"`
	}
	if err := json.Unmarshal(readTestdata(t, "chat_templates.json"), &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Models) != 5 {
		t.Fatalf("fixture has %d models, want 5", len(fx.Models))
	}
	n := 0
	for model, cases := range fx.Models {
		tc := readConfig(t, model)
		tokSrc, bos, eos, err := FromConfigs(tc, nil)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		var ctJSON []byte
		if b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "chat", "testdata", model, "chat_template.json")); err == nil {
			ctJSON = b
		}
		procSrc, _, _, err := FromConfigs(tc, ctJSON)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		tokTmpl, err := Parse(tokSrc)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		procTmpl, err := Parse(procSrc)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		for _, c := range cases {
			t.Run(model+"/"+c.ID, func(t *testing.T) {
				opts := c.options(bos, eos)
				got, err := tokTmpl.RenderJSON(c.Messages, opts)
				if err != nil {
					t.Fatal(err)
				}
				if got != c.Rendered {
					t.Errorf("tokenizer template (JSON messages):\n got %q\nwant %q", got, c.Rendered)
				}
				var raw []fixtureMessage
				if err := json.Unmarshal(c.Messages, &raw); err != nil {
					t.Fatal(err)
				}
				if !plainMessages(t, c.Messages) {
					return
				}
				msgs := toMessages(t, raw)
				if got, err = tokTmpl.Render(msgs, opts); err != nil {
					t.Fatal(err)
				}
				if got != c.Rendered {
					t.Errorf("tokenizer template:\n got %q\nwant %q", got, c.Rendered)
				}
				if c.RenderedViaProcessor != nil {
					got, err := procTmpl.Render(msgs, opts)
					if err != nil {
						t.Fatal(err)
					}
					if got != *c.RenderedViaProcessor {
						t.Errorf("processor template:\n got %q\nwant %q", got, *c.RenderedViaProcessor)
					}
				}
			})
			n++
		}
	}
	if n != 25 {
		t.Errorf("ran %d cases, want 25", n)
	}
	n = 0
	for model, cases := range fx.RenderingErrors {
		src, bos, eos, err := FromConfigs(readConfig(t, model), nil)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			_, err := tmpl.RenderJSON(c.Messages, c.options(bos, eos))
			var raised *RaisedError
			if !errors.As(err, &raised) || raised.Message != c.Error {
				t.Errorf("%s/%s: error %v, want raised %q", model, c.ID, err, c.Error)
			}
			n++
		}
	}
	if n != 1 {
		t.Errorf("ran %d error cases, want 1", n)
	}
}

// plainMessages reports whether every message has only "role" and
// "content" keys, so that it can be given as a Message.
func plainMessages(t *testing.T, raw json.RawMessage) bool {
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		for k := range m {
			if k != "role" && k != "content" {
				return false
			}
		}
	}
	return true
}

// TestParityTemplateOnly covers testdata/chat_templates_template_only.json
// (Qwen2.5 from its tokenizer_config.json, Llama-3.2 from its .jinja file).
func TestParityTemplateOnly(t *testing.T) {
	var fx struct {
		Templates []struct {
			Name          string                     `json:"name"`
			TemplateFrom  string                     `json:"template_from"`
			Context       map[string]json.RawMessage `json:"context"`
			Conversations []struct {
				ID                  string           `json:"id"`
				AddGenerationPrompt bool             `json:"add_generation_prompt"`
				Messages            []fixtureMessage `json:"messages"`
				Rendered            string           `json:"rendered"`
			} `json:"conversations"`
		} `json:"templates"`
	}
	if err := json.Unmarshal(readTestdata(t, "chat_templates_template_only.json"), &fx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tp := range fx.Templates {
		var src string
		switch filepath.Ext(tp.TemplateFrom) {
		case ".jinja":
			src = string(readTestdata(t, filepath.Base(tp.TemplateFrom)))
		default:
			s, _, _, err := FromConfigs(readTestdata(t, tp.TemplateFrom), nil)
			if err != nil {
				t.Fatal(err)
			}
			src = s
		}
		tmpl, err := Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", tp.Name, err)
		}
		extra := map[string]any{}
		for k, v := range tp.Context {
			extra[k] = v
		}
		for _, c := range tp.Conversations {
			t.Run(tp.Name+"/"+c.ID, func(t *testing.T) {
				got, err := tmpl.Render(toMessages(t, c.Messages), Options{AddGenerationPrompt: c.AddGenerationPrompt, Extra: extra})
				if err != nil {
					t.Fatal(err)
				}
				if got != c.Rendered {
					t.Errorf("\n got %q\nwant %q", got, c.Rendered)
				}
			})
			n++
		}
	}
	if n != 4 {
		t.Errorf("ran %d cases, want 4", n)
	}
}

// TestQwen3EnableThinking passes enable_thinking as a Go bool (as the SDK
// would) to the genuine Qwen3 template: false matches transformers'
// rendering with an empty think block; true and absent add nothing.
func TestQwen3EnableThinking(t *testing.T) {
	var fx struct {
		Models map[string][]jsCase `json:"models"`
	}
	if err := json.Unmarshal(readTestdata(t, "chat_templates.json"), &fx); err != nil {
		t.Fatal(err)
	}
	src, _, eos, err := FromConfigs(readConfig(t, "Qwen3-0.6B"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	var want *jsCase
	for i, c := range fx.Models["Qwen3-0.6B"] {
		if c.ID == "enable_thinking_false" {
			want = &fx.Models["Qwen3-0.6B"][i]
		}
	}
	if want == nil {
		t.Fatal("fixture enable_thinking_false missing")
	}
	var raw []fixtureMessage
	if err := json.Unmarshal(want.Messages, &raw); err != nil {
		t.Fatal(err)
	}
	msgs := toMessages(t, raw)
	const empty = "<|im_start|>assistant\n<think>\n\n</think>\n\n"
	for _, c := range []struct {
		extra map[string]any
		think bool
	}{
		{map[string]any{"enable_thinking": false}, true},
		{map[string]any{"enable_thinking": true}, false},
		{nil, false},
	} {
		got, err := tmpl.Render(msgs, Options{AddGenerationPrompt: true, EOSToken: eos, Extra: c.extra})
		if err != nil {
			t.Fatal(err)
		}
		if c.think && got != want.Rendered {
			t.Errorf("%v:\n got %q\nwant %q", c.extra, got, want.Rendered)
		}
		if strings.HasSuffix(got, empty) != c.think {
			t.Errorf("%v: empty think block present = %v, want %v", c.extra, !c.think, c.think)
		}
		if !c.think && got+"<think>\n\n</think>\n\n" != want.Rendered {
			t.Errorf("%v: rendering differs beyond the think block: %q", c.extra, got)
		}
	}
}
