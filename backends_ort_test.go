//go:build onnxruntime

package cellm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/internal/npy"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// Every combination of vision and decoder backends reproduces the
// transformers references: image features and the 16-token greedy
// continuation of both multimodal prompts.
func TestBackendCombinations(t *testing.T) {
	if os.Getenv("CELLM_ONNXRUNTIME_LIB") == "" {
		t.Skip("CELLM_ONNXRUNTIME_LIB not set (scripts/test-onnxruntime.sh sets it)")
	}
	fixture := filepath.Join("testdata", "smolvlm-tiny")
	path := filepath.Join(t.TempDir(), "vlm.cellm")
	if _, err := convert.Convert(fixture, path, convert.Options{DType: format.F32}); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(fixture, "reference")
	raw, err := os.ReadFile(filepath.Join(ref, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Multimodal []struct {
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
		} `json:"multimodal"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	for _, vb := range []string{BackendCellm, BackendONNX} {
		for _, db := range []string{BackendCellm, BackendONNX} {
			m, err := Open(path, &Options{VisionBackend: vb, DecoderBackend: db, ONNXDir: fixture})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range r.Multimodal {
				pixels, err := npy.ReadRawF32(filepath.Join(ref, c.PixelValues.File))
				if err != nil {
					t.Fatal(err)
				}
				n := c.PixelValues.Shape[1]
				b := &imageproc.Batch{Pixels: pixels, N: n, H: 64, W: 64}
				feats, err := m.ImageFeatures(b)
				if err != nil {
					t.Fatal(err)
				}
				want, err := npy.Read(filepath.Join(ref, c.ImageFeatures.File))
				if err != nil {
					t.Fatal(err)
				}
				numcheck.Close(t, fmt.Sprintf("vision %s, %s: image features", vb, c.Name), feats, want.Data, numcheck.Tol{Abs: 1e-4})
				res, err := m.Generate(context.Background(), Request{InputIDs: c.InputIDs, ImageBatch: b,
					MaxNewTokens: len(c.Greedy.NewTokens), IgnoreEOS: true}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(res.Tokens, c.Greedy.NewTokens) {
					t.Errorf("vision %s, decoder %s, %s: tokens %v, want %v", vb, db, c.Name, res.Tokens, c.Greedy.NewTokens)
				}
			}
			m.Close()
		}
	}
}
