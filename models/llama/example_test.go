package llama_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/models/llama"
)

// Example converts the llama-tiny fixture, prefills a prompt in one batched
// pass and greedily decodes four tokens with the KV cache.
func Example() {
	dir, _ := os.MkdirTemp("", "llama-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.cellm")
	if _, err := convert.Convert("../../testdata/llama-tiny", path, convert.Options{DType: format.BF16}); err != nil {
		fmt.Println(err)
		return
	}
	f, err := format.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	m, err := llama.Load(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := m.NewState(64)
	logits := make([]float32, m.Config().Vocab)
	tokens := []int{1, 22288, 4773, 30343, 34209, 9797, 22278}
	for range 4 {
		if err := m.Forward(s, tokens, logits, false); err != nil {
			fmt.Println(err)
			return
		}
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		fmt.Print(best, " ")
		tokens = []int{best}
	}
	fmt.Println("at position", s.Pos())
	// Output: 16177 17684 21819 21819 at position 10
}
