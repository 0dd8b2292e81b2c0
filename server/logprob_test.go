package server

import (
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestLogSumExp checks the SIMD log-sum-exp of logprobOf against a float64
// reference over vocabulary-sized logits of several spreads (measured at
// most 1.8e-8 relative to max(1, |lse|); tolerance 1e-7), and that a NaN
// logit gives NaN.
func TestLogSumExp(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var worst float64
	for _, spread := range []float64{0.01, 1, 8, 40, 200} {
		for _, n := range []int{1, 2, 17, 1000, 49152} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64()*spread + 3)
			}
			mx := math.Inf(-1)
			for _, v := range x {
				mx = max(mx, float64(v))
			}
			var sum float64
			for _, v := range x {
				sum += math.Exp(float64(v) - mx)
			}
			want := mx + math.Log(sum)
			got := logSumExp(x, make([]float32, n), -1)
			if at := slices.Index(x, float32(mx)); logSumExp(x, make([]float32, n), at) != got {
				t.Errorf("spread %g n %d: logSumExp given the largest index %d differs from the searched one", spread, n, at)
			}
			rel := math.Abs(got-want) / max(1, math.Abs(want))
			worst = max(worst, rel)
			if !(rel <= 1e-7) {
				t.Errorf("spread %g n %d: logSumExp %v, want %v (rel %g)", spread, n, got, want, rel)
			}
		}
	}
	t.Logf("largest relative error %g", worst)
	x := []float32{1, float32(math.NaN()), 2}
	if got := logSumExp(x, make([]float32, 3), -1); !math.IsNaN(got) {
		t.Errorf("logSumExp with a NaN logit = %v, want NaN", got)
	}
}

// TestCompletionStreamLogprobs checks that a streamed /v1/completions with
// logprobs carries each token's log probability and top alternatives in its
// chunk, equal to the non-streamed reply's (greedy: same tokens).
func TestCompletionStreamLogprobs(t *testing.T) {
	_, hs := testServer(t, Config{}, false)
	type legacy struct {
		Tokens        []string             `json:"tokens"`
		TokenLogprobs []float64            `json:"token_logprobs"`
		TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	}
	body := `{"model":"micro","max_tokens":8,"temperature":0,"prompt":"A class is","logprobs":2`
	resp, b := post(t, hs.URL+"/v1/completions", body+`}`)
	var whole struct {
		Choices []struct {
			Logprobs *legacy `json:"logprobs"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &whole); err != nil || resp.StatusCode != 200 || len(whole.Choices) != 1 || whole.Choices[0].Logprobs == nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	want := whole.Choices[0].Logprobs
	if len(want.Tokens) != 8 || len(want.TokenLogprobs) != 8 || len(want.TopLogprobs) != 8 {
		t.Fatalf("non-streamed logprobs of %d tokens: %s", len(want.Tokens), b)
	}

	resp, b = post(t, hs.URL+"/v1/completions", body+`,"stream":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var got legacy
	for _, line := range strings.Split(string(b), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Logprobs     *legacy `json:"logprobs"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %s: %v", data, err)
		}
		if len(c.Choices) == 0 || c.Choices[0].FinishReason != nil {
			continue
		}
		lp := c.Choices[0].Logprobs
		if lp == nil || len(lp.Tokens) != 1 || len(lp.TokenLogprobs) != 1 || len(lp.TopLogprobs) != 1 {
			t.Fatalf("token chunk without one token's logprobs: %s", data)
		}
		got.Tokens = append(got.Tokens, lp.Tokens...)
		got.TokenLogprobs = append(got.TokenLogprobs, lp.TokenLogprobs...)
		got.TopLogprobs = append(got.TopLogprobs, lp.TopLogprobs...)
	}
	if !slices.Equal(got.Tokens, want.Tokens) || !slices.Equal(got.TokenLogprobs, want.TokenLogprobs) ||
		!slices.EqualFunc(got.TopLogprobs, want.TopLogprobs, maps.Equal) {
		t.Errorf("streamed logprobs %+v, non-streamed %+v", got, *want)
	}
	for i, lp := range want.TokenLogprobs {
		if !(lp <= 0) || len(want.TopLogprobs[i]) == 0 || len(want.TopLogprobs[i]) > 2 {
			t.Errorf("token %d: logprob %v, top %v", i, lp, want.TopLogprobs[i])
		}
	}
}
