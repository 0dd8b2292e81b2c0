package chat

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestPyFloatRepr(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{-2.5, "-2.5"},
		{0.1, "0.1"},
		{1e16, "1e+16"},
		{1e15, "1000000000000000.0"},
		{1234567890123456, "1234567890123456.0"},
		{123456789, "123456789.0"},
		{1e-4, "0.0001"},
		{1e-5, "1e-05"},
		{2.5e-7, "2.5e-07"},
		{1.5e300, "1.5e+300"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{5e-324, "5e-324"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	}
	for _, tc := range tests {
		if got := pyFloatRepr(tc.in); got != tc.want {
			t.Errorf("pyFloatRepr(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWriteJSONString(t *testing.T) {
	tests := []struct {
		in          string
		ensureASCII bool
		want        string
	}{
		{"plain", false, `"plain"`},
		{"q\"b\\", false, `"q\"b\\"`},
		{"\n\r\t\b\f\x00\x1f\x7f", false, `"\n\r\t\b\f\u0000\u001f` + "\x7f" + `"`},
		{"é日🤗\u2028<&>", false, `"é日🤗` + "\u2028" + `<&>"`},
		{"é日🤗\x7f", true, `"\u00e9\u65e5\ud83e\udd17\u007f"`},
	}
	for _, tc := range tests {
		var b strings.Builder
		writeJSONString(&b, tc.in, tc.ensureASCII)
		if got := b.String(); got != tc.want {
			t.Errorf("writeJSONString(%q, %v) = %q, want %q", tc.in, tc.ensureASCII, got, tc.want)
		}
	}
}

func TestToJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"undefined", "{{ nothing | tojson }}", "undefined"},
		{"bad kwarg", "{{ 1 | tojson(foo=1) }}", `unexpected keyword argument "foo"`},
		{"bad separators", "{{ 1 | tojson(separators=1) }}", "separators"},
		{"bad indent", "{{ 1 | tojson(indent=[1]) }}", "indent"},
		{"huge indent", "{{ 1 | tojson(indent=100000) }}", "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mustParse(t, tc.src).Render(nil, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestStrftime(t *testing.T) {
	tm := time.Date(2024, 7, 6, 15, 4, 5, 123456000, time.UTC)
	tests := []struct{ format, want string }{
		{"%d %b %Y", "06 Jul 2024"},
		{"%Y-%m-%d %H:%M:%S", "2024-07-06 15:04:05"},
		{"%A %B %e %I%p %j %y %f %%", "Saturday July  6 03PM 188 24 123456 %"},
		{"%a %w %u %Z %z", "Sat 6 6 UTC +0000"},
		{"%F %T %D %R", "2024-07-06 15:04:05 07/06/24 15:04"},
		{"%Q tail%", "%Q tail%"},
	}
	for _, tc := range tests {
		if got := strftime(tm, tc.format); got != tc.want {
			t.Errorf("strftime(%q) = %q, want %q", tc.format, got, tc.want)
		}
	}
}

func mustParse(t testing.TB, src string) *Template {
	t.Helper()
	tmpl, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return tmpl
}

func TestFromConfigs(t *testing.T) {
	tests := []struct {
		name          string
		tok, ct       string
		src, bos, eos string
		err           string
	}{
		{name: "string", tok: `{"chat_template":"T","bos_token":"<s>","eos_token":"</s>"}`, src: "T", bos: "<s>", eos: "</s>"},
		{name: "added token objects", tok: `{"chat_template":"T","bos_token":{"content":"<s>","__type":"AddedToken"},"eos_token":null}`, src: "T", bos: "<s>"},
		{name: "named list", tok: `{"chat_template":[{"name":"tool_use","template":"X"},{"name":"default","template":"D"}]}`, src: "D"},
		{name: "named list without default", tok: `{"chat_template":[{"name":"tool_use","template":"X"},{"name":"rag","template":"R"}]}`, err: `no template named "default" among [tool_use, rag]`},
		{name: "chat_template.json wins", tok: `{"chat_template":"T","eos_token":"E"}`, ct: `{"chat_template":"P"}`, src: "P", eos: "E"},
		{name: "chat_template.json only", ct: `{"chat_template":"P"}`, src: "P"},
		{name: "empty chat_template.json keeps tokenizer's", tok: `{"chat_template":"T"}`, ct: `{}`, src: "T"},
		{name: "no template", tok: `{"eos_token":"E"}`, eos: "E", err: "no chat_template"},
		{name: "bad tokenizer_config", tok: `{"chat_template":`, err: "tokenizer_config.json"},
		{name: "bad chat_template type", tok: `{"chat_template":5}`, err: "chat_template: neither"},
		{name: "bad bos", tok: `{"chat_template":"T","bos_token":7}`, err: "bos_token"},
		{name: "bad chat_template.json", ct: `[`, err: "chat_template.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tok, ct []byte
			if tc.tok != "" {
				tok = []byte(tc.tok)
			}
			if tc.ct != "" {
				ct = []byte(tc.ct)
			}
			src, bos, eos, err := FromConfigs(tok, ct)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if src != tc.src || bos != tc.bos || eos != tc.eos {
				t.Errorf("got (%q, %q, %q), want (%q, %q, %q)", src, bos, eos, tc.src, tc.bos, tc.eos)
			}
		})
	}
}

func TestFallbackFormats(t *testing.T) {
	msgs := []Message{
		{Role: "system", Content: "S"},
		{Role: "user", Content: "Look", Images: 2},
		{Role: "assistant", Content: "A"},
	}
	tests := []struct {
		name, got, want string
	}{
		{"chatml", ChatML(msgs, false), "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<image><image>Look<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"},
		{"chatml+gen", ChatML(msgs[:1], true), "<|im_start|>system\nS<|im_end|>\n<|im_start|>assistant\n"},
		{"plain", Plain(msgs), "S\n<image><image>Look\nA\n"},
		{"empty", ChatML(nil, false) + Plain(nil), ""},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// TestSmolVLMMessageForms checks the Images shorthand and ContentParts
// against the renderings of testdata/chat_templates.json.
func TestSmolVLMMessageForms(t *testing.T) {
	tc := readTestdata(t, "SmolVLM-256M-Instruct/tokenizer_config.json")
	ct := readTestdata(t, "SmolVLM-256M-Instruct/chat_template.json")
	src, _, _, err := FromConfigs(tc, ct)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := mustParse(t, src)
	tests := []struct {
		name string
		msgs []Message
		opts Options
		want string
	}{
		{"one image", []Message{{Role: "user", Content: "Describe this image.", Images: 1}}, Options{AddGenerationPrompt: true},
			"<|im_start|>User:<image>Describe this image.<end_of_utterance>\nAssistant:"},
		{"two images", []Message{{Role: "user", Content: "Compare the two images.", Images: 2}}, Options{},
			"<|im_start|>User:<image><image>Compare the two images.<end_of_utterance>\n"},
		{"system text with image user", []Message{{Role: "system", Content: "Answer briefly."}, {Role: "user", Content: "How many animals are there?", Images: 1}},
			Options{AddGenerationPrompt: true, ContentParts: true},
			"<|im_start|>System: Answer briefly.<end_of_utterance>\nUser:<image>How many animals are there?<end_of_utterance>\nAssistant:"},
		{"string content renders no text", []Message{{Role: "user", Content: "Hello!"}}, Options{},
			"<|im_start|>User: <end_of_utterance>\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tmpl.Render(tc.msgs, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRenderVariables(t *testing.T) {
	tests := []struct {
		name string
		src  string
		opts Options
		want string
	}{
		{"bos eos", "{{ bos_token }}|{{ eos_token }}|{{ bos_token is defined }}", Options{BOSToken: "<s>"}, "<s>||True"},
		{"extra overrides", "{{ add_generation_prompt }}", Options{AddGenerationPrompt: true, Extra: map[string]any{"add_generation_prompt": false}}, "False"},
		{"go values", "{{ x | tojson }}", Options{Extra: map[string]any{"x": map[string]any{"b": []int{1, 2}, "a": 1.5, "c": nil, "d": json.Number("7")}}},
			`{"a": 1.5, "b": [1, 2], "c": null, "d": 7}`},
		{"raw json keeps order", "{{ x | tojson }}", Options{Extra: map[string]any{"x": json.RawMessage(`{"z": 1, "a": [true, 2.0, 1e400]}`)}},
			`{"z": 1, "a": [true, 2.0, Infinity]}`},
		{"strftime_now fixed clock", "{{ strftime_now('%d %b %Y') }}", Options{Now: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)}, "02 Jan 2025"},
		{"range", "{{ range(3) | join(',') }} {{ range(5, 0, -2) | join(',') }} {{ range(2, 2) | length }}", Options{}, "0,1,2 5,3,1 0"},
		{"dict sorted kwargs", "{{ dict(b=1, a=2) | tojson }} {{ dict(x, c=3) | tojson }}", Options{Extra: map[string]any{"x": json.RawMessage(`{"z":0}`)}}, `{"a": 2, "b": 1} {"z": 0, "c": 3}`},
		{"message values", "{{ m | tojson }}", Options{Extra: map[string]any{"m": Message{Role: "user", Content: "hi", Images: 1}}},
			`{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}`},
		{"recursive macro within limit", "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}", Options{}, "54321"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustParse(t, tc.src).Render(nil, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		opts  Options
		limit bool   // want errors.Is(err, ErrLimit)
		want  string // substring of the error
	}{
		{name: "infinite macro recursion", src: "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", limit: true, want: "nested deeper"},
		{name: "mutual recursion", src: "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}", limit: true, want: "nested deeper"},
		{name: "step budget", src: "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", opts: Options{MaxSteps: 10000}, limit: true, want: "loop iterations"},
		{name: "timeout", src: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", opts: Options{Timeout: 50 * time.Millisecond, MaxSteps: math.MaxInt}, limit: true, want: "longer than"},
		{name: "huge range", src: "{{ range(100000000000) | length }}", limit: true, want: "range of more than"},
		{name: "range args", src: "{{ range('a') }}", want: "range: expected"},
		{name: "range zero step", src: "{{ range(1, 2, 0) }}", want: "step must not be zero"},
		{name: "raise", src: "{{ raise_exception('bad ' ~ 1) }}", want: "template raised: bad 1"},
		{name: "negative repeat panics in engine", src: "{{ 'a' * -1 }}", want: "engine panic"},
		{name: "reserved extra", src: "x", opts: Options{Extra: map[string]any{"__cellm_t": 1}}, want: "reserved"},
		{name: "unsupported extra", src: "x", opts: Options{Extra: map[string]any{"ch": make(chan int)}}, want: `variable "ch": unsupported value type chan int`},
		{name: "bad raw json extra", src: "x", opts: Options{Extra: map[string]any{"j": json.RawMessage(`{"a":`)}}, want: `variable "j": json`},
		{name: "json trailing data", src: "x", opts: Options{Extra: map[string]any{"j": json.RawMessage(`1 2`)}}, want: "trailing data"},
		{name: "strftime args", src: "{{ strftime_now() }}", want: "strftime_now: expected"},
		{name: "dict args", src: "{{ dict(1) }}", want: "dict: positional"},
		{name: "doubling string", src: "{% set s = 'ab' %}{% for i in range(100) %}{% set s = s ~ s %}{% endfor %}{{ s | length }}", limit: true, want: "a string of"},
		{name: "doubling namespace string", src: "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", limit: true, want: "a string of"},
		{name: "doubling list", src: "{% set l = [1] %}{% for i in range(100) %}{% set l = l + l %}{% endfor %}", limit: true, want: "a list of"},
		{name: "printed in a loop", src: "{% set s = 'x' * 1000 %}{% for i in range(100000) %}{{ s }}{% endfor %}", limit: true, want: "rendered output exceeds"},
		{name: "literal text in a loop", src: "{% for i in range(100000) %}0123456789abcdefghij{% endfor %}", opts: Options{MaxOutput: 1000}, limit: true, want: "exceeds 1000 bytes"},
		{name: "macro output", src: "{% macro m() %}{% for i in range(3000) %}abc{% endfor %}{% endmacro %}{{ m() }}", opts: Options{MaxOutput: 5000}, limit: true, want: "rendered output exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := mustParse(t, tc.src).Render([]Message{{Role: "user", Content: "hi"}}, tc.opts)
			if err == nil {
				t.Fatalf("no error, output %q", out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if got := errors.Is(err, ErrLimit); got != tc.limit {
				t.Errorf("errors.Is(err, ErrLimit) = %v, want %v (err %v)", got, tc.limit, err)
			}
		})
	}
	var re *RaisedError
	_, err := mustParse(t, "{{ raise_exception('no') }}").Render(nil, Options{})
	if !errors.As(err, &re) || re.Message != "no" {
		t.Errorf("err = %v, want *RaisedError{no}", err)
	}
}

func TestRenderJSONErrors(t *testing.T) {
	tmpl := mustParse(t, "{{ messages | length }}")
	for _, in := range []string{`{"role":"user"}`, `[`, `[1] x`, ``} {
		if _, err := tmpl.RenderJSON([]byte(in), Options{}); err == nil || !strings.Contains(err.Error(), "chat: messages") {
			t.Errorf("RenderJSON(%q) err = %v, want a messages error", in, err)
		}
	}
	deep := strings.Repeat("[", 600) + strings.Repeat("]", 600)
	if _, err := tmpl.RenderJSON([]byte("["+deep+"]"), Options{}); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep JSON: err = %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unclosed expression", "ab\n  {{ x ", "line 2 col 3: unclosed expression tag"},
		{"unclosed statement", "{% if x", "line 1 col 1: unclosed statement tag"},
		{"unclosed comment", "x {# c", "line 1 col 3: unclosed comment tag"},
		{"unclosed raw", "{% raw %}abc", "unclosed raw block"},
		{"reserved name", "{{ __cellm_t }}", `name "__cellm_t" is reserved`},
		{"deep brackets", "{{ " + strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100) + " }}", "brackets nested deeper"},
		{"too large", strings.Repeat("x", maxTemplateBytes+1), "limit is"},
		{"invalid utf-8", "a\xffb", "not valid UTF-8"},
		{"engine syntax error", "{% if %}", "chat: parse template"},
		{"unclosed if", "{% if x %}abc", "chat: parse template"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestPreprocessTransparent checks that the preprocessor's hooks and text
// variables do not change output around loops, macros and markers.
func TestPreprocessTransparent(t *testing.T) {
	tests := []struct{ src, want string }{
		{"{% for x in [1,2] -%}\n  {{ x }}\n{%- endfor %}", "12"},
		{"{%- macro m() -%}\n  M  \n{%- endmacro -%}\n[{{ m() }}]", "[M]"},
		{"{{ '{' }}{{ '{' }}", "{{"},
		{"a{ {{- ' b' }}", "a{ b"},
		{"a {# c #}{", "a {"},
		{"{{ 'x' | tojson }}{{ 'tojson' }}{{ {'tojson': 1} | tojson }}", `"x"tojson{"tojson": 1}`},
	}
	for _, tc := range tests {
		got, err := mustParse(t, tc.src).Render(nil, Options{})
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.src, got, tc.want)
		}
	}
}

func TestConcurrentRender(t *testing.T) {
	tmpl := mustParse(t, "{% for m in messages %}{{ m.content }}{% endfor %}")
	done := make(chan string)
	for i := range 8 {
		go func() {
			s, err := tmpl.Render([]Message{{Content: strings.Repeat("x", i)}}, Options{})
			if err != nil {
				s = err.Error()
			}
			done <- s
		}()
	}
	seen := map[string]bool{}
	for range 8 {
		seen[<-done] = true
	}
	for i := range 8 {
		if !seen[strings.Repeat("x", i)] {
			t.Errorf("missing output of length %d", i)
		}
	}
}

// The size hooks leave the meaning of set statements and output alone.
func TestSizeHooksTransparent(t *testing.T) {
	for src, want := range map[string]string{
		"{% set x = 'a' if 1 == 1 else 'b' %}{{ x }}":                      "a",
		"{% set y = (1 != 2) %}{{ y }}":                                    "True",
		"{% set z %}in{{ 'side' }}{% endset %}{{ z }}":                     "inside",
		"{% set l = [1, 2] %}{{ l }}{{ l | length }}":                      "[1, 2]2",
		"{% set s = '=' ~ \"=\" %}{{ s }}{{ none }}":                       "==",
		"{% set ns = namespace(v=1) %}{% set ns.v = ns.v + 1 %}{{ ns.v }}": "2",
	} {
		got, err := mustParse(t, src).Render(nil, Options{})
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v, want %q", src, got, err, want)
		}
	}
}
