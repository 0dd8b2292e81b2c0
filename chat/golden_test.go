package chat

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// knownGaps lists golden cases that differ from Python jinja2 because of the
// engine, with the reason; they are skipped.
var knownGaps = map[string]string{}

// TestGoldenPython compares with testdata/golden_python.json, rendered by
// Python jinja2 configured like transformers (see testdata/gen_golden.py):
// whitespace control, tojson, loops and macros, raise_exception, and the
// genuine Qwen2.5, Qwen3, Gemma 3 and Llama-3.2 templates with tools, tool
// calls, thinking blocks, images and raised errors.
func TestGoldenPython(t *testing.T) {
	var fx struct {
		Now   string `json:"now"`
		Cases []struct {
			Name        string                     `json:"name"`
			Template    string                     `json:"template"`
			TemplateRef string                     `json:"template_ref"`
			Context     map[string]json.RawMessage `json:"context"`
			Rendered    *string                    `json:"rendered"`
			Error       *string                    `json:"error"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(readTestdata(t, "golden_python.json"), &fx); err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse("2006-01-02T15:04:05", fx.Now)
	if err != nil {
		t.Fatal(err)
	}
	qwen, _, _, err := FromConfigs(readTestdata(t, "Qwen2.5-0.5B-Instruct/tokenizer_config.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	qwen3, _, _, err := FromConfigs(readConfig(t, "Qwen3-0.6B"), nil)
	if err != nil {
		t.Fatal(err)
	}
	gemma3, _, _, err := FromConfigs(readConfig(t, "gemma-3-1b-it"), nil)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]string{
		"qwen":   qwen,
		"qwen3":  qwen3,
		"gemma3": gemma3,
		"llama":  string(readTestdata(t, "meta-llama-Llama-3.2-3B-Instruct.jinja")),
	}
	if len(fx.Cases) < 30 {
		t.Fatalf("only %d golden cases", len(fx.Cases))
	}
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if why, ok := knownGaps[c.Name]; ok {
				t.Skip("known gap: " + why)
			}
			src := c.Template
			if c.TemplateRef != "" {
				src = refs[c.TemplateRef]
			}
			tmpl, err := Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{Now: now, Extra: map[string]any{}}
			var msgs json.RawMessage
			for k, v := range c.Context {
				switch k {
				case "messages":
					msgs = v
				case "add_generation_prompt":
					opts.AddGenerationPrompt = string(v) == "true"
				case "bos_token":
					json.Unmarshal(v, &opts.BOSToken)
				case "eos_token":
					json.Unmarshal(v, &opts.EOSToken)
				default:
					opts.Extra[k] = v
				}
			}
			got, err := tmpl.RenderJSON(msgs, opts)
			if c.Error != nil {
				var re *RaisedError
				if !errors.As(err, &re) || re.Message != *c.Error {
					t.Fatalf("got (%q, %v), want raised error %q", got, err, *c.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != *c.Rendered {
				t.Errorf("\n got %q\nwant %q", got, *c.Rendered)
				if i := firstDiff(got, *c.Rendered); i >= 0 {
					t.Logf("first difference at byte %d: got %q want %q", i, snippet(got, i), snippet(*c.Rendered, i))
				}
			}
		})
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func snippet(s string, i int) string {
	return s[max(0, i-20):min(len(s), i+40)]
}
