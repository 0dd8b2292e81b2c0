package llama

import "github.com/cellm-ai/cellm-go/engine"

// Perplexity scores ids in non-overlapping windows of ctx tokens: see
// engine.Perplexity, which works for every models.Decoder.
func Perplexity(m *Model, ids []int, ctx int, progress func(done, total int)) (meanNLL float64, scored int, err error) {
	return engine.Perplexity(m, ids, ctx, progress)
}
