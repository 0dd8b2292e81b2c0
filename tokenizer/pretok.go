package tokenizer

import (
	"strings"
)

// preTokenizer cuts pieces of text into smaller pieces (HF PreTokenizer).
// Every piece handed to or returned by apply has tok == -1.
type preTokenizer interface {
	apply(w *scratch, dst, src []piece) []piece
}

// scratch holds buffers reused while encoding (kept in a sync.Pool).
type scratch struct {
	matches [][2]int
	spans   []span
	free    [][]piece // piece buffers available to take
}

// take returns an empty piece buffer.
func (w *scratch) take() []piece {
	if n := len(w.free); n > 0 {
		b := w.free[n-1]
		w.free = w.free[:n-1]
		return b
	}
	return nil
}

// give returns a buffer obtained from take (or grown from it).
func (w *scratch) give(b []piece) {
	if cap(b) == 0 {
		return
	}
	clear(b) // drop references to the text
	w.free = append(w.free, b[:0])
}

// behavior is an HF SplitDelimiterBehavior.
type behavior int

const (
	behRemoved behavior = iota
	behIsolated
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

var behaviorNames = map[string]behavior{
	"Removed":            behRemoved,
	"Isolated":           behIsolated,
	"MergedWithPrevious": behMergedWithPrevious,
	"MergedWithNext":     behMergedWithNext,
	"Contiguous":         behContiguous,
}

// span is a byte range of a piece and whether it matched the pattern.
type span struct {
	start, end int
	match      bool
}

// splitPiece cuts p according to the matches of m and behaviour beh (HF
// NormalizedString::split) and appends the non-empty results to dst.
func splitPiece(w *scratch, dst []piece, p piece, m matcher, beh behavior, invert bool) []piece {
	p = p.materialize()
	s := p.text
	if s == "" {
		return dst
	}
	ms := m.appendMatches(w.matches[:0], s)
	w.matches = ms
	spans := w.spans[:0]
	prev := 0
	for _, mm := range ms {
		if prev != mm[0] {
			spans = append(spans, span{prev, mm[0], invert})
		}
		spans = append(spans, span{mm[0], mm[1], !invert})
		prev = mm[1]
	}
	if prev != len(s) {
		spans = append(spans, span{prev, len(s), invert})
	}
	w.spans = spans // keep the (possibly grown) buffer for the next call
	out := spans[:0]
	switch beh {
	case behIsolated:
		out = spans
	case behRemoved:
		for _, sp := range spans {
			if !sp.match {
				out = append(out, sp)
			}
		}
	case behContiguous:
		prevMatch := false
		for _, sp := range spans {
			if sp.match == prevMatch && len(out) > 0 {
				out[len(out)-1].end = sp.end
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
	case behMergedWithPrevious:
		prevMatch := false
		for _, sp := range spans {
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].end = sp.end
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
	case behMergedWithNext:
		// Walk backwards: a match is glued to the start of the piece after it.
		var rev []span
		nextMatch := false
		for k := len(spans) - 1; k >= 0; k-- {
			sp := spans[k]
			if sp.match && !nextMatch && len(rev) > 0 {
				rev[len(rev)-1].start = sp.start
			} else {
				rev = append(rev, sp)
			}
			nextMatch = sp.match
		}
		for k := len(rev) - 1; k >= 0; k-- {
			out = append(out, rev[k])
		}
	}
	for _, sp := range out {
		if sp.start < sp.end {
			dst = append(dst, piece{text: s[sp.start:sp.end], tok: -1, orig0: p.orig0 && sp.start == 0})
		}
	}
	return dst
}

// splitPreTok is the "Split" pre-tokenizer and the splitting part of
// "Digits".
type splitPreTok struct {
	m      matcher
	beh    behavior
	invert bool
}

func (sp splitPreTok) apply(w *scratch, dst, src []piece) []piece {
	for _, p := range src {
		dst = splitPiece(w, dst, p, sp.m, sp.beh, sp.invert)
	}
	return dst
}

// seqPreTok is the "Sequence" pre-tokenizer.
type seqPreTok []preTokenizer

func (s seqPreTok) apply(w *scratch, dst, src []piece) []piece {
	cur := src
	var owned []piece
	for _, pt := range s {
		out := pt.apply(w, w.take(), cur)
		w.give(owned)
		owned, cur = out, out
	}
	dst = append(dst, cur...)
	w.give(owned)
	return dst
}

// byteLevelPreTok is the "ByteLevel" pre-tokenizer: optional prefix space,
// optional GPT-2 regex split, then every byte mapped to its printable
// stand-in character.
type byteLevelPreTok struct {
	addPrefixSpace bool
	useRegex       bool
}

func (b byteLevelPreTok) apply(w *scratch, dst, src []piece) []piece {
	for _, p := range src {
		p = p.materialize()
		if b.addPrefixSpace && !strings.HasPrefix(p.text, " ") {
			p.text = " " + p.text
		}
		start := len(dst)
		if b.useRegex {
			dst = splitPiece(w, dst, p, gpt2Matcher{}, behIsolated, false)
		} else if p.text != "" {
			dst = append(dst, p)
		}
		for k := start; k < len(dst); k++ {
			dst[k].byteLevel = true
		}
	}
	return dst
}

// byteToRune is the GPT-2 byte -> printable character table.
var byteToRune, runeToByte = func() (b2r [256]rune, r2b [324]int16) {
	for i := range r2b {
		r2b[i] = -1
	}
	n := rune(0)
	for c := 0; c < 256; c++ {
		if (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF) {
			b2r[c] = rune(c)
		} else {
			b2r[c] = 256 + n
			n++
		}
		r2b[b2r[c]] = int16(c)
	}
	return b2r, r2b
}()

// byteLevelStr holds the UTF-8 encoding of byteToRune for every byte.
var byteLevelStr = func() (t [256]string) {
	for i := range t {
		t[i] = string(byteToRune[i])
	}
	return t
}()

func byteLevelMap(sb *strings.Builder, s string) string {
	sb.Reset()
	sb.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		sb.WriteString(byteLevelStr[s[i]])
	}
	return sb.String()
}

// metaspacePreTok is the "Metaspace" pre-tokenizer.
type metaspacePreTok struct {
	repl    string
	prepend string // "always", "first" or "never"
	split   bool
}

func (m metaspacePreTok) apply(w *scratch, dst, src []piece) []piece {
	for _, p := range src {
		p = p.materialize()
		p.text = strings.ReplaceAll(p.text, " ", m.repl)
		if !strings.HasPrefix(p.text, m.repl) &&
			(m.prepend == "always" || (m.prepend == "first" && p.orig0)) {
			p.text = m.repl + p.text
		}
		if m.split {
			dst = splitPiece(w, dst, p, literalMatcher{m.repl}, behMergedWithNext, false)
		} else if p.text != "" {
			dst = append(dst, p)
		}
	}
	return dst
}

// digitsPreTok builds the "Digits" pre-tokenizer.
func digitsPreTok(individual bool) splitPreTok {
	beh := behContiguous
	if individual {
		beh = behIsolated
	}
	return splitPreTok{m: numberMatcher{}, beh: beh}
}
