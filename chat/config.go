package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrNoTemplate is returned by FromConfigs when neither file has a chat
// template.
var ErrNoTemplate = errors.New("chat: no chat_template found")

// FromConfigs finds the chat template and the BOS/EOS tokens of a model.
//
// tokenizerConfigJSON is tokenizer_config.json ("chat_template" is a
// string, or a list of {"name", "template"} from which "default" is taken;
// "bos_token"/"eos_token" are strings or {"content": ...} objects).
// chatTemplateJSON is chat_template.json ({"chat_template": ...}); when it
// has a template, that template wins, as in transformers processors. Either
// argument may be nil.
func FromConfigs(tokenizerConfigJSON, chatTemplateJSON []byte) (src, bos, eos string, err error) {
	if len(tokenizerConfigJSON) > 0 {
		var tc struct {
			ChatTemplate json.RawMessage `json:"chat_template"`
			BOS          json.RawMessage `json:"bos_token"`
			EOS          json.RawMessage `json:"eos_token"`
		}
		if err := json.Unmarshal(tokenizerConfigJSON, &tc); err != nil {
			return "", "", "", fmt.Errorf("chat: tokenizer_config.json: %w", err)
		}
		if src, err = templateField(tc.ChatTemplate); err != nil {
			return "", "", "", fmt.Errorf("chat: tokenizer_config.json: chat_template: %w", err)
		}
		if bos, err = tokenField(tc.BOS); err != nil {
			return "", "", "", fmt.Errorf("chat: tokenizer_config.json: bos_token: %w", err)
		}
		if eos, err = tokenField(tc.EOS); err != nil {
			return "", "", "", fmt.Errorf("chat: tokenizer_config.json: eos_token: %w", err)
		}
	}
	if len(chatTemplateJSON) > 0 {
		var ct struct {
			ChatTemplate json.RawMessage `json:"chat_template"`
		}
		if err := json.Unmarshal(chatTemplateJSON, &ct); err != nil {
			return "", "", "", fmt.Errorf("chat: chat_template.json: %w", err)
		}
		s, err := templateField(ct.ChatTemplate)
		if err != nil {
			return "", "", "", fmt.Errorf("chat: chat_template.json: chat_template: %w", err)
		}
		if s != "" {
			src = s
		}
	}
	if src == "" {
		return "", bos, eos, ErrNoTemplate
	}
	return src, bos, eos, nil
}

// templateField decodes a chat_template value: absent/null, a string, or a
// list of named templates.
func templateField(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", errors.New("neither a string nor a list of {name, template}")
	}
	names := make([]string, 0, len(named))
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
		names = append(names, n.Name)
	}
	return "", fmt.Errorf("no template named \"default\" among [%s]", strings.Join(names, ", "))
}

// tokenField decodes a special token: absent/null, a string, or an
// AddedToken object with "content".
func tokenField(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", errors.New("neither a string nor an object with \"content\"")
	}
	return *obj.Content, nil
}
