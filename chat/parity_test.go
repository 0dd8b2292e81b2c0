package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
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

// TestParityTransformersJS renders every conversation of
// testdata/chat_templates.json with the model's genuine template and
// compares byte for byte with transformers' output.
func TestParityTransformersJS(t *testing.T) {
	var fx struct {
		Models map[string][]struct {
			ID                   string           `json:"id"`
			AddGenerationPrompt  bool             `json:"add_generation_prompt"`
			Messages             []fixtureMessage `json:"messages"`
			Rendered             string           `json:"rendered"`
			RenderedViaProcessor *string          `json:"rendered_via_processor"`
		} `json:"models"`
	}
	if err := json.Unmarshal(readTestdata(t, "chat_templates.json"), &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Models) != 3 {
		t.Fatalf("fixture has %d models, want 3", len(fx.Models))
	}
	n := 0
	for model, cases := range fx.Models {
		tc := readTestdata(t, model+"/tokenizer_config.json")
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
				opts := Options{AddGenerationPrompt: c.AddGenerationPrompt, BOSToken: bos, EOSToken: eos}
				msgs := toMessages(t, c.Messages)
				got, err := tokTmpl.Render(msgs, opts)
				if err != nil {
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
	if n != 12 {
		t.Errorf("ran %d cases, want 12", n)
	}
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
