package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/ggufixture"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/source/gguf"
)

func TestGGUFConvertInspect(t *testing.T) {
	in := filepath.Join(testutil.RepoRoot(t), "source", "gguf", "testdata", "kquant-tiny.quantize-Q4_K_M.gguf")
	g, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var text, js bytes.Buffer
	if err := inspectGGUF(&text, in, g, 372000, false, 3); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GGUF v3", "llama.block_count", "512 elements", "Q6_K", "8 more", "converts: yes"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("inspect output lacks %q:\n%s", want, text.String())
		}
	}
	if err := inspectGGUF(&js, in, g, 372000, true, 0); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Converts bool             `json:"converts"`
		Metadata map[string]any   `json:"metadata"`
		Tensors  []ggufTensorJSON `json:"tensors"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Tensors) != 11 || doc.Metadata["general.architecture"] != "llama" || !doc.Converts {
		t.Errorf("json: %d tensors, metadata %v", len(doc.Tensors), doc.Metadata["general.architecture"])
	}
	mamba, err := ggufixture.Write([]ggufixture.KV{{Key: "general.architecture", Value: "mamba"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := gguf.Parse(mamba)
	if err != nil {
		t.Fatal(err)
	}
	text.Reset()
	if err := inspectGGUF(&text, "mamba", q, int64(len(mamba)), false, 0); err != nil || !strings.Contains(text.String(), "converts: no") {
		t.Errorf("mamba verdict (%v):\n%s", err, text.String())
	}
	var stderr bytes.Buffer
	out := filepath.Join(t.TempDir(), "k.cellm")
	if code := run([]string{"convert", "--input", in, "--output", out, "--dtype", "f32"}, &stderr); code != 0 {
		t.Fatalf("convert exit %d: %s", code, stderr.String())
	}
	f, err := format.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if w, err := f.Tensor("model.layers.0.self_attn.q_proj.weight"); err != nil || w.DType != format.F32 {
		t.Errorf("q_proj: %v %v", w.DType, err)
	}
}
