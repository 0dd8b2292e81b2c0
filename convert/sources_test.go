package convert

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// sameTensors converts in with two sources and checks every tensor of the
// first .cellm equals the one of the second.
func sameTensors(t *testing.T, in, a, b string, opt Options) {
	t.Helper()
	files := map[string]*format.File{}
	for _, src := range []string{a, b} {
		out := filepath.Join(t.TempDir(), src+".cellm")
		o := opt
		o.Source = src
		sum, err := Convert(in, out, o)
		if err != nil {
			t.Fatalf("--source %s: %v", src, err)
		}
		if sum.Source != src {
			t.Fatalf("source %s, want %s", sum.Source, src)
		}
		f, err := format.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[src] = f
	}
	fa, fb := files[a], files[b]
	if len(fa.Header.Tensors) != len(fb.Header.Tensors) {
		t.Errorf("%s: %d tensors, %s: %d", a, len(fa.Header.Tensors), b, len(fb.Header.Tensors))
	}
	for _, ti := range fa.Header.Tensors {
		x, _ := fa.Tensor(ti.Name)
		y, err := fb.Tensor(ti.Name)
		if err != nil {
			t.Errorf("%s: %v", b, err)
			continue
		}
		if x.DType != y.DType || string(x.Data) != string(y.Data) {
			t.Errorf("tensor %q differs between %s and %s", ti.Name, a, b)
		}
	}
}

// pytorch_model.bin holds lm_head.weight tied to the embeddings; the config
// says tied, so the .cellm files must still be identical.
func TestPyTorchEqualsSafetensors(t *testing.T) {
	sameTensors(t, testutil.Fixture(t, "llama-tiny"), "safetensors", "pytorch", Options{DType: format.BF16})
}

// The official-layout ONNX exports convert to the same .cellm as the
// safetensors checkpoint: vision tower, connector, text stack and lm_head.
func TestONNXEqualsSafetensors(t *testing.T) {
	sameTensors(t, testutil.Fixture(t, "smolvlm-tiny"), "safetensors", "onnx", Options{DType: format.BF16})
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "flax_model.msgpack"), []byte{0x80}, 0o644)
	if kind, err := detect(dir); err != nil || kind.kind != "flax" {
		t.Errorf("detect: %q %v", kind.kind, err)
	}
	if kind, err := detect(testutil.Fixture(t, "llama-tiny")); err != nil || kind.kind != "safetensors" {
		t.Errorf("detect: %q %v", kind.kind, err)
	}
}
