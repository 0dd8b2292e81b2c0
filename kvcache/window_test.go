package kvcache

import (
	"errors"
	"fmt"
	"testing"
)

// windowed is a 3-layer pool whose middle layer keeps a window of 6
// positions, 4 positions per block, room for blocks positions of every layer.
func windowed(dt DType, blocks int) Config {
	c := Config{Layers: 3, KVHeads: 2, HeadDim: 4, BlockTokens: 4, DType: dt,
		WindowLayers: []bool{false, true, false}, Window: 6}
	c.BudgetBytes = int64(blocks) * 3 * 2 * 2 * 4 * dt.RowBytes(4)
	return c
}

// checkWindow fails unless s holds tokens in the full layers and, in the
// window layer, every position the next query (at Len) may read.
func checkWindow(t testing.TB, what string, s *Seq, tokens []int) {
	t.Helper()
	c := s.Pool().Config()
	if s.Len() != len(tokens) {
		t.Fatalf("%s: Len %d, want %d", what, s.Len(), len(tokens))
	}
	from := max(0, len(tokens)-c.Window+1)
	for pos, tok := range tokens {
		for l := range c.Layers {
			if c.WindowLayers[l] && pos < from {
				continue
			}
			for kv := range 2 {
				if got, want := read(s, l, kv, pos, 1, 3), stored(s.Pool().Config(), tok, pos, l, kv, 1, 3); got != want {
					t.Fatalf("%s: layer %d kv %d pos %d: %g, want %g", what, l, kv, pos, got, want)
				}
			}
		}
	}
}

// TestWindowLayers: the window layer's blocks below the window are given
// back (nil) as the sequence grows, the full layers keep everything,
// Truncate below the window reports ErrWindow, Fork shares both parts and
// prefix publishing is off.
func TestWindowLayers(t *testing.T) {
	for _, dt := range []DType{F32, F16, Q8} {
		p := newPool(t, windowed(dt, 16))
		s := p.NewSeq()
		var toks []int
		for i := range 40 {
			toks = append(toks, 100+i)
			if err := appendTokens(s, 100+i); err != nil {
				t.Fatal(err)
			}
			checkWindow(t, "append", s, toks)
			st := p.Stats()
			// The window of 6 plus the position being written spans at most 3 blocks of 4.
			if st.WindowBlocksUsed > 3 {
				t.Fatalf("%v: %d positions hold %d window blocks, want <= 3", dt, len(toks), st.WindowBlocksUsed)
			}
			if want := (len(toks) + 3) / 4; st.BlocksUsed != want {
				t.Fatalf("%v: %d full-layer blocks for %d positions, want %d", dt, st.BlocksUsed, len(toks), want)
			}
		}
		if held := heldBlocks(s, 1); held[0] || held[len(held)-4] {
			t.Fatalf("%v: the window layer still holds blocks before the window: %v", dt, held)
		}
		if err := s.Truncate(20); !errors.Is(err, ErrWindow) {
			t.Fatalf("Truncate below the window: %v, want ErrWindow", err)
		}
		if err := s.Truncate(38); err != nil {
			t.Fatalf("Truncate inside the window: %v", err)
		}
		toks = toks[:38]
		checkWindow(t, "truncate", s, toks)
		f := s.Fork()
		if err := appendTokens(f, 7); err != nil {
			t.Fatal(err)
		}
		if err := appendTokens(s, 8); err != nil {
			t.Fatal(err)
		}
		checkWindow(t, "fork", f, append(append([]int(nil), toks...), 7))
		checkWindow(t, "forked", s, append(append([]int(nil), toks...), 8))
		s.Publish(toks)
		if q := p.NewSeq(); q.AdoptPrefix(toks) != 0 {
			t.Fatal("AdoptPrefix reused positions of a windowed pool")
		}
		if err := s.Truncate(0); err != nil {
			t.Fatal(err)
		}
		f.Release()
		s.Release()
		if st := p.Stats(); st.BlocksUsed != 0 || st.WindowBlocksUsed != 0 {
			t.Fatalf("after Release: %+v", st)
		}
	}
}

// TestWindowBudget: a failed Reserve changes neither part, and configs
// without a full layer or with an inconsistent window are refused.
func TestWindowBudget(t *testing.T) {
	p := newPool(t, windowed(F32, 3))
	s := p.NewSeq()
	if err := s.Reserve(13); !errors.Is(err, ErrBudget) { // the window part fails
		t.Fatalf("Reserve past the budget: %v", err)
	}
	if st := p.Stats(); st.BlocksUsed != 0 || st.WindowBlocksUsed != 0 || s.Cap() != 0 {
		t.Fatalf("failed Reserve changed the pool: %+v, Cap %d", st, s.Cap())
	}
	toks := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if err := appendTokens(s, toks...); err != nil {
		t.Fatal(err)
	}
	// The window part has room again (its first block left the window),
	// the full layers do not: the window part's new block is given back.
	if err := s.Reserve(1); !errors.Is(err, ErrBudget) {
		t.Fatalf("Reserve past the full layers' budget: %v", err)
	}
	if st := p.Stats(); st.BlocksUsed != 3 || st.WindowBlocksUsed != 2 || s.Cap() != 12 || len(s.w.blocks) != 3 {
		t.Fatalf("failed Reserve: %+v, Cap %d, %d window blocks", st, s.Cap(), len(s.w.blocks))
	}
	checkWindow(t, "after a failed Reserve", s, toks)
	for _, c := range []Config{
		{Layers: 2, KVHeads: 1, HeadDim: 4, BudgetBytes: 1 << 20, WindowLayers: []bool{true, true}, Window: 4},
		{Layers: 2, KVHeads: 1, HeadDim: 4, BudgetBytes: 1 << 20, WindowLayers: []bool{true}, Window: 4},
		{Layers: 2, KVHeads: 1, HeadDim: 4, BudgetBytes: 1 << 20, WindowLayers: []bool{true, false}},
		{Layers: 2, KVHeads: 1, HeadDim: 4, BudgetBytes: 1 << 20, Window: 4},
	} {
		if _, err := NewPool(c); !errors.Is(err, ErrConfig) {
			t.Errorf("NewPool(%+v): %v, want ErrConfig", c, err)
		}
	}
}

// heldBlocks reports which blocks of layer l s holds (not given back).
func heldBlocks(s *Seq, l int) []bool {
	var held []bool
	switch s.Pool().Config().DType {
	case F16:
		k, _ := s.BlocksF16(l)
		for _, b := range k {
			held = append(held, b != nil)
		}
		return held
	case Q8:
		k, _, ks, _ := s.BlocksQ8(l)
		for i, b := range k {
			if (b != nil) != (ks[i] != nil) {
				panic(fmt.Sprintf("block %d: values held %v, scales held %v", i, b != nil, ks[i] != nil))
			}
			held = append(held, b != nil)
		}
		return held
	}
	k, _ := s.BlocksF32(l)
	for _, b := range k {
		held = append(held, b != nil)
	}
	return held
}
