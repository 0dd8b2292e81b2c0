package llama

import (
	"errors"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/models"
)

// TestRegistry loads synthetic files through models.Load: a llama file
// becomes a *Model; an unknown model_type and a tensor no loader reads are
// errors naming them.
func TestRegistry(t *testing.T) {
	load := func(mutate func(*format.Header, map[string]*synthTensor)) (models.Decoder, error) {
		f, err := format.Parse(synthModel(t, mutate))
		if err != nil {
			t.Fatal(err)
		}
		return models.Load(f)
	}
	d, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(*Model); !ok || d.Spec().ModelType != "llama" || d.Spec().Vocab != 40 {
		t.Fatalf("models.Load: %T %+v", d, d.Spec())
	}
	_, err = load(func(h *format.Header, _ map[string]*synthTensor) { h.ModelType = "mamba" })
	if !errors.Is(err, models.ErrUnknownArchitecture) || !strings.Contains(err.Error(), `"mamba"`) {
		t.Errorf("unknown model_type: %v", err)
	}
	_, err = load(func(_ *format.Header, ts map[string]*synthTensor) {
		ts["model.layers.0.self_attn.q_proj.bias"] = ts["model.norm.weight"]
	})
	if !errors.Is(err, models.ErrUnusedTensor) || !strings.Contains(err.Error(), "model.layers.0.self_attn.q_proj.bias") {
		t.Errorf("unused tensor: %v", err)
	}
	if err := models.Check(mustParse(t, synthModel(t, nil))); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func mustParse(t *testing.T, b []byte) *format.File {
	t.Helper()
	f, err := format.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRegistryQuantized loads int8 and int4 (per row and grouped) files
// through models.Load: their .qscale tensors count as used.
func TestRegistryQuantized(t *testing.T) {
	for _, opt := range []convert.Options{
		{DType: format.F32, Quantize: "int8"},
		{DType: format.F32, Quantize: "int4", GroupSize: 32},
	} {
		f, err := format.Open(cellmPath(t, "llama-tiny", opt))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.Load(f); err != nil {
			t.Errorf("%s g%d: %v", opt.Quantize, opt.GroupSize, err)
		}
	}
}
