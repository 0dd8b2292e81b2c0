package kvcache

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/kernels"
)

// small is a pool shape for accounting tests: 2 layers, 2 KV heads of 4,
// 4 positions per block. One block is 2*2*2*4 rows of 4 values.
func small(dt DType, blocks int) Config {
	c := Config{Layers: 2, KVHeads: 2, HeadDim: 4, BlockTokens: 4, DType: dt}
	c.BudgetBytes = int64(blocks) * 2 * 2 * 2 * 4 * dt.RowBytes(4)
	return c
}

func newPool(t testing.TB, c Config) *Pool {
	t.Helper()
	p, err := NewPool(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// val is the value stored for key (or value, kv = 1) element (h, d) of layer
// l at position pos holding token tok: a small integer, exact in f16, so
// that the stored data identifies the token and position.
func val(tok, pos, l, kv, h, d int) float32 {
	return float32((tok*131+pos*17+l*7+kv*5+h*3+d)%1000) - 500
}

// stored is val as a pool of type c.DType stores it: the value itself for
// F32 and F16 (val is exact in f16), the de-quantized value of its row for Q8.
func stored(c Config, tok, pos, l, kv, h, d int) float32 {
	if c.DType != Q8 {
		return val(tok, pos, l, kv, h, d)
	}
	row := make([]float32, c.HeadDim)
	for i := range row {
		row[i] = val(tok, pos, l, kv, h, i)
	}
	q := make([]int8, c.HeadDim)
	return kernels.QuantizeQ8Row(q, row) * float32(q[d])
}

// kvRow returns the K and V inputs of Store for (tok, pos, layer).
func kvRow(c Config, tok, pos, l int) (k, v []float32) {
	k = make([]float32, c.KVHeads*c.HeadDim)
	v = make([]float32, c.KVHeads*c.HeadDim)
	for h := 0; h < c.KVHeads; h++ {
		for d := 0; d < c.HeadDim; d++ {
			k[h*c.HeadDim+d] = val(tok, pos, l, 0, h, d)
			v[h*c.HeadDim+d] = val(tok, pos, l, 1, h, d)
		}
	}
	return k, v
}

// appendTokens reserves, stores (every layer) and commits tokens.
func appendTokens(s *Seq, tokens ...int) error {
	if err := s.Reserve(len(tokens)); err != nil {
		return err
	}
	c := s.Pool().Config()
	for i, tok := range tokens {
		for l := 0; l < c.Layers; l++ {
			k, v := kvRow(c, tok, s.Len()+i, l)
			s.Store(l, s.Len()+i, k, v)
		}
	}
	s.Commit(len(tokens))
	return nil
}

// read returns element (h, d) of the key (kv = 0) or value of layer l at
// position pos, through the block views attention reads.
func read(s *Seq, l, kv, pos, h, d int) float32 {
	c := s.Pool().Config()
	bt := c.BlockTokens
	i := h*bt*c.HeadDim + (pos%bt)*c.HeadDim + d
	switch c.DType {
	case F16:
		k, v := s.BlocksF16(l)
		if kv == 0 {
			return half.F16ToF32(k[pos/bt][i])
		}
		return half.F16ToF32(v[pos/bt][i])
	case Q8:
		k, v, ks, vs := s.BlocksQ8(l)
		r := h*bt + pos%bt
		if kv == 0 {
			return ks[pos/bt][r] * float32(kernels.Q8Key(k[pos/bt][h*bt*c.HeadDim:], bt, c.HeadDim, pos%bt, d))
		}
		return vs[pos/bt][r] * float32(v[pos/bt][i])
	}
	k, v := s.BlocksF32(l)
	if kv == 0 {
		return k[pos/bt][i]
	}
	return v[pos/bt][i]
}

// checkTokens fails unless s holds exactly the data of tokens.
func checkTokens(t testing.TB, what string, s *Seq, tokens []int) {
	t.Helper()
	if s.Len() != len(tokens) {
		t.Fatalf("%s: Len %d, want %d", what, s.Len(), len(tokens))
	}
	c := s.Pool().Config()
	for pos, tok := range tokens {
		for l := 0; l < c.Layers; l++ {
			for kv := 0; kv < 2; kv++ {
				for h := 0; h < c.KVHeads; h++ {
					for d := 0; d < c.HeadDim; d++ {
						if got, want := read(s, l, kv, pos, h, d), stored(c, tok, pos, l, kv, h, d); got != want {
							t.Fatalf("%s: layer %d kv %d pos %d head %d dim %d: %g, want %g (token %d)",
								what, l, kv, pos, h, d, got, want, tok)
						}
					}
				}
			}
		}
	}
}

func checkStats(t testing.TB, what string, p *Pool, used, cached, allocated int) {
	t.Helper()
	st := p.Stats()
	if st.BlocksUsed != used || st.BlocksCached != cached || st.BlocksAllocated != allocated {
		t.Fatalf("%s: used/cached/allocated = %d/%d/%d, want %d/%d/%d", what,
			st.BlocksUsed, st.BlocksCached, st.BlocksAllocated, used, cached, allocated)
	}
}

func seqTokens(n, base int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = base + i
	}
	return s
}

func TestNewPoolErrors(t *testing.T) {
	ok := small(F32, 4)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"layers", func(c *Config) { c.Layers = 0 }, "Layers 0"},
		{"kv heads", func(c *Config) { c.KVHeads = -1 }, "KVHeads -1"},
		{"head dim", func(c *Config) { c.HeadDim = 0 }, "HeadDim 0"},
		{"block tokens", func(c *Config) { c.BlockTokens = -4 }, "BlockTokens -4"},
		{"dtype", func(c *Config) { c.DType = 7 }, "DType 7"},
		{"q8 head dim", func(c *Config) { c.DType, c.HeadDim = Q8, 1024 }, "HeadDim 1024 above 512 is not supported by the q8 cache"},
		{"budget", func(c *Config) { c.BudgetBytes = 0 }, "BudgetBytes 0"},
		{"budget below a block", func(c *Config) { c.BudgetBytes = 511 }, "less than one block (512 bytes)"},
		{"huge block", func(c *Config) { c.Layers, c.HeadDim = 1<<40, 1<<40 }, "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			p, err := NewPool(c)
			if p != nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewPool(%+v) = %v, %v; want ErrConfig mentioning %q", c, p, err, tc.want)
			}
		})
	}
	p := newPool(t, Config{Layers: 30, KVHeads: 3, HeadDim: 64, DType: F16, BudgetBytes: 100 << 20})
	st := p.Stats()
	if p.Config().BlockTokens != DefaultBlockTokens || st.BytesPerToken != 30*2*3*64*2 ||
		st.BlockBytes != 16*st.BytesPerToken || st.BlocksTotal != int((100<<20)/st.BlockBytes) || st.BlocksAllocated != 0 {
		t.Fatalf("config %+v stats %+v", p.Config(), st)
	}
}

func TestBlockAccounting(t *testing.T) {
	for _, dt := range []DType{F32, F16, Q8} {
		t.Run(dt.String(), func(t *testing.T) {
			p := newPool(t, small(dt, 16))
			a := p.NewSeq()
			toks := seqTokens(10, 1)
			if err := appendTokens(a, toks...); err != nil {
				t.Fatal(err)
			}
			checkTokens(t, "a", a, toks)
			checkStats(t, "after 10 tokens", p, 3, 0, 3)
			if a.Cap() != 12 {
				t.Fatalf("Cap %d, want 12", a.Cap())
			}

			// Fork shares all three blocks; the last one is half full.
			b := a.Fork()
			checkStats(t, "after fork", p, 3, 0, 3)
			checkTokens(t, "fork", b, toks)
			if a.blocks[2] != b.blocks[2] || a.blocks[2].ref != 2 {
				t.Fatal("fork does not share the last block")
			}
			// Each side copies the shared last block before writing into it.
			if err := appendTokens(b, 100); err != nil {
				t.Fatal(err)
			}
			checkStats(t, "after b's copy-on-write", p, 4, 0, 4)
			if err := appendTokens(a, 200, 201); err != nil {
				t.Fatal(err)
			}
			// a's last block is its own again (ref 1): no second copy.
			checkStats(t, "after a appends", p, 4, 0, 4)
			checkTokens(t, "a after COW", a, append(slices.Clone(toks), 200, 201))
			checkTokens(t, "b after COW", b, append(slices.Clone(toks), 100))
			if a.blocks[0] != b.blocks[0] || a.blocks[1] != b.blocks[1] || a.blocks[2] == b.blocks[2] {
				t.Fatal("full blocks should stay shared, the last one private")
			}

			// Truncate frees whole blocks only.
			if err := a.Truncate(5); err != nil {
				t.Fatal(err)
			}
			checkTokens(t, "a truncated", a, toks[:5])
			checkStats(t, "after truncate", p, 3, 0, 4) // a's third block is free
			if err := a.Truncate(6); err == nil {
				t.Fatal("Truncate past Len succeeded")
			}
			// Block 1 is shared with b: writing position 5 copies it.
			if err := appendTokens(a, 300); err != nil {
				t.Fatal(err)
			}
			checkStats(t, "after append into shared block", p, 4, 0, 4)
			checkTokens(t, "a", a, append(slices.Clone(toks[:5]), 300))
			checkTokens(t, "b untouched", b, append(slices.Clone(toks), 100))

			a.Release()
			if a.Len() != 0 || a.Cap() != 0 {
				t.Fatalf("after Release: Len %d Cap %d", a.Len(), a.Cap())
			}
			checkStats(t, "after a's release", p, 3, 0, 4)
			b.Release()
			checkStats(t, "after b's release", p, 0, 0, 4)
			// A released Seq is reusable and takes freed blocks.
			if err := appendTokens(a, toks...); err != nil {
				t.Fatal(err)
			}
			checkTokens(t, "reused", a, toks)
			checkStats(t, "reuse", p, 3, 0, 4)
		})
	}
}

func TestReserveOnlyAndStoreChecks(t *testing.T) {
	p := newPool(t, small(F32, 8))
	s := p.NewSeq()
	if err := s.Reserve(9); err != nil {
		t.Fatal(err)
	}
	checkStats(t, "reserve 9", p, 3, 0, 3)
	if s.Len() != 0 || s.Cap() != 12 {
		t.Fatalf("Len %d Cap %d", s.Len(), s.Cap())
	}
	k, v := kvRow(p.Config(), 1, 0, 0)
	mustPanic(t, "store past reservation", "outside the reserved range", func() { s.Store(0, 12, k, v) })
	mustPanic(t, "store bad layer", "layer 2", func() { s.Store(2, 0, k, v) })
	mustPanic(t, "store short", "len(k)=7", func() { s.Store(0, 0, k[:7], v) })
	mustPanic(t, "commit too many", "Commit(13)", func() { s.Commit(13) })
	if err := s.Reserve(-1); err == nil {
		t.Fatal("Reserve(-1) succeeded")
	}
	// Fork shares no reserved block: nothing is committed.
	f := s.Fork()
	if f.Cap() != 0 {
		t.Fatalf("fork of an empty Seq holds %d positions", f.Cap())
	}
	// Truncate to Len drops the reservation.
	if err := s.Truncate(0); err != nil {
		t.Fatal(err)
	}
	checkStats(t, "truncate drops reservation", p, 0, 0, 3)
	mustPanic(t, "adopt into non-empty", "non-empty", func() {
		_ = appendTokens(s, 1)
		s.AdoptPrefix([]int{1, 2, 3, 4})
	})
	// After Fork, the shared partial block is not writable before Reserve.
	g := s.Fork()
	kk, vv := kvRow(p.Config(), 2, 1, 0)
	mustPanic(t, "store into shared block", "Reserve first", func() { g.Store(0, 1, kk, vv) })
	mustPanic(t, "store into shared block (source)", "Reserve first", func() { s.Store(0, 1, kk, vv) })
	mustPanic(t, "wrong dtype view", "BlocksF16 on a pool of DType f32", func() { s.BlocksF16(0) })
}

func mustPanic(t *testing.T, what, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if msg := fmt.Sprint(recover()); !strings.Contains(msg, want) {
			t.Errorf("%s: panic %q, want it to mention %q", what, msg, want)
		}
	}()
	f()
}

// snapshot captures everything Reserve may change.
type snapshot struct {
	n, cap, wfrom int
	blocks        []*block
	stats         Stats
	prefix        int
}

func snap(s *Seq) snapshot {
	p := s.Pool()
	p.mu.Lock()
	np := len(p.prefix)
	p.mu.Unlock()
	st := p.Stats()
	// A Reserve gives back out-of-window blocks even when it fails.
	st.WindowBlocksUsed, st.WindowBlocksAllocated = 0, 0
	return snapshot{s.n, s.Cap(), s.wfrom, slices.Clone(s.blocks), st, np}
}

func (a snapshot) equal(b snapshot) bool {
	return a.n == b.n && a.cap == b.cap && a.wfrom == b.wfrom && slices.Equal(a.blocks, b.blocks) &&
		a.stats == b.stats && a.prefix == b.prefix
}

func TestBudgetExhaustion(t *testing.T) {
	p := newPool(t, small(F32, 5))
	a := p.NewSeq()
	toks := seqTokens(10, 1)
	if err := appendTokens(a, toks...); err != nil {
		t.Fatal(err)
	}
	a.Publish(toks) // blocks 0 and 1 published, in use
	b := a.Fork()
	// 2 blocks left. b needs a copy of the shared last block plus 2 more.
	before, beforeA := snap(b), snap(a)
	err := b.Reserve(2 + 4 + 1)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("Reserve beyond budget: %v, want ErrBudget", err)
	}
	if after := snap(b); !after.equal(before) || !snap(a).equal(beforeA) {
		t.Fatalf("failed Reserve changed state:\n%+v\n%+v", before, after)
	}
	checkTokens(t, "a intact", a, toks)
	checkTokens(t, "b intact", b, toks)
	// What fits still works: the copy plus one block.
	if err := appendTokens(b, seqTokens(6, 50)...); err != nil {
		t.Fatal(err)
	}
	checkStats(t, "full", p, 5, 0, 5)
	if err := appendTokens(a, 7, 8, 9); !errors.Is(err, ErrBudget) {
		t.Fatalf("a's append with no room: %v", err)
	}
	// Released published blocks are evicted to make room; unpublished are free.
	b.Release()
	checkStats(t, "b released", p, 3, 0, 5)
	a.Release()
	checkStats(t, "a released", p, 0, 2, 5)
	c := p.NewSeq()
	if err := appendTokens(c, seqTokens(20, 90)...); err != nil {
		t.Fatalf("all blocks should be reclaimable: %v", err)
	}
	checkStats(t, "c holds all", p, 5, 0, 5)
	if got := p.NewSeq().AdoptPrefix(toks); got != 0 {
		t.Fatalf("adopted %d positions of an evicted prefix", got)
	}
}

func TestPrefixPublishAdopt(t *testing.T) {
	for _, dt := range []DType{F32, F16, Q8} {
		t.Run(dt.String(), func(t *testing.T) {
			p := newPool(t, small(dt, 32))
			sys := seqTokens(10, 1) // 2 full blocks and a partial one
			a := p.NewSeq()
			if err := appendTokens(a, sys...); err != nil {
				t.Fatal(err)
			}
			a.Publish(sys)
			a.Publish(sys) // repeating is harmless
			checkStats(t, "published", p, 3, 0, 3)

			b := p.NewSeq()
			prompt := append(slices.Clone(sys), 77, 78, 79)
			if got := b.AdoptPrefix(prompt); got != 8 {
				t.Fatalf("adopted %d positions, want 8 (partial blocks are not shared)", got)
			}
			if b.blocks[0] != a.blocks[0] || b.blocks[1] != a.blocks[1] || b.blocks[0].ref != 2 {
				t.Fatal("adopted blocks are not shared")
			}
			if err := appendTokens(b, prompt[8:]...); err != nil {
				t.Fatal(err)
			}
			checkTokens(t, "b", b, prompt)
			checkStats(t, "b adopted 2, added 2", p, 5, 0, 5)

			// A different second block stops the chain after the first.
			other := slices.Clone(prompt)
			other[5] = 999
			if got := adoptRelease(p, other); got != 4 {
				t.Fatalf("adopted %d, want 4", got)
			}
			// Same ids in block 1 but a different block 0: nothing (chain).
			shifted := slices.Clone(prompt)
			shifted[0] = 999
			if got := adoptRelease(p, shifted); got != 0 {
				t.Fatalf("adopted %d, want 0", got)
			}
			// Too short for a block.
			if got := adoptRelease(p, sys[:3]); got != 0 {
				t.Fatalf("adopted %d of 3 tokens", got)
			}

			// b publishes its longer prompt: its first two blocks are the
			// same as a's, its third is new.
			b.Publish(prompt)
			c := p.NewSeq()
			if got := c.AdoptPrefix(append(slices.Clone(prompt), 5)); got != 12 {
				t.Fatalf("adopted %d, want 12", got)
			}
			checkTokens(t, "c", c, prompt[:12])

			// Unreferenced published blocks stay cached and adoptable.
			a.Release()
			b.Release()
			c.Release()
			st := p.Stats()
			if st.BlocksUsed != 0 || st.BlocksCached != 3 {
				t.Fatalf("after release: %+v, want 3 cached", st)
			}
			d := p.NewSeq()
			if got := d.AdoptPrefix(prompt); got != 12 {
				t.Fatalf("adopted %d from cache, want 12", got)
			}
			checkTokens(t, "d", d, prompt[:12])
			checkStats(t, "d", p, 3, 0, st.BlocksAllocated)

			// Truncating into a published block and writing there
			// unpublishes it when no one else holds it.
			if err := d.Truncate(6); err != nil {
				t.Fatal(err)
			}
			if err := appendTokens(d, 42); err != nil {
				t.Fatal(err)
			}
			if got := adoptRelease(p, prompt); got != 4 {
				t.Fatalf("adopted %d after the second block was rewritten, want 4", got)
			}
		})
	}
}

// adoptRelease adopts tokens into a new Seq, releases it and returns the
// positions adopted.
func adoptRelease(p *Pool, tokens []int) int {
	s := p.NewSeq()
	n := s.AdoptPrefix(tokens)
	s.Release()
	return n
}

func TestPrefixHashCollisions(t *testing.T) {
	p := newPool(t, small(F32, 32))
	p.hash = func(uint64, []int) uint64 { return 42 } // every chain collides
	x := seqTokens(8, 1)
	y := seqTokens(8, 101)
	a, b := p.NewSeq(), p.NewSeq()
	if err := appendTokens(a, x...); err != nil {
		t.Fatal(err)
	}
	if err := appendTokens(b, y...); err != nil {
		t.Fatal(err)
	}
	a.Publish(x)
	b.Publish(y) // collides with a's first block: not registered
	if got := p.NewSeq().AdoptPrefix(y); got != 0 {
		t.Fatalf("adopted %d positions of a colliding prefix", got)
	}
	// a's second block has the same hash as its first: the parent check
	// keeps it from being registered or matched as a first block.
	z := append(slices.Clone(x[4:8]), x[4:8]...)
	if got := p.NewSeq().AdoptPrefix(z); got != 0 {
		t.Fatalf("adopted %d positions of z", got)
	}
	c := p.NewSeq()
	if got := c.AdoptPrefix(x); got != 4 {
		t.Fatalf("adopted %d positions of x, want 4", got)
	}
	checkTokens(t, "c", c, x[:4])
}

// TestPrefixParentCheck uses a hash that ignores the chain, so that a block
// with the right ids but another prefix before it is found; the parent
// serial check must reject it.
func TestPrefixParentCheck(t *testing.T) {
	p := newPool(t, small(F32, 32))
	p.hash = func(_ uint64, ids []int) uint64 { return uint64(ids[0]) }
	x := []int{1, 2, 3, 4, 5, 6, 7, 8}
	y := []int{9, 10, 11, 12, 5, 6, 7, 8}
	a, b := p.NewSeq(), p.NewSeq()
	if err := appendTokens(a, x...); err != nil {
		t.Fatal(err)
	}
	if err := appendTokens(b, y[:4]...); err != nil {
		t.Fatal(err)
	}
	a.Publish(x)
	b.Publish(y)
	if got := adoptRelease(p, y); got != 4 {
		t.Fatalf("adopted %d positions of y, want 4 (x's second block follows another prefix)", got)
	}
	if got := adoptRelease(p, x); got != 8 {
		t.Fatalf("adopted %d positions of x, want 8", got)
	}
}

func TestEvictionOrder(t *testing.T) {
	p := newPool(t, small(F32, 6))
	prefixes := [][]int{seqTokens(8, 100), seqTokens(8, 200), seqTokens(8, 300)}
	for _, pre := range prefixes {
		s := p.NewSeq()
		if err := appendTokens(s, pre...); err != nil {
			t.Fatal(err)
		}
		s.Publish(pre)
		s.Release()
	}
	checkStats(t, "three cached prefixes", p, 0, 6, 6)
	// Use prefix 0 again: it becomes the most recently used.
	s := p.NewSeq()
	if got := s.AdoptPrefix(prefixes[0]); got != 8 {
		t.Fatalf("adopted %d", got)
	}
	s.Release()
	// Order now (oldest first): 1b, 1a, 2b, 2a, 0b, 0a (deepest block
	// released first). One block evicts prefix 1's second block.
	n := p.NewSeq()
	if err := appendTokens(n, 1); err != nil {
		t.Fatal(err)
	}
	want := []int{8, 4, 8}
	for i, pre := range prefixes {
		if got := adoptRelease(p, pre); got != want[i] {
			t.Fatalf("prefix %d: adopted %d, want %d", i, got, want[i])
		}
	}
	// Adopting touched them again in order 0, 1, 2: now 0b, 0a, 1a, 2b,
	// 2a. Two more blocks evict prefix 0.
	if err := appendTokens(n, seqTokens(8, 1)...); err != nil {
		t.Fatal(err)
	}
	want = []int{0, 4, 8}
	for i, pre := range prefixes {
		if got := adoptRelease(p, pre); got != want[i] {
			t.Fatalf("after 2 more evictions, prefix %d: adopted %d, want %d", i, got, want[i])
		}
	}
}

func TestF16RoundTrip(t *testing.T) {
	c := Config{Layers: 1, KVHeads: 1, HeadDim: 8, BlockTokens: 2, DType: F16, BudgetBytes: 1 << 20}
	p := newPool(t, c)
	s := p.NewSeq()
	in := []float32{0, 1, -2.5, 65504, 1e-7, float32(math.Inf(-1)), 3.14159, 70000}
	if err := s.Reserve(1); err != nil {
		t.Fatal(err)
	}
	s.Store(0, 0, in, in)
	s.Commit(1)
	k, v := s.BlocksF16(0)
	for d, x := range in {
		want := half.F32ToF16(x)
		if k[0][d] != want || v[0][d] != want {
			t.Errorf("element %d (%g): stored %#04x/%#04x, want %#04x", d, x, k[0][d], v[0][d], want)
		}
	}
	// Values exact in f16 come back unchanged.
	if got := half.F16ToF32(k[0][2]); got != -2.5 {
		t.Errorf("round trip of -2.5: %g", got)
	}
}

func TestQ8RoundTrip(t *testing.T) {
	c := Config{Layers: 1, KVHeads: 2, HeadDim: 8, BlockTokens: 2, DType: Q8, BudgetBytes: 1 << 20}
	p := newPool(t, c)
	if got, want := p.Stats().BytesPerToken, int64(2*2*(8+4)); got != want {
		t.Errorf("BytesPerToken %d, want %d", got, want)
	}
	s := p.NewSeq()
	k := []float32{0, 1, -2.5, 127, 0.3, -127, 3.14159, 64 /* head 1: zeros */, 0, 0, 0, 0, 0, 0, 0, 0}
	v := []float32{-0.5, 0.25, 0, 0, 0, 0, 0, 0.125, 1000, -1000, 1, -1, 500, 2, 3, 4}
	if err := s.Reserve(2); err != nil {
		t.Fatal(err)
	}
	s.Store(0, 1, k, v)
	s.Commit(2)
	kb, vb, ks, vs := s.BlocksQ8(0)
	// Position 1 of head h is row h*BlockTokens+1.
	for h := range 2 {
		for d := range 8 {
			x, y := k[h*8+d], v[h*8+d]
			gk := ks[0][h*2+1] * float32(kernels.Q8Key(kb[0][h*2*8:], 2, 8, 1, d))
			gv := vs[0][h*2+1] * float32(vb[0][(h*2+1)*8+d])
			// At most half a step (max|row| / 254) from the input.
			if tol := float32(127.0 / 254 * 1.0001); h == 0 && !(math.Abs(float64(gk-x)) <= float64(tol)) {
				t.Errorf("k head %d element %d: %g, want %g ± %g", h, d, gk, x, tol)
			}
			if h == 1 && gk != 0 {
				t.Errorf("k head 1 (zeros) element %d: %g", d, gk)
			}
			amax := []float32{0.5, 1000}[h]
			if tol := amax / 254 * 1.0001; !(math.Abs(float64(gv-y)) <= float64(tol)) {
				t.Errorf("v head %d element %d: %g, want %g ± %g", h, d, gv, y, tol)
			}
		}
	}
	// The largest magnitude and integers of a row with max 127 are exact.
	if got := ks[0][1] * float32(kernels.Q8Key(kb[0], 2, 8, 1, 5)); got != -127 {
		t.Errorf("round trip of -127: %g", got)
	}
	if got := ks[0][1] * float32(kernels.Q8Key(kb[0], 2, 8, 1, 7)); got != 64 {
		t.Errorf("round trip of 64: %g", got)
	}
}

func TestDTypeSizes(t *testing.T) {
	// SmolLM2-135M: 30 layers, 3 KV heads of 64.
	for _, tc := range []struct {
		dt   DType
		want int64
	}{{F32, 46080}, {F16, 23040}, {Q8, 12240}} {
		if got := BytesPerToken(tc.dt, 30, 3, 64); got != tc.want {
			t.Errorf("BytesPerToken(%s) = %d, want %d", tc.dt, got, tc.want)
		}
		p := newPool(t, Config{Layers: 30, KVHeads: 3, HeadDim: 64, DType: tc.dt, BudgetBytes: 100 << 20})
		if got := p.Stats().BytesPerToken; got != tc.want {
			t.Errorf("%s pool: BytesPerToken %d, want %d", tc.dt, got, tc.want)
		}
	}
	for name, want := range map[string]DType{"f32": F32, "float32": F32, "f16": F16, "float16": F16, "q8": Q8, "int8": Q8, "q8_0": Q8} {
		if got, err := ParseDType(name); err != nil || got != want {
			t.Errorf("ParseDType(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := ParseDType("bf16"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseDType(bf16): %v, want ErrConfig", err)
	}
}
