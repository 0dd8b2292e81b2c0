package llama

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/npy"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/sample"
)

// tolerances for one parity run.
type tolerances struct {
	logits, hidden float64
	// reduced applies the README's reduced-precision rule: argmax only where
	// the reference gap exceeds 2x the logits bound, greedy tokens only up to
	// the first step whose margin is below it.
	reduced bool
}

// measured collects the largest deviations seen.
type measured struct {
	logits, hidden, greedyTop float64
	greedySteps               int
}

// checkParity runs every reference sequence of model through m and compares
// logits digests, full last logits, hidden states and greedy decodes.
func checkParity(t *testing.T, m *Model, model string, tol tolerances, stateF16 bool) measured {
	t.Helper()
	kv := kvcache.F32
	if stateF16 {
		kv = kvcache.F16
	}
	return checkParityKV(t, m, model, tol, kv)
}

// checkParityKV is checkParity with a KV cache of type kv.
func checkParityKV(t *testing.T, m *Model, model string, tol tolerances, kv kvcache.DType) measured {
	t.Helper()
	ref := readReference(t, model)
	vocab := m.Config().Vocab
	var got measured
	npyCache := map[string]*npy.Array{}
	readCached := func(name string) *npy.Array {
		if a, ok := npyCache[name]; ok {
			return a
		}
		a := readNPY(t, testutil.Fixture(t, model, "reference", name))
		npyCache[name] = a
		return a
	}
	h := m.Config().Hidden
	for si, seq := range append(ref.Sequences, ref.Multimodal...) {
		multimodal := si >= len(ref.Sequences)
		n := len(seq.InputIDs)
		s := m.newState(n+20, kv)
		var hidden [][]float32
		if seq.HiddenStates != nil {
			s.OnHidden = func(stage int, h []float32) { hidden = append(hidden, append([]float32(nil), h...)) }
		}
		logits := make([]float32, n*vocab)
		if multimodal {
			// Stage 0 of the reference hidden states is the input with the
			// image features spliced in; the text positions must equal Embed.
			emb := readCached(seq.HiddenStates.File).Data[:n*h]
			tokEmb := make([]float32, n*h)
			if err := m.Embed(tokEmb, seq.InputIDs); err != nil {
				t.Fatal(err)
			}
			for p, id := range seq.InputIDs {
				if id == smolVLMImageToken {
					continue
				}
				if _, err := numcheck.Compare(tokEmb[p*h:(p+1)*h], emb[p*h:(p+1)*h], numcheck.Tol{}); err != nil {
					t.Fatalf("%s/%s: Embed differs from the reference at position %d: %v", model, seq.Name, p, err)
				}
			}
			if err := m.ForwardEmbeddings(s, emb, n, logits, true); err != nil {
				t.Fatal(err)
			}
		} else if err := m.Forward(s, seq.InputIDs, logits, true); err != nil {
			t.Fatal(err)
		}
		s.OnHidden = nil
		for p, rp := range seq.Positions {
			row := logits[p*vocab : (p+1)*vocab]
			for _, e := range rp.Top {
				got.logits = max(got.logits, numcheck.Diff(float64(row[int(e[0])]), e[1]))
			}
			for i, id := range ref.ProbeIDs {
				got.logits = max(got.logits, numcheck.Diff(float64(row[id]), rp.Probe[i]))
			}
			got.logits = max(got.logits, numcheck.Diff(logSumExp(row), rp.LogSumExp))
			gap := rp.Top[0][1] - rp.Top[1][1]
			if a := sample.Argmax(row); a != rp.Argmax && (!tol.reduced || gap > 2*tol.logits) {
				t.Errorf("%s/%s pos %d: argmax %d, want %d (reference gap %.3f)", model, seq.Name, p, a, rp.Argmax, gap)
			}
		}
		if ll := seq.LastLogits; ll != nil {
			a := readCached(ll.File)
			want := a.Data[ll.Row*vocab : (ll.Row+1)*vocab]
			got.logits = max(got.logits, numcheck.MaxAbs(t, model+"/"+seq.Name+" last logits", logits[(n-1)*vocab:], want))
		}
		if hs := seq.HiddenStates; hs != nil {
			a := readCached(hs.File)
			if len(hidden) != a.Shape[0] || len(hidden[0]) != a.Shape[1]*a.Shape[2] {
				t.Fatalf("%s/%s: captured %d stages of %d values, reference shape %v", model, seq.Name, len(hidden), len(hidden[0]), a.Shape)
			}
			per := a.Shape[1] * a.Shape[2]
			for i, h := range hidden {
				got.hidden = max(got.hidden, numcheck.MaxAbs(t, fmt.Sprintf("%s/%s hidden stage %d", model, seq.Name, i), h, a.Data[i*per:(i+1)*per]))
			}
		}
		if g := seq.Greedy; g != nil {
			cur := append([]float32(nil), logits[(n-1)*vocab:]...)
			for k, want := range g.NewTokens {
				st := g.Steps[k]
				if tol.reduced && st.Margin < tol.logits {
					break
				}
				for _, e := range st.Top {
					got.greedyTop = max(got.greedyTop, numcheck.Diff(float64(cur[int(e[0])]), e[1]))
				}
				if tok := sample.Argmax(cur); tok != want {
					t.Errorf("%s/%s greedy step %d: token %d, want %d", model, seq.Name, k, tok, want)
					break
				}
				got.greedySteps++
				if err := m.Forward(s, []int{want}, cur, false); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if got.logits > tol.logits {
		t.Errorf("%s: logits max abs diff %.3g > %.3g", model, got.logits, tol.logits)
	}
	if got.greedyTop > tol.logits {
		t.Errorf("%s: greedy steps' top logits max abs diff %.3g > %.3g", model, got.greedyTop, tol.logits)
	}
	if tol.hidden > 0 && got.hidden > tol.hidden {
		t.Errorf("%s: hidden states max abs diff %.3g > %.3g", model, got.hidden, tol.hidden)
	}
	return got
}

// smolVLMImageToken is the <image> id of the SmolVLM prompts.
const smolVLMImageToken = 49190

var parityModels = []string{"llama-tiny", "llama3-tiny", "smolvlm-tiny", "qwen2-tiny", "qwen2-tiny-untied", "qwen3-tiny", "gemma3-tiny", "smolvlm2-tiny"}

// f32Tolerances bound f32-accuracy runs: about 4x the largest deviations
// measured (logits 3.8e-5, hidden states 2.0e-5, on AVX-512 and on the
// generic kernels alike).
var f32Tolerances = tolerances{logits: 1.5e-4, hidden: 1e-4}

// toleranceOf returns the f32-accuracy bounds of a fixture: f32Tolerances,
// or the family's (familyTolerances: Gemma 3's residual stream is ~100x
// larger, so its hidden states get a larger absolute bound).
func toleranceOf(model string) tolerances {
	if tol, ok := familyTolerances[model]; ok {
		return tol
	}
	return f32Tolerances
}

// assertTypes fails t unless m stores its projections and embedding as
// the given types, so a conversion that silently kept another type cannot
// pass a parity check meant for this one.
func assertTypes(t *testing.T, m *Model, weights, embedding kernels.DType) {
	t.Helper()
	if c := m.Config(); c.WeightType != weights || c.EmbeddingType != embedding {
		t.Fatalf("projections stored as %v and embedding as %v, want %v and %v", c.WeightType, c.EmbeddingType, weights, embedding)
	}
}

func TestParityF32(t *testing.T) {
	for _, model := range parityModels {
		t.Run(model, func(t *testing.T) {
			m := loadModel(t, model, convert.Options{DType: format.F32})
			assertTypes(t, m, kernels.F32, kernels.F32)
			got := checkParity(t, m, model, toleranceOf(model), false)
			t.Logf("f32: logits max diff %.2e, hidden %.2e, greedy top %.2e over %d steps",
				got.logits, got.hidden, got.greedyTop, got.greedySteps)
		})
	}
}

// TestParityBF16 checks bf16 files: the fixtures are stored in bf16, so the
// weights are exact and the f32 tolerances apply.
func TestParityBF16(t *testing.T) {
	for _, model := range parityModels {
		t.Run(model, func(t *testing.T) {
			m := loadModel(t, model, convert.Options{DType: format.BF16})
			assertTypes(t, m, kernels.BF16, kernels.BF16)
			got := checkParity(t, m, model, toleranceOf(model), false)
			t.Logf("bf16: logits max diff %.2e, hidden %.2e, greedy top %.2e over %d steps",
				got.logits, got.hidden, got.greedyTop, got.greedySteps)
		})
	}
}

// TestParityF16 checks f16 weights at the f32 tolerances, hidden states
// included: activations stay f32 and the fixtures' bf16 weights all fit f16
// exactly, so the deviations measured equal the f32 ones (logits 3.8e-5,
// hidden 2.0e-5).
func TestParityF16(t *testing.T) {
	for _, model := range parityModels {
		t.Run(model, func(t *testing.T) {
			m := loadModel(t, model, convert.Options{DType: format.F16})
			assertTypes(t, m, kernels.F16, kernels.F16)
			got := checkParity(t, m, model, toleranceOf(model), false)
			t.Logf("f16: logits max diff %.2e, hidden %.2e, greedy top %.2e over %d steps",
				got.logits, got.hidden, got.greedyTop, got.greedySteps)
		})
	}
}

// TestParityKVF16 runs the f32 weights with an f16 KV cache (the reduced
// rule with a 0.05 logits bound: 3x the 1.7e-2 measured).
func TestParityKVF16(t *testing.T) {
	for _, model := range []string{"llama-tiny", "gemma3-tiny"} { // Gemma: the f16 sliding-window path
		m := loadModel(t, model, convert.Options{DType: format.F32})
		got := checkParity(t, m, model, tolerances{logits: 0.05, reduced: true}, true)
		t.Logf("%s f16 KV cache: logits max diff %.2e, greedy top %.2e over %d steps", model, got.logits, got.greedyTop, got.greedySteps)
	}
}

// TestParityKVQ8 runs the f32 weights with an int8 KV cache (kvcache.Q8;
// the reduced rule with a logits bound of 3x the deviation measured from
// the reference: llama-tiny 0.445, gemma3-tiny 0.405), and compares its
// logits with the f32 cache's directly (measured 0.909 and 0.667; bound
// 3x). The random-weight fixtures attend sharply, so one scale per row of
// head_dim (16 and 32 here: the same as Q8_0's blocks of 32) costs them
// far more than f16 does; the trained pretrained-micro barely notices (see
// TestPerplexityKV, TestGreedyPretrainedKVQ8).
func TestParityKVQ8(t *testing.T) {
	for _, model := range []string{"llama-tiny", "gemma3-tiny"} { // Gemma: the sliding-window path
		m := loadModel(t, model, convert.Options{DType: format.F32})
		got := checkParityKV(t, m, model, tolerances{logits: 1.35, reduced: true}, kvcache.Q8)
		t.Logf("%s q8 KV cache: logits max diff %.2e from the reference, greedy top %.2e over %d steps", model, got.logits, got.greedyTop, got.greedySteps)
		var worst float64
		for _, seq := range readReference(t, model).Sequences {
			n, vocab := len(seq.InputIDs), m.Config().Vocab
			want, q8 := make([]float32, n*vocab), make([]float32, n*vocab)
			if err := m.Forward(m.NewState(n), seq.InputIDs, want, true); err != nil {
				t.Fatal(err)
			}
			if err := m.Forward(m.NewStateQ8(n), seq.InputIDs, q8, true); err != nil {
				t.Fatal(err)
			}
			numcheck.Finite(t, seq.Name, q8)
			worst = max(worst, numcheck.MaxAbs(t, model+"/"+seq.Name, q8, want))
		}
		t.Logf("%s: logits of the q8 cache vs the f32 cache: max abs diff %.3g", model, worst)
		if !(worst <= 2.7) {
			t.Errorf("%s: logits of the q8 cache differ from the f32 cache's by %.3g > 2.7", model, worst)
		}
	}
}

// TestInt8 compares an int8 .cellm with the f32 one position by position.
func TestInt8(t *testing.T) {
	for _, model := range parityModels {
		t.Run(model, func(t *testing.T) {
			ref := readReference(t, model)
			mf := loadModel(t, model, convert.Options{DType: format.F32})
			mq := loadModel(t, model, convert.Options{DType: format.F32, QuantizeInt8: true})
			if mq.Config().WeightType.String() != "q8" {
				t.Fatalf("int8 file loaded with weight type %v", mq.Config().WeightType)
			}
			agree, total, minCos := agreement(t, mf, mq, ref.Sequences)
			frac := float64(agree) / float64(total)
			t.Logf("int8 vs f32: top-1 agreement %.4f (%d/%d positions), min logits cosine %.6f", frac, agree, total, minCos)
			if frac < 0.9 {
				t.Errorf("top-1 agreement %.3f < 0.9", frac)
			}
			if minCos < 0.995 {
				t.Errorf("min logits cosine %.5f < 0.995", minCos)
			}
		})
	}
}

// TestIncrementalMatchesBatched feeds a sequence token by token and in
// uneven chunks and compares with one batched pass.
func TestIncrementalMatchesBatched(t *testing.T) {
	m := loadModel(t, "llama-tiny", convert.Options{DType: format.F32})
	ids := readReference(t, "llama-tiny").Sequences[2].InputIDs
	vocab := m.Config().Vocab
	want := make([]float32, len(ids)*vocab)
	if err := m.Forward(m.NewState(len(ids)), ids, want, true); err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 3, 17} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			s := m.NewState(len(ids))
			for i := 0; i < len(ids); i += chunk {
				j := min(i+chunk, len(ids))
				got := make([]float32, (j-i)*vocab)
				if err := m.Forward(s, ids[i:j], got, true); err != nil {
					t.Fatal(err)
				}
				if _, err := numcheck.Compare(got, want[i*vocab:j*vocab], numcheck.Tol{Abs: 1e-4}); err != nil {
					t.Fatalf("positions %d..%d vs batched: %v", i, j, err)
				}
			}
		})
	}
}

func readEvalIDs(t testing.TB) []int {
	t.Helper()
	b, err := os.ReadFile(testutil.Fixture(t, "pretrained-micro", "reference", "eval_public.ids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	if err := json.Unmarshal(b, &ids); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestPerplexity follows pretrained-micro/README.md (f32 mean NLL within 1e-4
// of perplexity_f32, int8 within 0.1%), with tighter bounds: the f32 mean
// NLL is within 2e-5 of its reference (2.3e-6 measured). The int8 references
// keep activations in f32; the integer kernels quantize them to int8 in
// blocks of 32 (as llama.cpp's Q8_0), which moves the mean NLL by +1.3e-4
// (measured 1.34e-4 and 1.32e-4 on AVX-512, i.e. +0.013% perplexity), so the
// int8 bound is 3e-4 (0.03% of perplexity, a third of the README's 0.1%).
func TestPerplexity(t *testing.T) {
	ids := readEvalIDs(t)
	for _, tc := range []struct {
		name    string
		opt     convert.Options
		wantNLL float64
		tolNLL  float64
		weights kernels.DType
		embed   kernels.DType
	}{
		{"f32", convert.Options{DType: format.F32}, 5.087873289568376, 2e-5, kernels.F32, kernels.F32},
		{"int8", convert.Options{DType: format.F32, QuantizeInt8: true}, 5.088022175264567, 3e-4, kernels.Q8, kernels.F32},
		// int8 projections and int8 embedding (= tied lm_head): perplexity_int8_proj_and_embeddings.
		{"int8+embeddings", convert.Options{DType: format.F32, QuantizeInt8: true, QuantizeEmbeddings: true}, 5.087773867888757, 3e-4, kernels.Q8, kernels.Q8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadModel(t, "pretrained-micro", tc.opt)
			assertTypes(t, m, tc.weights, tc.embed)
			calls := 0
			got, scored, err := Perplexity(m, ids, 256, func(done, total int) {
				calls++
				if total != len(ids) || done > total {
					t.Errorf("progress(%d, %d)", done, total)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: mean NLL %.6f (perplexity %.4f), want %.6f (%.4f), %d tokens scored",
				tc.name, got, math.Exp(got), tc.wantNLL, math.Exp(tc.wantNLL), scored)
			if scored != 7786 || calls != 31 {
				t.Errorf("scored %d tokens in %d windows, want 7786 in 31", scored, calls)
			}
			if numcheck.Diff(got, tc.wantNLL) > tc.tolNLL {
				t.Errorf("mean NLL %.6f, want %.6f ± %.2g", got, tc.wantNLL, tc.tolNLL)
			}
		})
	}
}

// TestPerplexityKV measures what the KV cache's storage costs
// pretrained-micro's mean NLL (f32 weights, the TestPerplexity protocol):
// f16 moves it by +9.8e-7, q8 by +1.3e-5 (+0.001% perplexity; measured on
// AVX-512); bounds 3e-6 and 4e-5.
func TestPerplexityKV(t *testing.T) {
	ids := readEvalIDs(t)
	m := loadModel(t, "pretrained-micro", convert.Options{DType: format.F32})
	base, _, err := engine.PerplexityKV(m, ids, 256, kvcache.F32, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kv  kvcache.DType
		tol float64
	}{{kvcache.F16, 3e-6}, {kvcache.Q8, 4e-5}} {
		got, scored, err := engine.PerplexityKV(m, ids, 256, tc.kv, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := got - base
		t.Logf("%s KV: mean NLL %.6f (perplexity %.4f), %+.2e vs f32 KV (%+.3f%% perplexity), %d tokens",
			tc.kv, got, math.Exp(got), d, 100*(math.Exp(d)-1), scored)
		if !(math.Abs(d) <= tc.tol) {
			t.Errorf("%s KV: mean NLL moved by %.3g, want at most %.2g", tc.kv, d, tc.tol)
		}
	}
}

// TestGreedyPretrained decodes the pretrained-micro greedy prompts (32 new
// tokens each) with the KV cache: steps' top logits within 5e-5, tokens equal
// up to the first step whose reference margin is below twice the measured error.
func TestGreedyPretrained(t *testing.T) {
	b, err := os.ReadFile(testutil.Fixture(t, "pretrained-micro", "reference", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Greedy []struct {
			Prompt   string `json:"prompt"`
			InputIDs []int  `json:"input_ids"`
			refGreedy
		} `json:"greedy"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	m := loadModel(t, "pretrained-micro", convert.Options{DType: format.BF16})
	vocab := m.Config().Vocab
	var worst float64
	matched := 0
	for _, g := range ref.Greedy {
		s := m.NewState(len(g.InputIDs) + len(g.NewTokens))
		logits := make([]float32, vocab)
		if err := m.Forward(s, g.InputIDs, logits, false); err != nil {
			t.Fatal(err)
		}
		for k, want := range g.NewTokens {
			for _, e := range g.Steps[k].Top {
				worst = max(worst, numcheck.Diff(float64(logits[int(e[0])]), e[1]))
			}
			if g.Steps[k].Margin < 2*worst {
				break
			}
			if tok := sample.Argmax(logits); tok != want {
				t.Fatalf("%q step %d: token %d, want %d", g.Prompt, k, tok, want)
			}
			matched++
			if k+1 < len(g.NewTokens) {
				if err := m.Forward(s, []int{want}, logits, false); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Logf("%d greedy tokens matched, steps' top logits max diff %.2e", matched, worst)
	if worst > 5e-5 { // 5.7e-6 measured
		t.Errorf("steps' top logits differ by %.3g > 5e-5", worst)
	}
	if matched != 5*32 {
		t.Errorf("only %d of %d greedy tokens compared", matched, 5*32)
	}
}

// TestGreedyPretrainedKVQ8 decodes the pretrained-micro greedy prompts (32
// new tokens each, f32 weights) with an int8 KV cache, feeding back its own
// tokens: measured, all 160 tokens equal the reference, steps' top logits
// within 0.020 of it; bounds: logits 0.06, and every token equal up to the
// first step whose reference margin is below twice that.
func TestGreedyPretrainedKVQ8(t *testing.T) {
	b, err := os.ReadFile(testutil.Fixture(t, "pretrained-micro", "reference", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Greedy []struct {
			Prompt   string `json:"prompt"`
			InputIDs []int  `json:"input_ids"`
			refGreedy
		} `json:"greedy"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	const bound = 0.06
	m := loadModel(t, "pretrained-micro", convert.Options{DType: format.F32})
	vocab := m.Config().Vocab
	var worst float64
	matched, total := 0, 0
	for _, g := range ref.Greedy {
		s := m.NewStateQ8(len(g.InputIDs) + len(g.NewTokens))
		logits := make([]float32, vocab)
		if err := m.Forward(s, g.InputIDs, logits, false); err != nil {
			t.Fatal(err)
		}
		checking := true
		for k, want := range g.NewTokens {
			total++
			for _, e := range g.Steps[k].Top {
				worst = max(worst, numcheck.Diff(float64(logits[int(e[0])]), e[1]))
			}
			tok := sample.Argmax(logits)
			if tok != want {
				if checking && g.Steps[k].Margin >= 2*bound {
					t.Errorf("%q step %d: token %d, want %d (reference margin %.3f)", g.Prompt, k, tok, want, g.Steps[k].Margin)
				}
				break // the continuation differs from here on
			}
			checking = checking && g.Steps[k].Margin >= 2*bound
			matched++
			if k+1 < len(g.NewTokens) {
				if err := m.Forward(s, []int{tok}, logits, false); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Logf("q8 KV cache: %d of %d greedy tokens equal the reference, steps' top logits max diff %.2e", matched, total, worst)
	if !(worst <= bound) {
		t.Errorf("steps' top logits differ by %.3g > %g", worst, bound)
	}
}

// TestDecodeNLLKV scores pretrained-micro's eval text one token per step,
// so that every position goes through the decode attention kernels (the
// chunked prefill of TestPerplexityKV de-quantizes a Q8 cache instead):
// the mean NLL of an f16 or Q8 cache against the f32 cache's, over the
// first 512 tokens in windows of 256. Measured: f16 +5.9e-6, q8 +7.5e-6
// (+8.3e-6 with -tags purego; +9.05e-5 while the Q8 scores quantized the
// query heads to int16 rather than int8, +9.57e-5 before the Q8 weighted
// sums used int16 weights: differences of this size are chance); bounds
// 3x and 4e-5.
func TestDecodeNLLKV(t *testing.T) {
	ids := readEvalIDs(t)
	ids = ids[:min(len(ids), 512)]
	m := loadModel(t, "pretrained-micro", convert.Options{DType: format.F32})
	spec := m.Spec()
	nll := func(kv kvcache.DType) float64 {
		t.Helper()
		const ctx = 256
		e, err := engine.New(m, engine.Options{KVType: kv, MaxContext: ctx, PrefillChunk: 1})
		if err != nil {
			t.Fatal(err)
		}
		s := e.NewSession()
		defer s.Close()
		ws := e.NewWorkspace()
		logits := make([]float32, spec.Vocab)
		works := make([]engine.Work, 1)
		var sum float64
		var n int
		for start := 0; start < len(ids); start += ctx {
			w := ids[start:min(start+ctx, len(ids))]
			s.Reset()
			for i, tok := range w[:len(w)-1] {
				works[0] = engine.Work{Session: s, Tokens: []int{tok}, Logits: logits}
				if err := e.Step(ws, works); err != nil {
					t.Fatal(err)
				}
				numcheck.Finite(t, "logits", logits)
				sum += engine.NLL(logits, w[i+1])
				n++
			}
		}
		return sum / float64(n)
	}
	base := nll(kvcache.F32)
	for _, tc := range []struct {
		kv  kvcache.DType
		tol float64
	}{{kvcache.F16, 1.8e-5}, {kvcache.Q8, 4e-5}} {
		d := nll(tc.kv) - base
		t.Logf("%s KV, decode steps: mean NLL %+.2e vs f32 KV (%+.4f%% perplexity)", tc.kv, d, 100*(math.Exp(d)-1))
		if !(math.Abs(d) <= tc.tol) {
			t.Errorf("%s KV, decode steps: mean NLL moved by %.3g, want at most %.2g", tc.kv, d, tc.tol)
		}
	}
}
