package engine_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/kvcache"
)

// TestBatchedDecodeSteps: decode steps of 9 sessions at once (each
// session's logits written straight to its buffer by one matrix product)
// give every session the logits it gets decoding alone, and one thread
// gives the same logits bit for bit as four (every value is computed by
// one goroutine in a fixed order).
func TestBatchedDecodeSteps(t *testing.T) {
	d := tinyF32(t)
	vocab := d.Spec().Vocab
	defer kernels.SetThreads(0)
	hist := []int{1, 9, 30, 17, 2, 47, 70, 5, 16}
	const steps = 3
	rng := rand.New(rand.NewPCG(5, 6))
	ids := make([][]int, len(hist))
	for i, h := range hist {
		ids[i] = randIDs(rng, h+steps, vocab)
	}
	// run decodes every session's last steps tokens in batched steps and
	// returns each session's logits of each step.
	run := func(kv kvcache.DType, threads int) [][]float32 {
		kernels.SetThreads(threads)
		e := newEngine(t, d, engine.Options{KVType: kv})
		ws := e.NewWorkspace()
		works := make([]engine.Work, len(hist))
		for i, h := range hist {
			s := e.NewSession()
			t.Cleanup(s.Close)
			if _, err := s.Prefill(ids[i][:h], nil, nil); err != nil {
				t.Fatal(err)
			}
			works[i] = engine.Work{Session: s, Tokens: make([]int, 1), Logits: make([]float32, vocab)}
		}
		var out [][]float32
		for step := range steps {
			for i, h := range hist {
				works[i].Tokens[0] = ids[i][h+step]
			}
			if err := e.Step(ws, works); err != nil {
				t.Fatal(err)
			}
			for i := range works {
				out = append(out, append([]float32(nil), works[i].Logits...))
			}
		}
		return out
	}
	for _, kv := range []kvcache.DType{kvcache.F32, kvcache.Q8} {
		one, four := run(kv, 1), run(kv, 4)
		if len(one) != len(four) {
			t.Fatalf("%s: %d logit rows with 1 thread, %d with 4", kv, len(one), len(four))
		}
		for k := range one {
			if len(one[k]) != len(four[k]) {
				t.Fatalf("%s row %d: %d logits with 1 thread, %d with 4", kv, k, len(one[k]), len(four[k]))
			}
			for j, v := range one[k] {
				if v != four[k][j] || math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s step %d session %d: logit %d is %v with 1 thread, %v with 4", kv, k/len(hist), k%len(hist), j, v, four[k][j])
				}
			}
		}
		if kv != kvcache.F32 {
			continue
		}
		// Alone: MatVec per projection instead of MatMul, which for float32
		// weights and up to 32 rows is MatVec row by row exactly, and
		// AttentionPagedWindow instead of AttentionDecode, equal by
		// contract: the logits are the same bit for bit (measured 0).
		worst := 0.0
		for i, h := range hist {
			e := newEngine(t, d, engine.Options{KVType: kv})
			s := e.NewSession()
			if _, err := s.Prefill(ids[i][:h], nil, nil); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, vocab)
			for step := range steps {
				if err := e.Step(e.NewWorkspace(), []engine.Work{{Session: s, Tokens: ids[i][h+step : h+step+1], Logits: want}}); err != nil {
					t.Fatal(err)
				}
				diff := maxDiff(four[step*len(hist)+i], want)
				worst = max(worst, diff)
				if diff != 0 {
					t.Errorf("session %d step %d: batched logits differ from alone by %g", i, step, diff)
				}
			}
			s.Close()
		}
		t.Logf("%s: largest relative difference batched / alone %.2g", kv, worst)
	}
}
