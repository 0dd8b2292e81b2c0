package kvcache_test

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/kvcache"
)

// A chat turn reuses the cached system prompt of an earlier turn: only the
// new tokens are computed and stored; attention reads every block.
func Example() {
	pool, err := kvcache.NewPool(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: 8, BlockTokens: 4, BudgetBytes: 1 << 20})
	if err != nil {
		panic(err)
	}
	system := []int{1, 2, 3, 4, 5, 6, 7, 8, 9}
	k := make([]float32, 8) // one position's keys (and values) of one layer
	prefill := func(s *kvcache.Seq, tokens []int) error {
		if err := s.Reserve(len(tokens) - s.Len()); err != nil {
			return err // errors.Is(err, kvcache.ErrBudget): wait for room
		}
		for pos := s.Len(); pos < len(tokens); pos++ {
			s.Store(0, pos, k, k) // the model's K and V for this position
		}
		s.Commit(len(tokens) - s.Len())
		return nil
	}

	first := pool.NewSeq()
	if err := prefill(first, system); err != nil {
		panic(err)
	}
	first.Publish(system)
	first.Release()

	next := pool.NewSeq()
	prompt := slices.Concat(system, []int{10, 11})
	reused := next.AdoptPrefix(prompt)
	if err := prefill(next, prompt); err != nil && !errors.Is(err, kvcache.ErrBudget) {
		panic(err)
	}
	q, out := make([]float32, 8), make([]float32, 8)
	kb, vb := next.BlocksF32(0)
	kernels.AttentionPaged(out, q, kb, vb, 4, 1, 1, 1, 8, next.Len()-1, 0.35)
	fmt.Println("reused", reused, "of", len(prompt), "positions;", pool.Stats().BlocksUsed, "blocks in use")
	// Output: reused 8 of 11 positions; 3 blocks in use
}
