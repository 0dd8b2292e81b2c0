package chat

import (
	"encoding/json"
	"testing"
)

func jsonRaw(b []byte) json.RawMessage { return json.RawMessage(b) }

func benchTemplate(b *testing.B, rel string) *Template {
	b.Helper()
	var src string
	if rel == "llama" {
		src = string(readTestdata(b, "meta-llama-Llama-3.2-3B-Instruct.jinja"))
	} else {
		s, _, _, err := FromConfigs(readTestdata(b, rel), nil)
		if err != nil {
			b.Fatal(err)
		}
		src = s
	}
	tmpl, err := Parse(src)
	if err != nil {
		b.Fatal(err)
	}
	return tmpl
}

var benchMsgs = []Message{
	{Role: "system", Content: "You are a helpful assistant."},
	{Role: "user", Content: "Hi!"},
	{Role: "assistant", Content: "Hello! How can I help you today?"},
	{Role: "user", Content: "Write a haiku about the sea."},
}

func BenchmarkRenderSmolLM2(b *testing.B) {
	tmpl := benchTemplate(b, "SmolLM2-135M-Instruct/tokenizer_config.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(benchMsgs, Options{AddGenerationPrompt: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderLlama32Tools(b *testing.B) {
	tmpl := benchTemplate(b, "llama")
	tools := []byte(`[{"type": "function", "function": {"name": "get_weather", "description": "Get weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]`)
	opts := Options{AddGenerationPrompt: true, BOSToken: "<|begin_of_text|>", Extra: map[string]any{"tools": jsonRaw(tools), "date_string": "26 Jul 2024"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(benchMsgs, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLlama32(b *testing.B) {
	src := string(readTestdata(b, "meta-llama-Llama-3.2-3B-Instruct.jinja"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}
