package server

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/sample"
)

// pickJobs returns n jobs with random vocabulary-sized logits, as the
// scheduler holds them after a step; logprobs as pickJobs' jobs ask.
func pickJobs(tb testing.TB, n, vocab, logprobs int, opts sample.Options) []*job {
	r := rand.New(rand.NewPCG(7, 8))
	jobs := make([]*job, n)
	for i := range jobs {
		smp, err := sample.New(vocab, opts)
		if err != nil {
			tb.Fatal(err)
		}
		j := &job{logits: make([]float32, vocab), lpTmp: make([]float32, vocab), smp: smp, logprobs: logprobs}
		for k := range j.logits {
			j.logits[k] = float32(r.NormFloat64() * 3)
		}
		jobs[i] = j
	}
	return jobs
}

// newPicker returns a scheduler holding only what pickAll needs, with
// ready jobs.
func newPicker(ready []*job) *scheduler { return &scheduler{ready: ready} }

// TestPickAllMatchesSerial checks that the parallel pick gives every job
// the token and log probabilities a pick on its own gives, for greedy and
// seeded sampling with top logprobs.
func TestPickAllMatchesSerial(t *testing.T) {
	for _, opts := range []sample.Options{{}, {Temperature: 0.8, TopK: 40, Seed: 3}} {
		s := newPicker(pickJobs(t, 7, 1000, 3, opts))
		want := pickJobs(t, 7, 1000, 3, opts)
		s.pickAll()
		for i, j := range want {
			j.pick()
			got := s.ready[i]
			if got.picked != j.picked || got.pickedLP == nil || got.pickedLP.logprob != j.pickedLP.logprob ||
				!slices.Equal(got.pickedLP.top, j.pickedLP.top) {
				t.Errorf("%+v job %d: picked %d %+v, alone %d %+v", opts, i, got.picked, got.pickedLP, j.picked, j.pickedLP)
			}
		}
	}
}

// BenchmarkPickAll times the picks after one batched step of 8 sequences
// at SmolLM2's vocabulary: greedy with the chosen token's logprob (as
// bench-serve asks), on one thread and split across the kernel threads.
func BenchmarkPickAll(b *testing.B) {
	for _, threads := range []int{1, kernels.Threads()} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			defer kernels.SetThreads(kernels.Threads())
			kernels.SetThreads(threads)
			s := newPicker(pickJobs(b, 8, 49152, 0, sample.Options{}))
			for b.Loop() {
				s.pickAll()
			}
		})
	}
}
