package kvcache

import (
	"fmt"
	"slices"

	"github.com/cellm-ai/cellm-go/kernels"
)

// Seq is one sequence's block table: block b holds positions
// [b*BlockTokens, (b+1)*BlockTokens). A Seq is not safe for concurrent use;
// the Pool it draws from is, so many goroutines may each drive their own Seq.
//
// The life of a decode step: Reserve(n) room for n new positions, Store the
// keys and values of every layer at positions Len..Len+n-1 (attention reads
// them through BlocksF32/BlocksF16/BlocksQ8 right away), then Commit(n).
type Seq struct {
	p      *Pool
	blocks []*block
	n      int // committed positions
	// wfrom is the first position Store may write: positions below it may
	// sit in a block shared with another Seq or published, until Reserve
	// makes that block exclusive.
	wfrom int

	// Per-layer views of the blocks, kept in step with blocks so that
	// BlocksF32/BlocksF16/BlocksQ8 allocate nothing (indexed by the pool's slot).
	k32, v32 [][][]float32
	k16, v16 [][][]uint16
	k8, v8   [][][]int8
	ks, vs   [][][]float32 // the scales of k8, v8

	// w holds the sliding-window layers (a Seq of the pool's win sub-pool,
	// same length); its blocks below low were given back (nil).
	w   *Seq
	low int
}

// Pool returns the pool s draws blocks from.
func (s *Seq) Pool() *Pool { return s.p }

// Len returns the number of committed positions.
func (s *Seq) Len() int { return s.n }

// Cap returns the number of positions the current blocks hold
// (committed plus reserved).
func (s *Seq) Cap() int { return len(s.blocks) * s.p.cfg.BlockTokens }

// Reserve makes room for positions [Len, Len+n): it takes the missing
// blocks from the pool and, if the partly filled last block is shared with
// another Seq (after Fork, or a Truncate into adopted blocks), copies it
// first (copy-on-write); a last block only this Seq holds but that is
// published is withdrawn from the prefix index instead.
// When the pool has no free block it evicts unreferenced cached prefix
// blocks, least recently used first; if that is not enough it returns an
// error wrapping ErrBudget and changes nothing (except that, in a pool with
// sliding-window layers, the window blocks no query from Len on can read
// are given back first, as every Reserve does).
func (s *Seq) Reserve(n int) error {
	if s.w == nil || n < 0 {
		return s.reserve(n)
	}
	// Give back the window blocks no query from Len on can see.
	bt := s.p.cfg.BlockTokens
	s.w.dropBelow(max(0, s.n-s.p.cfg.Window+1) / bt)
	had := len(s.w.blocks)
	if err := s.w.reserve(n); err != nil {
		return err
	}
	if err := s.reserve(n); err != nil {
		s.w.p.mu.Lock()
		s.w.dropFrom(had) // undo the window part's new blocks
		s.w.p.mu.Unlock()
		return err
	}
	return nil
}

// reserve is Reserve for the blocks of s's own pool.
func (s *Seq) reserve(n int) error {
	if n < 0 || n > int(^uint(0)>>1)-s.n {
		return fmt.Errorf("kvcache: Reserve(%d) at length %d: bad count", n, s.n)
	}
	if n == 0 {
		return nil
	}
	p := s.p
	bt := p.cfg.BlockTokens
	grow := max(0, (s.n+n+bt-1)/bt-len(s.blocks))

	p.mu.Lock()
	defer p.mu.Unlock()
	// Only the block holding position Len can be shared or published:
	// blocks past it were reserved by this Seq alone.
	var partial *block
	if s.n%bt != 0 {
		partial = s.blocks[s.n/bt]
	}
	cow := partial != nil && partial.ref > 1
	need := grow
	if cow {
		need++
	}
	if avail := p.available(); avail < need {
		return fmt.Errorf("%w: %d positions at length %d need %d blocks of %d bytes, %d available of %d",
			ErrBudget, n, s.n, need, p.blockBytes, avail, p.total)
	}
	switch {
	case cow:
		b := p.alloc()
		copy(b.data, partial.data)
		copy(b.data16, partial.data16)
		copy(b.data8, partial.data8)
		copy(b.scale, partial.scale)
		p.drop(partial)
		s.setBlock(s.n/bt, b)
	case partial != nil && partial.published:
		// Only this Seq uses it: take it out of the prefix index rather
		// than copy it.
		p.unpublish(partial)
	}
	for range grow {
		s.appendBlock(p.alloc())
	}
	s.wfrom = s.n
	return nil
}

// Store writes the keys and values of one position of one layer: k and v
// hold KVHeads*HeadDim values (head-major), converted to the pool's DType.
// pos must lie in the reserved range Len <= pos < Cap (see Reserve). It
// panics on a bad layer, position or length, as a kernel does.
func (s *Seq) Store(layer, pos int, k, v []float32) {
	c := &s.p.cfg
	if layer < 0 || layer >= c.Layers {
		panic(fmt.Sprintf("kvcache: Store: layer %d out of range [0, %d)", layer, c.Layers))
	}
	if pos < max(s.n, s.wfrom) || pos >= s.Cap() {
		panic(fmt.Sprintf("kvcache: Store: position %d outside the reserved range [%d, %d) (Reserve first)",
			pos, max(s.n, s.wfrom), s.Cap()))
	}
	w := c.KVHeads * c.HeadDim
	if len(k) != w || len(v) != w {
		panic(fmt.Sprintf("kvcache: Store: len(k)=%d len(v)=%d, want KVHeads*HeadDim=%d", len(k), len(v), w))
	}
	if s.w != nil {
		sl := s.p.slot[layer]
		if sl < 0 {
			s.w.Store(-1-sl, pos, k, v)
			return
		}
		layer = sl
	}
	bt, hd, elems := c.BlockTokens, c.HeadDim, s.p.elems
	b := s.blocks[pos/bt]
	base := 2*layer*elems + (pos%bt)*hd
	for h := 0; h < c.KVHeads; h++ {
		dk := base + h*bt*hd
		dv := dk + elems
		switch {
		case b.data16 != nil:
			kernels.F32ToF16(b.data16[dk:dk+hd], k[h*hd:(h+1)*hd])
			kernels.F32ToF16(b.data16[dv:dv+hd], v[h*hd:(h+1)*hd])
		case b.data8 != nil:
			// The key row goes through the value row's place (written
			// next) into the head's quad-interleaved keys.
			sk, sv, kh := dk/hd, dv/hd, 2*layer*elems+h*bt*hd
			b.scale[sk] = kernels.QuantizeQ8Row(b.data8[dv:dv+hd], k[h*hd:(h+1)*hd])
			kernels.SetQ8Key(b.data8[kh:kh+bt*hd], bt, pos%bt, b.data8[dv:dv+hd])
			b.scale[sv] = kernels.QuantizeQ8Row(b.data8[dv:dv+hd], v[h*hd:(h+1)*hd])
		default:
			copy(b.data[dk:dk+hd], k[h*hd:(h+1)*hd])
			copy(b.data[dv:dv+hd], v[h*hd:(h+1)*hd])
		}
	}
}

// Commit adds n stored positions to the sequence (Len += n), after every
// layer stored them. The positions must have been reserved; it panics
// otherwise.
func (s *Seq) Commit(n int) {
	if n < 0 || n > s.Cap()-s.n || (n > 0 && s.wfrom > s.n) {
		panic(fmt.Sprintf("kvcache: Commit(%d) at length %d: only positions reserved since the last Fork/Truncate may be committed (capacity %d)",
			n, s.n, s.Cap()))
	}
	s.n += n
	if s.w != nil {
		s.w.Commit(n)
	}
}

// Truncate drops positions >= n (0 <= n <= Len) and the blocks, reserved
// ones included, that hold none of the remaining positions. Call Reserve
// before storing again.
func (s *Seq) Truncate(n int) error {
	if n < 0 || n > s.n {
		return fmt.Errorf("kvcache: Truncate(%d): want 0 <= n <= Len (%d)", n, s.n)
	}
	bt := s.p.cfg.BlockTokens
	if s.w != nil {
		if n > 0 && max(0, n-s.p.cfg.Window+1)/bt < s.w.low {
			return fmt.Errorf("%w: Truncate(%d) needs positions from %d, the window blocks start at %d",
				ErrWindow, n, max(0, n-s.p.cfg.Window+1), s.w.low*bt)
		}
		if err := s.w.Truncate(n); err != nil {
			return err
		}
	}
	keep := (n + bt - 1) / bt
	s.p.mu.Lock()
	s.dropFrom(keep)
	s.p.mu.Unlock()
	s.n = n
	s.wfrom = keep * bt
	return nil
}

// Fork returns a new Seq sharing every block that holds a committed
// position (reference counts, no copy); reserved blocks stay with s. Both
// Seqs copy a shared partly filled last block when they next Reserve.
func (s *Seq) Fork() *Seq {
	p := s.p
	t := &Seq{p: p}
	t.allocViews()
	bt := p.cfg.BlockTokens
	keep := (s.n + bt - 1) / bt
	p.mu.Lock()
	for _, b := range s.blocks[:keep] {
		if b != nil {
			p.retain(b)
		}
		t.appendBlock(b)
	}
	p.mu.Unlock()
	t.low = s.low
	t.n = s.n
	t.wfrom = keep * bt
	s.wfrom = max(s.wfrom, keep*bt)
	if s.w != nil {
		t.w = s.w.Fork()
	}
	return t
}

// Release gives all blocks back to the pool (published ones stay cached
// until evicted) and empties s, which can be reused.
func (s *Seq) Release() {
	s.p.mu.Lock()
	s.dropFrom(0)
	s.p.mu.Unlock()
	s.n, s.wfrom = 0, 0
	if s.w != nil {
		s.w.Release()
	}
}

// dropBelow gives back blocks [low, i) (sliding-window blocks no query
// will read again) and leaves nil in their place.
func (s *Seq) dropBelow(i int) {
	i = min(i, len(s.blocks))
	if i <= s.low {
		return
	}
	s.p.mu.Lock()
	for j := s.low; j < i; j++ {
		if s.blocks[j] != nil {
			s.p.drop(s.blocks[j])
		}
		s.setBlock(j, nil)
	}
	s.p.mu.Unlock()
	s.low = i
}

// dropFrom releases blocks [i:], the last one first so that the deepest
// blocks of a prefix chain are evicted before the ones they extend. The
// caller holds the pool's mu.
func (s *Seq) dropFrom(i int) {
	for j := len(s.blocks) - 1; j >= i; j-- {
		if s.blocks[j] != nil {
			s.p.drop(s.blocks[j])
		}
		s.blocks[j] = nil
	}
	s.blocks = s.blocks[:i]
	s.low = min(s.low, i)
	for l := range s.k32 {
		clear(s.k32[l][i:])
		clear(s.v32[l][i:])
		s.k32[l], s.v32[l] = s.k32[l][:i], s.v32[l][:i]
	}
	for l := range s.k16 {
		clear(s.k16[l][i:])
		clear(s.v16[l][i:])
		s.k16[l], s.v16[l] = s.k16[l][:i], s.v16[l][:i]
	}
	for l := range s.k8 {
		clear(s.k8[l][i:])
		clear(s.v8[l][i:])
		clear(s.ks[l][i:])
		clear(s.vs[l][i:])
		s.k8[l], s.v8[l] = s.k8[l][:i], s.v8[l][:i]
		s.ks[l], s.vs[l] = s.ks[l][:i], s.vs[l][:i]
	}
}

// appendBlock adds b (nil: a block given back) at the end of the table and
// of the per-layer views.
func (s *Seq) appendBlock(b *block) {
	s.blocks = append(s.blocks, b)
	if b == nil {
		for l := range s.k32 {
			s.k32[l], s.v32[l] = append(s.k32[l], nil), append(s.v32[l], nil)
		}
		for l := range s.k16 {
			s.k16[l], s.v16[l] = append(s.k16[l], nil), append(s.v16[l], nil)
		}
		for l := range s.k8 {
			s.k8[l], s.v8[l] = append(s.k8[l], nil), append(s.v8[l], nil)
			s.ks[l], s.vs[l] = append(s.ks[l], nil), append(s.vs[l], nil)
		}
		return
	}
	e := s.p.elems
	for l := range s.k32 {
		o := 2 * l * e
		s.k32[l] = append(s.k32[l], b.data[o:o+e:o+e])
		s.v32[l] = append(s.v32[l], b.data[o+e:o+2*e:o+2*e])
	}
	for l := range s.k16 {
		o := 2 * l * e
		s.k16[l] = append(s.k16[l], b.data16[o:o+e:o+e])
		s.v16[l] = append(s.v16[l], b.data16[o+e:o+2*e:o+2*e])
	}
	r := e / s.p.cfg.HeadDim // scales per layer per K or V
	for l := range s.k8 {
		o, so := 2*l*e, 2*l*r
		s.k8[l] = append(s.k8[l], b.data8[o:o+e:o+e])
		s.v8[l] = append(s.v8[l], b.data8[o+e:o+2*e:o+2*e])
		s.ks[l] = append(s.ks[l], b.scale[so:so+r:so+r])
		s.vs[l] = append(s.vs[l], b.scale[so+r:so+2*r:so+2*r])
	}
}

// setBlock replaces block i of the table and of the per-layer views.
func (s *Seq) setBlock(i int, b *block) {
	s.blocks[i] = b
	if b == nil {
		for l := range s.k32 {
			s.k32[l][i], s.v32[l][i] = nil, nil
		}
		for l := range s.k16 {
			s.k16[l][i], s.v16[l][i] = nil, nil
		}
		for l := range s.k8 {
			s.k8[l][i], s.v8[l][i] = nil, nil
			s.ks[l][i], s.vs[l][i] = nil, nil
		}
		return
	}
	e := s.p.elems
	for l := range s.k32 {
		o := 2 * l * e
		s.k32[l][i], s.v32[l][i] = b.data[o:o+e:o+e], b.data[o+e:o+2*e:o+2*e]
	}
	for l := range s.k16 {
		o := 2 * l * e
		s.k16[l][i], s.v16[l][i] = b.data16[o:o+e:o+e], b.data16[o+e:o+2*e:o+2*e]
	}
	r := e / s.p.cfg.HeadDim
	for l := range s.k8 {
		o, so := 2*l*e, 2*l*r
		s.k8[l][i], s.v8[l][i] = b.data8[o:o+e:o+e], b.data8[o+e:o+2*e:o+2*e]
		s.ks[l][i], s.vs[l][i] = b.scale[so:so+r:so+r], b.scale[so+r:so+2*r:so+2*r]
	}
}

// Publish registers the full blocks of s for prefix reuse: tokens[:Len] are
// the ids of s's positions (a shorter tokens publishes less), and block b is
// indexed under the hash chain of tokens[:(b+1)*BlockTokens], so another Seq
// whose prompt starts with the same ids can AdoptPrefix it. A partly filled
// last block is never published. Blocks already registered (adopted, or
// published by an earlier call) are kept; a block whose prefix another block
// already represents is left private. Publishing is cheap to repeat after
// every turn of a chat.
func (s *Seq) Publish(tokens []int) {
	p := s.p
	if p.win != nil {
		return // the window layers' blocks of a prefix are not kept
	}
	bt := p.cfg.BlockTokens
	m := min(len(tokens), s.n) / bt
	p.mu.Lock()
	defer p.mu.Unlock()
	var h, parent uint64
	for i := range m {
		ids := tokens[i*bt : (i+1)*bt]
		h = p.hash(h, ids)
		b := s.blocks[i]
		if b.published {
			if b.hash != h || b.parent != parent || !slices.Equal(b.ids, ids) {
				return // registered under other ids: the chain ends here
			}
			parent = b.serial
			continue
		}
		if e := p.prefix[h]; e != nil {
			if e.parent != parent || !slices.Equal(e.ids, ids) {
				return // a hash collision with another prefix: stop the chain
			}
			parent = e.serial // the same prefix, already registered
			continue
		}
		p.nextSerial++
		b.published, b.hash, b.parent, b.serial = true, h, parent, p.nextSerial
		b.ids = append(b.ids[:0], ids...)
		p.prefix[h] = b
		parent = b.serial
	}
}

// AdoptPrefix attaches to the empty Seq s the longest chain of published
// blocks whose ids match a prefix of tokens, sharing them (no copy), and
// returns the number of positions reused, a multiple of BlockTokens; Len
// becomes that number. Ids are compared, not only hashes. A caller that
// needs the logits of the last prompt token should pass all but that token.
// It panics if s is not empty.
func (s *Seq) AdoptPrefix(tokens []int) int {
	if s.n != 0 || len(s.blocks) != 0 {
		panic(fmt.Sprintf("kvcache: AdoptPrefix on a non-empty Seq (Len %d, %d blocks)", s.n, len(s.blocks)))
	}
	p := s.p
	if p.win != nil {
		return 0
	}
	bt := p.cfg.BlockTokens
	m := len(tokens) / bt
	p.mu.Lock()
	var h, parent uint64
	for i := range m {
		ids := tokens[i*bt : (i+1)*bt]
		h = p.hash(h, ids)
		e := p.prefix[h]
		if e == nil || e.parent != parent || !slices.Equal(e.ids, ids) {
			break
		}
		p.retain(e)
		s.appendBlock(e)
		parent = e.serial
	}
	p.mu.Unlock()
	s.n = len(s.blocks) * bt
	s.wfrom = s.n
	return s.n
}

// BlocksF32 returns layer l's key and value blocks in sequence order (all
// blocks, reserved ones included), for a pool of DType F32. Block b holds
// positions [b*BlockTokens, (b+1)*BlockTokens) laid out
// [KVHeads][BlockTokens][HeadDim]: the input of kernels.AttentionPaged. The
// slices are valid until the next Reserve, Truncate or Release of s.
func (s *Seq) BlocksF32(l int) (k, v [][]float32) {
	if s.k32 == nil {
		panic("kvcache: BlocksF32 on a pool of DType " + s.p.cfg.DType.String())
	}
	if s.w != nil {
		sl := s.p.slot[l]
		if sl < 0 {
			return s.w.BlocksF32(-1 - sl)
		}
		l = sl
	}
	return s.k32[l], s.v32[l]
}

// BlocksF16 is BlocksF32 for a pool of DType F16 (binary16 bit patterns),
// the input of kernels.AttentionPagedF16.
func (s *Seq) BlocksF16(l int) (k, v [][]uint16) {
	if s.k16 == nil {
		panic("kvcache: BlocksF16 on a pool of DType " + s.p.cfg.DType.String())
	}
	if s.w != nil {
		sl := s.p.slot[l]
		if sl < 0 {
			return s.w.BlocksF16(-1 - sl)
		}
		l = sl
	}
	return s.k16[l], s.v16[l]
}

// BlocksQ8 is BlocksF32 for a pool of DType Q8: the int8 key and value
// blocks (laid out [KVHeads][BlockTokens][HeadDim], each KV head's keys
// interleaved by quads of dimensions and biased: see kernels.Q8KeyIndex) and their row scales
// (laid out [KVHeads][BlockTokens]; value = scale * int8), the input of
// kernels.AttentionPagedQ8.
func (s *Seq) BlocksQ8(l int) (k, v [][]int8, kScale, vScale [][]float32) {
	if s.k8 == nil {
		panic("kvcache: BlocksQ8 on a pool of DType " + s.p.cfg.DType.String())
	}
	if s.w != nil {
		sl := s.p.slot[l]
		if sl < 0 {
			return s.w.BlocksQ8(-1 - sl)
		}
		l = sl
	}
	return s.k8[l], s.v8[l], s.ks[l], s.vs[l]
}
