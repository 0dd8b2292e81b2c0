package convert

import (
	"os"
	"path/filepath"

	"github.com/cellm-ai/cellm-go/source/flax"
	"github.com/cellm-ai/cellm-go/source/onnx"
	"github.com/cellm-ai/cellm-go/source/pytorch"
	"github.com/cellm-ai/cellm-go/source/safetensors"
)

// The checkpoint kinds, in the order auto-detection prefers them.
func init() {
	Register("safetensors", safetensors.HasCheckpoint, safetensors.OpenDir)
	Register("pytorch", anyFile("pytorch_model.bin", "pytorch_model.bin.index.json", "*.pt", "*.pth"), pytorch.OpenDir)
	Register("flax", anyFile("flax_model.msgpack", "flax_model.msgpack.index.json"), flax.OpenDir)
	Register("onnx", anyFile("*.onnx", filepath.Join("onnx", "*.onnx")), onnx.OpenDir)
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
