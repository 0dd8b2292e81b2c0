package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a piece of text before pre-tokenization (HF
// Normalizer).
type normalizer interface {
	normalize(s string) string
}

// seqNormalizer is the "Sequence" normalizer.
type seqNormalizer []normalizer

func (q seqNormalizer) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}

// prependNormalizer is the "Prepend" normalizer: it prefixes non-empty text.
type prependNormalizer struct{ prefix string }

func (p prependNormalizer) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.prefix + s
}

// replaceNormalizer is the "Replace" normalizer with a literal pattern.
type replaceNormalizer struct{ old, new string }

func (r replaceNormalizer) normalize(s string) string {
	return strings.ReplaceAll(s, r.old, r.new)
}

// lowercaseNormalizer is the "Lowercase" normalizer (Rust char::to_lowercase
// applied character by character).
type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(s string) string {
	return strings.Map(unicode.ToLower, strings.ReplaceAll(s, "\u0130", "i\u0307"))
}

// stripNormalizer is the "Strip" normalizer (Unicode White_Space).
type stripNormalizer struct{ left, right bool }

func (st stripNormalizer) normalize(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// unicodeNormalizer is one of the "NFC", "NFD", "NFKC" and "NFKD"
// normalizers (Unicode normalization forms, as the Rust
// unicode-normalization crate applies them).
type unicodeNormalizer struct{ form norm.Form }

func (u unicodeNormalizer) normalize(s string) string {
	return u.form.String(s)
}
