package cellm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/internal/npy"
)

// multimodalCase is one multimodal prompt of smolvlm-tiny's reference.json.
type multimodalCase struct {
	Name        string `json:"name"`
	InputIDs    []int  `json:"input_ids"`
	PixelValues struct {
		File  string `json:"file"`
		Shape []int  `json:"shape"`
	} `json:"pixel_values"`
	ImageFeatures struct {
		File string `json:"file"`
	} `json:"image_features"`
	Greedy struct {
		NewTokens []int `json:"new_tokens"`
	} `json:"greedy"`
}

// multimodalFixture converts smolvlm-tiny to an f32 .cellm and returns its
// path, the reference folder and the multimodal cases.
func multimodalFixture(t *testing.T) (path, ref string, cases []multimodalCase) {
	t.Helper()
	fixture := filepath.Join("testdata", "smolvlm-tiny")
	path = filepath.Join(t.TempDir(), "vlm.cellm")
	if _, err := convert.Convert(fixture, path, convert.Options{DType: format.F32}); err != nil {
		t.Fatal(err)
	}
	ref = filepath.Join(fixture, "reference")
	raw, err := os.ReadFile(filepath.Join(ref, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Multimodal []multimodalCase `json:"multimodal"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Multimodal) < 2 {
		t.Fatalf("reference.json has %d multimodal cases, want at least 2", len(r.Multimodal))
	}
	return path, ref, r.Multimodal
}

// pixelBatch reads a case's pixel values as a batch of tiles without grids.
func pixelBatch(t *testing.T, ref string, c multimodalCase) *imageproc.Batch {
	t.Helper()
	pixels, err := npy.ReadRawF32(filepath.Join(ref, c.PixelValues.File))
	if err != nil {
		t.Fatal(err)
	}
	return &imageproc.Batch{Pixels: pixels, N: c.PixelValues.Shape[1], H: 64, W: 64}
}

// Token ids with a preprocessed ImageBatch given as pixel values alone (no
// tile grids) still splice the image features: the native path reproduces
// the transformers greedy continuations of both multimodal prompts.
func TestInputIDsWithPixelBatch(t *testing.T) {
	path, ref, cases := multimodalFixture(t)
	m, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, c := range cases {
		res, err := m.Generate(context.Background(), Request{InputIDs: c.InputIDs, ImageBatch: pixelBatch(t, ref, c),
			MaxNewTokens: len(c.Greedy.NewTokens), IgnoreEOS: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Tokens, c.Greedy.NewTokens) {
			t.Errorf("%s: tokens %v, want %v", c.Name, res.Tokens, c.Greedy.NewTokens)
		}
	}
}
