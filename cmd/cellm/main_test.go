package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/npy"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

func TestConvertInspect(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.cellm")
	var stderr bytes.Buffer
	if code := run([]string{"convert", "--input", testutil.Fixture(t, "llama-tiny"), "--output", out, "--dtype", "bf16"}, &stderr); code != 0 {
		t.Fatalf("convert exit %d: %s", code, stderr.String())
	}
	if code := run([]string{"inspect", out, "--json"}, &stderr); code != 0 {
		t.Fatalf("inspect exit %d: %s", code, stderr.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.cellm")
	os.WriteFile(bad, []byte("CELLM\x01junk"), 0o644)
	if code := run([]string{"inspect", bad}, &stderr); code != 1 {
		t.Errorf("inspect of a bad file: exit %d", code)
	}
	if code := run([]string{"convert", "--input", t.TempDir(), "--output", out}, &stderr); code != 1 || !strings.Contains(stderr.String(), "config.json") {
		t.Errorf("convert of an empty folder: exit %d, %s", code, stderr.String())
	}
	if code := run([]string{"nope"}, &stderr); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestRandomModel(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 270 MB model")
	}
	dir := t.TempDir()
	var stderr bytes.Buffer
	if code := run([]string{"make-random-model", "--model", "smollm2-135m", "--output", dir}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := filepath.Join(dir, "m.cellm")
	if code := run([]string{"convert", "--input", dir, "--output", out, "--quantize-int8-symmetric"}, &stderr); code != 0 {
		t.Fatalf("convert exit %d: %s", code, stderr.String())
	}
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	v, err := npy.ReadRawF32(path)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// infer --input-ids --dump-logits reproduces the reference logits.
func TestInferDumpLogits(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.cellm")
	var stderr bytes.Buffer
	if code := run([]string{"convert", "--input", testutil.Fixture(t, "llama-tiny"), "--output", model, "--dtype", "f32"}, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	out := filepath.Join(dir, "logits.f32")
	ids := "1,22288,4773,30343,34209,9797,22278" // reference sequence "len7" (row 1 of logits_last.npy)
	if code := run([]string{"infer", "--model", model, "--input-ids", ids, "--dump-logits", out}, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	ref, err := npy.Read(testutil.Fixture(t, "llama-tiny", "reference", "logits_last.npy"))
	if err != nil {
		t.Fatal(err)
	}
	vocab := ref.Shape[1]
	r := numcheck.Close(t, "dumped logits", readF32(t, out), ref.Data[vocab:2*vocab], numcheck.Tol{Abs: 1e-4})
	t.Logf("logits: %v", r)
}

// vlm-infer --pixel-values --dump-image-features reproduces the connector output.
func TestVLMInferDumpFeatures(t *testing.T) {
	for _, fixture := range []string{"smolvlm-tiny", "smolvlm2-tiny"} {
		t.Run(fixture, func(t *testing.T) { checkVLMInferDumpFeatures(t, fixture) })
	}
}

func checkVLMInferDumpFeatures(t *testing.T, fixture string) {
	dir := t.TempDir()
	model := filepath.Join(dir, "vlm.cellm")
	var stderr bytes.Buffer
	if code := run([]string{"convert", "--input", testutil.Fixture(t, fixture), "--output", model, "--dtype", "f32"}, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	ref := testutil.Fixture(t, fixture, "reference")
	out := filepath.Join(dir, "features.f32")
	// Without --prompt, vlm-infer stops after the dump.
	code := run([]string{"vlm-infer", "--model", model, "--pixel-values", filepath.Join(ref, "pixel_values_split.f32"),
		"--pixel-shape", "5,3,64,64", "--dump-image-features", out}, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want, err := npy.Read(filepath.Join(ref, "image_features_split.npy"))
	if err != nil {
		t.Fatal(err)
	}
	r := numcheck.Close(t, "dumped features", readF32(t, out), want.Data, numcheck.Tol{Abs: 2e-5})
	t.Logf("features: %v", r)
}

// convert, inspect and infer --input-ids --dump-logits on the Qwen2,
// Qwen3 and Gemma 3 fixtures (Gemma's prompt 5 windows long) reproduce the
// reference last logits; inspect shows the architecture options.
func TestFamiliesInfer(t *testing.T) {
	for _, tc := range []struct {
		model, seq, inspect string
	}{
		{"qwen2-tiny", "len29", `"attention_bias": true`},
		{"qwen3-tiny", "len40", `"qk_norm": true`},
		{"gemma3-tiny", "len160", `"sliding_window": 32`},
	} {
		t.Run(tc.model, func(t *testing.T) {
			dir := t.TempDir()
			model := filepath.Join(dir, "m.cellm")
			var stderr bytes.Buffer
			if code := run([]string{"convert", "--input", testutil.Fixture(t, tc.model), "--output", model, "--dtype", "f32"}, &stderr); code != 0 {
				t.Fatal(stderr.String())
			}
			var stdout bytes.Buffer
			old := os.Stdout
			r, w, _ := os.Pipe()
			os.Stdout = w
			code := run([]string{"inspect", model, "--json"}, &stderr)
			w.Close()
			os.Stdout = old
			stdout.ReadFrom(r)
			if code != 0 || !strings.Contains(stdout.String(), tc.inspect) {
				t.Errorf("inspect exit %d, output without %s: %.300s", code, tc.inspect, stdout.String())
			}
			ref := readRef(t, tc.model)
			var ids []string
			row := -1
			for _, s := range ref.Sequences {
				if s.Name == tc.seq {
					for _, id := range s.InputIDs {
						ids = append(ids, strconv.Itoa(id))
					}
					row = s.LastLogits.Row
				}
			}
			if row < 0 {
				t.Fatalf("no sequence %s", tc.seq)
			}
			out := filepath.Join(dir, "logits.f32")
			if code := run([]string{"infer", "--model", model, "--input-ids", strings.Join(ids, ","), "--dump-logits", out}, &stderr); code != 0 {
				t.Fatal(stderr.String())
			}
			want, err := npy.Read(testutil.Fixture(t, tc.model, "reference", "logits_last.npy"))
			if err != nil {
				t.Fatal(err)
			}
			vocab := want.Shape[1]
			got := readF32(t, out)
			if len(got) != vocab {
				t.Fatalf("%d logits, want %d", len(got), vocab)
			}
			rep := numcheck.Close(t, tc.model+" "+tc.seq+" last logits", got, want.Data[row*vocab:(row+1)*vocab], numcheck.Tol{Abs: 1e-4})
			t.Logf("logits: %v", rep)
		})
	}
}

type refSeq struct {
	Name       string `json:"name"`
	InputIDs   []int  `json:"input_ids"`
	LastLogits struct {
		Row int `json:"row"`
	} `json:"last_logits"`
}

func readRef(t *testing.T, model string) (r struct {
	Sequences []refSeq `json:"sequences"`
}) {
	t.Helper()
	b, err := os.ReadFile(testutil.Fixture(t, model, "reference", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}
