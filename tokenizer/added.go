package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json "added_tokens".
type addedToken struct {
	content    string
	id         int
	singleWord bool
	lstrip     bool
	rstrip     bool
	normalized bool
	special    bool
}

// trie is a byte trie over added-token contents used for leftmost-longest
// matching (the HF library uses an Aho-Corasick automaton with the same
// semantics).
type trie struct {
	next  map[uint64]int32 // (node<<8 | byte) -> child node
	term  []int32          // node -> index into addedVocab.tokens, or -1
	first [256]bool        // bytes that start at least one token
}

func newTrie() *trie {
	return &trie{next: make(map[uint64]int32), term: []int32{-1}}
}

func (t *trie) insert(s string, tok int32) {
	node := int32(0)
	for i := 0; i < len(s); i++ {
		k := uint64(node)<<8 | uint64(s[i])
		child, ok := t.next[k]
		if !ok {
			child = int32(len(t.term))
			t.term = append(t.term, -1)
			t.next[k] = child
		}
		node = child
	}
	t.term[node] = tok
	t.first[s[0]] = true
}

// longestAt returns the token index and length of the longest token that
// starts at s[i:], or -1.
func (t *trie) longestAt(s string, i int) (tok int32, n int) {
	tok = -1
	node := int32(0)
	for j := i; j < len(s); j++ {
		child, ok := t.next[uint64(node)<<8|uint64(s[j])]
		if !ok {
			break
		}
		node = child
		if t.term[node] >= 0 {
			tok, n = t.term[node], j+1-i
		}
	}
	return tok, n
}

// addedVocab holds the added tokens and the tries that find them in text.
type addedVocab struct {
	tokens    []addedToken // one per id, in insertion order
	byContent map[string]int
	byID      map[int]int // id -> index into tokens
	special   map[string]bool
	raw       *trie // tokens with normalized=false, matched on the raw text
	norm      *trie // tokens with normalized=true, matched on normalized text
}

// piece is a part of the input: either an added token (tok >= 0) or text
// still to be processed.
type piece struct {
	text  string
	tok   int  // added token id, or -1
	orig0 bool // the piece starts at offset 0 of the original input
	// byteLevel marks text whose bytes still have to be mapped to the
	// byte-level alphabet: the ByteLevel pre-tokenizer defers the mapping so
	// that the BPE model can work on the raw bytes without a copy.
	byteLevel bool
}

// materialize applies a deferred byte-level mapping.
func (p piece) materialize() piece {
	if p.byteLevel {
		var sb strings.Builder
		p.text, p.byteLevel = byteLevelMap(&sb, p.text), false
	}
	return p
}

// isWordChar reports whether r matches the Unicode \w class of the Rust regex
// crate: Alphabetic, marks, decimal numbers, connector punctuation and the
// join controls.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r) ||
		unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r) ||
		r == 0x200C || r == 0x200D
}

// split appends to dst the pieces of text, cutting out every added token of
// t, and honouring single_word, lstrip and rstrip (HF find_matches).
func (v *addedVocab) split(dst []piece, text string, orig0 bool, t *trie) []piece {
	if t == nil || text == "" {
		if text != "" {
			dst = append(dst, piece{text: text, tok: -1, orig0: orig0})
		}
		return dst
	}
	startOffset := 0
	emit := func(a, b, tok int) {
		if a < b {
			dst = append(dst, piece{text: text[a:b], tok: tok, orig0: orig0 && a == 0})
		}
	}
	for i := 0; i < len(text); {
		if !t.first[text[i]] {
			i++
			continue
		}
		ti, n := t.longestAt(text, i)
		if ti < 0 {
			i++
			continue
		}
		tok := &v.tokens[ti]
		start, stop := i, i+n
		i = stop // matches never overlap
		if tok.singleWord {
			if start > 0 {
				if r, _ := utf8.DecodeLastRuneInString(text[:start]); isWordChar(r) {
					continue
				}
			}
			if stop < len(text) {
				if r, _ := utf8.DecodeRuneInString(text[stop:]); isWordChar(r) {
					continue
				}
			}
		}
		if tok.lstrip {
			s := start
			for s > 0 {
				r, size := utf8.DecodeLastRuneInString(text[:s])
				if !unicode.IsSpace(r) {
					break
				}
				s -= size
			}
			start = max(s, startOffset)
		}
		if tok.rstrip {
			for stop < len(text) {
				r, size := utf8.DecodeRuneInString(text[stop:])
				if !unicode.IsSpace(r) {
					break
				}
				stop += size
			}
			i = stop
		}
		emit(startOffset, start, -1)
		dst = append(dst, piece{text: text[start:stop], tok: tok.id, orig0: orig0 && start == 0})
		startOffset = stop
	}
	emit(startOffset, len(text), -1)
	return dst
}
