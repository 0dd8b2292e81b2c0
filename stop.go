package cellm

import "strings"

// stopMatcher streams generated text while watching for stop strings. It
// holds back any tail that could still become a stop string, so a stop
// string is never emitted, even when it spans several tokens.
type stopMatcher struct {
	stops   []string
	pending strings.Builder
}

// push adds text and returns what can be emitted now, and whether a stop
// string was found (the text before it is emitted; the rest is dropped).
func (s *stopMatcher) push(text string) (emit string, stopped bool) {
	if len(s.stops) == 0 {
		return text, false
	}
	s.pending.WriteString(text)
	buf := s.pending.String()
	first := -1
	for _, stop := range s.stops {
		if i := strings.Index(buf, stop); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		s.pending.Reset()
		return buf[:first], true
	}
	hold := 0
	for _, stop := range s.stops {
		for n := min(len(stop)-1, len(buf)); n > hold; n-- {
			if strings.HasSuffix(buf, stop[:n]) {
				hold = n
				break
			}
		}
	}
	s.pending.Reset()
	s.pending.WriteString(buf[len(buf)-hold:])
	return buf[:len(buf)-hold], false
}

// flush returns the held-back text at the end of generation.
func (s *stopMatcher) flush() string {
	out := s.pending.String()
	s.pending.Reset()
	return out
}
