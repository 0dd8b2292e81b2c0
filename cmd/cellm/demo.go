package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/progress"
)

func init() {
	register("demo", "convert the model this repo ships, inspect it and generate text from it", false, runDemo)
}

func runDemo(args []string) error {
	fs := newFlags("demo", "[--input DIR] [--output FILE.cellm]")
	in := fs.String("input", filepath.Join("testdata", "pretrained-micro"), "Hugging Face model `folder` (default: the repo's, relative to the current folder)")
	out := fs.String("output", "", "where to write the .cellm `file` (default: a temporary folder, removed at exit)")
	prompt := fs.String("prompt", "The following example shows how to", "prompt for the generation step")
	gen := fs.Int("gen", 32, "tokens to generate")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*in, "config.json")); err != nil {
		wd, _ := os.Getwd()
		return fmt.Errorf("no model at %s (looked in %s): run the demo from the repository root, or pass --input DIR",
			filepath.Join(*in, "config.json"), wd)
	}
	if *out == "" {
		tmp, err := os.MkdirTemp("", "cellm-demo-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*out = filepath.Join(tmp, "micro.cellm")
	}
	fmt.Printf("== cellm convert --input %s --output %s --dtype int8-proj\n", *in, *out)
	opt, err := convertOptions("int8-proj")
	if err != nil {
		return err
	}
	sum, err := convertChecked(*in, *out, opt)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s in %.2fs; int8 relative RMS error %.3f%%\n\n", progress.Bytes(sum.OutputBytes),
		sum.Elapsed.Seconds(), 100*sum.QuantStats.RelRMSE())
	fmt.Printf("== cellm inspect %s\n", *out)
	f, err := format.Open(*out)
	if err != nil {
		return err
	}
	printInspect(os.Stdout, *out, f, 12)
	f.Close()
	notes, err := runCheck(*out, *out)
	printVerdict(os.Stdout, notes, err)
	return demoGenerate(*out, *prompt, *gen)
}
