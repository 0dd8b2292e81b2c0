package flax_test

import (
	"fmt"
	"log"

	"github.com/cellm-ai/cellm-go/source/flax"
)

// Open a Flax checkpoint: Dense kernels come back as PyTorch [out, in]
// weights, embeddings and LayerNorm scales as "weight".
func ExampleOpen() {
	set, err := flax.Open("testdata/reference.msgpack")
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	for _, t := range set.Tensors {
		fmt.Println(t.Name, t.DType, t.Shape)
	}
	// Output:
	// lm_head.weight F32 [10 8]
	// model.big.bias F32 [5 7]
	// model.embed_tokens.weight F32 [10 8]
	// model.layers.0.input_layernorm.weight BF16 [8]
	// model.layers.0.mlp.up_proj.weight BF16 [12 8]
	// model.layers.0.self_attn.q_proj.weight F16 [8 8]
	// model.ln.bias F32 [8]
	// model.ln.weight F32 [8]
	// model.norm.weight BF16 [8]
	// model.patch.weight F32 [4 2 3 3]
}
