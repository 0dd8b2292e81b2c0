package llama

import (
	"path/filepath"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/ggufixture"
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

// TestParityGGUFLlama3 imports llama3-tiny laid out as llama.cpp's converter
// writes it, Llama 3 rope scaling carried by a rope_freqs tensor, and checks
// it against the transformers reference with the f32 tolerances.
func TestParityGGUFLlama3(t *testing.T) {
	dir := t.TempDir()
	in, err := ggufixture.LlamaFromSafetensors(testutil.RepoRoot(t), "llama3-tiny", dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "llama3.cellm")
	if _, err := convert.Convert(in, out, convert.Options{DType: format.F32}); err != nil {
		t.Fatal(err)
	}
	f, err := format.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if h := f.Header; h.RopeScalingType != "llama3" || h.RopeScalingFactor != 32 || h.RopeScalingOriginalMaxPositions != 8192 {
		t.Fatalf("rope scaling %q %v %v", h.RopeScalingType, h.RopeScalingFactor, h.RopeScalingOriginalMaxPositions)
	}
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	got := checkParity(t, m, "llama3-tiny", tolerances{logits: 1e-3, hidden: 5e-4}, false)
	t.Logf("gguf llama3: logits max diff %.2e, hidden %.2e, greedy top %.2e over %d steps",
		got.logits, got.hidden, got.greedyTop, got.greedySteps)
}
