package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/cellm-ai/cellm-go/internal/randmodel"
)

func init() {
	register("make-random-model", "write a random-weight HF folder at a real model's shape (for benchmarks)", false, runRandModel)
}

func runRandModel(args []string) error {
	fs := newFlags("make-random-model", "--model NAME --output DIR")
	name := fs.String("model", "smollm2-135m", "shape to make: "+strings.Join(randmodel.Names(), ", "))
	out := fs.String("output", "", "output `folder`")
	seed := fs.Uint64("seed", 1, "random seed")
	tok := fs.String("tokenizer-dir", "", "copy tokenizer.json and friends from this `folder`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errUsage
	}
	if err := randmodel.Write(*out, *name, *seed, *tok); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote random-weight %s to %s\n", *name, *out)
	return nil
}
