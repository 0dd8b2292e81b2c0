package idefics3

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/npy"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/kernels"
)

// openConverted converts fixture model with opt and opens the result.
func openConverted(t testing.TB, model string, opt convert.Options) *format.File {
	t.Helper()
	out := filepath.Join(t.TempDir(), "vlm.cellm")
	if _, err := convert.Convert(testutil.Fixture(t, model), out, opt); err != nil {
		t.Fatal(err)
	}
	f, err := format.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// splitFeatures runs the fixture's split case (4 tiles + global view)
// through m and returns the features with transformers' f32 reference.
func splitFeatures(t *testing.T, m *Model, model string) (got, want []float32) {
	t.Helper()
	ref := testutil.Fixture(t, model, "reference")
	pixels, err := npy.ReadRawF32(filepath.Join(ref, "pixel_values_split.f32"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := npy.Read(filepath.Join(ref, "image_features_split.npy"))
	if err != nil {
		t.Fatal(err)
	}
	c := m.Vision.Config()
	n := len(pixels) / (c.NumChannels * c.ImageSize * c.ImageSize)
	got, err = m.ImageFeatures(pixels, nil, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	return got, w.Data
}

// TestVisionInt8 measures the int8 vision tower (convert's QuantizeVision:
// encoder projections and connector as symmetric int8) against the f32
// references: image-feature cosine on the split case of both fixtures,
// per-row and 32-column groups, with the attention in f32 and in bf16 (the
// default for int8 towers); and that the greedy tokens of the multimodal
// reference cases do not change. Measured: 1 - cosine 1.1e-4
// (smolvlm-tiny) and 5.3e-5 (smolvlm2-tiny) per row, 1.0e-4 and 4.0e-5 in
// groups of 32, the same with bf16 attention; max |diff| 0.067 at most.
// (With every activation in bf16, UseBF16Activations, the cosine is the
// same but smolvlm2-tiny's greedy tokens change after 11: these
// random-weight fixtures' logit margins are tiny.)
func TestVisionInt8(t *testing.T) {
	for _, model := range vlmFixtures {
		raw, err := os.ReadFile(filepath.Join(testutil.Fixture(t, model, "reference"), "reference.json"))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Multimodal []mmCase `json:"multimodal"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		for _, group := range []int{0, 32} {
			f := openConverted(t, model, convert.Options{DType: format.F16, QuantizeVision: "int8", VisionGroupSize: group})
			m, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if m.Vision.WeightType() != kernels.Q8 || m.Connector.proj.Type != kernels.Q8 {
				t.Fatalf("%s g%d: vision weights %v, connector %v; want int8", model, group, m.Vision.WeightType(), m.Connector.proj.Type)
			}
			for _, bf16 := range []bool{false, true} { // attention in bf16
				m.Vision.UseBF16Attention(bf16)
				got, want := splitFeatures(t, m, model)
				d := numcheck.MaxAbs(t, fmt.Sprintf("%s g%d bf16 %v features", model, group, bf16), got, want)
				cs := numcheck.Cosine(t, fmt.Sprintf("%s g%d bf16 %v features", model, group, bf16), got, want)
				t.Logf("%s int8 vision g%d, bf16 attention %v: feature cosine %.6f, max |diff| %.3g", model, group, bf16, cs, d)
				if !(1-cs <= 3e-4 && d <= 0.15) {
					t.Errorf("%s g%d bf16 %v: cosine %.6f (want >= 0.9997), max |diff| %.3g (want <= 0.15)", model, group, bf16, cs, d)
				}
				for _, c := range r.Multimodal {
					if got := greedyTokens(t, m, testutil.Fixture(t, model, "reference"), c); !slices.Equal(got, c.Greedy.NewTokens) {
						t.Errorf("%s g%d bf16 %v %s: greedy %v, transformers %v", model, group, bf16, c.Name, got, c.Greedy.NewTokens)
					}
				}
			}
		}
	}
}
