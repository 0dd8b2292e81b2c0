// Package tokenizer is a pure-Go implementation of Hugging Face
// tokenizer.json (BPE models) that produces the same token ids as the HF
// tokenizers library (Rust).
//
// It supports what the SmolLM2, SmolVLM, TinyLlama (Llama 2), Llama 3,
// Qwen2.5/Qwen3 and Gemma 3 tokenizers use: the BPE model (merges in both
// formats, byte_fallback, unk_token with fuse_unk, ignore_merges,
// continuing_subword_prefix, end_of_word_suffix); the ByteLevel, Split,
// Digits, Metaspace and Sequence pre-tokenizers; the Sequence, Prepend,
// Replace, Lowercase, Strip and Unicode (NFC, NFD, NFKC, NFKD, by
// golang.org/x/text/unicode/norm) normalizers; added and special tokens; the
// TemplateProcessing, Bert/RobertaProcessing, ByteLevel and Sequence
// post-processors; and the ByteLevel, Metaspace, Sequence, Replace,
// ByteFallback, Fuse and Strip decoders. Anything else is rejected by Load
// with an error that names it.
//
// Regex patterns of Split pre-tokenizers are not compiled: the known
// patterns (GPT-2, Llama 3, Qwen2, \p{N} runs) are recognised and run by
// hand-written splitters, since Go's regexp has no look-ahead.
//
// Deviations from the HF library, all outside the supported tokenizer
// files: truncation and padding are rejected; Metaspace with prepend_scheme
// "first" treats a piece as the start of the input when it begins at offset
// 0 of its normalized segment; added tokens whose rstrip whitespace would
// overlap a following match are not matched again inside that whitespace.
package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

// Tokenizer encodes text to token ids and decodes ids back to text. It is
// safe for concurrent use.
type Tokenizer struct {
	model      *bpe
	added      addedVocab
	normCache  map[int]string // normalized content of normalized added tokens
	normalizer normalizer
	pre        preTokenizer
	post       postProcessor
	decoder    decoder
	vocabSize  int
	scratch    sync.Pool // of *scratch
	// byteFallback: the decoder has a ByteFallback step.
	byteFallback bool
}

type jsonAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"`
	Special    bool   `json:"special"`
}

type jsonTokenizer struct {
	Version       *string          `json:"version"`
	Truncation    json.RawMessage  `json:"truncation"`
	Padding       json.RawMessage  `json:"padding"`
	AddedTokens   []jsonAddedToken `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	PostProcessor json.RawMessage  `json:"post_processor"`
	Decoder       json.RawMessage  `json:"decoder"`
	Model         json.RawMessage  `json:"model"`
}

// LoadFile reads and parses a tokenizer.json file.
func LoadFile(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Load parses the contents of a tokenizer.json file.
func Load(data []byte) (*Tokenizer, error) {
	var j jsonTokenizer
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, errorf("%v", err)
	}
	if j.Version != nil && *j.Version != "1.0" {
		return nil, errorf("version %q not supported", *j.Version)
	}
	if !isNull(j.Truncation) {
		return nil, errorf("truncation not supported")
	}
	if !isNull(j.Padding) {
		return nil, errorf("padding not supported")
	}
	t := &Tokenizer{}
	var err error
	if t.model, err = parseModel(j.Model); err != nil {
		return nil, err
	}
	if !isNull(j.Normalizer) {
		if t.normalizer, err = parseNormalizer(j.Normalizer); err != nil {
			return nil, err
		}
	}
	if !isNull(j.PreTokenizer) {
		if t.pre, err = parsePreTokenizer(j.PreTokenizer); err != nil {
			return nil, err
		}
	}
	if !isNull(j.PostProcessor) {
		if t.post, err = parsePostProcessor(j.PostProcessor); err != nil {
			return nil, err
		}
	}
	if !isNull(j.Decoder) {
		if t.decoder, err = parseDecoder(j.Decoder); err != nil {
			return nil, err
		}
	}
	t.byteFallback = hasByteFallback(t.decoder)
	if err := t.addTokens(j.AddedTokens); err != nil {
		return nil, err
	}
	t.vocabSize = len(t.model.idToTok)
	for _, a := range t.added.tokens {
		t.vocabSize = max(t.vocabSize, a.id+1)
	}
	if p, ok := t.post.(templatePost); ok {
		if err := t.checkPostIDs(p); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func hasByteFallback(d decoder) bool {
	switch d := d.(type) {
	case byteFallbackDecoder:
		return true
	case seqDecoder:
		for _, x := range d {
			if hasByteFallback(x) {
				return true
			}
		}
	}
	return false
}

func (t *Tokenizer) checkPostIDs(p templatePost) error {
	for _, ids := range p.pieces {
		for _, id := range ids {
			if _, ok := t.IDToToken(id); !ok {
				return errorf("post_processor: special token id %d not in vocabulary", id)
			}
		}
	}
	return nil
}

// addTokens registers the added tokens, assigning ids the way the HF
// library does (existing ids for known contents, otherwise the next free id
// after the model vocabulary).
func (t *Tokenizer) addTokens(list []jsonAddedToken) error {
	v := &t.added
	v.byContent = make(map[string]int)
	v.byID = make(map[int]int)
	v.special = make(map[string]bool)
	t.normCache = make(map[int]string)
	next := len(t.model.vocab)
	for _, j := range list {
		if j.Content == "" {
			continue
		}
		a := addedToken{content: j.Content, singleWord: j.SingleWord, lstrip: j.LStrip,
			rstrip: j.RStrip, normalized: j.Normalized == nil || *j.Normalized, special: j.Special}
		id, ok := v.byContent[a.content]
		if !ok {
			if mid, inModel := t.model.vocab[a.content]; inModel {
				id, ok = int(mid), true
			}
		}
		if !ok {
			id = next
			next++
			if id >= maxVocabID {
				return errorf("added_tokens: too many tokens")
			}
		}
		a.id = id
		if a.normalized && t.normalizer != nil {
			if n := t.normalizer.normalize(a.content); n != a.content {
				t.normCache[id] = n
			}
		}
		v.byContent[a.content] = id
		if a.special {
			v.special[a.content] = true
		}
		if k, dup := v.byID[id]; dup {
			v.tokens[k] = a
		} else {
			v.byID[id] = len(v.tokens)
			v.tokens = append(v.tokens, a)
		}
	}
	for k, a := range v.tokens {
		if a.normalized {
			if v.norm == nil {
				v.norm = newTrie()
			}
			s := a.content
			if n, ok := t.normCache[a.id]; ok {
				s = n
			}
			if s != "" {
				v.norm.insert(s, int32(k))
			}
		} else {
			if v.raw == nil {
				v.raw = newTrie()
			}
			v.raw.insert(a.content, int32(k))
		}
	}
	return nil
}

// Encode converts text to token ids. With addSpecial the post-processor adds
// its special tokens (HF add_special_tokens, e.g. a BOS token). Invalid UTF-8
// in text is first replaced by U+FFFD.
func (t *Tokenizer) Encode(text string, addSpecial bool) ([]int, error) {
	if !utf8.ValidString(text) {
		text = lossyUTF8([]byte(text))
	}
	pieces := t.added.split(nil, text, true, t.added.raw)
	var segs []piece
	for _, p := range pieces {
		if p.tok >= 0 {
			segs = append(segs, p)
			continue
		}
		s := p.text
		if t.normalizer != nil {
			s = t.normalizer.normalize(s)
		}
		segs = t.added.split(segs, s, p.orig0, t.added.norm)
	}
	ids := make([]int, 0, len(text)/3+4)
	w, _ := t.scratch.Get().(*scratch)
	if w == nil {
		w = &scratch{}
	}
	var one [1]piece
	for _, p := range segs {
		if p.tok >= 0 {
			ids = append(ids, p.tok)
			continue
		}
		one[0] = p
		if t.pre == nil {
			ids = t.model.tokenize(p, ids)
			continue
		}
		words := t.pre.apply(w, w.take(), one[:])
		for _, wp := range words {
			ids = t.model.tokenize(wp, ids)
		}
		w.give(words)
	}
	t.scratch.Put(w)
	if addSpecial && t.post != nil {
		ids = t.post.process(ids)
	}
	return ids, nil
}

// token returns the string used to decode id.
func (t *Tokenizer) token(id int) (string, bool) {
	if k, ok := t.added.byID[id]; ok {
		if n, ok := t.normCache[id]; ok {
			return n, true
		}
		return t.added.tokens[k].content, true
	}
	return t.model.idToken(id)
}

// Decode converts token ids back to text. With skipSpecial, special tokens
// are left out. An id outside the vocabulary is an error.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) (string, error) {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		s, ok := t.token(id)
		if !ok {
			return "", fmt.Errorf("tokenizer: decode: id %d not in vocabulary (size %d)", id, t.vocabSize)
		}
		if skipSpecial && t.added.special[s] {
			continue
		}
		toks = append(toks, s)
	}
	return t.decodeTokens(toks), nil
}

func (t *Tokenizer) decodeTokens(toks []string) string {
	if t.decoder == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.decoder.decodeChain(toks), "")
}

// VocabSize returns the number of token ids, added tokens included (one
// more than the largest id).
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// TokenToID returns the id of a token string (added tokens first, then the
// model vocabulary).
func (t *Tokenizer) TokenToID(tok string) (int, bool) {
	if id, ok := t.added.byContent[tok]; ok {
		return id, true
	}
	id, ok := t.model.vocab[tok]
	return int(id), ok
}

// IDToToken returns the token string of id, as the HF library does: for an
// added token with normalized=true whose content the normalizer changes,
// that is the normalized form.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	return t.token(id)
}

// IsSpecial reports whether id is a special token (skipped by Decode with
// skipSpecial).
func (t *Tokenizer) IsSpecial(id int) bool {
	s, ok := t.token(id)
	return ok && t.added.special[s]
}
