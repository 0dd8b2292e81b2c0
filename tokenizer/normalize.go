package tokenizer

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

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
// normalizers. The HF library normalizes with Unicode 9.0 data
// (unicode-normalization-alignments 0.1.12), where later code points are
// unassigned: inert starters that stop reordering and composition. Text is
// therefore normalized in runs cut at the code points of newerThanUnicode9,
// which are kept as they are. Within a run, every code point that
// normalization touches was assigned in Unicode 9.0, and Unicode's
// normalization stability policy makes the result the same in both
// versions.
type unicodeNormalizer struct{ form norm.Form }

func (u unicodeNormalizer) normalize(s string) string {
	i, size := indexNewerThanUnicode9(s)
	if i < 0 {
		return u.form.String(s)
	}
	// Each run is normalized on its own (Form.Append would normalize
	// across the join).
	var b strings.Builder
	for i >= 0 {
		b.WriteString(u.form.String(s[:i]))
		b.WriteString(s[i : i+size])
		s = s[i+size:]
		i, size = indexNewerThanUnicode9(s)
	}
	b.WriteString(u.form.String(s))
	return b.String()
}

// indexNewerThanUnicode9 returns the byte offset and length of the first
// code point of s listed in newerThanUnicode9, or -1.
func indexNewerThanUnicode9(s string) (int, int) {
	first := newerThanUnicode9[0][0]
	for i, r := range s {
		if r < first {
			continue
		}
		k, _ := slices.BinarySearchFunc(newerThanUnicode9, r, func(rg [2]rune, r rune) int {
			return cmp.Compare(rg[1], r)
		})
		if k < len(newerThanUnicode9) && newerThanUnicode9[k][0] <= r {
			return i, utf8.RuneLen(r)
		}
	}
	return -1, 0
}
