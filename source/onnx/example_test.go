package onnx_test

import (
	"fmt"
	"log"

	"github.com/cellm-ai/cellm-go/source/onnx"
)

// Open the vision encoder of a SmolVLM-layout export: exporter-renamed MatMul
// weights come back under their PyTorch names, transposed to [out, in].
func ExampleOpen() {
	set, err := onnx.OpenWith("../../testdata/smolvlm-tiny/onnx/vision_encoder.onnx", onnx.Options{
		Prefixes: map[string]string{"connector": "model."},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	for _, name := range []string{
		"model.vision_model.encoder.layers.0.mlp.fc1.weight",
		"model.connector.modality_projection.proj.weight",
	} {
		t, _ := set.Lookup(name)
		fmt.Println(t.Name, t.DType, t.Shape)
	}
	fmt.Println(len(set.Tensors), "tensors")
	// Output:
	// model.vision_model.encoder.layers.0.mlp.fc1.weight F32 [64 32]
	// model.connector.modality_projection.proj.weight F32 [64 128]
	// 38 tensors
}
