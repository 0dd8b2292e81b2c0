package convert

import (
	"os"
	"path/filepath"

	"github.com/cellm-ai/cellm-go/source"
	"github.com/cellm-ai/cellm-go/source/flax"
	"github.com/cellm-ai/cellm-go/source/onnx"
	"github.com/cellm-ai/cellm-go/source/pytorch"
	"github.com/cellm-ai/cellm-go/source/safetensors"
)

// checkpointKind is one checkpoint format: how to tell a folder holds it, and its reader.
type checkpointKind struct {
	kind string
	has  func(dir string) bool
	open func(dir string) (*source.Set, error)
}

// sources are the checkpoint kinds, in the order auto-detection prefers them.
var sources = []checkpointKind{
	{"safetensors", safetensors.HasCheckpoint, safetensors.OpenDir},
	{"pytorch", anyFile("pytorch_model.bin", "pytorch_model.bin.index.json", "*.pt", "*.pth"), pytorch.OpenDir},
	{"flax", anyFile("flax_model.msgpack", "flax_model.msgpack.index.json"), flax.OpenDir},
	{"onnx", anyFile("*.onnx", filepath.Join("onnx", "*.onnx")), onnx.OpenDir},
}

// anyFile reports whether a folder holds a file matching one of the patterns.
func anyFile(patterns ...string) func(dir string) bool {
	return func(dir string) bool {
		for _, p := range patterns {
			matches, _ := filepath.Glob(filepath.Join(dir, p))
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
					return true
				}
			}
		}
		return false
	}
}
