package tokenizer

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// mergeRule is one entry of the BPE merge table: the rank (priority, lower
// merges first) and the id of the token produced by the merge.
type mergeRule struct {
	rank int32
	id   int32
}

// pairKey packs two token ids into a merge-table key.
func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// bpe is the byte-pair-encoding model of tokenizer.json ("type": "BPE").
type bpe struct {
	vocab        map[string]int32
	idToTok      []string // indexed by id
	hasID        []bool   // hasID[id]: id is a vocabulary entry
	merges       map[uint64]mergeRule
	unk          int32 // id of unk_token, -1 when there is none
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	byteTok      [256]int32
	// blID[b] is the id of the byte-level character of byte b, or -1.
	blID [256]int32
	// metaSplit: "▁" is in the vocabulary (so it never joins an unk or
	// byte pieces) and few tokens produced by a merge contain "▁" right
	// after another character than "▁" (those are listed in crossing). No
	// merge can then cross the point before such a "▁", unless a crossing
	// token occurs in the word over that point, so a word can be cut there
	// without changing the result (Llama 2 and Gemma style models have no
	// pre-tokenizer and would otherwise merge the whole text at once).
	metaSplit bool
	crossing  []crossingToken
	cache     wordCache // words as given
	cacheBL   wordCache // words whose bytes are mapped to the byte-level alphabet
}

// prepare computes the lookup tables derived from vocab and merges.
func (b *bpe) prepare() {
	for c := 0; c < 256; c++ {
		b.blID[c] = -1
		if id, ok := b.vocab[byteLevelStr[c]]; ok {
			b.blID[c] = id
		}
	}
	_, hasMeta := b.vocab["▁"]
	b.metaSplit = hasMeta && b.prefix == "" && b.suffix == ""
	b.crossing = nil
	isByte := map[int32]bool{}
	for _, id := range b.byteTok {
		isByte[id] = true
	}
	for key, m := range b.merges {
		if !b.metaSplit {
			return
		}
		tok := b.idToTok[m.id]
		if isByte[int32(key>>32)] || isByte[int32(uint32(key))] || int32(key>>32) == b.unk || int32(uint32(key)) == b.unk {
			// A merge of byte-fallback or unk pieces: its token string is
			// not the text it covers, so crossing checks on the text
			// cannot see it.
			if strings.Contains(tok, "▁") {
				b.metaSplit, b.crossing = false, nil
				return
			}
			continue
		}
		for i := strings.Index(tok, "▁"); i >= 0; {
			if i > 0 && !strings.HasSuffix(tok[:i], "▁") {
				if len(b.crossing) == maxCrossing {
					b.metaSplit, b.crossing = false, nil
					return
				}
				b.crossing = append(b.crossing, crossingToken{tok, i})
			}
			j := strings.Index(tok[i+len("▁"):], "▁")
			if j < 0 {
				break
			}
			i += len("▁") + j
		}
	}
	// Map iteration order is random: sort for reproducible behaviour.
	slices.SortFunc(b.crossing, func(x, y crossingToken) int {
		return cmp.Or(strings.Compare(x.tok, y.tok), x.at-y.at)
	})
}

// crossingToken is a merged token with a "▁" at byte offset at that follows
// another character than "▁" (Gemma has one: ">▁</").
type crossingToken struct {
	tok string
	at  int
}

// maxCrossing bounds the crossing tokens checked at every cut; with more,
// words are not cut.
const maxCrossing = 16

// canCut reports whether w may be cut before the "▁" at byte offset i: no
// crossing token occurs in w with its inner "▁" at i.
func (b *bpe) canCut(w string, i int) bool {
	for _, c := range b.crossing {
		if i >= c.at && strings.HasPrefix(w[i-c.at:], c.tok) {
			return false
		}
	}
	return true
}

// Word cache bounds: words of at least maxCachedWord bytes are never cached
// (like the HF library), and the cache is emptied when it reaches
// cacheCapacity entries so its memory stays bounded.
const (
	maxCachedWord = 256
	cacheCapacity = 1 << 14
)

// wordCache maps a pre-token to its BPE ids. Safe for concurrent use;
// lookups take no lock.
type wordCache struct {
	m sync.Map // string -> []int32
	n atomic.Int64
}

func (c *wordCache) get(w string) ([]int32, bool) {
	v, ok := c.m.Load(w)
	if !ok {
		return nil, false
	}
	return v.([]int32), true
}

func (c *wordCache) put(w string, ids []int32) {
	if c.n.Add(1) > cacheCapacity {
		c.m.Clear()
		c.n.Store(1)
	}
	c.m.Store(strings.Clone(w), ids)
}

// reset empties the cache.
func (c *wordCache) reset() {
	c.m.Clear()
	c.n.Store(0)
}

// idToken returns the vocabulary string of id.
func (b *bpe) idToken(id int) (string, bool) {
	if id < 0 || id >= len(b.hasID) || !b.hasID[id] {
		return "", false
	}
	return b.idToTok[id], true
}

// tokenize appends the ids of the word p to dst.
func (b *bpe) tokenize(p piece, dst []int) []int {
	if p.byteLevel && (b.ignoreMerges || b.prefix != "" || b.suffix != "") {
		p = p.materialize()
	}
	w := p.text
	if w == "" {
		return dst
	}
	if b.ignoreMerges {
		if id, ok := b.vocab[w]; ok {
			return append(dst, int(id))
		}
	}
	if b.metaSplit && !p.byteLevel {
		// Cut before every "▁" that follows another character.
		start := 0
		for i := 1; i < len(w); {
			k := strings.Index(w[i:], "▁")
			if k < 0 {
				break
			}
			i += k
			if !strings.HasSuffix(w[:i], "▁") && i > start && b.canCut(w, i) {
				dst = b.tokenizeWord(w[start:i], false, dst)
				start = i
			}
			i += len("▁")
		}
		w = w[start:]
	}
	return b.tokenizeWord(w, p.byteLevel, dst)
}

// tokenizeWord appends the ids of one word, using the word cache.
func (b *bpe) tokenizeWord(w string, byteLevel bool, dst []int) []int {
	cache := &b.cache
	if byteLevel {
		cache = &b.cacheBL
	}
	cacheable := len(w) < maxCachedWord
	if cacheable {
		if ids, ok := cache.get(w); ok {
			for _, id := range ids {
				dst = append(dst, int(id))
			}
			return dst
		}
	}
	var syms []int32
	if byteLevel {
		syms = b.initialSymbolsBL(w, make([]int32, 0, len(w)))
	} else {
		syms = b.initialSymbols(w, make([]int32, 0, len(w)))
	}
	if len(syms) <= 64 {
		syms = b.mergeSmall(syms)
	} else {
		syms = b.mergeHeap(syms)
	}
	if cacheable {
		cache.put(w, syms)
	}
	for _, id := range syms {
		dst = append(dst, int(id))
	}
	return dst
}

// initialSymbolsBL is initialSymbols for a word given as raw bytes to be
// seen through the byte-level alphabet (one character per byte), without
// continuing_subword_prefix / end_of_word_suffix.
func (b *bpe) initialSymbolsBL(w string, syms []int32) []int32 {
	pendingUnk := false
	for i := 0; i < len(w); i++ {
		if id := b.blID[w[i]]; id >= 0 {
			if pendingUnk {
				syms = append(syms, b.unk)
				pendingUnk = false
			}
			syms = append(syms, id)
			continue
		}
		syms, pendingUnk = b.unknownChar(byteLevelStr[w[i]], syms, pendingUnk)
	}
	if pendingUnk {
		syms = append(syms, b.unk)
	}
	return syms
}

// unknownChar handles a character s that is not in the vocabulary:
// byte_fallback pieces if all exist, otherwise unk_token (fused with a
// pending one when fuse_unk), otherwise nothing.
func (b *bpe) unknownChar(s string, syms []int32, pendingUnk bool) ([]int32, bool) {
	if b.byteFallback {
		all := true
		for k := 0; k < len(s); k++ {
			if b.byteTok[s[k]] < 0 {
				all = false
				break
			}
		}
		if all {
			// Like the HF library, a pending unk is not flushed here.
			for k := 0; k < len(s); k++ {
				syms = append(syms, b.byteTok[s[k]])
			}
			return syms, pendingUnk
		}
	}
	if b.unk >= 0 {
		if pendingUnk && !b.fuseUnk {
			syms = append(syms, b.unk)
		}
		pendingUnk = true
	}
	// Without unk_token the character is dropped, as in the HF library.
	return syms, pendingUnk
}

// initialSymbols splits w into characters and maps each one to its id,
// applying continuing_subword_prefix / end_of_word_suffix, byte_fallback and
// unk_token (with fuse_unk) exactly like the HF BPE model.
func (b *bpe) initialSymbols(w string, syms []int32) []int32 {
	pendingUnk := false
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		j := i + size
		s := w[i:j]
		if (i > 0 && b.prefix != "") || (j == len(w) && b.suffix != "") {
			var sb strings.Builder
			if i > 0 {
				sb.WriteString(b.prefix)
			}
			sb.WriteString(s)
			if j == len(w) {
				sb.WriteString(b.suffix)
			}
			s = sb.String()
		}
		i = j
		if id, ok := b.vocab[s]; ok {
			if pendingUnk {
				syms = append(syms, b.unk)
				pendingUnk = false
			}
			syms = append(syms, id)
			continue
		}
		syms, pendingUnk = b.unknownChar(s, syms, pendingUnk)
	}
	if pendingUnk {
		syms = append(syms, b.unk)
	}
	return syms
}

const noRank = int32(1<<31 - 1)

// mergeSmall applies the merges to a short word: the rank of every adjacent
// pair is kept in an array and the lowest (leftmost on ties) is merged until
// none is left. Equivalent to the heap algorithm of the HF library.
func (b *bpe) mergeSmall(ids []int32) []int32 {
	if len(ids) < 2 {
		return ids
	}
	var rankBuf, newBuf [64]int32
	ranks, news := rankBuf[:len(ids)-1], newBuf[:len(ids)-1]
	for i := range ranks {
		ranks[i], news[i] = b.pairRank(ids[i], ids[i+1])
	}
	for len(ranks) > 0 {
		best := -1
		bestRank := noRank
		for i, r := range ranks {
			if r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		ids[best] = news[best]
		ids = append(ids[:best+1], ids[best+2:]...)
		ranks = append(ranks[:best], ranks[best+1:]...)
		news = append(news[:best], news[best+1:]...)
		if best > 0 {
			ranks[best-1], news[best-1] = b.pairRank(ids[best-1], ids[best])
		}
		if best < len(ranks) {
			ranks[best], news[best] = b.pairRank(ids[best], ids[best+1])
		}
	}
	return ids
}

func (b *bpe) pairRank(a, c int32) (int32, int32) {
	if m, ok := b.merges[pairKey(a, c)]; ok {
		return m.rank, m.id
	}
	return noRank, -1
}

// mergeCand is a candidate merge of the symbol at pos with its right
// neighbour.
type mergeCand struct {
	rank, pos, id int32
}

func (c mergeCand) less(o mergeCand) bool {
	return c.rank < o.rank || (c.rank == o.rank && c.pos < o.pos)
}

// candHeap is a binary min-heap of merge candidates ordered by (rank, pos).
type candHeap []mergeCand

func (h *candHeap) push(c mergeCand) {
	*h = append(*h, c)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *candHeap) pop() mergeCand {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].less(s[l]) {
			m = r
		}
		if !s[m].less(s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// mergeHeap applies the merges to a long word in O(n log n) with a
// priority queue over a doubly linked list of symbols, like the HF library.
func (b *bpe) mergeHeap(ids []int32) []int32 {
	n := len(ids)
	if n < 2 {
		return ids
	}
	prev := make([]int32, n)
	next := make([]int32, n)
	alive := make([]bool, n)
	h := make(candHeap, 0, n)
	for i := range ids {
		prev[i], next[i], alive[i] = int32(i-1), int32(i+1), true
		if i+1 < n {
			if m, ok := b.merges[pairKey(ids[i], ids[i+1])]; ok {
				h.push(mergeCand{m.rank, int32(i), m.id})
			}
		}
	}
	next[n-1] = -1
	for len(h) > 0 {
		top := h.pop()
		p := top.pos
		if !alive[p] || next[p] < 0 {
			continue
		}
		r := next[p]
		if m, ok := b.merges[pairKey(ids[p], ids[r])]; !ok || m.id != top.id {
			continue // stale entry
		}
		ids[p] = top.id
		alive[r] = false
		next[p] = next[r]
		if next[r] >= 0 {
			prev[next[r]] = p
		}
		if q := prev[p]; q >= 0 {
			if m, ok := b.merges[pairKey(ids[q], ids[p])]; ok {
				h.push(mergeCand{m.rank, q, m.id})
			}
		}
		if q := next[p]; q >= 0 {
			if m, ok := b.merges[pairKey(ids[p], ids[q])]; ok {
				h.push(mergeCand{m.rank, p, m.id})
			}
		}
	}
	out := ids[:0]
	for i := 0; i >= 0 && i < n; i = int(next[i]) {
		out = append(out, ids[i])
	}
	return out
}
