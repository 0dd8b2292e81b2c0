package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Character classes used by the hand-written regex splitters.
const (
	clsOther  = iota // not a letter, number or whitespace
	clsLetter        // \p{L}
	clsNumber        // \p{N}
	clsSpace         // \s (Unicode White_Space)
)

var asciiClass = func() (t [128]uint8) {
	for r := rune(0); r < 128; r++ {
		t[r] = uint8(classOfSlow(r))
	}
	return t
}()

func classOfSlow(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

func classOf(r rune) int {
	if r < 128 {
		return int(asciiClass[r])
	}
	return classOfSlow(r)
}

// runeAt decodes the rune at s[i:] and returns it with its class and size.
func runeAt(s string, i int) (rune, int, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), int(asciiClass[c]), 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	return r, classOfSlow(r), size
}

// runEnd returns the end of the run of characters of class cls starting at i.
func runEnd(s string, i, cls int) int {
	for i < len(s) {
		_, c, size := runeAt(s, i)
		if c != cls {
			break
		}
		i += size
	}
	return i
}

// matcher finds the successive non-overlapping matches of a pattern.
type matcher interface {
	// appendMatches appends the [start, end) byte ranges of all matches in s.
	appendMatches(dst [][2]int, s string) [][2]int
}

// Patterns recognised by the hand-written splitters.
const (
	patGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	patLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// regexMatcher returns the hand-written matcher for a known regex pattern.
func regexMatcher(pattern string) (matcher, bool) {
	switch pattern {
	case patGPT2:
		return gpt2Matcher{}, true
	case patLlama3:
		return llama3Matcher{maxDigits: 3}, true
	case patQwen2:
		return llama3Matcher{maxDigits: 1}, true
	case `\p{N}`:
		return classMatcher{cls: clsNumber, max: 1}, true
	case `\p{N}+`:
		return classMatcher{cls: clsNumber}, true
	case `\p{N}{1,3}`:
		return classMatcher{cls: clsNumber, max: 3}, true
	}
	return nil, false
}

// whitespaceEnd implements `\s+(?!\S)|\s+` at i, where s[i] is whitespace
// ending at k (exclusive): the whole run at the end of the input, otherwise
// the run without its last character, or the single character.
func whitespaceEnd(s string, i, k int) int {
	if k == len(s) {
		return k
	}
	_, last := utf8.DecodeLastRuneInString(s[:k])
	if k-last > i {
		return k - last
	}
	return k
}

// gpt2Matcher implements the GPT-2 ByteLevel regex
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
type gpt2Matcher struct{}

func (gpt2Matcher) appendMatches(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		e := gpt2End(s, i)
		dst = append(dst, [2]int{i, e})
		i = e
	}
	return dst
}

func contraction(s string, i int, fold bool) int {
	if s[i] != '\'' || i+1 >= len(s) {
		return 0
	}
	rest := s[i+1:]
	if fold {
		if strings.HasPrefix(rest, "ſ") { // U+017F folds to 's'
			return 1 + len("ſ")
		}
		if len(rest) >= 2 {
			two := strings.ToLower(rest[:2])
			if two == "re" || two == "ve" || two == "ll" {
				return 3
			}
		}
		switch rest[0] | 0x20 {
		case 's', 't', 'm', 'd':
			return 2
		}
		return 0
	}
	switch rest[0] {
	case 's', 't', 'm', 'd':
		return 2
	}
	if len(rest) >= 2 {
		if two := rest[:2]; two == "re" || two == "ve" || two == "ll" {
			return 3
		}
	}
	return 0
}

func gpt2End(s string, i int) int {
	if n := contraction(s, i, false); n > 0 {
		return i + n
	}
	r, cls, size := runeAt(s, i)
	j := i + size
	if r == ' ' && j < len(s) {
		if _, c2, size2 := runeAt(s, j); c2 != clsSpace {
			cls = c2
			j += size2
		}
	}
	if cls != clsSpace {
		return runEnd(s, j, cls)
	}
	return whitespaceEnd(s, i, runEnd(s, i, clsSpace))
}

// llama3Matcher implements the Llama 3 (maxDigits 3) and Qwen2 (maxDigits 1)
// regex (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
type llama3Matcher struct{ maxDigits int }

func (m llama3Matcher) appendMatches(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		e := m.end(s, i)
		dst = append(dst, [2]int{i, e})
		i = e
	}
	return dst
}

func (m llama3Matcher) end(s string, i int) int {
	if n := contraction(s, i, true); n > 0 {
		return i + n
	}
	r, cls, size := runeAt(s, i)
	j := i + size
	switch cls {
	case clsLetter:
		return runEnd(s, j, clsLetter)
	case clsNumber:
		for n := 1; n < m.maxDigits && j < len(s); n++ {
			_, c, sz := runeAt(s, j)
			if c != clsNumber {
				break
			}
			j += sz
		}
		return j
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if r != '\r' && r != '\n' && j < len(s) {
		if _, c2, _ := runeAt(s, j); c2 == clsLetter {
			return runEnd(s, j, clsLetter)
		}
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	k := -1
	if cls == clsOther {
		k = j
	} else if r == ' ' && j < len(s) {
		if _, c2, sz2 := runeAt(s, j); c2 == clsOther {
			k = j + sz2
		}
	}
	if k >= 0 {
		k = runEnd(s, k, clsOther)
		for k < len(s) && (s[k] == '\r' || s[k] == '\n') {
			k++
		}
		return k
	}
	// Whitespace: `\s*[\r\n]+`, then `\s+(?!\S)|\s+`.
	k = runEnd(s, i, clsSpace)
	if p := strings.LastIndexAny(s[i:k], "\r\n"); p >= 0 {
		return i + p + 1
	}
	return whitespaceEnd(s, i, k)
}

// classMatcher matches runs of one character class, at most max characters
// long (0: unbounded), like \p{N}+ or \p{N}{1,3}.
type classMatcher struct{ cls, max int }

func (m classMatcher) appendMatches(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		_, c, size := runeAt(s, i)
		if c != m.cls {
			i += size
			continue
		}
		j, n := i+size, 1
		for j < len(s) && (m.max == 0 || n < m.max) {
			_, c, sz := runeAt(s, j)
			if c != m.cls {
				break
			}
			j += sz
			n++
		}
		dst = append(dst, [2]int{i, j})
		i = j
	}
	return dst
}

// literalMatcher matches a literal string (Split / Replace "String" patterns).
type literalMatcher struct{ lit string }

func (m literalMatcher) appendMatches(dst [][2]int, s string) [][2]int {
	for off := 0; ; {
		k := strings.Index(s[off:], m.lit)
		if k < 0 {
			return dst
		}
		dst = append(dst, [2]int{off + k, off + k + len(m.lit)})
		off += k + len(m.lit)
	}
}

// numberMatcher matches every single \p{N} character (Rust char::is_numeric),
// like runeMatcher{unicode.IsNumber} with an ASCII fast path.
type numberMatcher struct{}

func (numberMatcher) appendMatches(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= '0' && c <= '9' {
				dst = append(dst, [2]int{i, i + 1})
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsNumber(r) {
			dst = append(dst, [2]int{i, i + size})
		}
		i += size
	}
	return dst
}
