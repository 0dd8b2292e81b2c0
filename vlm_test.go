package cellm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// tinyVLM converts the smolvlm-tiny fixture together with SmolVLM's genuine
// tokenizer into a .cellm file.
func tinyVLM(t *testing.T) *Model { return tinyVLMWith(t, nil) }

// tinyVLMWith is tinyVLM with some files of the folder replaced (name -> source path).
func tinyVLMWith(t *testing.T, replace map[string]string) *Model {
	t.Helper()
	return tinyVLMOpen(t, replace, nil)
}

// tinyVLMOptions is tinyVLM opened with opt.
func tinyVLMOptions(t *testing.T, opt *Options) *Model {
	t.Helper()
	return tinyVLMOpen(t, nil, opt)
}

func tinyVLMOpen(t *testing.T, replace map[string]string, opt *Options) *Model {
	t.Helper()
	return tinyVLMConvert(t, replace, opt, format.F16)
}

// tinyVLMConvert is tinyVLM converted to dtype, opened with opt.
func tinyVLMConvert(t *testing.T, replace map[string]string, opt *Options, dtype format.DType) *Model {
	t.Helper()
	return tinyVLMConvertWith(t, replace, opt, convert.Options{DType: dtype})
}

// tinyVLMInt8Vision is tinyVLMConvert (f16) with the vision tower and
// connector quantized to int8 (convert.Options.QuantizeVision).
func tinyVLMInt8Vision(t *testing.T, opt *Options) *Model {
	t.Helper()
	return tinyVLMConvertWith(t, nil, opt, convert.Options{DType: format.F16, QuantizeVision: "int8"})
}

// tinyVLMConvertWith is tinyVLM, its files replaced by replace (name to
// source path), converted with copt and opened with opt.
func tinyVLMConvertWith(t *testing.T, replace map[string]string, opt *Options, copt convert.Options) *Model {
	t.Helper()
	dir := t.TempDir()
	if err := testutil.TinyVLMFolder(".", dir); err != nil {
		t.Fatal(err)
	}
	for name, src := range replace {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "vlm.cellm")
	if _, err := convert.Convert(dir, out, copt); err != nil {
		t.Fatal(err)
	}
	m, err := Open(out, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestVLMGenerate(t *testing.T) {
	m := tinyVLM(t)
	img, err := os.ReadFile(filepath.Join("imageproc", "testdata", "bird.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range []bool{false, true} {
		req := Request{Prompt: "What is in the image?", Chat: true, Images: [][]byte{img}, SplitImage: &split, MaxNewTokens: 5, IgnoreEOS: true}
		res, err := m.Generate(context.Background(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		imageTokens := 0
		for _, id := range res.PromptIDs {
			if id == 49190 {
				imageTokens++
			}
		}
		if imageTokens != 4*res.Stats.Tiles || len(res.Tokens) != 5 {
			t.Errorf("split %v: %d <image> tokens for %d tiles, %d new tokens", split, imageTokens, res.Stats.Tiles, len(res.Tokens))
		}
		if !split && res.Stats.Tiles != 1 {
			t.Errorf("unsplit image became %d tiles", res.Stats.Tiles)
		}
		if split && res.Stats.Tiles < 2 {
			t.Errorf("split image became %d tiles", res.Stats.Tiles)
		}
		prompt, _ := m.Tokenizer().Decode(res.PromptIDs, false)
		if !strings.HasPrefix(prompt, "<|im_start|>User:<fake_token_around_image>") || !strings.HasSuffix(prompt, "<end_of_utterance>\nAssistant:") {
			t.Errorf("prompt layout %q", prompt)
		}
		// The global image always closes the image block.
		if i := slices.Index(res.PromptIDs, 49152); i < 0 {
			t.Error("no <global-img> token")
		}
	}
	if _, err := m.Generate(context.Background(), Request{Prompt: "x", Images: [][]byte{[]byte("not an image")}}, nil); err == nil {
		t.Error("corrupt image accepted")
	}
}

// With SmolVLM's genuine tokenizer, chat template and processor settings,
// an image prompt becomes exactly the ids of the Hugging Face processor
// (jsref: transformers.js SmolVLM-256M-Instruct, checked against Python).
func TestVLMPromptIDsMatchProcessor(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("imageproc", "testdata", "smolvlm_image_preprocessing.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Messages []struct {
			Content []struct{ Type, Text string } `json:"content"`
		} `json:"messages"`
		Images []struct {
			Image string `json:"image"`
			Runs  []struct {
				Split    bool  `json:"do_image_splitting"`
				InputIDs []int `json:"input_ids"`
			} `json:"runs"`
		} `json:"images"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	m := tinyVLMWith(t, map[string]string{
		"preprocessor_config.json": filepath.Join("imageproc", "testdata", "preprocessor_config.json"),
		"processor_config.json":    filepath.Join("imageproc", "testdata", "processor_config.json"),
	})
	question := ref.Messages[0].Content[1].Text
	checked := 0
	for _, im := range ref.Images {
		data, err := os.ReadFile(filepath.Join("imageproc", "testdata", im.Image))
		if err != nil {
			continue // only some images are kept in testdata
		}
		for _, run := range im.Runs {
			split := run.Split
			ids, err := m.Tokenize(Request{Prompt: question, Chat: true, Images: [][]byte{data}, SplitImage: &split})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, run.InputIDs) {
				t.Errorf("%s split=%v: %d ids, want %d", im.Image, split, len(ids), len(run.InputIDs))
			}
			checked++
		}
	}
	if checked < 2 {
		t.Fatalf("checked %d runs", checked)
	}
}
