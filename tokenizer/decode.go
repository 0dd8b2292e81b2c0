package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// decoder turns token strings back into text (HF Decoder::decode_chain).
type decoder interface {
	decodeChain(tokens []string) []string
}

// seqDecoder is the "Sequence" decoder.
type seqDecoder []decoder

func (q seqDecoder) decodeChain(tokens []string) []string {
	for _, d := range q {
		tokens = d.decodeChain(tokens)
	}
	return tokens
}

// byteLevelDecoder is the "ByteLevel" decoder: maps the stand-in characters
// back to bytes and decodes them as UTF-8, replacing invalid sequences with
// U+FFFD like Rust's String::from_utf8_lossy.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(tokens []string) []string {
	buf := make([]byte, 0, 64)
	for _, t := range tokens {
		mark := len(buf)
		ok := true
		for _, r := range t {
			if r < 0 || int(r) >= len(runeToByte) || runeToByte[r] < 0 {
				ok = false
				break
			}
			buf = append(buf, byte(runeToByte[r]))
		}
		if !ok { // a character without a byte: the token's own bytes are used
			buf = append(buf[:mark], t...)
		}
	}
	return []string{lossyUTF8(buf)}
}

// lossyUTF8 converts b to a string, replacing each maximal invalid
// subsequence by one U+FFFD (the Unicode "substitution of maximal subparts"
// practice that Rust's String::from_utf8_lossy follows).
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			sb.Write(b[i : i+size])
			i += size
			continue
		}
		sb.WriteString("\uFFFD")
		i += invalidPrefixLen(b[i:])
	}
	return sb.String()
}

// invalidPrefixLen returns the length of the maximal prefix of b (which does
// not start with a valid sequence) that could begin a valid UTF-8 sequence,
// at least 1.
func invalidPrefixLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c == 0xF4:
		need, hi = 3, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k > 0 {
			lo, hi = 0x80, 0xBF
		}
		if x < lo || x > hi {
			break
		}
		n++
	}
	return n
}

// metaspaceDecoder is the "Metaspace" decoder.
type metaspaceDecoder struct {
	repl      rune
	stripHead bool // prepend_scheme != "never": drop the replacement in the first token
}

func (m metaspaceDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		drop := i == 0 && m.stripHead
		out[i] = strings.Map(func(r rune) rune {
			if r == m.repl {
				if drop {
					return -1
				}
				return ' '
			}
			return r
		}, t)
	}
	return out
}

// replaceDecoder is the "Replace" decoder with a literal pattern.
type replaceDecoder struct{ old, new string }

func (r replaceDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = strings.ReplaceAll(t, r.old, r.new)
	}
	return out
}

// byteFallbackDecoder is the "ByteFallback" decoder: runs of <0xNN> tokens
// become their UTF-8 text, or one U+FFFD per byte when invalid.
type byteFallbackDecoder struct{}

// byteToken parses a "<0xNN>" token like the HF library (which uses Rust's
// u8::from_str_radix, so a leading '+' is accepted).
func byteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	h := t[3:5]
	if h[0] == '+' {
		h = h[1:]
	}
	var v byte
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | c
	}
	return v, true
}

func (byteFallbackDecoder) decodeChain(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range tokens {
		if b, ok := byteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// fuseDecoder is the "Fuse" decoder: all tokens become one.
type fuseDecoder struct{}

func (fuseDecoder) decodeChain(tokens []string) []string {
	return []string{strings.Join(tokens, "")}
}

// stripDecoder is the "Strip" decoder: removes up to start leading and stop
// trailing occurrences of content from every token.
type stripDecoder struct {
	content     rune
	start, stop int
}

func (s stripDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		rs := []rune(t)
		a := 0
		for a < s.start && a < len(rs) && rs[a] == s.content {
			a++
		}
		b := len(rs)
		for k := 0; k < s.stop && b > 0 && rs[b-1] == s.content; k++ {
			b--
		}
		if a > b {
			a = b
		}
		out[i] = string(rs[a:b])
	}
	return out
}
