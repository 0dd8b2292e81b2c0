package convert

import "github.com/cellm-ai/cellm-go/source/safetensors"

func init() {
	Register("safetensors", safetensors.HasCheckpoint, safetensors.OpenDir)
}
