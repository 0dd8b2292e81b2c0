package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/generate"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models"
	"github.com/cellm-ai/cellm-go/sample"
)

// benchResult is one measured test, printed as a table row or a JSON line
// (llama-bench's -o jsonl names where they exist).
type benchResult struct {
	Model           string  `json:"model"`
	Test            string  `json:"test"` // pp512, tg128, ...
	Threads         int     `json:"threads"`
	Batch           int     `json:"batch"` // concurrent sequences
	NPrompt         int     `json:"n_prompt"`
	NGen            int     `json:"n_gen"`
	TokensPerS      float64 `json:"tokens_per_s"` // aggregate over the batch
	TokensPerSSD    float64 `json:"tokens_per_s_sd"`
	TokensPerSeq    float64 `json:"tokens_per_s_per_seq"`
	KVType          string  `json:"kv_type"`
	KVBytesPerToken int64   `json:"kv_bytes_per_token_per_seq,omitempty"`
	KVBlocksUsed    int     `json:"kv_blocks_used,omitempty"`
	KVBlockBytes    int64   `json:"kv_block_bytes,omitempty"`
}

// parseCounts parses a comma-separated list of positive integers.
func parseCounts(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s %q: want positive counts", flag, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// benchBatch measures B concurrent sequences on one engine: each prefills
// nPrompt random tokens, then all decode nGen tokens together, one batched
// step per token. It returns the pp and tg results (aggregate tokens per
// second over reps repetitions after a warm-up). With profile set, the
// decode steps of the last repetition are CPU-profiled into that file.
func benchBatch(dec models.Decoder, kv kvcache.DType, blockTokens, b, nPrompt, nGen, reps int, profile string) ([]benchResult, error) {
	spec := dec.Spec()
	ctxLen := nPrompt + nGen + 1
	e, err := engine.New(dec, engine.Options{KVType: kv, MaxContext: ctxLen, BlockTokens: blockTokens,
		KVBudgetBytes: int64(b) * kvBytes(spec, kv, blockTokens, ctxLen)})
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(b), 7))
	ws := e.NewWorkspace()
	sessions := make([]*engine.Session, b)
	works := make([]engine.Work, b)
	for i := range sessions {
		sessions[i] = e.NewSession()
		works[i] = engine.Work{Session: sessions[i], Tokens: make([]int, 1), Logits: make([]float32, spec.Vocab)}
	}
	// The next tokens, one sequence per item on the kernel pool's threads.
	argmax := func(i int) { works[i].Tokens[0] = sample.Argmax(works[i].Logits) }
	prompt := make([]int, nPrompt)
	var pp, tg []float64
	var stats kvcache.Stats
	for rep := 0; rep <= reps; rep++ { // rep 0 is the warm-up
		for _, s := range sessions {
			s.Close()
			if err := s.Reserve(ctxLen); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		for i, s := range sessions {
			for j := range prompt {
				prompt[j] = rng.IntN(spec.Vocab)
			}
			if _, err := s.Prefill(prompt, nil, works[i].Logits); err != nil {
				return nil, err
			}
		}
		ppTime := time.Since(start)
		stopProfile := func() {}
		if rep == reps {
			if stopProfile, err = startCPUProfile(profile); err != nil {
				return nil, fmt.Errorf("--decode-profile: %w", err)
			}
		}
		start = time.Now()
		for range nGen {
			kernels.ForEach(len(works), argmax)
			if err := e.Step(ws, works); err != nil {
				stopProfile()
				return nil, err
			}
		}
		tgTime := time.Since(start)
		stopProfile()
		stats = e.Pool().Stats()
		if rep > 0 {
			pp = append(pp, float64(b*nPrompt)/ppTime.Seconds())
			tg = append(tg, float64(b*nGen)/tgTime.Seconds())
		}
	}
	for _, s := range sessions {
		s.Close()
	}
	kvName := kv.String()
	res := func(test string, rates []float64, np, ng int) benchResult {
		mean, sd := meanSDValues(rates)
		return benchResult{Test: test, Batch: b, NPrompt: np, NGen: ng, TokensPerS: mean, TokensPerSSD: sd,
			TokensPerSeq: mean / float64(b), KVType: kvName, KVBytesPerToken: stats.BytesPerToken,
			KVBlocksUsed: stats.BlocksUsed, KVBlockBytes: stats.BlockBytes}
	}
	return []benchResult{
		res(fmt.Sprintf("pp%d", nPrompt), pp, nPrompt, 0),
		res(fmt.Sprintf("tg%d", nGen), tg, nPrompt, nGen),
	}, nil
}

func meanSDValues(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	if len(v) > 1 {
		sd = math.Sqrt(ss / float64(len(v)-1))
	}
	return mean, sd
}

// printBatchResult prints r as a table row or a JSON line.
func printBatchResult(r benchResult, format string) error {
	if format == "jsonl" {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("%7d  %5d  %-8s %10.1f ± %-7.1f %10.1f   KV %d B/token/seq, %d blocks in use\n",
		r.Threads, r.Batch, r.Test, r.TokensPerS, r.TokensPerSSD, r.TokensPerSeq, r.KVBytesPerToken, r.KVBlocksUsed)
	return nil
}

// kvBytes is the pool budget holding positions of one sequence in whole
// blocks of blockTokens (0: kvcache's default).
func kvBytes(spec models.Spec, kv kvcache.DType, blockTokens, positions int) int64 {
	if blockTokens == 0 {
		return generate.KVBytes(spec, kv, positions)
	}
	blocks := int64((positions + blockTokens - 1) / blockTokens)
	return blocks * int64(blockTokens) * kvcache.BytesPerToken(kv, spec.Layers, spec.KVHeads, spec.HeadDim)
}
