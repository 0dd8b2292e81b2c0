package llama

import (
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/models"
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
// Each window is prefilled in chunks of MaxChunk positions, keeping the
// final hidden rows (Step's Input.Hidden), which are projected to logits
// scoreRows at a time; any ctx works.
func Perplexity(m *Model, ids []int, ctx int, progress func(done, total int)) (meanNLL float64, scored int, err error) {
	if ctx < 2 {
		return 0, 0, fmt.Errorf("llama: perplexity context %d: need at least 2 tokens per window", ctx)
	}
	if err := m.checkTokens(ids); err != nil {
		return 0, 0, err
	}
	win := min(ctx, len(ids))
	s := m.NewState(max(win, 1))
	vocab, h := m.cfg.Vocab, m.cfg.Hidden
	logits := make([]float32, scoreRows*vocab)
	final := make([]float32, win*h) // final-norm hidden rows of the window
	var sum float64
	for start := 0; start < len(ids); start += ctx {
		w := ids[start:min(start+ctx, len(ids))]
		s.Reset()
		for c := 0; c < len(w); c += MaxChunk {
			n := min(MaxChunk, len(w)-c)
			s.in[0] = models.Input{Seq: s.seq, Tokens: w[c : c+n], Hidden: final[c*h : (c+n)*h]}
			err := m.Step(&s.ws, s.in[:])
			s.in[0] = models.Input{}
			if err != nil {
				return 0, 0, err
			}
		}
		// Rows 0..len-2 predict tokens 1..len-1.
		for r := 0; r < len(w)-1; r += scoreRows {
			n := min(scoreRows, len(w)-1-r)
			kernels.MatMul(logits[:n*vocab], &m.lmHead, final[r*h:(r+n)*h], n)
			for i := range n {
				sum += nll(logits[i*vocab:(i+1)*vocab], w[r+i+1])
				scored++
			}
		}
		if progress != nil {
			progress(start+len(w), len(ids))
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
