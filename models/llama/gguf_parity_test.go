package llama

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/ggufixture"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// TestParityGGUF runs llama-tiny imported from llama.cpp's bf16 GGUF (no
// Hugging Face folder involved) against the transformers reference logits,
// hidden states and greedy tokens, with the tolerances of the safetensors
// conversions.
func TestParityGGUF(t *testing.T) {
	in, err := ggufixture.LlamaTinyBF16(testutil.RepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dt  format.DType
		tol tolerances
	}{
		{format.F32, tolerances{logits: 1e-3, hidden: 5e-4}},
		{format.F16, tolerances{logits: 0.05, reduced: true}},
	} {
		t.Run(string(c.dt), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "gguf.cellm")
			if _, err := convert.Convert(in, out, convert.Options{DType: c.dt}); err != nil {
				t.Fatal(err)
			}
			f, err := format.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			got := checkParity(t, m, "llama-tiny", c.tol, false)
			t.Logf("gguf %s: logits max diff %.2e, hidden %.2e, greedy top %.2e over %d steps",
				c.dt, got.logits, got.hidden, got.greedyTop, got.greedySteps)
			if got.greedySteps == 0 {
				t.Fatal("no greedy step checked")
			}
		})
	}
}

// TestParityGGUFLayouts imports fixtures laid out as llama.cpp's converter
// writes them (ggufixture): llama3-tiny with Llama 3 rope scaling carried by
// a rope_freqs tensor, Qwen2 with q/k/v biases, Qwen3 with q/k norms, none
// permuted. Each must match the transformers reference like its safetensors
// conversion.
func TestParityGGUFLayouts(t *testing.T) {
	for _, model := range []string{"llama3-tiny", "qwen2-tiny", "qwen3-tiny"} {
		t.Run(model, func(t *testing.T) {
			dir := t.TempDir()
			in, err := ggufixture.LlamaFromSafetensors(testutil.RepoRoot(t), model, dir, "BF16")
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, model+".cellm")
			if _, err := convert.Convert(in, out, convert.Options{DType: format.F32}); err != nil {
				t.Fatal(err)
			}
			f, err := format.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if h := f.Header; model == "llama3-tiny" && (h.RopeScalingType != "llama3" || h.RopeScalingFactor != 32 ||
				h.RopeScalingOriginalMaxPositions != 8192) {
				t.Fatalf("rope scaling %q %v %v", h.RopeScalingType, h.RopeScalingFactor, h.RopeScalingOriginalMaxPositions)
			}
			m, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			got := checkParity(t, m, model, toleranceOf(model), false)
			t.Logf("gguf %s: logits max diff %.2e, hidden %.2e, greedy top %.2e over %d steps",
				model, got.logits, got.hidden, got.greedyTop, got.greedySteps)
		})
	}
}

// TestGGUFQuantizedImport imports llama-tiny with Q8_0 and Q4_0
// projections and a Q8_0 embedding (quantized by ggufixture): the default
// conversion stores them as grouped i8/i4 and must run like the exact f32
// dequantization.
func TestGGUFQuantizedImport(t *testing.T) {
	ids := readReference(t, "llama-tiny").Sequences[2].InputIDs
	for _, c := range []struct {
		typ  string
		want format.DType
	}{{"Q8_0", format.I8}, {"Q4_0", format.I4}} {
		t.Run(c.typ, func(t *testing.T) {
			dir := t.TempDir()
			in, err := ggufixture.LlamaFromSafetensors(testutil.RepoRoot(t), "llama-tiny", dir, c.typ)
			if err != nil {
				t.Fatal(err)
			}
			logits := func(opt convert.Options) ([]float32, format.DType) {
				out := filepath.Join(dir, string(opt.DType)+".cellm")
				if _, err := convert.Convert(in, out, opt); err != nil {
					t.Fatal(err)
				}
				f, err := format.Open(out)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				q, err := f.Tensor("model.layers.0.self_attn.q_proj.weight")
				if err != nil {
					t.Fatal(err)
				}
				m, err := Load(f)
				if err != nil {
					t.Fatal(err)
				}
				out32 := make([]float32, len(ids)*m.Config().Vocab)
				if err := m.Forward(m.NewState(len(ids)), ids, out32, true); err != nil {
					t.Fatal(err)
				}
				return out32, q.DType
			}
			exact, dt := logits(convert.Options{DType: format.F32})
			if dt != format.F32 {
				t.Fatalf("f32 import stored q_proj as %s", dt)
			}
			got, dt := logits(convert.Options{DType: format.F16})
			// Grouped ints keep the weights exact; the integer kernels
			// quantize activations to int8 in blocks of 32 (MatVec always,
			// MatMul since the quantized GEMM), which moves this random
			// model's logits by up to 3.7% of the largest (measured: Q8_0
			// 1.66 of 45.3, Q4_0 1.32 of 39.6; 0 with f32 activations). A
			// wrong scale or nibble order moves them by far more.
			want := c.want
			if dt != want {
				t.Fatalf("q_proj stored as %s, want %s", dt, want)
			}
			d := numcheck.MaxAbs(t, c.typ+" logits", got, exact)
			mx := 0.0
			for _, v := range exact {
				mx = max(mx, math.Abs(float64(v)))
			}
			tol := 0.08 * mx
			t.Logf("%s imported as %s: logits max diff %.2e vs the exact f32 dequantization (largest |logit| %.3g)", c.typ, dt, d, mx)
			if !(d <= tol) {
				t.Errorf("logits differ by %.3g", d)
			}
		})
	}
}
