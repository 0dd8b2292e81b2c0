package idefics3

import (
	"errors"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/models"
)

// TestRegistry: a SmolVLM file loads through models.Load under its
// source_model_type as a *Model, every tensor (text stack, vision tower,
// connector) accounted for; its text stack alone would leave the vision
// tensors unused.
func TestRegistry(t *testing.T) {
	f := openFixture(t, format.F16)
	if got := models.Architecture(&f.Header); got != "idefics3" {
		t.Fatalf("architecture %q, want idefics3", got)
	}
	d, err := models.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := d.(*Model)
	if !ok || d.Spec().ModelType != "idefics3" || d.Spec().Vocab != f.Header.VocabSize {
		t.Fatalf("models.Load: %T %+v", d, d.Spec())
	}
	if m.Text == nil || m.Vision == nil || m.Connector == nil {
		t.Fatal("missing part")
	}
	f.Header.VisionTensorPrefix = "" // now read as a plain llama file
	if _, err := models.Load(f); !errors.Is(err, models.ErrUnusedTensor) {
		t.Fatalf("the text stack alone on a file holding a vision tower: %v, want ErrUnusedTensor", err)
	}
}
