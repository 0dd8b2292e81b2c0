package pytorch_test

import (
	"fmt"
	"log"

	"github.com/cellm-ai/cellm-go/source/pytorch"
)

// Open a torch.save file whose lm_head.weight is tied to the embeddings:
// both names appear, sharing one storage.
func ExampleOpen() {
	set, err := pytorch.Open("testdata/tied.pt")
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	for _, t := range set.Tensors {
		fmt.Println(t.Name, t.DType, t.Shape, len(t.Data))
	}
	// Output:
	// lm_head.weight BF16 [6 4] 48
	// model.embed_tokens.weight BF16 [6 4] 48
	// param F32 [2 3] 24
}
