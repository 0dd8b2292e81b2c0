package tokenizer

import (
	"fmt"
	"strings"
)

// maxPending bounds how many ids a Stream holds back while their text is
// not valid UTF-8 yet; past it the text is released as it decodes (with
// U+FFFD), which keeps every Push cheap on garbage input.
const maxPending = 64

// Stream decodes ids one at a time (incremental detokenization). It returns
// only complete characters: bytes of a character split over several tokens
// are held back until the character is complete (byte-level pieces), or
// until the run of <0xNN> pieces ends (byte-fallback pieces, which the
// decoder turns into text as a whole). The concatenation of everything Push
// and Flush return equals Decode of all pushed ids, unless more than 64 ids
// in a row are held back. A Stream is not safe for concurrent use.
type Stream struct {
	t           *Tokenizer
	skipSpecial bool
	ids         []int  // window: context ids then pending ids
	prefix      string // decoded text of ids[:prefixIndex]
	prefixIndex int
	lastByte    bool // the last decoded token is a <0xNN> byte piece
}

func isByteToken(tok string) bool {
	_, ok := byteToken(tok)
	return ok
}

// NewStream returns a Stream that decodes like Decode(ids, skipSpecial).
func (t *Tokenizer) NewStream(skipSpecial bool) *Stream {
	return &Stream{t: t, skipSpecial: skipSpecial}
}

func (s *Stream) decode(ids []int) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, _ := s.t.token(id) // ids are checked by Push
		if s.skipSpecial && s.t.added.special[tok] {
			continue
		}
		toks = append(toks, tok)
	}
	return s.t.decodeTokens(toks)
}

// Push adds one id and returns the newly completed text (possibly empty).
// An id outside the vocabulary is an error and leaves the Stream unchanged.
func (s *Stream) Push(id int) (string, error) {
	if _, ok := s.t.token(id); !ok {
		return "", fmt.Errorf("tokenizer: stream: id %d not in vocabulary (size %d)", id, s.t.vocabSize)
	}
	s.ids = append(s.ids, id)
	if tok, _ := s.t.token(id); s.t.byteFallback && !(s.skipSpecial && s.t.added.special[tok]) {
		s.lastByte = isByteToken(tok)
	}
	hold := len(s.ids)-s.prefixIndex <= maxPending
	// A ByteFallback group decodes as a whole (one U+FFFD per byte when
	// invalid), so its text is final only once a non-byte token follows.
	if hold && s.lastByte {
		return "", nil
	}
	text := s.decode(s.ids)
	if len(text) <= len(s.prefix) || (hold && strings.HasSuffix(text, "\uFFFD")) {
		return "", nil
	}
	if !strings.HasPrefix(text, s.prefix) {
		s.ids = s.ids[:len(s.ids)-1]
		return "", fmt.Errorf("tokenizer: stream: decoding id %d changed earlier text %q to %q", id, s.prefix, text)
	}
	out := text[len(s.prefix):]
	// The ids just released become the context of the next decode.
	s.ids = append(s.ids[:0], s.ids[s.prefixIndex:]...)
	s.prefixIndex = len(s.ids)
	s.prefix = s.decode(s.ids)
	return out, nil
}

// Flush returns the text still held back (for example an incomplete
// character at the end of the sequence, decoded with U+FFFD) and resets the
// Stream.
func (s *Stream) Flush() string {
	text := s.decode(s.ids)
	out := ""
	if len(text) > len(s.prefix) && strings.HasPrefix(text, s.prefix) {
		out = text[len(s.prefix):]
	}
	s.ids, s.prefix, s.prefixIndex, s.lastByte = s.ids[:0], "", 0, false
	return out
}
