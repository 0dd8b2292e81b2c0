package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/progress"
)

func init() {
	register("demo", "convert the model this repo ships, inspect it and generate text from it", false, runDemo)
}

func runDemo(args []string) error {
	fs := newFlags("demo", "[--input DIR] [--output FILE.cellm]")
	in := fs.String("input", filepath.Join("testdata", "pretrained-micro"), "Hugging Face model `folder`")
	out := fs.String("output", filepath.Join(os.TempDir(), "cellm-demo.cellm"), "where to write the .cellm `file`")
	prompt := fs.String("prompt", "The following example shows how to", "prompt for the generation step")
	gen := fs.Int("gen", 32, "tokens to generate")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	fmt.Printf("== cellm convert --input %s --output %s --quantize-int8-symmetric\n", *in, *out)
	bar := progress.New("converting")
	sum, err := convert.Convert(*in, *out, convert.Options{DType: format.F16, QuantizeInt8: true, Progress: bar.Update})
	bar.Done()
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
	return demoGenerate(*out, *prompt, *gen)
}
