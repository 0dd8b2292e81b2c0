// Package kvcache is a paged key/value cache for batched decoding: keys and
// values live in fixed-size blocks taken from one Pool with a byte budget, and
// each sequence (Seq) holds a block table mapping its positions to blocks.
//
// Blocks are reference-counted, so sequences can share them: Fork shares a
// whole sequence (copy-on-write of a partly filled last block), and
// Publish/AdoptPrefix share full blocks of a common prompt prefix across
// sequences (a system prompt, the earlier turns of a chat). A published block
// that no sequence uses any more stays cached until the pool needs the space,
// then the least recently used one is evicted. When the budget is exhausted,
// Reserve fails with ErrBudget and changes nothing, so a scheduler can wait
// and retry.
//
// Block storage is allocated lazily up to the budget and reused after it is
// freed: a steady-state decode allocates nothing.
//
// Sliding-window layers (Config.WindowLayers, Gemma 3's local layers) keep
// their keys and values in blocks of their own, and a Seq gives those blocks
// back as soon as they fall out of the window: a long sequence costs the
// full-attention layers only. Prefix sharing across sequences
// (Publish/AdoptPrefix) is off for such pools.
package kvcache

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cellm-ai/cellm-go/kernels"
)

// DType is the element type of stored keys and values.
type DType uint8

const (
	// F32 stores float32 values.
	F32 DType = iota
	// F16 stores IEEE binary16 bit patterns (rounded to nearest, ties to
	// even); attention reads them with the f16 kernels.
	F16
	// Q8 stores each row of HeadDim values (one position of one KV head)
	// as int8 with one float32 scale (the row's largest magnitude / 127,
	// see kernels.QuantizeQ8Row): HeadDim+4 bytes a row, about half of
	// F16; a block's keys of one KV head are interleaved by quads of
	// dimensions and stored biased (see kernels.Q8KeyIndex). Attention reads them with the
	// Q8 kernels.
	Q8
)

// String returns "f32", "f16" or "q8".
func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case Q8:
		return "q8"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// ParseDType returns the DType named s: "f32", "f16" or "q8" (also
// accepted: "int8" and "q8_0" for Q8, "f32"/"float32", "f16"/"float16").
func ParseDType(s string) (DType, error) {
	switch s {
	case "f32", "float32":
		return F32, nil
	case "f16", "float16":
		return F16, nil
	case "q8", "int8", "q8_0":
		return Q8, nil
	}
	return 0, fmt.Errorf("%w: KV type %q: want f32, f16 or q8", ErrConfig, s)
}

// RowBytes returns the bytes one row of headDim values (one position of
// one KV head, K or V) takes in storage of type d.
func (d DType) RowBytes(headDim int) int64 {
	switch d {
	case F16:
		return 2 * int64(headDim)
	case Q8:
		return int64(headDim) + 4
	}
	return 4 * int64(headDim)
}

// BytesPerToken returns the storage of one position of every layer's keys
// and values in a cache of type d: 2 * layers * kvHeads * RowBytes(headDim).
func BytesPerToken(d DType, layers, kvHeads, headDim int) int64 {
	return 2 * int64(layers) * int64(kvHeads) * d.RowBytes(headDim)
}

// DefaultBlockTokens is the block size used when Config.BlockTokens is 0.
const DefaultBlockTokens = 16

// Config shapes a Pool.
type Config struct {
	Layers, KVHeads, HeadDim int
	// BlockTokens is the number of positions per block; 0 means
	// DefaultBlockTokens.
	BlockTokens int
	DType       DType
	// BudgetBytes bounds the bytes of block storage the pool may allocate
	// (> 0, at least one block).
	BudgetBytes int64
	// WindowLayers, if not nil (len Layers), marks the sliding-window
	// layers: a query at position p of such a layer reads positions
	// p-Window+1..p only, so the Seq keeps only the blocks that window
	// needs. Those layers' blocks come from a share of the budget in
	// proportion to their number of layers (the full layers get the rest,
	// so both can hold as many positions as a pool without windows). At
	// least one layer must be full.
	WindowLayers []bool
	Window       int
}

// ErrWindow reports a Truncate to a length whose sliding-window keys were
// already given back: the sequence must be recomputed from the start.
var ErrWindow = errors.New("kvcache: positions before the sliding window are gone")

// ErrBudget reports that the pool has no free block left and nothing it may
// evict. It is returned wrapped; a scheduler treats it as "wait and retry".
var ErrBudget = errors.New("kvcache: budget exhausted")

// ErrConfig reports an invalid Config (wrapped with the offending field).
var ErrConfig = errors.New("kvcache: invalid config")

// maxBlockBytes bounds one block so that size arithmetic cannot overflow and
// a typo in a Config cannot ask for a huge allocation per block.
const maxBlockBytes = 1 << 31

// Stats is a snapshot of a Pool's block accounting.
type Stats struct {
	// BlocksTotal is the number of blocks the budget allows
	// (BudgetBytes / block bytes).
	BlocksTotal int
	// BlocksUsed counts blocks referenced by at least one Seq.
	BlocksUsed int
	// BlocksCached counts blocks no Seq references that still hold a
	// published prefix (evictable).
	BlocksCached int
	// BlocksAllocated counts blocks whose storage exists (used, cached or
	// free for reuse); it never exceeds BlocksTotal.
	BlocksAllocated int
	// BlockBytes is the storage of one block (all layers, K and V).
	BlockBytes int64
	// BytesPerToken is the storage of one position (all layers, K and V;
	// with sliding-window layers, the full layers only: what each position
	// of a long sequence costs).
	BytesPerToken int64
	// WindowBlocksUsed, WindowBlocksAllocated and WindowBlockBytes are the
	// accounting of the sliding-window layers' blocks (zero without them).
	WindowBlocksUsed, WindowBlocksAllocated int
	WindowBlockBytes                        int64
}

// block is one unit of storage: BlockTokens positions of every layer's keys
// and values. data (or data16, or data8) holds, for each layer, K then V,
// each laid out [KVHeads][BlockTokens][HeadDim] (for Q8, each KV head's
// keys interleaved by quads of dimensions, see kernels.Q8KeyIndex); for Q8,
// scale holds the rows' scales likewise, for each layer K then V, each
// [KVHeads][BlockTokens].
type block struct {
	data   []float32
	data16 []uint16
	data8  []int8
	scale  []float32
	ref    int // Seqs holding the block

	// Prefix registration (published is true while the block is in
	// Pool.prefix under hash).
	published bool
	hash      uint64
	serial    uint64 // unique per registration; 0 means none
	parent    uint64 // serial of the registered block before it in the chain, 0 for the first
	ids       []int  // the BlockTokens ids the block covers

	// LRU list of cached blocks (ref == 0 && published), oldest at Pool.lru.next.
	prev, next *block
}

// Pool owns the block storage shared by many Seqs. Its methods (and the Seq
// methods that take or give back blocks) are safe for concurrent use.
type Pool struct {
	cfg    Config
	elems  int // values per layer per K or V in one block: KVHeads*BlockTokens*HeadDim
	stored int // layers in this pool's blocks (Layers, or the full ones when win != nil)
	// slot maps a layer to its index in this pool's blocks (>= 0) or, for a
	// sliding-window layer, to -1-index in win's blocks.
	slot       []int
	win        *Pool // the sliding-window layers' blocks, nil without them
	blockBytes int64
	total      int // blocks the budget allows

	// hash combines a chain hash with one block's ids; a field so tests
	// can force collisions.
	hash func(h uint64, ids []int) uint64

	mu         sync.Mutex
	allocated  int      // blocks with storage
	used       int      // blocks with ref > 0
	free       []*block // allocated, ref == 0, not published
	lru        block    // sentinel of the cached list
	cached     int
	prefix     map[uint64]*block
	nextSerial uint64
}

// NewPool validates c and returns an empty pool; no storage is allocated
// until sequences reserve room.
func NewPool(c Config) (*Pool, error) {
	if c.BlockTokens == 0 {
		c.BlockTokens = DefaultBlockTokens
	}
	switch {
	case c.Layers <= 0:
		return nil, fmt.Errorf("%w: Layers %d must be > 0", ErrConfig, c.Layers)
	case c.KVHeads <= 0:
		return nil, fmt.Errorf("%w: KVHeads %d must be > 0", ErrConfig, c.KVHeads)
	case c.HeadDim <= 0:
		return nil, fmt.Errorf("%w: HeadDim %d must be > 0", ErrConfig, c.HeadDim)
	case c.BlockTokens < 0:
		return nil, fmt.Errorf("%w: BlockTokens %d must be >= 0", ErrConfig, c.BlockTokens)
	case c.DType > Q8:
		return nil, fmt.Errorf("%w: unknown DType %d", ErrConfig, uint8(c.DType))
	case c.DType == Q8 && c.HeadDim > kernels.MaxQ8HeadDim:
		return nil, fmt.Errorf("%w: HeadDim %d above %d is not supported by the q8 cache (use f16)", ErrConfig, c.HeadDim, kernels.MaxQ8HeadDim)
	case c.BudgetBytes <= 0:
		return nil, fmt.Errorf("%w: BudgetBytes %d must be > 0", ErrConfig, c.BudgetBytes)
	}
	// Multiply step by step with a bound so that no product overflows.
	bb := int64(2) // K and V
	if int64(c.HeadDim) <= maxBlockBytes/8 {
		bb *= c.DType.RowBytes(c.HeadDim) // at most 8*HeadDim: no overflow
	} else {
		bb = maxBlockBytes + 1 // fails the checks below
	}
	for _, f := range []int{c.Layers, c.KVHeads, c.BlockTokens} {
		if int64(f) > maxBlockBytes/bb {
			return nil, fmt.Errorf("%w: one block of Layers=%d KVHeads=%d HeadDim=%d BlockTokens=%d exceeds %d bytes",
				ErrConfig, c.Layers, c.KVHeads, c.HeadDim, c.BlockTokens, int64(maxBlockBytes))
		}
		bb *= int64(f)
	}
	if c.BudgetBytes < bb {
		return nil, fmt.Errorf("%w: BudgetBytes %d is less than one block (%d bytes)", ErrConfig, c.BudgetBytes, bb)
	}
	p := &Pool{
		cfg:        c,
		elems:      c.KVHeads * c.BlockTokens * c.HeadDim,
		stored:     c.Layers,
		blockBytes: bb,
		total:      int(min(c.BudgetBytes/bb, int64(^uint(0)>>1))),
		hash:       chainHash,
		prefix:     make(map[uint64]*block),
	}
	p.lru.prev, p.lru.next = &p.lru, &p.lru
	if c.WindowLayers == nil {
		if c.Window != 0 {
			return nil, fmt.Errorf("%w: Window %d without WindowLayers", ErrConfig, c.Window)
		}
		return p, nil
	}
	return p, p.splitWindow()
}

// splitWindow gives the sliding-window layers their own sub-pool.
func (p *Pool) splitWindow() error {
	c := &p.cfg
	if len(c.WindowLayers) != c.Layers {
		return fmt.Errorf("%w: %d WindowLayers for %d layers", ErrConfig, len(c.WindowLayers), c.Layers)
	}
	if c.Window <= 0 {
		return fmt.Errorf("%w: Window %d must be > 0 with WindowLayers", ErrConfig, c.Window)
	}
	c.WindowLayers = append([]bool(nil), c.WindowLayers...)
	p.slot = make([]int, c.Layers)
	full, win := 0, 0
	for l, w := range c.WindowLayers {
		if w {
			win++
			p.slot[l] = -win
		} else {
			p.slot[l] = full
			full++
		}
	}
	if full == 0 {
		return fmt.Errorf("%w: every layer is a sliding-window layer (at least one must be full)", ErrConfig)
	}
	if win == 0 {
		return nil
	}
	per := p.blockBytes / int64(c.Layers) // one layer of one block
	p.stored, p.blockBytes = full, per*int64(full)
	budget := c.BudgetBytes / int64(c.Layers) * int64(full)
	if budget < p.blockBytes || c.BudgetBytes-budget < per*int64(win) {
		return fmt.Errorf("%w: BudgetBytes %d cannot hold one block of the %d full and of the %d sliding-window layers",
			ErrConfig, c.BudgetBytes, full, win)
	}
	p.total = int(min(budget/p.blockBytes, int64(^uint(0)>>1)))
	sub, err := NewPool(Config{Layers: win, KVHeads: c.KVHeads, HeadDim: c.HeadDim, BlockTokens: c.BlockTokens,
		DType: c.DType, BudgetBytes: c.BudgetBytes - budget})
	if err != nil {
		return err
	}
	p.win = sub
	return nil
}

// Config returns the pool's configuration (BlockTokens filled in). Its
// WindowLayers is the pool's own copy (NewPool copied the caller's): read it,
// do not modify it.
func (p *Pool) Config() Config { return p.cfg }

// NewSeq returns an empty sequence drawing blocks from p.
func (p *Pool) NewSeq() *Seq {
	s := &Seq{p: p}
	if p.win != nil {
		s.w = p.win.NewSeq()
	}
	s.allocViews()
	return s
}

// allocViews makes the per-layer view tables of an empty Seq.
func (s *Seq) allocViews() {
	l := s.p.stored
	switch s.p.cfg.DType {
	case F16:
		s.k16, s.v16 = make([][][]uint16, l), make([][][]uint16, l)
	case Q8:
		s.k8, s.v8 = make([][][]int8, l), make([][][]int8, l)
		s.ks, s.vs = make([][][]float32, l), make([][][]float32, l)
	default:
		s.k32, s.v32 = make([][][]float32, l), make([][][]float32, l)
	}
}

// Stats returns the current block accounting.
func (p *Pool) Stats() Stats {
	var w Stats
	if p.win != nil {
		w = p.win.Stats()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		BlocksTotal:           p.total,
		BlocksUsed:            p.used,
		BlocksCached:          p.cached,
		BlocksAllocated:       p.allocated,
		BlockBytes:            p.blockBytes,
		BytesPerToken:         p.blockBytes / int64(p.cfg.BlockTokens),
		WindowBlocksUsed:      w.BlocksUsed,
		WindowBlocksAllocated: w.BlocksAllocated,
		WindowBlockBytes:      w.BlockBytes,
	}
}

// available reports how many blocks an allocation could obtain now
// (free, not yet allocated, or evictable). The caller holds mu.
func (p *Pool) available() int {
	return len(p.free) + (p.total - p.allocated) + p.cached
}

// alloc returns a block with ref 1: a free one, new storage, or the least
// recently used cached block (evicted). The caller holds mu and has checked
// available() > 0.
func (p *Pool) alloc() *block {
	var b *block
	switch {
	case len(p.free) > 0:
		b = p.free[len(p.free)-1]
		p.free[len(p.free)-1] = nil
		p.free = p.free[:len(p.free)-1]
	case p.allocated < p.total:
		b = &block{}
		n := 2 * p.stored * p.elems
		switch p.cfg.DType {
		case F16:
			b.data16 = make([]uint16, n)
		case Q8:
			b.data8 = make([]int8, n)
			b.scale = make([]float32, n/p.cfg.HeadDim)
		default:
			b.data = make([]float32, n)
		}
		p.allocated++
	case p.cached > 0:
		b = p.lru.next
		p.unlinkLRU(b)
		p.unpublish(b)
	default:
		panic("kvcache: internal error: alloc without an available block")
	}
	b.ref = 1
	p.used++
	return b
}

// retain adds a reference to b (a shared or adopted block). The caller holds mu.
func (p *Pool) retain(b *block) {
	if b.ref == 0 {
		p.unlinkLRU(b)
		p.used++
	}
	b.ref++
}

// drop removes a reference; at zero the block becomes cached (if published,
// as the most recently used) or free. The caller holds mu.
func (p *Pool) drop(b *block) {
	b.ref--
	if b.ref > 0 {
		return
	}
	if b.ref < 0 {
		panic("kvcache: internal error: negative block refcount")
	}
	p.used--
	if b.published {
		b.prev, b.next = p.lru.prev, &p.lru
		p.lru.prev.next = b
		p.lru.prev = b
		p.cached++
		return
	}
	p.free = append(p.free, b)
}

// unlinkLRU removes a cached block from the LRU list. The caller holds mu.
func (p *Pool) unlinkLRU(b *block) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
	p.cached--
}

// unpublish removes b's prefix registration. Blocks registered after it in
// the same chain become unreachable (their parent serial no longer matches)
// and age out of the LRU list. The caller holds mu.
func (p *Pool) unpublish(b *block) {
	if !b.published {
		return
	}
	if p.prefix[b.hash] == b {
		delete(p.prefix, b.hash)
	}
	b.published, b.hash, b.serial, b.parent = false, 0, 0, 0
}

// chainHash mixes one block's ids into the hash of the blocks before it
// (64-bit multiply-xorshift; equal hashes are confirmed by comparing ids).
func chainHash(h uint64, ids []int) uint64 {
	h ^= 0x9e3779b97f4a7c15
	for _, id := range ids {
		h = (h ^ uint64(id)) * 0xbf58476d1ce4e5b9
		h ^= h >> 31
	}
	h *= 0x94d049bb133111eb
	return h ^ h>>29
}
