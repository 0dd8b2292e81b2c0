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
	"github.com/cellm-ai/cellm-go/models/siglip"
)

// vlmFixtures are the SmolVLM (idefics3) and SmolVLM2 (smolvlm) fixtures.
var vlmFixtures = []string{"smolvlm-tiny", "smolvlm2-tiny"}

func openFixture(t testing.TB, dtype format.DType) *format.File {
	return openFixtureOf(t, "smolvlm-tiny", dtype)
}

func openFixtureOf(t testing.TB, model string, dtype format.DType) *format.File {
	t.Helper()
	return openConverted(t, model, convert.Options{DType: dtype})
}

// The vision tower and connector reproduce transformers' outputs for the
// single-image and the split (4 tiles + global) inputs.
func TestVisionParity(t *testing.T) {
	for _, model := range vlmFixtures {
		t.Run(model, func(t *testing.T) { checkVisionParity(t, model) })
	}
}

func checkVisionParity(t *testing.T, model string) {
	f := openFixtureOf(t, model, format.F32)
	cfg, err := siglip.ParseConfig(f.Header.SourceVisionConfig)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := siglip.Load(f, f.Header.VisionTensorPrefix, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pc ProjectorConfig
	if err := json.Unmarshal(f.Header.SourceProjectorConfig, &pc); err != nil {
		t.Fatal(err)
	}
	conn, err := LoadConnector(f, f.Header.ProjectorTensorPrefix, pc.ScaleFactor, cfg.HiddenSize, f.Header.HiddenDim)
	if err != nil {
		t.Fatal(err)
	}
	ref := testutil.Fixture(t, model, "reference")
	for _, k := range []string{"single", "split"} {
		pixels, err := npy.ReadRawF32(filepath.Join(ref, "pixel_values_"+k+".f32"))
		if err != nil {
			t.Fatal(err)
		}
		wantHidden, err := npy.Read(filepath.Join(ref, "vision_"+k+"_last_hidden_state.npy"))
		if err != nil {
			t.Fatal(err)
		}
		wantFeat, err := npy.Read(filepath.Join(ref, "image_features_"+k+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		per := 3 * cfg.ImageSize * cfg.ImageSize
		n := len(pixels) / per
		side := cfg.ImageSize / cfg.PatchSize
		np, d, td := side*side, cfg.HiddenSize, f.Header.HiddenDim
		tok := np / (pc.ScaleFactor * pc.ScaleFactor)
		var worstH, worstF float64
		for i := 0; i < n; i++ {
			hidden, err := vm.Encode(pixels[i*per:(i+1)*per], nil)
			if err != nil {
				t.Fatal(err)
			}
			worstH = max(worstH, numcheck.MaxAbs(t, fmt.Sprintf("%s image %d last_hidden_state", k, i), hidden, wantHidden.Data[i*np*d:(i+1)*np*d]))
			feat := make([]float32, tok*td)
			if err := conn.Project(feat, hidden, np); err != nil {
				t.Fatal(err)
			}
			worstF = max(worstF, numcheck.MaxAbs(t, fmt.Sprintf("%s image %d features", k, i), feat, wantFeat.Data[i*tok*td:(i+1)*tok*td]))
		}
		t.Logf("%s (%d images): last_hidden_state max |diff| %.2g, image features %.2g", k, n, worstH, worstF)
		if worstH > 2e-5 || worstF > 2e-5 { // 2.7e-6 measured
			t.Errorf("%s: vision %.3g, features %.3g exceed 2e-5", k, worstH, worstF)
		}
	}
}

// Partly padded images: the patch mask, bucketed position ids and key
// masking must match transformers (reference from vision_padded_case.json).
func TestVisionPaddedParity(t *testing.T) {
	f := openFixture(t, format.F32)
	cfg, _ := siglip.ParseConfig(f.Header.SourceVisionConfig)
	vm, err := siglip.Load(f, f.Header.VisionTensorPrefix, cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := LoadConnector(f, f.Header.ProjectorTensorPrefix, 2, cfg.HiddenSize, f.Header.HiddenDim)
	raw, err := os.ReadFile(testutil.Fixture(t, "smolvlm-tiny", "reference", "vision_padded_case.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Mask struct {
			Valid [][][2]int `json:"valid_rows_cols"`
		} `json:"pixel_attention_mask"`
		Features struct {
			Values [][][]float32 `json:"values"`
		} `json:"image_features"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	s := cfg.ImageSize
	per := 3 * s * s
	got := 0
	for b := range 2 {
		for im := range 2 {
			vr, vc := ref.Mask.Valid[b][im][0], ref.Mask.Valid[b][im][1]
			if vr == 0 || vc == 0 {
				continue // an all-padding image is dropped
			}
			mask := make([]bool, s*s)
			pixels := make([]float32, per)
			base := (b*2 + im) * per
			for c := range 3 {
				for y := range s {
					for x := range s {
						if y < vr && x < vc {
							mask[y*s+x] = true
							i := base + c*s*s + y*s + x
							pixels[c*s*s+y*s+x] = float32((i*40503)%65536-32768) / 32768
						}
					}
				}
			}
			hidden, err := vm.Encode(pixels, mask)
			if err != nil {
				t.Fatal(err)
			}
			feat := make([]float32, 4*f.Header.HiddenDim)
			if err := conn.Project(feat, hidden, 16); err != nil {
				t.Fatal(err)
			}
			var want []float32
			for _, row := range ref.Features.Values[got] {
				want = append(want, row...)
			}
			r := numcheck.Close(t, fmt.Sprintf("image [%d][%d] (%dx%d valid) features", b, im, vr, vc), feat, want, numcheck.Tol{Abs: 2e-5})
			t.Logf("image [%d][%d]: %v", b, im, r)
			got++
		}
	}
	if got != 3 {
		t.Fatalf("compared %d images, want 3", got)
	}
}

// TestVisionBF16Activations measures what rounding the projections'
// inputs to bf16 (siglip.UseBF16Activations, on bf16 weights) costs against
// the f32 references, beside bf16 weights alone: the largest difference of
// the image features and their cosine similarity.
func TestVisionBF16Activations(t *testing.T) {
	for _, c := range []struct {
		model string
		dt    format.DType
	}{{"smolvlm-tiny", format.BF16}, {"smolvlm2-tiny", format.BF16}, {"smolvlm-tiny", format.F16}, {"smolvlm2-tiny", format.F16}} {
		model := c.model
		f := openFixtureOf(t, model, c.dt)
		cfg, err := siglip.ParseConfig(f.Header.SourceVisionConfig)
		if err != nil {
			t.Fatal(err)
		}
		vm, err := siglip.Load(f, f.Header.VisionTensorPrefix, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var pc ProjectorConfig
		if err := json.Unmarshal(f.Header.SourceProjectorConfig, &pc); err != nil {
			t.Fatal(err)
		}
		conn, err := LoadConnector(f, f.Header.ProjectorTensorPrefix, pc.ScaleFactor, cfg.HiddenSize, f.Header.HiddenDim)
		if err != nil {
			t.Fatal(err)
		}
		ref := testutil.Fixture(t, model, "reference")
		pixels, err := npy.ReadRawF32(filepath.Join(ref, "pixel_values_split.f32"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := npy.Read(filepath.Join(ref, "image_features_split.npy"))
		if err != nil {
			t.Fatal(err)
		}
		per := 3 * cfg.ImageSize * cfg.ImageSize
		n := len(pixels) / per
		side := cfg.ImageSize / cfg.PatchSize
		np, td := side*side, f.Header.HiddenDim
		tok := np / (pc.ScaleFactor * pc.ScaleFactor)
		features := func() []float32 {
			out := make([]float32, n*tok*td)
			for i := 0; i < n; i++ {
				hidden, err := vm.Encode(pixels[i*per:(i+1)*per], nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := conn.Project(out[i*tok*td:(i+1)*tok*td], hidden, np); err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
		weightsOnly := features()
		vm.UseBF16Activations(true)
		both := features()
		dw := numcheck.MaxAbs(t, fmt.Sprintf("%s %v weights", model, c.dt), weightsOnly, want.Data)
		db := numcheck.MaxAbs(t, model+" + bf16 activations", both, want.Data)
		cw, cb := numcheck.Cosine(t, model+" weights", weightsOnly, want.Data), numcheck.Cosine(t, model+" + bf16 activations", both, want.Data)
		t.Logf("%s %v weights: max |diff| %.3g cosine %.6f; + bf16 activations max |diff| %.3g cosine %.6f", model, c.dt, dw, cw, db, cb)
		// Measured (attention in bf16 too): cosine 0.999995 and 0.999997, max |diff| 0.0127 and 0.0081.
		if !(cb >= 0.99999 && db <= 0.025 && dw <= 2e-5) {
			t.Errorf("%s: bf16 activations: cosine %.6f (want >= 0.99999), max |diff| %.3g (want <= 0.025); %v weights alone %.3g", model, cb, db, c.dt, dw)
		}
	}
}

// TestVisionBF16ActivationsGreedy is the evidence for bf16 activations
// being the default on bf16 and f16 files: on both fixtures, with the
// vision tower in bf16 (projections and attention), the greedy tokens of
// transformers' multimodal reference cases are unchanged.
func TestVisionBF16ActivationsGreedy(t *testing.T) {
	for _, model := range vlmFixtures {
		ref := testutil.Fixture(t, model, "reference")
		raw, err := os.ReadFile(filepath.Join(ref, "reference.json"))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Multimodal []mmCase `json:"multimodal"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		for _, dt := range []format.DType{format.BF16, format.F16} {
			m, err := Load(openFixtureOf(t, model, dt))
			if err != nil {
				t.Fatal(err)
			}
			if !m.Vision.HalfWeights() {
				t.Errorf("%s %v: HalfWeights false", model, dt)
			}
			m.Vision.UseBF16Activations(true)
			for _, c := range r.Multimodal {
				got := greedyTokens(t, m, ref, c)
				if !slices.Equal(got, c.Greedy.NewTokens) {
					t.Errorf("%s %v %s: greedy %v, transformers %v", model, dt, c.Name, got, c.Greedy.NewTokens)
				}
			}
		}
	}
}

// greedyTokens runs reference case c through m (vision, splice, prefill)
// and decodes as many greedy tokens as the reference has.
func greedyTokens(t *testing.T, m *Model, ref string, c mmCase) []int {
	t.Helper()
	pixels, err := npy.ReadRawF32(filepath.Join(ref, c.PixelValues.File))
	if err != nil {
		t.Fatal(err)
	}
	feats, err := m.ImageFeatures(pixels, nil, c.PixelValues.Shape[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := m.EmbedPrompt(c.InputIDs, feats)
	if err != nil {
		t.Fatal(err)
	}
	s := m.Text.NewState(len(c.InputIDs) + len(c.Greedy.NewTokens))
	logits := make([]float32, m.Text.Config().Vocab)
	if err := m.Text.ForwardEmbeddings(s, x, len(c.InputIDs), logits, false); err != nil {
		t.Fatal(err)
	}
	var out []int
	for range c.Greedy.NewTokens {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		out = append(out, best)
		if err := m.Text.Forward(s, []int{best}, logits, false); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
