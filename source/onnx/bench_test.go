package onnx

import "testing"

// BenchmarkOpenDirSmolVLM opens and names the vision encoder and decoder
// (7 MB; the MatMul weights are transposed back).
func BenchmarkOpenDirSmolVLM(b *testing.B) {
	for b.Loop() {
		set, err := OpenDir("../../testdata/smolvlm-tiny/onnx")
		if err != nil {
			b.Fatal(err)
		}
		set.Close()
	}
}
