package chat

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file turns a Hugging Face Jinja template into an equivalent template
// for the underlying engine. It exists because three things are easier to get
// right (and to keep engine-independent) in our own pass over the source:
//
//   - Whitespace control with Python jinja2's exact lexer rules
//     (trim_blocks, lstrip_blocks, "-" and "+" markers, newline
//     normalisation, keep_trailing_newline=False). Every piece of literal
//     text is then handed to the engine as a string variable, so the
//     engine's own whitespace handling has nothing to act on.
//   - Rewriting "| tojson" to our own Python-compatible json.dumps filter.
//   - Injecting guard hooks at the start of every for-loop body and around
//     every macro body, which bound the work and recursion depth of a render,
//     around every output expression, which bound the output size, and
//     around the value of every "set", which bound the size of strings and
//     lists a template can build in variables.

const (
	// maxTemplateBytes bounds the template source accepted by Parse.
	maxTemplateBytes = 256 << 10
	// maxBracketDepth bounds (, [ and { nesting inside one tag, which keeps
	// the engine's recursive-descent parser far from stack exhaustion.
	maxBracketDepth = 64
	// reservedPrefix starts every name our rewriting introduces.
	reservedPrefix = "__cellm"

	varText   = reservedPrefix + "_t"      // list of literal text pieces
	varStep   = reservedPrefix + "_step"   // loop-iteration hook
	varEnter  = reservedPrefix + "_enter"  // macro entry hook
	varLeave  = reservedPrefix + "_leave"  // macro exit hook
	varToJSON = reservedPrefix + "_tojson" // replacement tojson filter
	varOut    = reservedPrefix + "_out"    // output size hook around every {{ }}
	varSize   = reservedPrefix + "_size"   // value size hook around set values
)

type segKind int

const (
	segText segKind = iota
	segExpr
	segStmt
	segComment
	segRaw // literal body of a {% raw %} block
)

// segment is one lexical piece of a template.
type segment struct {
	kind   segKind
	text   string // tag content without delimiters/markers, or literal text
	left   byte   // '-', '+' or 0: marker after the opening delimiter
	right  byte   // '-', '+' or 0: marker before the closing delimiter
	line   int
	col    int
	rawEnd *segment // for segRaw: the {% endraw %} tag (its markers matter)
	rawBeg *segment // for segRaw: the {% raw %} tag
	// lineStart is set on text whose start is a line start for
	// lstrip_blocks (template start, or the preceding tag's match ended
	// with a newline).
	lineStart bool
}

// normalizeNewlines converts \r\n and \r to \n and drops one trailing
// newline, as jinja2's lexer does with keep_trailing_newline=False.
func normalizeNewlines(src string) string {
	if strings.IndexByte(src, '\r') >= 0 {
		src = strings.ReplaceAll(src, "\r\n", "\n")
		src = strings.ReplaceAll(src, "\r", "\n")
	}
	return strings.TrimSuffix(src, "\n")
}

// scanTemplate splits src into segments. Tag boundaries follow jinja2: a tag
// ends at the first closing delimiter that is not inside a string literal
// (comments end at the first "#}").
func scanTemplate(src string) ([]segment, error) {
	var segs []segment
	line, col := 1, 1
	advance := func(s string) {
		for _, r := range s {
			if r == '\n' {
				line++
				col = 1
			} else {
				col++
			}
		}
	}
	i, textStart := 0, 0
	textLine, textCol := 1, 1
	for i < len(src) {
		j := strings.IndexByte(src[i:], '{')
		if j < 0 {
			break
		}
		j += i
		if j+1 >= len(src) {
			break
		}
		var kind segKind
		var closer string
		switch src[j+1] {
		case '{':
			kind, closer = segExpr, "}}"
		case '%':
			kind, closer = segStmt, "%}"
		case '#':
			kind, closer = segComment, "#}"
		default:
			advance(src[i : j+1])
			i = j + 1
			continue
		}
		advance(src[i:j])
		if j > textStart {
			segs = append(segs, segment{kind: segText, text: src[textStart:j], line: textLine, col: textCol})
		}
		tagLine, tagCol := line, col
		k := j + 2
		var left byte
		if k < len(src) && (src[k] == '-' || src[k] == '+') {
			left = src[k]
			k++
		}
		end, contentEnd := -1, -1
		for p := k; p < len(src); p++ {
			c := src[p]
			if kind != segComment && (c == '\'' || c == '"') {
				p++
				for p < len(src) && src[p] != c {
					if src[p] == '\\' {
						p++
					}
					p++
				}
				continue
			}
			if c == closer[0] && p+1 < len(src) && src[p+1] == closer[1] {
				contentEnd, end = p, p+2
				break
			}
		}
		if end < 0 {
			name := map[segKind]string{segExpr: "expression", segStmt: "statement", segComment: "comment"}[kind]
			return nil, fmt.Errorf("line %d col %d: unclosed %s tag", tagLine, tagCol, name)
		}
		content := src[k:contentEnd]
		var right byte
		if n := len(content); n > 0 && (content[n-1] == '-' || (content[n-1] == '+' && kind != segExpr)) {
			right = content[n-1]
			content = content[:n-1]
		}
		seg := segment{kind: kind, text: content, left: left, right: right, line: tagLine, col: tagCol}
		advance(src[j:end])
		i, textStart = end, end
		textLine, textCol = line, col
		if kind == segStmt && stmtKeyword(content) == "raw" {
			// The body of a raw block is literal text up to {% endraw %}.
			bodyEnd, tagEnd, endSeg, ok := findEndRaw(src, end)
			if !ok {
				return nil, fmt.Errorf("line %d col %d: unclosed raw block", tagLine, tagCol)
			}
			begin := seg
			segs = append(segs, begin)
			body := segment{kind: segRaw, text: src[end:bodyEnd], line: line, col: col}
			advance(src[end:tagEnd])
			endSeg.line, endSeg.col = line, col
			body.rawBeg = &begin
			body.rawEnd = &endSeg
			segs = append(segs, body)
			i, textStart = tagEnd, tagEnd
			textLine, textCol = line, col
			continue
		}
		segs = append(segs, seg)
	}
	advance(src[i:])
	if textStart < len(src) {
		segs = append(segs, segment{kind: segText, text: src[textStart:], line: textLine, col: textCol})
	}
	return segs, nil
}

// findEndRaw finds the {% endraw %} tag after position from.
func findEndRaw(src string, from int) (bodyEnd, tagEnd int, tag segment, ok bool) {
	for p := from; ; {
		j := strings.Index(src[p:], "{%")
		if j < 0 {
			return 0, 0, segment{}, false
		}
		j += p
		k := j + 2
		var left byte
		if k < len(src) && (src[k] == '-' || src[k] == '+') {
			left = src[k]
			k++
		}
		rest := strings.TrimLeftFunc(src[k:], pyIsSpace)
		if strings.HasPrefix(rest, "endraw") {
			after := strings.TrimLeftFunc(rest[len("endraw"):], pyIsSpace)
			var right byte
			if strings.HasPrefix(after, "-%}") || strings.HasPrefix(after, "+%}") {
				right = after[0]
				after = after[1:]
			}
			if strings.HasPrefix(after, "%}") {
				end := len(src) - len(after) + 2
				return j, end, segment{kind: segStmt, text: " endraw ", left: left, right: right}, true
			}
		}
		p = j + 2
	}
}

// stmtKeyword returns the first identifier of a statement's content.
func stmtKeyword(content string) string {
	s := strings.TrimLeftFunc(content, pyIsSpace)
	n := 0
	for n < len(s) && isIdentByte(s[n]) {
		n++
	}
	return s[:n]
}

// guardSet wraps the value of "set target = value" in the size hook. Block
// sets (their body is output, already bounded) and tuple assignments are
// left alone.
func guardSet(c string) string {
	eq, comma := -1, false
	depth := 0
	for p := 0; p < len(c); p++ {
		switch ch := c[p]; ch {
		case '\'', '"':
			for p++; p < len(c) && c[p] != ch; p++ {
				if c[p] == '\\' {
					p++
				}
			}
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ',':
			if depth == 0 {
				comma = true
			}
		case '=':
			next := byte(0)
			if p+1 < len(c) {
				next = c[p+1]
			}
			prev := byte(0)
			if p > 0 {
				prev = c[p-1]
			}
			if depth == 0 && eq < 0 && next != '=' && !strings.ContainsRune("=!<>", rune(prev)) {
				eq = p
			}
		}
	}
	if eq < 0 || comma {
		return c
	}
	return c[:eq+1] + " " + varSize + "(" + c[eq+1:] + ")"
}

func isIdentByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// pyIsSpace reports whether r is whitespace for Python's str.isspace / re \s.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// isBlockLike reports whether whitespace defaults (trim_blocks,
// lstrip_blocks) apply to the tag.
func isBlockLike(s *segment) bool { return s.kind == segStmt || s.kind == segComment }

// applyWhitespace rewrites the text segments in place following jinja2's
// lexer with trim_blocks=True and lstrip_blocks=True. Like the lexer it works
// left to right: the text between two tags is first trimmed by the right side
// of the tag before it, then by the left side of the tag after it.
func applyWhitespace(segs []segment) {
	if len(segs) > 0 && segs[0].kind == segText {
		segs[0].lineStart = true // the template start is a line start
	}
	for i := range segs {
		s := &segs[i]
		switch s.kind {
		case segText:
			continue
		case segRaw:
			if s.rawBeg.right == '-' {
				// "-%}" after raw consumes the whitespace; no trim_blocks.
				rest := strings.TrimLeftFunc(s.text, pyIsSpace)
				s.lineStart = strings.HasSuffix(s.text[:len(s.text)-len(rest)], "\n")
				s.text = rest
			}
			s.text = lstripBefore(s.rawEnd, s.text, s.lineStart)
			if i+1 < len(segs) && segs[i+1].kind == segText {
				t := &segs[i+1]
				t.text, t.lineStart = trimAfter(s.rawEnd, t.text)
			}
			continue
		}
		if i > 0 && segs[i-1].kind == segText {
			t := &segs[i-1]
			t.text = lstripBefore(s, t.text, t.lineStart)
		}
		if i+1 < len(segs) && segs[i+1].kind == segText {
			t := &segs[i+1]
			t.text, t.lineStart = trimAfter(s, t.text)
		}
	}
}

// lstripBefore applies tag's left-side whitespace control to the text t
// that directly precedes it.
func lstripBefore(tag *segment, t string, lineStart bool) string {
	switch {
	case tag.left == '-':
		return strings.TrimRightFunc(t, pyIsSpace)
	case tag.left == '+' || !isBlockLike(tag):
		return t
	}
	lpos := strings.LastIndexByte(t, '\n') + 1
	if lpos == 0 && !lineStart {
		return t
	}
	if strings.Trim(t[lpos:], " \t") == "" {
		return t[:lpos]
	}
	return t
}

// trimAfter applies tag's right-side whitespace control to the text t that
// directly follows it; endsNL reports whether the consumed part (as in the
// jinja2 lexer's match) ended with a newline.
func trimAfter(tag *segment, t string) (string, bool) {
	switch {
	case tag.right == '-':
		rest := strings.TrimLeftFunc(t, pyIsSpace)
		consumed := t[:len(t)-len(rest)]
		return rest, strings.HasSuffix(consumed, "\n")
	case tag.right == '+' || !isBlockLike(tag):
		return t, false
	case strings.HasPrefix(t, "\n"):
		return t[1:], true
	}
	return t, false
}

// rewriteContent checks one tag's content and rewrites "| tojson" to our
// filter. It rejects reserved names and excessive bracket nesting.
func rewriteContent(s *segment) (string, error) {
	c := s.text
	var b strings.Builder
	depth := 0
	lastSig := byte(0) // last significant (non-space) byte outside strings
	last := 0
	for p := 0; p < len(c); {
		ch := c[p]
		switch {
		case ch == '\'' || ch == '"':
			p++
			for p < len(c) && c[p] != ch {
				if c[p] == '\\' {
					p++
				}
				p++
			}
			p++
			if p > len(c) {
				p = len(c)
			}
			lastSig = ch
		case ch == '(' || ch == '[' || ch == '{':
			depth++
			if depth > maxBracketDepth {
				return "", fmt.Errorf("line %d col %d: brackets nested deeper than %d", s.line, s.col, maxBracketDepth)
			}
			lastSig = ch
			p++
		case ch == ')' || ch == ']' || ch == '}':
			depth--
			lastSig = ch
			p++
		case isIdentByte(ch) && !(ch >= '0' && ch <= '9'):
			q := p
			for p < len(c) && isIdentByte(c[p]) {
				p++
			}
			word := c[q:p]
			if strings.HasPrefix(word, reservedPrefix) {
				return "", fmt.Errorf("line %d col %d: name %q is reserved", s.line, s.col, word)
			}
			if word == "tojson" && lastSig == '|' {
				b.WriteString(c[last:q])
				b.WriteString(varToJSON)
				last = p
			}
			lastSig = 'a'
		case ch >= '0' && ch <= '9':
			for p < len(c) && (isIdentByte(c[p]) || c[p] == '.') {
				p++
			}
			lastSig = '0'
		default:
			if !pyIsSpace(rune(ch)) {
				lastSig = ch
			}
			p++
		}
	}
	if last == 0 {
		return c, nil
	}
	b.WriteString(c[last:])
	return b.String(), nil
}

// compiled is the output of preprocess: engine source plus literal texts.
type compiled struct {
	source string
	texts  []string
}

// preprocess converts a Hugging Face template into engine source.
func preprocess(src string) (*compiled, error) {
	if len(src) > maxTemplateBytes {
		return nil, fmt.Errorf("template is %d bytes, limit is %d", len(src), maxTemplateBytes)
	}
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("template is not valid UTF-8")
	}
	segs, err := scanTemplate(normalizeNewlines(src))
	if err != nil {
		return nil, err
	}
	applyWhitespace(segs)

	out := &compiled{}
	var b strings.Builder
	b.Grow(len(src) + len(src)/4)
	emitText := func(t string) {
		if t == "" {
			return
		}
		b.WriteString("{{ " + varOut + "(" + varText + "[" + strconv.Itoa(len(out.texts)) + "]) }}")
		out.texts = append(out.texts, t)
	}
	for i := range segs {
		s := &segs[i]
		switch s.kind {
		case segText, segRaw:
			emitText(s.text)
		case segComment:
			// Comments produce nothing; their whitespace effects are applied.
		case segExpr:
			c, err := rewriteContent(s)
			if err != nil {
				return nil, err
			}
			b.WriteString("{{ " + varOut + "(" + c + ") }}")
		case segStmt:
			c, err := rewriteContent(s)
			if err != nil {
				return nil, err
			}
			kw := stmtKeyword(c)
			switch kw {
			case "raw", "endraw":
				continue // body already emitted as text
			case "endmacro":
				b.WriteString("{{ " + varLeave + "() }}")
			case "set":
				c = guardSet(c)
			}
			b.WriteString("{% " + c + " %}")
			switch kw {
			case "for":
				b.WriteString("{{ " + varStep + "() }}")
			case "macro":
				b.WriteString("{{ " + varEnter + "() }}")
			}
		}
	}
	out.source = b.String()
	return out, nil
}
