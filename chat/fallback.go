package chat

import "strings"

// ChatML renders msgs in the ChatML format
// ("<|im_start|>role\ncontent<|im_end|>\n" per message), ending with
// "<|im_start|>assistant\n" when addGenerationPrompt is set. Images are
// rendered as one "<image>" per image before the text; explicit parts in
// order.
func ChatML(msgs []Message, addGenerationPrompt bool) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>")
		b.WriteString(m.Role)
		b.WriteByte('\n')
		writeFlatContent(&b, m)
		b.WriteString("<|im_end|>\n")
	}
	if addGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String()
}

// Plain renders msgs without any chat markup, for base models: the content
// of each message followed by a newline.
func Plain(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		writeFlatContent(&b, m)
		b.WriteByte('\n')
	}
	return b.String()
}

// writeFlatContent writes a message's content with "<image>" for images.
func writeFlatContent(b *strings.Builder, m Message) {
	parts := m.contentParts(false)
	if parts == nil {
		b.WriteString(m.Content)
		return
	}
	for _, p := range parts {
		switch p.Type {
		case "image":
			b.WriteString("<image>")
		default:
			b.WriteString(p.Text)
		}
	}
}
