package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// errorf builds an error prefixed with "tokenizer.json: ".
func errorf(format string, args ...any) error {
	return fmt.Errorf("tokenizer.json: "+format, args...)
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// component decodes a {"type": ...} object of the given section.
func component(section string, raw json.RawMessage) (string, map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, errorf("%s: %v", section, err)
	}
	var typ string
	if err := json.Unmarshal(m["type"], &typ); err != nil || typ == "" {
		return "", nil, errorf("%s: missing or invalid \"type\"", section)
	}
	return typ, m, nil
}

// field decodes m[key] into dst when present and not null.
func field(section, key string, m map[string]json.RawMessage, dst any) error {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return errorf("%s field %q: %v", section, key, err)
	}
	return nil
}

// pattern decodes an HF pattern object {"String": s} or {"Regex": r}.
func pattern(section string, m map[string]json.RawMessage) (lit, re string, isRegex bool, err error) {
	var p struct {
		String *string
		Regex  *string
	}
	if err := field(section, "pattern", m, &p); err != nil {
		return "", "", false, err
	}
	switch {
	case p.String != nil:
		if *p.String == "" {
			return "", "", false, errorf("%s: empty pattern not supported", section)
		}
		return *p.String, "", false, nil
	case p.Regex != nil:
		return "", *p.Regex, true, nil
	}
	return "", "", false, errorf("%s: missing pattern", section)
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	typ, m, err := component("normalizer", raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		var items []json.RawMessage
		if err := field("normalizer", "normalizers", m, &items); err != nil {
			return nil, err
		}
		var seq seqNormalizer
		for _, it := range items {
			n, err := parseNormalizer(it)
			if err != nil {
				return nil, err
			}
			seq = append(seq, n)
		}
		return seq, nil
	case "Prepend":
		var p string
		if err := field("normalizer", "prepend", m, &p); err != nil {
			return nil, err
		}
		return prependNormalizer{p}, nil
	case "Replace":
		lit, re, isRe, err := pattern("normalizer Replace", m)
		if err != nil {
			return nil, err
		}
		if isRe {
			return nil, errorf("normalizer Replace regex pattern %q not supported", re)
		}
		var content string
		if err := field("normalizer", "content", m, &content); err != nil {
			return nil, err
		}
		return replaceNormalizer{lit, content}, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "NFC":
		return unicodeNormalizer{norm.NFC}, nil
	case "NFD":
		return unicodeNormalizer{norm.NFD}, nil
	case "NFKC":
		return unicodeNormalizer{norm.NFKC}, nil
	case "NFKD":
		return unicodeNormalizer{norm.NFKD}, nil
	case "Strip":
		st := stripNormalizer{}
		if err := field("normalizer", "strip_left", m, &st.left); err != nil {
			return nil, err
		}
		if err := field("normalizer", "strip_right", m, &st.right); err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, errorf("normalizer type %q not supported", typ)
}

func parseBehavior(section string, m map[string]json.RawMessage) (behavior, error) {
	var name string
	if err := field(section, "behavior", m, &name); err != nil {
		return 0, err
	}
	b, ok := behaviorNames[name]
	if !ok {
		return 0, errorf("%s behavior %q not supported", section, name)
	}
	return b, nil
}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	typ, m, err := component("pre_tokenizer", raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		var items []json.RawMessage
		if err := field("pre_tokenizer", "pretokenizers", m, &items); err != nil {
			return nil, err
		}
		var seq seqPreTok
		for _, it := range items {
			p, err := parsePreTokenizer(it)
			if err != nil {
				return nil, err
			}
			seq = append(seq, p)
		}
		return seq, nil
	case "ByteLevel":
		b := byteLevelPreTok{addPrefixSpace: true, useRegex: true}
		if err := field("pre_tokenizer", "add_prefix_space", m, &b.addPrefixSpace); err != nil {
			return nil, err
		}
		if err := field("pre_tokenizer", "use_regex", m, &b.useRegex); err != nil {
			return nil, err
		}
		return b, nil
	case "Split":
		lit, re, isRe, err := pattern("pre_tokenizer Split", m)
		if err != nil {
			return nil, err
		}
		sp := splitPreTok{}
		if isRe {
			mt, ok := regexMatcher(re)
			if !ok {
				return nil, errorf("pre_tokenizer Split regex pattern %q not supported", re)
			}
			sp.m = mt
		} else {
			sp.m = literalMatcher{lit}
		}
		if sp.beh, err = parseBehavior("pre_tokenizer Split", m); err != nil {
			return nil, err
		}
		if err := field("pre_tokenizer", "invert", m, &sp.invert); err != nil {
			return nil, err
		}
		return sp, nil
	case "Digits":
		var individual bool
		if err := field("pre_tokenizer", "individual_digits", m, &individual); err != nil {
			return nil, err
		}
		return digitsPreTok(individual), nil
	case "Metaspace":
		ms, err := parseMetaspace("pre_tokenizer", m)
		if err != nil {
			return nil, err
		}
		return ms, nil
	}
	return nil, errorf("pre_tokenizer type %q not supported", typ)
}

func parseMetaspace(section string, m map[string]json.RawMessage) (metaspacePreTok, error) {
	ms := metaspacePreTok{repl: "\u2581", prepend: "always", split: true}
	if err := field(section, "replacement", m, &ms.repl); err != nil {
		return ms, err
	}
	if utf8.RuneCountInString(ms.repl) != 1 {
		return ms, errorf("%s Metaspace replacement %q is not one character", section, ms.repl)
	}
	if err := field(section, "prepend_scheme", m, &ms.prepend); err != nil {
		return ms, err
	}
	switch ms.prepend {
	case "always", "first", "never":
	default:
		return ms, errorf("%s Metaspace prepend_scheme %q not supported", section, ms.prepend)
	}
	var aps *bool
	if err := field(section, "add_prefix_space", m, &aps); err != nil {
		return ms, err
	}
	if aps != nil && !*aps {
		if _, explicit := m["prepend_scheme"]; explicit && ms.prepend != "never" {
			return ms, errorf("%s Metaspace add_prefix_space does not match prepend_scheme", section)
		}
		ms.prepend = "never"
	}
	if err := field(section, "split", m, &ms.split); err != nil {
		return ms, err
	}
	return ms, nil
}

func parseDecoder(raw json.RawMessage) (decoder, error) {
	typ, m, err := component("decoder", raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		var items []json.RawMessage
		if err := field("decoder", "decoders", m, &items); err != nil {
			return nil, err
		}
		var seq seqDecoder
		for _, it := range items {
			d, err := parseDecoder(it)
			if err != nil {
				return nil, err
			}
			seq = append(seq, d)
		}
		return seq, nil
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "Metaspace":
		ms, err := parseMetaspace("decoder", m)
		if err != nil {
			return nil, err
		}
		r, _ := utf8.DecodeRuneInString(ms.repl)
		return metaspaceDecoder{repl: r, stripHead: ms.prepend != "never"}, nil
	case "Replace":
		lit, re, isRe, err := pattern("decoder Replace", m)
		if err != nil {
			return nil, err
		}
		if isRe {
			return nil, errorf("decoder Replace regex pattern %q not supported", re)
		}
		var content string
		if err := field("decoder", "content", m, &content); err != nil {
			return nil, err
		}
		return replaceDecoder{lit, content}, nil
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		var content string
		d := stripDecoder{}
		if err := field("decoder", "content", m, &content); err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(content) != 1 {
			return nil, errorf("decoder Strip content %q is not one character", content)
		}
		d.content, _ = utf8.DecodeRuneInString(content)
		if err := field("decoder", "start", m, &d.start); err != nil {
			return nil, err
		}
		if err := field("decoder", "stop", m, &d.stop); err != nil {
			return nil, err
		}
		if d.start < 0 || d.stop < 0 {
			return nil, errorf("decoder Strip start/stop must not be negative")
		}
		return d, nil
	}
	return nil, errorf("decoder type %q not supported", typ)
}

// postProcessor adds the special tokens of a single sequence (HF
// PostProcessor with add_special_tokens).
type postProcessor interface {
	process(ids []int) []int
}

// templatePost is "TemplateProcessing" (single-sequence template),
// "BertProcessing" and "RobertaProcessing".
type templatePost struct {
	pieces [][]int // nil entry: the sequence itself
}

func (t templatePost) process(ids []int) []int {
	var out []int
	for _, p := range t.pieces {
		if p == nil {
			out = append(out, ids...)
		} else {
			out = append(out, p...)
		}
	}
	return out
}

type seqPost []postProcessor

func (q seqPost) process(ids []int) []int {
	for _, p := range q {
		ids = p.process(ids)
	}
	return ids
}

// noopPost is the ByteLevel post-processor, which only trims offsets.
type noopPost struct{}

func (noopPost) process(ids []int) []int { return ids }

func parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	typ, m, err := component("post_processor", raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		var items []json.RawMessage
		if err := field("post_processor", "processors", m, &items); err != nil {
			return nil, err
		}
		var seq seqPost
		for _, it := range items {
			p, err := parsePostProcessor(it)
			if err != nil {
				return nil, err
			}
			seq = append(seq, p)
		}
		return seq, nil
	case "ByteLevel":
		return noopPost{}, nil
	case "BertProcessing", "RobertaProcessing":
		var cls, sep [2]json.RawMessage
		if err := field("post_processor", "cls", m, &cls); err != nil {
			return nil, err
		}
		if err := field("post_processor", "sep", m, &sep); err != nil {
			return nil, err
		}
		var clsID, sepID int
		if err := json.Unmarshal(cls[1], &clsID); err != nil {
			return nil, errorf("post_processor %s field \"cls\": %v", typ, err)
		}
		if err := json.Unmarshal(sep[1], &sepID); err != nil {
			return nil, errorf("post_processor %s field \"sep\": %v", typ, err)
		}
		return templatePost{pieces: [][]int{{clsID}, nil, {sepID}}}, nil
	case "TemplateProcessing":
		var single []struct {
			SpecialToken *struct{ ID string } `json:"SpecialToken"`
			Sequence     *struct{ ID string } `json:"Sequence"`
		}
		var specials map[string]struct {
			IDs []int `json:"ids"`
		}
		if err := field("post_processor", "single", m, &single); err != nil {
			return nil, err
		}
		if err := field("post_processor", "special_tokens", m, &specials); err != nil {
			return nil, err
		}
		var t templatePost
		for _, p := range single {
			switch {
			case p.Sequence != nil:
				if p.Sequence.ID != "A" {
					return nil, errorf("post_processor TemplateProcessing: single template uses sequence %q", p.Sequence.ID)
				}
				t.pieces = append(t.pieces, nil)
			case p.SpecialToken != nil:
				st, ok := specials[p.SpecialToken.ID]
				if !ok {
					return nil, errorf("post_processor TemplateProcessing: special token %q missing from special_tokens", p.SpecialToken.ID)
				}
				t.pieces = append(t.pieces, append([]int{}, st.IDs...))
			default:
				return nil, errorf("post_processor TemplateProcessing: unknown template piece")
			}
		}
		return t, nil
	}
	return nil, errorf("post_processor type %q not supported", typ)
}

// maxVocabID bounds token ids so that a hostile file cannot force a huge
// allocation.
const maxVocabID = 1 << 24

func parseModel(raw json.RawMessage) (*bpe, error) {
	if isNull(raw) {
		return nil, errorf("missing model")
	}
	typ, m, err := component("model", raw)
	if err != nil {
		return nil, err
	}
	if typ != "BPE" {
		return nil, errorf("model type %q not supported", typ)
	}
	var dropout *float64
	if err := field("model", "dropout", m, &dropout); err != nil {
		return nil, err
	}
	if dropout != nil && *dropout != 0 {
		return nil, errorf("model BPE dropout %v not supported", *dropout)
	}
	b := &bpe{unk: -1}
	var vocab map[string]int
	if err := field("model", "vocab", m, &vocab); err != nil {
		return nil, err
	}
	b.vocab = make(map[string]int32, len(vocab))
	maxID := -1
	for tok, id := range vocab {
		if id < 0 || id >= maxVocabID {
			return nil, errorf("model vocab: token %q has invalid id %d", tok, id)
		}
		b.vocab[tok] = int32(id)
		maxID = max(maxID, id)
	}
	if maxID >= 4*len(vocab)+1024 {
		return nil, errorf("model vocab: ids up to %d for %d tokens are too sparse", maxID, len(vocab))
	}
	b.idToTok = make([]string, maxID+1)
	b.hasID = make([]bool, maxID+1)
	for tok, id := range vocab {
		b.idToTok[id], b.hasID[id] = tok, true
	}
	var unk *string
	for key, dst := range map[string]any{
		"unk_token": &unk, "fuse_unk": &b.fuseUnk, "byte_fallback": &b.byteFallback,
		"ignore_merges": &b.ignoreMerges, "continuing_subword_prefix": &b.prefix,
		"end_of_word_suffix": &b.suffix,
	} {
		if err := field("model", key, m, dst); err != nil {
			return nil, err
		}
	}
	if unk != nil {
		id, ok := b.vocab[*unk]
		if !ok {
			return nil, errorf("model unk_token %q not in vocab", *unk)
		}
		b.unk = id
	}
	for c := 0; c < 256; c++ {
		b.byteTok[c] = -1
		if id, ok := b.vocab[fmt.Sprintf("<0x%02X>", c)]; ok {
			b.byteTok[c] = id
		}
	}
	merges, err := parseMerges(m["merges"])
	if err != nil {
		return nil, err
	}
	b.merges = make(map[uint64]mergeRule, len(merges))
	for rank, mg := range merges {
		a, ok1 := b.vocab[mg[0]]
		c, ok2 := b.vocab[mg[1]]
		if !ok1 || !ok2 {
			return nil, errorf("model merges[%d] %q: token not in vocab", rank, mg[0]+" "+mg[1])
		}
		right := mg[1]
		if b.prefix != "" {
			if !strings.HasPrefix(right, b.prefix) {
				return nil, errorf("model merges[%d] %q: second token lacks continuing_subword_prefix", rank, mg[0]+" "+mg[1])
			}
			right = right[len(b.prefix):]
		}
		id, ok := b.vocab[mg[0]+right]
		if !ok {
			return nil, errorf("model merges[%d]: merged token %q not in vocab", rank, mg[0]+right)
		}
		b.merges[pairKey(a, c)] = mergeRule{rank: int32(rank), id: id}
	}
	b.prepare()
	return b, nil
}

// parseMerges accepts both merge formats: ["a b", ...] and [["a","b"], ...].
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, errorf("model: missing merges")
	}
	// The first element tells the format: decoding the pairs as strings
	// first would scan the whole (large) array twice.
	if rest, ok := bytes.CutPrefix(bytes.TrimSpace(raw), []byte("[")); ok && bytes.HasPrefix(bytes.TrimLeft(rest, " \t\r\n"), []byte("[")) {
		return parsePairMerges(raw)
	}
	var legacy []string
	if err := json.Unmarshal(raw, &legacy); err == nil {
		out := make([][2]string, 0, len(legacy))
		for i, s := range legacy {
			if strings.HasPrefix(s, "#version") {
				continue
			}
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, errorf("model merges[%d] %q: expected two tokens separated by one space", i, s)
			}
			out = append(out, [2]string{a, b})
		}
		return out, nil
	}
	return parsePairMerges(raw)
}

// parsePairMerges decodes merges given as [["a","b"], ...].
func parsePairMerges(raw json.RawMessage) ([][2]string, error) {
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, errorf("model merges: expected strings or pairs of strings: %v", err)
	}
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, errorf("model merges[%d]: expected a pair of strings, got %d", i, len(p))
		}
		out[i] = [2]string{p[0], p[1]}
	}
	return out, nil
}
