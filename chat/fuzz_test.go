package chat

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// FuzzParseRender parses and renders arbitrary template source. Renders are
// bounded by MaxSteps and Timeout, so a hostile template must end with an
// error, never hang or panic.
func FuzzParseRender(f *testing.F) {
	seeds := []string{
		"",
		"{{ messages[0].content }}",
		"{% for m in messages %}{{ m.role | capitalize }}: {{ m.content | trim }}\n{% endfor %}",
		"{%- if x -%} a {%- else %} b {% endif +%}\n  {#- c -#} {% raw %}{{ r }}{% endraw %}",
		"{{ tools | tojson(indent=2) }}{{ 1.5 | tojson }}{{ {'a': [1, none, true]} | tojson(separators=[',', ':']) }}",
		"{% macro f(n) %}{% if n %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}",
		"{% set ns = namespace(x=0) %}{% for i in range(5) %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}",
		"{{ raise_exception('x') }}{{ strftime_now('%d %b %Y') }}",
		"{{ 'a' * 3 }}{{ messages[::-1] | map(attribute='role') | join(',') }}",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	root := testutil.RepoRoot(f)
	for _, rel := range []string{"meta-llama-Llama-3.2-3B-Instruct.jinja"} {
		if b, err := os.ReadFile(filepath.Join(root, "chat", "testdata", rel)); err == nil {
			f.Add(string(b))
		}
	}
	for _, model := range []string{"Qwen2.5-0.5B-Instruct", "Qwen3-0.6B", "SmolVLM-256M-Instruct", "TinyLlama-1.1B-Chat-v1.0", "gemma-3-1b-it"} {
		if src, _, _, err := FromConfigs(readConfig(f, model), nil); err == nil {
			f.Add(src)
		}
	}
	msgs := []Message{
		{Role: "system", Content: "s"},
		{Role: "user", Content: "u", Images: 1},
		{Role: "assistant", Content: "a"},
	}
	opts := Options{
		AddGenerationPrompt: true,
		BOSToken:            "<s>",
		EOSToken:            "</s>",
		MaxSteps:            20000,
		Timeout:             200 * time.Millisecond,
		Now:                 time.Date(2024, 7, 26, 0, 0, 0, 0, time.UTC),
		Extra: map[string]any{"tools": []any{map[string]any{"name": "f", "parameters": map[string]any{"x": 1}}},
			"enable_thinking": false},
	}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Parse(src)
		if err != nil {
			return
		}
		_, _ = tmpl.Render(msgs, opts)
	})
}
