//go:build onnxruntime

package cellm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

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
	path, ref, cases := multimodalFixture(t)
	for _, vb := range []Backend{BackendCellm, BackendONNX} {
		for _, db := range []Backend{BackendCellm, BackendONNX} {
			m, err := Open(path, &Options{VisionBackend: vb, DecoderBackend: db, ONNXDir: filepath.Join("testdata", "smolvlm-tiny")})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cases {
				b := pixelBatch(t, ref, c)
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
			if db == BackendONNX {
				batches := []*imageproc.Batch{pixelBatch(t, ref, cases[0]), pixelBatch(t, ref, cases[1])}
				concurrentONNX(t, m, cases[0].InputIDs, cases[0].Greedy.NewTokens,
					cases[1].InputIDs, cases[1].Greedy.NewTokens, func(i int) *imageproc.Batch { return batches[i] })
			}
			m.Close()
		}
	}
}

// concurrentONNX runs two generations at once on the one-sequence ONNX
// decoder: the decoder is held only per forward call (never while a token
// is handed to the caller), so they interleave, each replaying its own
// positions when it takes the decoder back, and both must still produce
// their reference tokens.
func concurrentONNX(t *testing.T, m *Model, ids0, want0, ids1, want1 []int, batch func(int) *imageproc.Batch) {
	t.Helper()
	var wg sync.WaitGroup
	got := make([][]int, 2)
	errs := make([]error, 2)
	for i, ids := range [][]int{ids0, ids1} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := [][]int{want0, want1}[i]
			res, err := m.Generate(context.Background(), Request{InputIDs: ids, ImageBatch: batch(i),
				MaxNewTokens: len(want), IgnoreEOS: true}, func(Token) bool {
				time.Sleep(2 * time.Millisecond) // let the other generation take the decoder
				return true
			})
			if err == nil {
				got[i] = res.Tokens
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, want := range [][]int{want0, want1} {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !slices.Equal(got[i], want) {
			t.Errorf("concurrent onnx generation %d: tokens %v, want %v", i, got[i], want)
		}
	}
}
