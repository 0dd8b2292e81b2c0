package main

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/cellm-ai/cellm-go"
)

// demoGenerate writes a greedy continuation of prompt with the demo model.
func demoGenerate(model, prompt string, gen int) error {
	m, err := cellm.Open(model, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Printf("\n== cellm infer --model %s --prompt %q --gen %d --stats\n%s", model, prompt, gen, prompt)
	out := bufio.NewWriter(os.Stdout)
	res, err := m.Generate(context.Background(), cellm.Request{Prompt: prompt, MaxNewTokens: gen},
		func(t cellm.Token) bool { fmt.Fprint(out, t.Text); out.Flush(); return true })
	fmt.Fprintln(out)
	out.Flush()
	if err != nil {
		return err
	}
	printStats(os.Stderr, res)
	return nil
}
