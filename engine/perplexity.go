package engine

import (
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models"
)

// scoreRows is how many positions' logits Perplexity materializes at once.
const scoreRows = 64

// Perplexity scores ids with the protocol of the pretrained-micro reference:
// non-overlapping windows ids[k*ctx:(k+1)*ctx], each run on its own from an
// empty cache at positions 0..len-1 with nothing prepended (no BOS); every
// token of a window except the first is scored by its negative
// log-likelihood (natural log) given the earlier tokens of the window. It
// returns the mean NLL over the scored tokens (perplexity = exp(meanNLL))
// and their number. progress, if not nil, is called after each window with
// the tokens done.
//
// A window is prefilled in chunks keeping only its final-norm hidden rows
// (Work.Hidden), which the LM head projects scoreRows at a time: memory is
// ctx x Hidden, not ctx x Vocab, and any ctx works.
func Perplexity(dec models.Decoder, ids []int, ctx int, progress func(done, total int)) (meanNLL float64, scored int, err error) {
	return PerplexityKV(dec, ids, ctx, kvcache.F32, progress)
}

// PerplexityKV is Perplexity with a KV cache of type kv (kvcache.F32, F16
// or Q8): what the cache's storage costs in accuracy.
func PerplexityKV(dec models.Decoder, ids []int, ctx int, kv kvcache.DType, progress func(done, total int)) (meanNLL float64, scored int, err error) {
	if ctx < 2 {
		return 0, 0, fmt.Errorf("perplexity context %d: need at least 2 tokens per window", ctx)
	}
	spec := dec.Spec()
	vocab, h := spec.Vocab, spec.Hidden
	for i, t := range ids {
		if t < 0 || t >= vocab {
			return 0, 0, fmt.Errorf("perplexity: token %d (at index %d) is outside the vocabulary [0, %d)", t, i, vocab)
		}
	}
	win := max(min(ctx, len(ids)), 1)
	bt := int64(kvcache.DefaultBlockTokens)
	budget := (int64(win) + bt - 1) / bt * bt * kvcache.BytesPerToken(kv, spec.Layers, spec.KVHeads, spec.HeadDim)
	e, err := New(dec, Options{KVType: kv, MaxContext: win, KVBudgetBytes: budget})
	if err != nil {
		return 0, 0, err
	}
	s := e.NewSession()
	defer s.Close()
	ws := e.NewWorkspace()
	logits := make([]float32, scoreRows*vocab)
	final := make([]float32, win*h)
	works := make([]Work, 1)
	var sum float64
	for start := 0; start < len(ids); start += ctx {
		w := ids[start:min(start+ctx, len(ids))]
		s.Reset()
		for c := 0; c < len(w); c += e.chunk {
			n := min(e.chunk, len(w)-c)
			works[0] = Work{Session: s, Tokens: w[c : c+n], Hidden: final[c*h : (c+n)*h]}
			if err := e.Step(ws, works); err != nil {
				return 0, 0, fmt.Errorf("perplexity: %w", err)
			}
		}
		// Rows 0..len-2 predict tokens 1..len-1.
		for r := 0; r < len(w)-1; r += scoreRows {
			n := min(scoreRows, len(w)-1-r)
			if err := dec.LMHead(logits[:n*vocab], final[r*h:(r+n)*h], n); err != nil {
				return 0, 0, err
			}
			for i := range n {
				sum += NLL(logits[i*vocab:(i+1)*vocab], w[r+i+1])
				scored++
			}
		}
		if progress != nil {
			progress(start+len(w), len(ids))
		}
	}
	if scored == 0 {
		return 0, 0, fmt.Errorf("perplexity: no token to score in %d ids", len(ids))
	}
	return sum / float64(scored), scored, nil
}

// NLL returns -log softmax(row)[target]. It overwrites row with the
// softmax (kernels.Softmax); with p* the largest probability, at the
// maximum logit mx, log-sum-exp = mx - log(p*), so
// nll = mx - row[target] - log(p*), which stays finite even when the
// target's probability underflows float32.
func NLL(row []float32, target int) float64 {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	mx, lt := float64(row[best]), float64(row[target])
	kernels.Softmax(row)
	return mx - lt - math.Log(float64(row[best]))
}
