package cellm_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
)

// modelPath converts the small English model shipped in testdata to a
// .cellm file, as `cellm convert` does.
func modelPath() string {
	dir, err := os.MkdirTemp("", "cellm-example-*")
	if err != nil {
		log.Fatal(err)
	}
	out := filepath.Join(dir, "micro.cellm")
	if _, err := convert.Convert(filepath.Join("testdata", "pretrained-micro"), out,
		convert.Options{DType: format.F16, QuantizeInt8: true}); err != nil {
		log.Fatal(err)
	}
	return out
}

// Generate streams tokens to a callback and returns the whole result.
func ExampleModel_Generate() {
	m, err := cellm.Open(modelPath(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	res, err := m.Generate(context.Background(), cellm.Request{Prompt: "A class is", MaxNewTokens: 8},
		func(t cellm.Token) bool {
			// t.Text arrives as soon as it is complete UTF-8.
			return true
		})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Tokens), "tokens, stopped by", res.StopReason)
	// Output: 8 tokens, stopped by max_tokens
}

// Tokens is the iterator form; Messages renders the model's chat template.
func ExampleModel_Tokens() {
	m, err := cellm.Open(modelPath(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	req := cellm.Request{
		Messages:     []chat.Message{{Role: "user", Content: "What is a module?"}},
		MaxNewTokens: 4,
		IgnoreEOS:    true,
	}
	n := 0
	for t, err := range m.Tokens(context.Background(), req) {
		if err != nil {
			log.Fatal(err)
		}
		if t.ID >= 0 { // ID -1 carries text held back until the end
			n++
		}
	}
	fmt.Println(n, "tokens")
	// Output: 4 tokens
}
