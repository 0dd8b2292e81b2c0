package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// logitsOf returns logits whose softmax is probs.
func logitsOf(probs ...float64) []float32 {
	l := make([]float32, len(probs))
	for i, p := range probs {
		l[i] = float32(math.Log(p))
	}
	return l
}

func mustNew(t testing.TB, vocab int, o Options) *Sampler {
	t.Helper()
	s, err := New(vocab, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGreedy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		logits  []float32
		history []int
		penalty float32
		want    int
	}{
		{"plain", []float32{1, 3, 2}, nil, 0, 1},
		{"first of ties", []float32{5, 1, 5}, nil, 0, 0},
		{"negative", []float32{-3, -1, -2}, nil, 0, 1},
		// 3/2 = 1.5 < 2: the penalized leader loses.
		{"penalty positive", []float32{1, 3, 2}, []int{1}, 2, 2},
		// -1*2 = -2 < -1.5.
		{"penalty negative", []float32{-1, -1.5, -3}, []int{0}, 2, 1},
		// Repeated history ids are penalized once: 8/2 = 4 > 3.
		{"penalty once", []float32{8, 3}, []int{0, 0, 0}, 2, 0},
		{"penalty ignores out of range", []float32{1, 2}, []int{-1, 7}, 2, 1},
		{"NaN skipped", []float32{float32(math.NaN()), 1, 2}, nil, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, len(tc.logits), Options{RepetitionPenalty: tc.penalty})
			in := slices.Clone(tc.logits)
			if got := s.Sample(in, tc.history); got != tc.want {
				t.Errorf("Sample = %d, want %d", got, tc.want)
			}
			for i := range in {
				if in[i] != tc.logits[i] && !math.IsNaN(float64(in[i])) {
					t.Fatalf("Sample modified the logits: %v", in)
				}
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{
		{Temperature: -1}, {Temperature: float32(math.NaN())}, {Temperature: float32(math.Inf(1))},
		{TopK: -1}, {TopP: 1.5}, {TopP: -0.1}, {MinP: 2}, {RepetitionPenalty: -1},
	} {
		if _, err := New(10, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := New(0, Options{}); err == nil {
		t.Error("New with an empty vocabulary accepted")
	}
}

// frequencies samples n tokens and returns each token's frequency.
func frequencies(t *testing.T, s *Sampler, logits []float32, history []int, n int) []float64 {
	f := make([]float64, len(logits))
	for range n {
		f[s.Sample(logits, history)]++
	}
	for i := range f {
		f[i] /= float64(n)
	}
	return f
}

// checkDistribution asserts sampled frequencies are within 5 standard
// errors of want (and exactly zero where want is zero).
func checkDistribution(t *testing.T, got, want []float64, n int) {
	t.Helper()
	for i := range want {
		if want[i] == 0 {
			if got[i] != 0 {
				t.Errorf("token %d sampled with frequency %.4f, want never", i, got[i])
			}
			continue
		}
		se := math.Sqrt(want[i] * (1 - want[i]) / float64(n))
		if numcheck.Diff(got[i], want[i]) > 5*se+1e-9 {
			t.Errorf("token %d frequency %.4f, want %.4f ± %.4f", i, got[i], want[i], 5*se)
		}
	}
}

func TestDistributions(t *testing.T) {
	base := logitsOf(0.5, 0.3, 0.15, 0.05)
	const n = 20000
	for _, tc := range []struct {
		name    string
		opts    Options
		logits  []float32
		history []int
		want    []float64
	}{
		{"temperature 1", Options{Temperature: 1}, base, nil, []float64{0.5, 0.3, 0.15, 0.05}},
		{"temperature 2", Options{Temperature: 2}, base, nil, normalize(math.Sqrt(0.5), math.Sqrt(0.3), math.Sqrt(0.15), math.Sqrt(0.05))},
		{"top-k 2", Options{Temperature: 1, TopK: 2}, base, nil, []float64{0.625, 0.375, 0, 0}},
		{"top-k ties kept", Options{Temperature: 1, TopK: 1}, logitsOf(0.4, 0.4, 0.2), nil, []float64{0.5, 0.5, 0}},
		// ascending cumsum 0.05 0.20 0.50 1.0: <= 0.25 dropped.
		{"top-p 0.75", Options{Temperature: 1, TopP: 0.75}, base, nil, []float64{0.625, 0.375, 0, 0}},
		{"top-p 0.81", Options{Temperature: 1, TopP: 0.81}, base, nil, normalize(0.5, 0.3, 0.15, 0)},
		{"top-p tiny keeps one", Options{Temperature: 1, TopP: 0.01}, base, nil, []float64{1, 0, 0, 0}},
		{"min-p 0.4", Options{Temperature: 1, MinP: 0.4}, base, nil, []float64{0.625, 0.375, 0, 0}},
		{"penalty", Options{Temperature: 1, RepetitionPenalty: 2}, []float32{2, 1, 0}, []int{0},
			normalize(math.Exp(1), math.Exp(1), 1)},
		{"top-k then top-p", Options{Temperature: 1, TopK: 3, TopP: 0.6}, base, nil,
			// top-3 renormalized: .526 .316 .158; ascending cumsum .158 .474 1: <= 0.4 dropped.
			[]float64{0.625, 0.375, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Seed = 42
			s := mustNew(t, len(tc.logits), tc.opts)
			checkDistribution(t, frequencies(t, s, tc.logits, tc.history, n), tc.want, n)
		})
	}
}

func normalize(p ...float64) []float64 {
	var s float64
	for _, v := range p {
		s += v
	}
	out := make([]float64, len(p))
	for i, v := range p {
		out[i] = v / s
	}
	return out
}

// TestTopPLargeVocab checks the pre-filtered top-p against a direct
// implementation of transformers' rule on a realistic vocabulary.
func TestTopPLargeVocab(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const vocab = 5000
	logits := make([]float32, vocab)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	for _, p := range []float32{0.1, 0.5, 0.9, 0.99} {
		s := mustNew(t, vocab, Options{Temperature: 0.7, TopP: p})
		// Reference: sort ascending, drop while cumsum <= 1-p.
		probs := make([]float64, vocab)
		var sum float64
		for i, l := range logits {
			probs[i] = math.Exp(float64(l) / 0.7)
			sum += probs[i]
		}
		idx := make([]int, vocab)
		for i := range idx {
			idx[i] = i
			probs[i] /= sum
		}
		sort.Slice(idx, func(a, b int) bool { return probs[idx[a]] < probs[idx[b]] })
		keep := map[int]bool{}
		var cum float64
		for k, i := range idx {
			cum += probs[i]
			if cum > float64(1-p) || k == vocab-1 {
				for _, j := range idx[k:] {
					keep[j] = true
				}
				break
			}
		}
		seen := map[int]bool{}
		for range 3000 {
			tok := s.Sample(logits, nil)
			if !keep[tok] {
				t.Fatalf("top-p %v: sampled token %d outside the nucleus of %d tokens", p, tok, len(keep))
			}
			seen[tok] = true
		}
		t.Logf("top-p %v: nucleus %d tokens, %d distinct sampled", p, len(keep), len(seen))
		if len(keep) > 5 && len(seen) < 3 {
			t.Errorf("top-p %v: only %d distinct tokens sampled from a nucleus of %d", p, len(seen), len(keep))
		}
	}
}

func TestKthLargest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 2, 3, 7, 100, 1001} {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(rng.IntN(20)) // many ties
		}
		sorted := slices.Clone(w)
		slices.Sort(sorted)
		slices.Reverse(sorted)
		buf := make([]float32, n)
		for k := 1; k <= n; k += max(1, n/13) {
			if got := kthLargest(buf, w, k); got != sorted[k-1] {
				t.Fatalf("n=%d k=%d: %v, want %v", n, k, got, sorted[k-1])
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64())
	}
	run := func(seed uint64) []int {
		s := mustNew(t, len(logits), Options{Temperature: 1, TopK: 50, TopP: 0.95, MinP: 0.01, RepetitionPenalty: 1.1, Seed: seed})
		var out []int
		for range 64 {
			out = append(out, s.Sample(logits, out))
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	if !slices.Equal(a, b) {
		t.Fatal("same seed gave different tokens")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave identical tokens")
	}
	s := mustNew(t, len(logits), Options{Temperature: 1, Seed: 9})
	first := s.Sample(logits, nil)
	s.Reseed(9)
	if s.Sample(logits, nil) != first {
		t.Fatal("Reseed did not restart the sequence")
	}
}

func TestZeroAllocs(t *testing.T) {
	const vocab = 49152
	rng := rand.New(rand.NewPCG(5, 5))
	logits := make([]float32, vocab)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 4)
	}
	history := []int{1, 2, 3, 500, 49151}
	for _, o := range []Options{{}, {RepetitionPenalty: 1.3}, {Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0.05, RepetitionPenalty: 1.1}, {Temperature: 1, TopP: 0.95}} {
		s := mustNew(t, vocab, o)
		if a := testing.AllocsPerRun(20, func() { s.Sample(logits, history) }); a != 0 {
			t.Errorf("%+v: %v allocations per token", o, a)
		}
	}
}

func BenchmarkSample(b *testing.B) {
	const vocab = 49152
	rng := rand.New(rand.NewPCG(5, 5))
	logits := make([]float32, vocab)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 4)
	}
	for _, o := range []Options{{}, {Temperature: 0.8, TopK: 40}, {Temperature: 0.8, TopP: 0.95}, {Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0.05, RepetitionPenalty: 1.1}} {
		b.Run(fmt.Sprintf("%+v", o), func(b *testing.B) {
			s := mustNew(b, vocab, o)
			b.ReportAllocs()
			for b.Loop() {
				s.Sample(logits, logits2ids)
			}
		})
	}
}

var logits2ids = []int{1, 2, 3, 4, 5, 6, 7, 8}

func ExampleSampler() {
	s, err := New(4, Options{Temperature: 0.7, TopK: 2, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	logits := []float32{2.0, 0.5, 1.8, -1}
	counts := make([]int, 4)
	for range 1000 {
		counts[s.Sample(logits, nil)]++
	}
	// Only the two best tokens (0 and 2) are ever drawn.
	fmt.Println(counts[1], counts[3], counts[0] > 0, counts[2] > 0)
	greedy, _ := New(4, Options{})
	fmt.Println(greedy.Sample(logits, nil))
	// Output:
	// 0 0 true true
	// 0
}
