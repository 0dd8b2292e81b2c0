package chat_test

import (
	"fmt"

	"github.com/cellm-ai/cellm-go/chat"
)

func Example() {
	tokenizerConfig := []byte(`{
		"chat_template": "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
		"bos_token": "<|im_start|>",
		"eos_token": "<|im_end|>"
	}`)
	src, bos, eos, err := chat.FromConfigs(tokenizerConfig, nil)
	if err != nil {
		panic(err)
	}
	tmpl, err := chat.Parse(src)
	if err != nil {
		panic(err)
	}
	prompt, err := tmpl.Render([]chat.Message{
		{Role: "system", Content: "You are concise."},
		{Role: "user", Content: "Hi!"},
	}, chat.Options{AddGenerationPrompt: true, BOSToken: bos, EOSToken: eos})
	if err != nil {
		panic(err)
	}
	fmt.Print(prompt)
	// Output:
	// <|im_start|>system
	// You are concise.<|im_end|>
	// <|im_start|>user
	// Hi!<|im_end|>
	// <|im_start|>assistant
}

// A SmolVLM-style template sees image parts before the text when Images > 0.
func ExampleTemplate_Render_images() {
	tmpl, err := chat.Parse("{% for m in messages %}{% for p in m.content %}{% if p.type == 'image' %}<image>{% else %}{{ p.text }}{% endif %}{% endfor %}{% endfor %}")
	if err != nil {
		panic(err)
	}
	out, err := tmpl.Render([]chat.Message{{Role: "user", Content: "What is this?", Images: 1}}, chat.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	// Output: <image>What is this?
}

// Tools given as JSON keep their key order through tojson.
func ExampleTemplate_RenderJSON() {
	tmpl, err := chat.Parse("{% for t in tools %}{{ t | tojson }}{% endfor %}|{{ messages[0].tool_calls[0].function.arguments | tojson }}")
	if err != nil {
		panic(err)
	}
	msgs := []byte(`[{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {"z": 1, "a": 2.0}}}]}]`)
	out, err := tmpl.RenderJSON(msgs, chat.Options{Extra: map[string]any{
		"tools": []any{map[string]any{"name": "f"}},
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	// Output: {"name": "f"}|{"z": 1, "a": 2.0}
}

// Template keyword arguments such as Qwen3's enable_thinking go in Extra.
func ExampleOptions_enableThinking() {
	tmpl, err := chat.Parse("{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}")
	if err != nil {
		panic(err)
	}
	out, err := tmpl.Render(nil, chat.Options{Extra: map[string]any{"enable_thinking": false}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", out)
	// Output: "<|im_start|>assistant\n<think>\n\n</think>\n\n"
}

func ExampleChatML() {
	fmt.Print(chat.ChatML([]chat.Message{{Role: "user", Content: "Hello"}}, true))
	// Output:
	// <|im_start|>user
	// Hello<|im_end|>
	// <|im_start|>assistant
}
