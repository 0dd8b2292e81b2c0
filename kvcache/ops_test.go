package kvcache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// checkInvariants verifies the pool's bookkeeping against the Seqs that use
// it: reference counts, the used/cached/free partition, the LRU list, the
// prefix index, the budget and each Seq's per-layer views.
func checkInvariants(t testing.TB, p *Pool, seqs []*Seq) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.win != nil { // the sliding-window layers' sub-pool and Seqs
		var ws []*Seq
		for si, s := range seqs {
			if s.w == nil || s.w.n != s.n || s.w.Cap() < s.n {
				t.Fatalf("seq %d: window part missing or out of step", si)
			}
			for i, b := range s.w.blocks {
				if (b == nil) != (i < s.w.low) {
					t.Fatalf("seq %d: window block %d nil %v, low %d", si, i, b == nil, s.w.low)
				}
			}
			ws = append(ws, s.w)
		}
		p.mu.Unlock()
		checkInvariants(t, p.win, ws)
		p.mu.Lock()
	}
	refs := map[*block]int{}
	for si, s := range seqs {
		if s.n < 0 || s.n > s.Cap() {
			t.Fatalf("seq %d: Len %d outside [0, Cap %d]", si, s.n, s.Cap())
		}
		for i, b := range s.blocks {
			if b == nil {
				if i >= s.low {
					t.Fatalf("seq %d: nil block %d at or above low %d", si, i, s.low)
				}
				continue
			}
			refs[b]++
			e := p.elems
			for l := range s.k32 {
				o := 2 * l * e
				if len(s.k32[l]) != len(s.blocks) || &s.k32[l][i][0] != &b.data[o] || &s.v32[l][i][0] != &b.data[o+e] {
					t.Fatalf("seq %d layer %d: f32 view of block %d is stale", si, l, i)
				}
			}
			for l := range s.k16 {
				o := 2 * l * e
				if len(s.k16[l]) != len(s.blocks) || &s.k16[l][i][0] != &b.data16[o] || &s.v16[l][i][0] != &b.data16[o+e] {
					t.Fatalf("seq %d layer %d: f16 view of block %d is stale", si, l, i)
				}
			}
		}
	}
	for b, n := range refs {
		if b.ref != n {
			t.Fatalf("block ref %d, held by %d Seqs", b.ref, n)
		}
	}
	if p.used != len(refs) {
		t.Fatalf("used %d, %d distinct blocks held", p.used, len(refs))
	}
	lru := map[*block]bool{}
	for b := p.lru.next; b != &p.lru; b = b.next {
		if lru[b] || b.ref != 0 || !b.published || refs[b] != 0 || b.next.prev != b {
			t.Fatalf("bad LRU entry: ref %d published %v repeated %v", b.ref, b.published, lru[b])
		}
		lru[b] = true
	}
	if len(lru) != p.cached {
		t.Fatalf("cached %d, LRU list holds %d", p.cached, len(lru))
	}
	for _, b := range p.free {
		if b.ref != 0 || b.published || lru[b] || refs[b] != 0 {
			t.Fatalf("bad free block: ref %d published %v", b.ref, b.published)
		}
	}
	if p.allocated != p.used+p.cached+len(p.free) || p.allocated > p.total {
		t.Fatalf("allocated %d != used %d + cached %d + free %d, or > total %d",
			p.allocated, p.used, p.cached, len(p.free), p.total)
	}
	for h, b := range p.prefix {
		if !b.published || b.hash != h || b.serial == 0 || len(b.ids) != p.cfg.BlockTokens {
			t.Fatalf("bad prefix entry %x: %+v", h, b)
		}
		if b.ref == 0 && !lru[b] {
			t.Fatal("unreferenced published block not in the LRU list")
		}
	}
	for b := range refs {
		if b.published && p.prefix[b.hash] != b {
			t.Fatal("published block missing from the prefix index")
		}
	}
}

// model is a Seq and the token ids it should hold.
type model struct {
	s    *Seq
	toks []int
}

// runOps interprets ops as a sequence of operations on Seqs of p, checking
// after each one the invariants and that every Seq holds its tokens' data.
// A failed Reserve must wrap ErrBudget and change nothing.
func runOps(t testing.TB, p *Pool, ops []byte) {
	bt := p.cfg.BlockTokens
	var ms []*model
	next := func() int {
		if len(ops) == 0 {
			return 0
		}
		b := ops[0]
		ops = ops[1:]
		return int(b)
	}
	pick := func() *model {
		if len(ms) == 0 {
			m := &model{s: p.NewSeq()}
			ms = append(ms, m)
			return m
		}
		return ms[next()%len(ms)]
	}
	for step := 0; len(ops) > 0; step++ {
		op := next() % 8
		what := ""
		switch op {
		case 0, 1: // append tokens from a small alphabet (prefix hits are likely)
			m := pick()
			n := 1 + next()%(2*bt+1)
			add := make([]int, n)
			for i := range add {
				add[i] = next() % 3
			}
			what = fmt.Sprintf("append %v", add)
			before := snap(m.s)
			if err := appendTokens(m.s, add...); err != nil {
				if !errors.Is(err, ErrBudget) {
					t.Fatalf("step %d %s: %v", step, what, err)
				}
				if after := snap(m.s); !after.equal(before) {
					t.Fatalf("step %d %s: failed Reserve changed state", step, what)
				}
				break
			}
			m.toks = append(m.toks, add...)
		case 2: // reserve without committing
			m := pick()
			n := next() % (2 * bt)
			what = fmt.Sprintf("reserve %d", n)
			before := snap(m.s)
			if err := m.s.Reserve(n); err != nil {
				if !errors.Is(err, ErrBudget) {
					t.Fatalf("step %d %s: %v", step, what, err)
				}
				if after := snap(m.s); !after.equal(before) {
					t.Fatalf("step %d %s: failed Reserve changed state", step, what)
				}
			}
		case 3:
			if len(ms) >= 6 {
				break
			}
			m := pick()
			what = "fork"
			ms = append(ms, &model{s: m.s.Fork(), toks: slices.Clone(m.toks)})
		case 4:
			m := pick()
			n := 0
			if len(m.toks) > 0 {
				n = next() % (len(m.toks) + 1)
			}
			what = fmt.Sprintf("truncate %d", n)
			if err := m.s.Truncate(n); err != nil {
				if p.win != nil && errors.Is(err, ErrWindow) {
					break
				}
				t.Fatalf("step %d %s: %v", step, what, err)
			}
			m.toks = m.toks[:n]
		case 5:
			m := pick()
			what = "release"
			m.s.Release()
			m.toks = m.toks[:0]
			if len(ms) > 1 && next()%2 == 0 {
				ms = slices.DeleteFunc(ms, func(x *model) bool { return x == m })
			}
		case 6:
			m := pick()
			what = "publish"
			m.s.Publish(m.toks)
		case 7:
			if len(ms) >= 6 {
				break
			}
			// Adopt a prefix of another Seq's tokens, plus noise.
			src := pick()
			toks := slices.Clone(src.toks[:min(len(src.toks), next()%(3*bt+1))])
			for range next() % 3 {
				toks = append(toks, next()%3)
			}
			what = fmt.Sprintf("adopt %v", toks)
			s := p.NewSeq()
			n := s.AdoptPrefix(toks)
			if n%bt != 0 || n > len(toks) {
				t.Fatalf("step %d %s: adopted %d", step, what, n)
			}
			ms = append(ms, &model{s: s, toks: toks[:n]})
		}
		seqs := make([]*Seq, len(ms))
		for i, m := range ms {
			seqs[i] = m.s
			if p.win != nil {
				checkWindow(t, fmt.Sprintf("step %d (%s) seq %d", step, what, i), m.s, m.toks)
				if m.s.w.low > 0 {
					windowDropSteps++
				}
			} else {
				checkTokens(t, fmt.Sprintf("step %d (%s) seq %d", step, what, i), m.s, m.toks)
			}
		}
		checkInvariants(t, p, seqs)
	}
	for _, m := range ms {
		m.s.Release()
	}
	checkInvariants(t, p, nil)
	if st := p.Stats(); st.BlocksUsed != 0 || st.WindowBlocksUsed != 0 {
		t.Fatalf("after releasing everything: %+v", st)
	}
}

// windowDropSteps counts the (step, Seq) pairs of runOps where a Seq had
// given window blocks back, so that TestRandomOpsWindow knows it tested that.
var windowDropSteps int

// TestRandomOpsWindow is TestRandomOps on pools with a sliding-window
// layer (windows of 1 to 9 positions, blocks of 4): window blocks are given
// back as sequences grow, a truncate before the window is ErrWindow and
// changes nothing, forks share both parts.
func TestRandomOpsWindow(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		dt := DType(seed % 3)
		blocks := 3 + int(seed%7)
		window := []int{1, 3, 6, 9}[seed%4]
		t.Run(fmt.Sprintf("seed%d-%s-%dblocks-window%d", seed, dt, blocks, window), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 77))
			ops := make([]byte, 1500)
			for i := range ops {
				ops[i] = byte(r.Uint32())
			}
			c := windowed(dt, blocks)
			c.Window = window
			runOps(t, newPool(t, c), ops)
		})
	}
	t.Logf("%d (step, seq) states with window blocks given back", windowDropSteps)
	if windowDropSteps == 0 {
		t.Error("no sequence ever gave a window block back")
	}
}

// TestRandomOps drives random operation sequences on small pools, where
// budget failures, copy-on-write, prefix sharing and eviction are frequent.
func TestRandomOps(t *testing.T) {
	for seed := uint64(0); seed < 60; seed++ {
		dt := DType(seed % 3)
		blocks := 3 + int(seed%7)
		t.Run(fmt.Sprintf("seed%d-%s-%dblocks", seed, dt, blocks), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			ops := make([]byte, 1500)
			for i := range ops {
				ops[i] = byte(r.Uint32())
			}
			p := newPool(t, small(dt, blocks))
			if seed%5 == 0 {
				p.hash = func(h uint64, ids []int) uint64 { return (h + uint64(ids[0])) % 3 } // collide often
			}
			runOps(t, p, ops)
		})
	}
}

// FuzzOps runs the operation interpreter of TestRandomOps on fuzzed input.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 0, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6, 0, 7, 0, 12, 0, 0, 3, 0, 0, 0, 5, 1})
	f.Add([]byte{1, 0, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 0, 0, 1, 3, 4, 0, 2, 2, 2, 4, 1, 5, 6, 0})
	f.Add([]byte{2, 0, 7, 0, 5, 20, 0, 0, 1, 0, 9, 0, 6, 0, 7, 0, 9, 2, 4, 0, 0})
	f.Add([]byte{0x85, 2, 0, 0, 8, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 8, 2, 2, 2, 2, 2, 2, 2, 2, 3, 0, 4, 0, 3, 0, 0, 5, 1, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 2 || len(ops) > 4000 {
			return
		}
		c := small(DType(ops[0]%3), 3+int(ops[1]%6))
		if ops[0]&0x80 != 0 { // a sliding-window layer, window 1..8
			c = windowed(DType(ops[0]%3), 3+int(ops[1]%6))
			c.Window = 1 + int(ops[0]>>2)%8
		}
		p := newPool(t, c)
		if ops[1]&0x80 != 0 {
			p.hash = func(h uint64, ids []int) uint64 { return (h + uint64(ids[0])) % 3 }
		}
		runOps(t, p, ops[2:])
	})
}

// TestConcurrentSeqs runs goroutines that each drive their own Seqs on one
// pool (a chat: adopt the shared system prompt, append a turn, check, fork,
// publish, release), under the race detector in CI.
func TestConcurrentSeqs(t *testing.T) {
	const goroutines, rounds = 8, 60
	c := small(F16, 0)
	// Each goroutine holds at most 7 blocks (20 positions and a fork with
	// one copied and one new block); the budget of 10 per goroutine always
	// suffices once cached prefixes are evicted.
	c.BudgetBytes = goroutines * 10 * 2 * 2 * 2 * 4 * 4 * 2
	p := newPool(t, c)
	system := seqTokens(8, 1000)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			s := p.NewSeq()
			for round := range rounds {
				toks := slices.Clone(system[:r.IntN(len(system)+1)])
				for range 1 + r.IntN(12) {
					toks = append(toks, g*100+r.IntN(3))
				}
				n := s.AdoptPrefix(toks)
				if err := appendTokens(s, toks[n:]...); err != nil {
					errs <- fmt.Errorf("goroutine %d round %d: %w", g, round, err)
					return
				}
				f := s.Fork()
				if err := appendTokens(f, g, g); err != nil {
					errs <- fmt.Errorf("goroutine %d round %d fork: %w", g, round, err)
					return
				}
				if msg := verify(s, toks); msg != "" {
					errs <- fmt.Errorf("goroutine %d round %d: %s", g, round, msg)
					return
				}
				if msg := verify(f, append(slices.Clone(toks), g, g)); msg != "" {
					errs <- fmt.Errorf("goroutine %d round %d fork: %s", g, round, msg)
					return
				}
				s.Publish(toks)
				f.Release()
				s.Release()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := p.Stats(); st.BlocksUsed != 0 || st.BlocksAllocated > st.BlocksTotal {
		t.Fatalf("after all goroutines: %+v", st)
	}
	checkInvariants(t, p, nil)
}

// verify is checkTokens returning a message instead of failing a test, for
// use from goroutines.
func verify(s *Seq, tokens []int) string {
	if s.Len() != len(tokens) {
		return fmt.Sprintf("Len %d, want %d", s.Len(), len(tokens))
	}
	c := s.Pool().Config()
	for pos, tok := range tokens {
		for l := 0; l < c.Layers; l++ {
			for kv := 0; kv < 2; kv++ {
				for h := 0; h < c.KVHeads; h++ {
					for d := 0; d < c.HeadDim; d++ {
						if got, want := read(s, l, kv, pos, h, d), stored(c, tok, pos, l, kv, h, d); got != want {
							return fmt.Sprintf("layer %d kv %d pos %d head %d dim %d: %g, want %g", l, kv, pos, h, d, got, want)
						}
					}
				}
			}
		}
	}
	return ""
}
