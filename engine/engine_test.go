package engine_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models"
	"github.com/cellm-ai/cellm-go/models/llama"
	"github.com/cellm-ai/cellm-go/sample"
)

var (
	tinyOnce sync.Once
	tiny     *llama.Model
	tinyErr  error
)

// tinyF32 converts llama-tiny with f32 weights once per test binary.
func tinyF32(t testing.TB) *llama.Model {
	t.Helper()
	fixture := testutil.Fixture(t, "llama-tiny")
	tinyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "engine-test-")
		if err != nil {
			tinyErr = err
			return
		}
		defer os.RemoveAll(dir) // the mapping stays valid after unlinking
		path := filepath.Join(dir, "tiny.cellm")
		if _, tinyErr = convert.Convert(fixture, path, convert.Options{DType: format.F32}); tinyErr != nil {
			return
		}
		f, err := format.Open(path)
		if err != nil {
			tinyErr = err
			return
		}
		tiny, tinyErr = llama.Load(f)
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tiny
}

func newEngine(t testing.TB, d models.Decoder, o engine.Options) *engine.Engine {
	t.Helper()
	e, err := engine.New(d, o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func randIDs(rng *rand.Rand, n, vocab int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = rng.IntN(vocab)
	}
	return ids
}

// maxDiff returns the largest |a-b| relative to the largest |b|, or +Inf
// on a length mismatch, an empty or all-zero reference, or a non-finite
// value. Different kernels (one-row matrix-vector products against blocked
// GEMM, attention over differently sized blocks) sum in different orders,
// so equal computations agree to float32 rounding, not bit for bit.
func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) || len(b) == 0 {
		return math.Inf(1)
	}
	d, scale := 0.0, 0.0
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
			return math.Inf(1)
		}
		d = max(d, math.Abs(x-y))
		scale = max(scale, math.Abs(y))
	}
	if scale == 0 {
		return math.Inf(1)
	}
	return d / scale
}

// alone returns the last logits of ids run from scratch in a fresh engine,
// one session, positions fed in chunks of chunk tokens.
func alone(t *testing.T, d models.Decoder, ids []int, chunk int) []float32 {
	t.Helper()
	e := newEngine(t, d, engine.Options{PrefillChunk: chunk})
	s := e.NewSession()
	defer s.Close()
	logits := make([]float32, d.Spec().Vocab)
	if _, err := s.Prefill(ids, nil, logits); err != nil {
		t.Fatal(err)
	}
	return logits
}

// TestStepBatchedEqualsAlone: one Step over several sessions (prefill
// chunks of different lengths beside single decode tokens, which share one
// attention call) gives each session the logits it gets when run alone,
// with float32 and binary16 KV caches.
func TestStepBatchedEqualsAlone(t *testing.T) {
	for _, kv := range []kvcache.DType{kvcache.F32, kvcache.F16} {
		t.Run(kv.String(), func(t *testing.T) { testStepBatchedEqualsAlone(t, kv) })
	}
}

func testStepBatchedEqualsAlone(t *testing.T, kv kvcache.DType) {
	d := tinyF32(t)
	vocab := d.Spec().Vocab
	rng := rand.New(rand.NewPCG(3, 4))
	e := newEngine(t, d, engine.Options{KVType: kv})
	ws := e.NewWorkspace()
	// A batched step projects its rows with a matrix product, a lone token
	// with matrix-vector products: float32 rounding differs (measured up
	// to 9.7e-7), and with a binary16 cache such a difference can move a
	// stored key or value by one binary16 step (measured 4.3e-6).
	tol := 2e-6
	if kv == kvcache.F16 {
		tol = 1e-5
	}
	// Session i has a history of hist[i] tokens, then contributes add[i].
	hist := []int{0, 9, 30, 17, 0, 47, 70}
	add := []int{13, 1, 1, 40, 1, 1, 1}
	var works []engine.Work
	var full [][]int
	for i := range hist {
		s := e.NewSession()
		defer s.Close()
		ids := randIDs(rng, hist[i]+add[i], vocab)
		if hist[i] > 0 {
			if _, err := s.Prefill(ids[:hist[i]], nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		works = append(works, engine.Work{Session: s, Tokens: ids[hist[i]:], Logits: make([]float32, vocab)})
		full = append(full, ids)
	}
	if err := e.Step(ws, works); err != nil {
		t.Fatal(err)
	}
	for i, w := range works {
		if w.Session.Len() != len(full[i]) {
			t.Errorf("session %d: Len %d, want %d", i, w.Session.Len(), len(full[i]))
		}
		// Alone: the history as one prefill, then the added tokens as a second one.
		e1 := newEngine(t, d, engine.Options{KVType: kv})
		s := e1.NewSession()
		want := make([]float32, vocab)
		if hist[i] > 0 {
			if _, err := s.Prefill(full[i][:hist[i]], nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := e1.Step(e1.NewWorkspace(), []engine.Work{{Session: s, Tokens: full[i][hist[i]:], Logits: want}}); err != nil {
			t.Fatal(err)
		}
		t.Logf("session %d: relative difference %.2g", i, maxDiff(w.Logits, want))
		if diff := maxDiff(w.Logits, want); !(diff <= tol) {
			t.Errorf("session %d (%d + %d tokens): batched logits differ from alone by %g", i, hist[i], add[i], diff)
		}
	}
}

// TestPagedEqualsContiguous: the block size does not change the result; a
// single block as long as the sequence is a contiguous cache.
func TestPagedEqualsContiguous(t *testing.T) {
	d := tinyF32(t)
	rng := rand.New(rand.NewPCG(5, 6))
	ids := randIDs(rng, 300, d.Spec().Vocab)
	var ref []float32
	for _, bt := range []int{512, 16, 5, 1} {
		for _, kv := range []kvcache.DType{kvcache.F32} {
			e := newEngine(t, d, engine.Options{BlockTokens: bt, KVType: kv, PrefillChunk: 64})
			s := e.NewSession()
			logits := make([]float32, d.Spec().Vocab)
			if _, err := s.Prefill(ids[:290], nil, nil); err != nil {
				t.Fatal(err)
			}
			for _, id := range ids[290:] { // decode steps through the paged cache
				if err := s.Append(id, logits); err != nil {
					t.Fatal(err)
				}
			}
			if ref == nil {
				ref = logits
				continue
			}
			if diff := maxDiff(logits, ref); diff > 1e-6 {
				t.Errorf("blocks of %d positions: logits differ from one contiguous block by %g", bt, diff)
			}
		}
	}
}

// TestSharedPrefix: a session adopting another's published prefix computes
// what recomputing the prefix gives.
func TestSharedPrefix(t *testing.T) {
	d := tinyF32(t)
	vocab := d.Spec().Vocab
	rng := rand.New(rand.NewPCG(7, 8))
	system := randIDs(rng, 50, vocab)
	a := append(append([]int(nil), system...), randIDs(rng, 7, vocab)...)
	b := append(append([]int(nil), system...), randIDs(rng, 11, vocab)...)
	e := newEngine(t, d, engine.Options{})
	sa := e.NewSession()
	if _, err := sa.Prefill(a, nil, nil); err != nil {
		t.Fatal(err)
	}
	sa.Close() // its published blocks stay cached
	sb := e.NewSession()
	got := make([]float32, vocab)
	reused, err := sb.Prefill(b, nil, got)
	if err != nil {
		t.Fatal(err)
	}
	if reused != 48 { // the full 16-position blocks of the 50 shared ids
		t.Errorf("reused %d positions, want 48", reused)
	}
	if diff := maxDiff(got, alone(t, d, b, 512)); diff > 1e-6 {
		t.Errorf("adopted prefix: logits differ from recomputing by %g", diff)
	}
}

// TestMultiTurn: a session keeping its cache across turns gives the logits
// of re-running the whole history, and prefills only the new tail.
func TestMultiTurn(t *testing.T) {
	d := tinyF32(t)
	vocab := d.Spec().Vocab
	rng := rand.New(rand.NewPCG(9, 10))
	e := newEngine(t, d, engine.Options{})
	s := e.NewSession()
	logits := make([]float32, vocab)
	turn1 := randIDs(rng, 20, vocab)
	if _, err := s.Prefill(turn1, nil, logits); err != nil {
		t.Fatal(err)
	}
	history := append([]int(nil), turn1...)
	for range 5 { // greedy reply
		id := sample.Argmax(logits)
		if err := s.Append(id, logits); err != nil {
			t.Fatal(err)
		}
		history = append(history, id)
	}
	turn2 := append(append([]int(nil), history...), randIDs(rng, 9, vocab)...)
	reused, err := s.Prefill(turn2, nil, logits)
	if err != nil {
		t.Fatal(err)
	}
	if reused != len(history) {
		t.Errorf("turn 2 reused %d positions, want the %d of turn 1 and its reply", reused, len(history))
	}
	if diff := maxDiff(logits, alone(t, d, turn2, 512)); diff > 1e-6 {
		t.Errorf("kept cache: logits differ from re-running the history by %g", diff)
	}
	// An edited history keeps only the common prefix.
	edited := append([]int(nil), turn2...)
	edited[10] = (edited[10] + 1) % vocab
	if reused, err = s.Prefill(edited, nil, logits); err != nil || reused != 10 {
		t.Fatalf("edited history: reused %d (err %v), want 10", reused, err)
	}
	if diff := maxDiff(logits, alone(t, d, edited, 512)); diff > 1e-6 {
		t.Errorf("edited history: logits differ by %g", diff)
	}
}

// TestBudget: an exhausted pool is kvcache.ErrBudget with nothing changed;
// closed sessions' cached prefixes are evicted to make room.
func TestBudget(t *testing.T) {
	d := tinyF32(t)
	vocab := d.Spec().Vocab
	sp := d.Spec()
	block := int64(16 * 2 * sp.Layers * sp.KVHeads * sp.HeadDim * 4)
	e := newEngine(t, d, engine.Options{KVBudgetBytes: 4 * block}) // 64 positions
	rng := rand.New(rand.NewPCG(11, 12))
	a, b := e.NewSession(), e.NewSession()
	if _, err := a.Prefill(randIDs(rng, 40, vocab), nil, nil); err != nil { // 3 blocks
		t.Fatal(err)
	}
	_, err := b.Prefill(randIDs(rng, 30, vocab), nil, nil) // 2 more: over budget
	if !errors.Is(err, kvcache.ErrBudget) {
		t.Fatalf("over budget: %v, want kvcache.ErrBudget", err)
	}
	if b.Len() != 0 || a.Len() != 40 {
		t.Errorf("after ErrBudget: lengths %d and %d, want 0 and 40", b.Len(), a.Len())
	}
	logits := make([]float32, vocab)
	err = e.Step(e.NewWorkspace(), []engine.Work{
		{Session: a, Tokens: randIDs(rng, 30, vocab)},
		{Session: b, Tokens: []int{1}, Logits: logits},
	})
	if !errors.Is(err, kvcache.ErrBudget) || a.Len() != 40 || b.Len() != 0 {
		t.Fatalf("Step over budget: %v, lengths %d, %d", err, a.Len(), b.Len())
	}
	a.Close() // 2 full blocks stay cached as a published prefix
	if st := e.Pool().Stats(); st.BlocksCached != 2 {
		t.Errorf("after Close: %d cached blocks, want 2", st.BlocksCached)
	}
	if _, err := b.Prefill(randIDs(rng, 60, vocab), nil, logits); err != nil { // needs all 4 blocks: evicts
		t.Fatalf("after eviction: %v", err)
	}
	if st := e.Pool().Stats(); st.BlocksCached != 0 || st.BlocksUsed != 4 {
		t.Errorf("after eviction: %+v", st)
	}
	if _, err := b.Prefill(randIDs(rng, 65, vocab), nil, logits); !errors.Is(err, engine.ErrContext) {
		// MaxContext defaults to max_position_embeddings (2048); 65 positions
		// exceed the budget, not the context.
		if !errors.Is(err, kvcache.ErrBudget) {
			t.Errorf("65 positions in a 64-position pool: %v", err)
		}
	}
}

// TestStepErrors: malformed works are rejected before any computation.
func TestStepErrors(t *testing.T) {
	d := tinyF32(t)
	e := newEngine(t, d, engine.Options{MaxContext: 8})
	other := newEngine(t, d, engine.Options{})
	s := e.NewSession()
	ws := e.NewWorkspace()
	for name, works := range map[string][]engine.Work{
		"duplicate": {{Session: s, Tokens: []int{1}}, {Session: s, Tokens: []int{2}}},
		"foreign":   {{Session: other.NewSession(), Tokens: []int{1}}},
		"empty":     {{Session: s}},
		"context":   {{Session: s, Tokens: make([]int, 9)}},
		"token":     {{Session: s, Tokens: []int{-1}}},
		"logits":    {{Session: s, Tokens: []int{1}, Logits: make([]float32, 3)}},
	} {
		if err := e.Step(ws, works); err == nil {
			t.Errorf("%s: no error", name)
		}
		if s.Len() != 0 {
			t.Fatalf("%s: session changed to %d positions", name, s.Len())
		}
	}
	if err := e.Step(ws, []engine.Work{{Session: s, Tokens: make([]int, 9)}}); !errors.Is(err, engine.ErrContext) {
		t.Errorf("context: %v, want ErrContext", err)
	}
}

// TestBatchedDecodeZeroAllocs: a batched decode step of several sessions
// allocates nothing once their blocks are reserved, for every KV type.
func TestBatchedDecodeZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: sync.Pool drops pooled scratch on purpose, so steps allocate")
	}
	for _, kv := range []kvcache.DType{kvcache.F32, kvcache.F16, kvcache.Q8} {
		t.Run(kv.String(), func(t *testing.T) { testBatchedDecodeZeroAllocs(t, kv) })
	}
}

func testBatchedDecodeZeroAllocs(t *testing.T, kv kvcache.DType) {
	d := tinyF32(t)
	vocab := d.Spec().Vocab
	e := newEngine(t, d, engine.Options{KVType: kv})
	ws := e.NewWorkspace()
	rng := rand.New(rand.NewPCG(13, 14))
	var works []engine.Work
	for range 4 {
		s := e.NewSession()
		if _, err := s.Prefill(randIDs(rng, 10, vocab), nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Reserve(200); err != nil {
			t.Fatal(err)
		}
		works = append(works, engine.Work{Session: s, Tokens: []int{3}, Logits: make([]float32, vocab)})
	}
	if err := e.Step(ws, works); err != nil { // warm the workspace
		t.Fatal(err)
	}
	in := make([]engine.Work, len(works))
	allocs := testing.AllocsPerRun(50, func() {
		copy(in, works)
		if err := e.Step(ws, in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batched decode step", allocs)
	}
}

// TestPerplexityLongContext scores windows longer than one prefill chunk
// (513, 1024 and 2048 positions) and compares with a reference computed
// window by window from every position's logits (llama.State, 256-token
// pieces).
func TestPerplexityLongContext(t *testing.T) {
	d := tinyF32(t)
	vocab := d.Spec().Vocab
	rng := rand.New(rand.NewPCG(15, 16))
	ids := randIDs(rng, 2100, vocab)
	logits := make([]float32, 256*vocab)
	for _, ctx := range []int{513, 1024, 2048} {
		var sum float64
		scored := 0
		for start := 0; start < len(ids); start += ctx {
			w := ids[start:min(start+ctx, len(ids))]
			s := d.NewState(len(w))
			for c := 0; c < len(w); c += 256 {
				n := min(256, len(w)-c)
				if err := d.Forward(s, w[c:c+n], logits[:n*vocab], true); err != nil {
					t.Fatal(err)
				}
				for i := range n {
					if c+i+1 < len(w) {
						sum += engine.NLL(logits[i*vocab:(i+1)*vocab], w[c+i+1])
						scored++
					}
				}
			}
		}
		want := sum / float64(scored)
		got, n, err := engine.Perplexity(d, ids, ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		rel := math.Abs(got-want) / want
		t.Logf("ctx %d: mean NLL %.6f, reference %.6f (relative difference %.2g)", ctx, got, want, rel)
		if n != scored || !(rel < 1e-6) {
			t.Errorf("ctx %d: mean NLL %v over %d tokens, reference %v over %d", ctx, got, n, want, scored)
		}
	}
}

// TestConcurrentSessions: goroutines stepping their own sessions (each with
// its own workspace) on one engine and one pool get what each gets alone.
func TestConcurrentSessions(t *testing.T) {
	d := tinyF32(t)
	vocab := d.Spec().Vocab
	e := newEngine(t, d, engine.Options{})
	rng := rand.New(rand.NewPCG(17, 18))
	prompts := make([][]int, 4)
	for i := range prompts {
		prompts[i] = randIDs(rng, 20+7*i, vocab)
	}
	got := make([][]float32, len(prompts))
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := e.NewSession()
			defer s.Close()
			logits := make([]float32, vocab)
			if _, err := s.Prefill(p[:len(p)-5], nil, logits); err != nil {
				t.Error(err)
				return
			}
			for _, id := range p[len(p)-5:] {
				if err := s.Append(id, logits); err != nil {
					t.Error(err)
					return
				}
			}
			got[i] = logits
		}()
	}
	wg.Wait()
	for i, p := range prompts {
		want := make([]float32, vocab)
		s := newEngine(t, d, engine.Options{}).NewSession()
		if _, err := s.Prefill(p[:len(p)-5], nil, nil); err != nil {
			t.Fatal(err)
		}
		for _, id := range p[len(p)-5:] {
			if err := s.Append(id, want); err != nil {
				t.Fatal(err)
			}
		}
		if diff := maxDiff(got[i], want); diff > 0 {
			t.Errorf("session %d: concurrent logits differ from alone by %g", i, diff)
		}
	}
}

// TestBeginThenSteps checks the scheduler's path: Begin adopts a published
// prefix without computing, Reserve claims the rest, and the tail fed in
// uneven chunks through Step beside another session's decode tokens gives
// the logits of a fresh prefill.
func TestBeginThenSteps(t *testing.T) {
	d := tinyF32(t)
	vocab := d.Spec().Vocab
	rng := rand.New(rand.NewPCG(9, 10))
	system := randIDs(rng, 40, vocab)
	a := append(append([]int(nil), system...), randIDs(rng, 5, vocab)...)
	b := append(append([]int(nil), system...), randIDs(rng, 23, vocab)...)
	e := newEngine(t, d, engine.Options{})
	sa := e.NewSession()
	logitsA := make([]float32, vocab)
	if _, err := sa.Prefill(a, nil, logitsA); err != nil {
		t.Fatal(err)
	}
	sb := e.NewSession()
	reused, err := sb.Begin(b, false)
	if err != nil {
		t.Fatal(err)
	}
	if reused != 32 || sb.Len() != 32 {
		t.Fatalf("Begin reused %d (Len %d), want the 32 positions of 2 full published blocks", reused, sb.Len())
	}
	if err := sb.Reserve(len(b) - reused + 4); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, vocab)
	ws := e.NewWorkspace()
	next := sample.Argmax(logitsA)
	for pos := reused; pos < len(b); {
		n := min(5, len(b)-pos)
		works := []engine.Work{{Session: sa, Tokens: []int{next}, Logits: logitsA},
			{Session: sb, Tokens: b[pos : pos+n]}}
		if pos+n == len(b) {
			works[1].Logits = got
		}
		if err := e.Step(ws, works); err != nil {
			t.Fatal(err)
		}
		next = sample.Argmax(logitsA)
		pos += n
	}
	diff := maxDiff(got, alone(t, d, b, 512))
	t.Logf("max |logit difference| %g", diff) // 6e-7 measured
	if diff > 4e-6 || math.IsNaN(diff) {
		t.Errorf("Begin + chunked steps: logits differ from a fresh prefill by %g", diff)
	}
	if _, err := sb.Begin(nil, false); err == nil {
		t.Error("Begin of an empty prompt: no error")
	}
	if _, err := e.NewSession().Begin(make([]int, e.MaxContext()+1), false); !errors.Is(err, engine.ErrContext) {
		t.Errorf("Begin past the context: %v", err)
	}
}

// TestPrefillKnown: positions computed from embeddings are reused only when
// the caller vouches for them (Prefill alone recomputes them), never past
// the session's length or the prompt's last position, and the logits are
// those of re-running the prompt.
func TestPrefillKnown(t *testing.T) {
	d := tinyF32(t)
	vocab, h := d.Spec().Vocab, d.Spec().Hidden
	rng := rand.New(rand.NewPCG(11, 12))
	ids := randIDs(rng, 16, vocab)
	x := make([]float32, len(ids)*h)
	if err := d.Embed(x, ids); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, d, engine.Options{})
	s := e.NewSession()
	defer s.Close()
	logits := make([]float32, vocab)
	if _, err := s.Prefill(ids[:10], x[:10*h], logits); err != nil {
		t.Fatal(err)
	}
	if reused, err := s.Prefill(ids, x, logits); err != nil || reused != 0 {
		t.Fatalf("Prefill over embedded positions: reused %d (err %v), want 0", reused, err)
	}
	if _, err := s.Prefill(ids[:10], x[:10*h], logits); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ known, want int }{{7, 7}, {10, 10}, {100, 10}} {
		if _, err := s.Prefill(ids[:10], x[:10*h], logits); err != nil { // back to 10 positions
			t.Fatal(err)
		}
		reused, err := s.PrefillKnown(ids, x, logits, c.known)
		if err != nil || reused != c.want {
			t.Errorf("known %d: reused %d (err %v), want %d", c.known, reused, err, c.want)
		}
		if diff := maxDiff(logits, alone(t, d, ids, 512)); diff > 1e-6 {
			t.Errorf("known %d: logits differ from a fresh run by %g", c.known, diff)
		}
	}
	// The last position is always computed.
	if reused, err := s.PrefillKnown(ids, x, logits, len(ids)); err != nil || reused != len(ids)-1 {
		t.Errorf("the whole prompt known: reused %d (err %v), want %d", reused, err, len(ids)-1)
	}
}
