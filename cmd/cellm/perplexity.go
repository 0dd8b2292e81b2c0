package main

import (
	"fmt"
	"math"
	"os"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/internal/progress"
	"github.com/cellm-ai/cellm-go/kvcache"
)

func init() {
	register("perplexity", "mean negative log-likelihood and perplexity of a text file", false, runPerplexity)
}

func runPerplexity(args []string) error {
	fs := newFlags("perplexity", "--model FILE.cellm --text-file F [--ctx-size N] [--bos] [--kv-type f32|f16|q8]")
	model := fs.String("model", "", ".cellm `file` or hub name org/name")
	alias(fs, "model", "m")
	textFile := fs.String("text-file", "", "UTF-8 text `file` to score")
	alias(fs, "text-file", "f", "file")
	ctx := fs.Int("ctx-size", 256, "window length in tokens (non-overlapping windows, each from an empty cache)")
	alias(fs, "ctx-size", "c", "ctx")
	bos := fs.Bool("bos", false, "prepend the BOS token to the token stream")
	kvType := fs.String("kv-type", "f32", "KV cache type: f32, f16 or q8 (what the cache's storage costs in accuracy)")
	tokPath := fs.String("tokenizer", "", "tokenizer.json `file` (default: the one embedded in the model)")
	var prefill prefillPrecisionFlag
	fs.Var(&prefill, "prefill-bf16", prefillBF16Help)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *model == "" || *textFile == "" {
		fs.Usage()
		return errUsage
	}
	if *ctx < 2 {
		return fmt.Errorf("--ctx-size (-c) %d: need at least 2 tokens per window", *ctx)
	}
	kv, err := kvcache.ParseDType(*kvType)
	if err != nil {
		return fmt.Errorf("--kv-type %q: want f32, f16 or q8", *kvType)
	}
	text, err := os.ReadFile(*textFile)
	if err != nil {
		return err
	}
	path, err := resolveModel(*model)
	if err != nil {
		return err
	}
	mod, err := cellm.Open(path, &cellm.Options{TokenizerPath: *tokPath, PrefillPrecision: prefill.p})
	if err != nil {
		return convertHint(*model, err)
	}
	defer mod.Close()
	m, tok := mod.Decoder(), mod.Tokenizer()
	if m == nil {
		return fmt.Errorf("perplexity needs the native decoder")
	}
	if tok == nil {
		return cellm.ErrNoTokenizer
	}
	ids, err := tok.Encode(string(text), false)
	if err != nil {
		return err
	}
	if *bos {
		b := m.Spec().BOS
		if b < 0 {
			return fmt.Errorf("--bos: the model has no BOS token")
		}
		ids = append([]int{b}, ids...)
	}
	if len(ids) < 2 {
		return fmt.Errorf("%s: only %d tokens; need at least 2", *textFile, len(ids))
	}
	bar := progress.NewCount("scoring tokens")
	start := time.Now()
	nll, scored, err := engine.PerplexityKV(m, ids, *ctx, kv, func(done, total int) { bar.Update(int64(done), int64(total)) })
	bar.Done()
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Printf("tokens %d, scored %d, windows of %d\nmean NLL %.6f\nperplexity %.4f\n(%.1f tok/s)\n",
		len(ids), scored, *ctx, nll, math.Exp(nll), float64(len(ids))/el.Seconds())
	return nil
}
