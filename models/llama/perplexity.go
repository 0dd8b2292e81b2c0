package llama

import (
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/kernels"
)

// scoreRows is how many positions' logits Perplexity materializes at once.
const scoreRows = 64

// Perplexity scores ids with the protocol of the pretrained-micro reference:
// non-overlapping windows ids[k*ctx:(k+1)*ctx], each run on its own from an
// empty cache at positions 0..len-1 with nothing prepended (no BOS); every
// token of a window except the first is scored by its negative log-likelihood
// (natural log) given the earlier tokens of the window. It returns the mean
// NLL over the scored tokens (perplexity = exp(meanNLL)) and their number.
// progress, if not nil, is called after each window with the tokens done.
// Each window is one batched prefill.
func Perplexity(m *Model, ids []int, ctx int, progress func(done, total int)) (meanNLL float64, scored int, err error) {
	if ctx < 2 {
		return 0, 0, fmt.Errorf("llama: perplexity context %d: need at least 2 tokens per window", ctx)
	}
	if err := m.checkTokens(ids); err != nil {
		return 0, 0, err
	}
	s := m.NewState(ctx)
	vocab, h := m.cfg.Vocab, m.cfg.Hidden
	logits := make([]float32, scoreRows*vocab)
	var final []float32 // final-norm hidden states of the window
	s.OnHidden = func(stage int, x []float32) {
		if stage == m.cfg.Layers+1 {
			final = append(final[:0], x...)
		}
	}
	var sum float64
	for start := 0; start < len(ids); start += ctx {
		win := ids[start:min(start+ctx, len(ids))]
		s.Reset()
		if err := m.Forward(s, win, nil, false); err != nil {
			return 0, 0, err
		}
		// Rows 0..len-2 predict tokens 1..len-1.
		for r := 0; r < len(win)-1; r += scoreRows {
			n := min(scoreRows, len(win)-1-r)
			kernels.MatMul(logits[:n*vocab], &m.lmHead, final[r*h:(r+n)*h], n)
			for i := range n {
				sum += nll(logits[i*vocab:(i+1)*vocab], win[r+i+1])
				scored++
			}
		}
		if progress != nil {
			progress(start+len(win), len(ids))
		}
	}
	if scored == 0 {
		return 0, 0, fmt.Errorf("llama: perplexity: no token to score in %d ids", len(ids))
	}
	return sum / float64(scored), scored, nil
}

// nll returns -log softmax(row)[target]. It overwrites row with the
// softmax (kernels.Softmax); with p* the largest probability, at the
// maximum logit mx, log-sum-exp = mx - log(p*), so
// nll = mx - row[target] - log(p*), which stays finite even when the
// target's probability underflows float32.
func nll(row []float32, target int) float64 {
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
