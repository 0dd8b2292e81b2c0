package gguf

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Token types of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
const (
	TokenNormal      = 1
	TokenUnknown     = 2
	TokenControl     = 3
	TokenUserDefined = 4
	TokenUnused      = 5
	TokenByte        = 6
)

// ErrTokenizer reports tokenizer metadata that has no Hugging Face equivalent.
var ErrTokenizer = errors.New("GGUF tokenizer")

// ErrNoTokenizer reports a file without tokenizer.ggml.model.
var ErrNoTokenizer = errors.New("GGUF file has no tokenizer (tokenizer.ggml.model)")

// Tokenizer is the tokenizer a GGUF file describes in its tokenizer.ggml.*
// keys, with the special token ids and the chat template.
type Tokenizer struct {
	Model      string // "gpt2" (byte-level BPE) or "llama" (SentencePiece)
	Pre        string // tokenizer.ggml.pre
	Tokens     []string
	Types      []int32
	Scores     []float32
	Merges     []string
	BOS, EOS   int // -1 if absent
	PAD, UNK   int
	EOT, EOM   int
	AddBOS     bool
	AddEOS     bool
	AddSpace   bool // SentencePiece: prepend "▁" (tokenizer.ggml.add_space_prefix)
	ChatTmpl   string
	ContextLen int
}

// ReadTokenizer reads the tokenizer.ggml.* keys of f.
func (f *File) ReadTokenizer() (*Tokenizer, error) {
	t := &Tokenizer{BOS: -1, EOS: -1, PAD: -1, UNK: -1, EOT: -1, EOM: -1}
	var err error
	var ok bool
	if t.Model, ok, err = f.String("tokenizer.ggml.model"); err != nil {
		return nil, err
	} else if !ok {
		return nil, ErrNoTokenizer
	}
	if t.Pre, _, err = f.String("tokenizer.ggml.pre"); err != nil {
		return nil, err
	}
	kv, _ := f.Lookup("tokenizer.ggml.tokens")
	if t.Tokens, ok = kv.Value.([]string); !ok || len(t.Tokens) == 0 {
		return nil, fmt.Errorf("%w: tokenizer.ggml.tokens missing or not a string array", ErrTokenizer)
	}
	n := len(t.Tokens)
	if kv, ok := f.Lookup("tokenizer.ggml.token_type"); ok {
		if t.Types, ok = kv.Value.([]int32); !ok || len(t.Types) != n {
			return nil, fmt.Errorf("%w: tokenizer.ggml.token_type is not an INT32 array of %d", ErrTokenizer, n)
		}
	} else {
		t.Types = make([]int32, n)
		for i := range t.Types {
			t.Types[i] = TokenNormal
		}
	}
	if kv, ok := f.Lookup("tokenizer.ggml.scores"); ok {
		if t.Scores, ok = kv.Value.([]float32); !ok || len(t.Scores) != n {
			return nil, fmt.Errorf("%w: tokenizer.ggml.scores is not a FLOAT32 array of %d", ErrTokenizer, n)
		}
	}
	if kv, ok := f.Lookup("tokenizer.ggml.merges"); ok {
		if t.Merges, ok = kv.Value.([]string); !ok {
			return nil, fmt.Errorf("%w: tokenizer.ggml.merges is not a string array", ErrTokenizer)
		}
	}
	for key, dst := range map[string]*int{"bos_token_id": &t.BOS, "eos_token_id": &t.EOS, "padding_token_id": &t.PAD,
		"unknown_token_id": &t.UNK, "eot_token_id": &t.EOT, "eom_token_id": &t.EOM} {
		v, ok, err := f.Int("tokenizer.ggml." + key)
		if err != nil {
			return nil, err
		}
		if ok {
			if v < 0 || v >= int64(n) {
				return nil, fmt.Errorf("%w: tokenizer.ggml.%s %d outside the vocabulary of %d", ErrTokenizer, key, v, n)
			}
			*dst = int(v)
		}
	}
	// llama.cpp's defaults: SentencePiece adds BOS and a space prefix.
	t.AddBOS, t.AddSpace = t.Model == "llama", t.Model == "llama"
	for key, dst := range map[string]*bool{"add_bos_token": &t.AddBOS, "add_eos_token": &t.AddEOS,
		"add_space_prefix": &t.AddSpace} {
		if v, ok, err := f.Bool("tokenizer.ggml." + key); err != nil {
			return nil, err
		} else if ok {
			*dst = v
		}
	}
	if t.AddBOS && t.BOS < 0 {
		return nil, fmt.Errorf("%w: tokenizer.ggml.add_bos_token is set but there is no bos_token_id", ErrTokenizer)
	}
	if t.ChatTmpl, _, err = f.String("tokenizer.chat_template"); err != nil {
		return nil, err
	}
	return t, nil
}

// byte-level BPE pre-tokenizers of the tokenizer.ggml.pre values whose
// Hugging Face tokenizer.json is known, and whether that model ignores merges.
var gpt2Pre = map[string]struct {
	pre          any
	ignoreMerges bool
}{
	"gpt2":      {byteLevel(true), false},
	"default":   {byteLevel(true), false},
	"smollm":    {seq(map[string]any{"type": "Digits", "individual_digits": true}, byteLevel(true)), false},
	"qwen2":     {seq(split(`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`), byteLevel(false)), false},
	"llama-bpe": {seq(split(`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`), byteLevel(false)), true},
}

func byteLevel(regex bool) map[string]any {
	return map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": regex}
}

func seq(parts ...any) map[string]any {
	return map[string]any{"type": "Sequence", "pretokenizers": parts}
}

func split(re string) map[string]any {
	return map[string]any{"type": "Split", "pattern": map[string]string{"Regex": re}, "behavior": "Isolated", "invert": false}
}

// HFTokenizerJSON returns the Hugging Face tokenizer.json equivalent to t:
// the byte-level BPE of "gpt2" vocabularies (with the pre-tokenizer
// tokenizer.ggml.pre names) or, for "llama" SentencePiece vocabularies, the
// byte-fallback BPE transformers' LlamaConverter builds, merges derived from
// the scores. Control and user-defined tokens become added tokens; unused
// tokens (padding rows past the real vocabulary) are left out.
func (t *Tokenizer) HFTokenizerJSON() ([]byte, error) {
	vocab := make(map[string]int, len(t.Tokens))
	var added []map[string]any
	for i, tok := range t.Tokens {
		typ := t.Types[i]
		if typ == TokenUnused {
			continue
		}
		if !utf8.ValidString(tok) {
			return nil, fmt.Errorf("%w: token %d is not UTF-8", ErrTokenizer, i)
		}
		if _, dup := vocab[tok]; dup {
			return nil, fmt.Errorf("%w: token %q appears twice", ErrTokenizer, tok)
		}
		vocab[tok] = i
		if typ == TokenControl || typ == TokenUserDefined || (typ == TokenUnknown && t.Model == "llama") {
			added = append(added, map[string]any{"id": i, "content": tok, "single_word": false, "lstrip": false,
				"rstrip": false, "normalized": typ == TokenUserDefined && t.Model == "llama", "special": typ != TokenUserDefined})
		}
	}
	out := map[string]any{"version": "1.0", "truncation": nil, "padding": nil, "added_tokens": added,
		"post_processor": t.postProcessor()}
	model := map[string]any{"type": "BPE", "dropout": nil, "continuing_subword_prefix": nil, "end_of_word_suffix": nil,
		"vocab": orderedVocab(t.Tokens, vocab)}
	switch t.Model {
	case "gpt2":
		name := t.Pre
		if name == "" {
			name = "default"
		}
		p, ok := gpt2Pre[name]
		if !ok {
			return nil, fmt.Errorf("%w: tokenizer.ggml.pre %q has no known Hugging Face pre-tokenizer (known: gpt2, default, smollm, qwen2, llama-bpe)", ErrTokenizer, t.Pre)
		}
		if t.Merges == nil {
			return nil, fmt.Errorf("%w: gpt2 vocabulary without tokenizer.ggml.merges", ErrTokenizer)
		}
		out["normalizer"] = nil
		if name == "qwen2" {
			out["normalizer"] = map[string]any{"type": "NFC"}
		}
		out["pre_tokenizer"] = p.pre
		out["decoder"] = map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}
		model["unk_token"], model["fuse_unk"], model["byte_fallback"], model["ignore_merges"] = nil, false, false, p.ignoreMerges
		model["merges"] = t.Merges
	case "llama":
		if t.Scores == nil {
			return nil, fmt.Errorf("%w: SentencePiece vocabulary without tokenizer.ggml.scores", ErrTokenizer)
		}
		var norm []any
		if t.AddSpace {
			norm = append(norm, map[string]any{"type": "Prepend", "prepend": "▁"})
		}
		norm = append(norm, map[string]any{"type": "Replace", "pattern": map[string]string{"String": " "}, "content": "▁"})
		out["normalizer"] = map[string]any{"type": "Sequence", "normalizers": norm}
		out["pre_tokenizer"] = nil
		dec := []any{map[string]any{"type": "Replace", "pattern": map[string]string{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"}}
		if t.AddSpace {
			dec = append(dec, map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0})
		}
		out["decoder"] = map[string]any{"type": "Sequence", "decoders": dec}
		var unk any
		if t.UNK >= 0 {
			unk = t.Tokens[t.UNK]
		}
		model["unk_token"], model["fuse_unk"], model["byte_fallback"], model["ignore_merges"] = unk, true, true, false
		model["merges"] = t.spmMerges(vocab)
	default:
		return nil, fmt.Errorf("%w: tokenizer.ggml.model %q is not supported (want gpt2 or llama)", ErrTokenizer, t.Model)
	}
	out["model"] = model
	return json.Marshal(out)
}

// orderedVocab marshals as a JSON object in id order (for readable files).
type orderedVocabT struct {
	tokens []string
	vocab  map[string]int
}

func orderedVocab(tokens []string, vocab map[string]int) orderedVocabT {
	return orderedVocabT{tokens, vocab}
}

// MarshalJSON writes {token: id} in id order.
func (o orderedVocabT) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	first := true
	for i, tok := range o.tokens {
		if id, ok := o.vocab[tok]; !ok || id != i {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		k, err := json.Marshal(tok)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), fmt.Sprint(i)...)
	}
	return append(b, '}'), nil
}

// spmMerges derives BPE merges from a SentencePiece vocabulary as
// transformers' SentencePieceExtractor does: every split of every piece into
// two pieces of the vocabulary, ordered by the piece's score (descending,
// stable), then by the ids of the two halves.
func (t *Tokenizer) spmMerges(vocab map[string]int) []string {
	type merge struct {
		l, r  string
		score float32
	}
	var merges []merge
	for i, piece := range t.Tokens {
		if id, ok := vocab[piece]; !ok || id != i {
			continue
		}
		var local []merge
		for k := range piece {
			if k == 0 {
				continue
			}
			l, r := piece[:k], piece[k:]
			if _, ok := vocab[l]; !ok {
				continue
			}
			if _, ok := vocab[r]; ok {
				local = append(local, merge{l, r, t.Scores[i]})
			}
		}
		slices.SortStableFunc(local, func(a, b merge) int {
			if c := vocab[a.l] - vocab[b.l]; c != 0 {
				return c
			}
			return vocab[a.r] - vocab[b.r]
		})
		merges = append(merges, local...)
	}
	slices.SortStableFunc(merges, func(a, b merge) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	out := make([]string, len(merges))
	for i, m := range merges {
		out[i] = m.l + " " + m.r
	}
	return out
}

// postProcessor adds BOS / EOS as tokenizer.ggml.add_bos_token /
// add_eos_token say, or nothing.
func (t *Tokenizer) postProcessor() any {
	if !t.AddBOS && !(t.AddEOS && t.EOS >= 0) {
		return nil
	}
	var single, pair []any
	special := map[string]any{}
	tok := func(id, typeID int) map[string]any {
		s := t.Tokens[id]
		special[s] = map[string]any{"id": s, "ids": []int{id}, "tokens": []string{s}}
		return map[string]any{"SpecialToken": map[string]any{"id": s, "type_id": typeID}}
	}
	for typeID, name := range []string{"A", "B"} {
		var part []any
		if t.AddBOS {
			part = append(part, tok(t.BOS, typeID))
		}
		part = append(part, map[string]any{"Sequence": map[string]any{"id": name, "type_id": typeID}})
		if t.AddEOS && t.EOS >= 0 {
			part = append(part, tok(t.EOS, typeID))
		}
		if typeID == 0 {
			single = part
		}
		pair = append(pair, part...)
	}
	return map[string]any{"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": special}
}

// HFTokenizerConfigJSON returns a tokenizer_config.json with the special
// tokens, the add_bos/add_eos flags and the chat template.
func (t *Tokenizer) HFTokenizerConfigJSON() ([]byte, error) {
	c := map[string]any{"add_bos_token": t.AddBOS, "add_eos_token": t.AddEOS,
		"clean_up_tokenization_spaces": false, "tokenizer_class": "PreTrainedTokenizerFast"}
	for key, id := range map[string]int{"bos_token": t.BOS, "eos_token": t.EOS, "pad_token": t.PAD, "unk_token": t.UNK} {
		if id >= 0 {
			c[key] = t.Tokens[id]
		}
	}
	if t.ChatTmpl != "" {
		c["chat_template"] = t.ChatTmpl
	}
	return json.MarshalIndent(c, "", "  ")
}

// EOSIDs returns the end-of-generation ids: eos, then eot and eom (Llama 3
// chat models stop on each), without repeats.
func (t *Tokenizer) EOSIDs() []int {
	var ids []int
	for _, id := range []int{t.EOS, t.EOT, t.EOM} {
		if id >= 0 && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}
