package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/progress"
)

func init() {
	register("convert", "convert a Hugging Face model folder or a GGUF file to a .cellm file", false, runConvert)
}

func runConvert(args []string) error {
	fs := newFlags("convert", "--input DIR|FILE.gguf --output FILE.cellm [flags]")
	in := fs.String("input", "", "Hugging Face model `folder` (config.json + checkpoint) or GGUF file")
	out := fs.String("output", "", "output .cellm `file`")
	dtype := fs.String("dtype", "f16", "storage type of float tensors: f16, bf16 or f32")
	q8 := fs.Bool("quantize-int8-symmetric", false, "quantize the text stack's linear weights to per-row symmetric int8")
	q8emb := fs.Bool("quantize-embeddings", false, "with int8: also quantize embed_tokens and lm_head")
	src := fs.String("source", "auto", "checkpoint kind: auto, "+strings.Join(convert.SourceKinds(), ", "))
	verbose := fs.Bool("v", false, "print per-tensor quantization error")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		fs.Usage()
		return errUsage
	}
	dt, err := format.ParseDType(*dtype)
	if err != nil {
		return fmt.Errorf("--dtype: %w", err)
	}
	bar := progress.New("converting")
	sum, err := convert.Convert(*in, *out, convert.Options{DType: dt, QuantizeInt8: *q8, QuantizeEmbeddings: *q8emb,
		Source: *src, Progress: bar.Update})
	bar.Done()
	if err != nil {
		return err
	}
	mbps := float64(sum.OutputBytes) / 1e6 / max(sum.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(os.Stderr, "wrote %s: %d tensors (%d int8 weights with their scales), %d assets, %s in %.2fs (%.0f MB/s), source %s\n",
		*out, sum.Tensors+2*sum.Quantized, sum.Quantized, len(sum.Assets), progress.Bytes(sum.OutputBytes),
		sum.Elapsed.Seconds(), mbps, sum.Source)
	for _, s := range sum.Notes {
		fmt.Fprintf(os.Stderr, "%s\n", s)
	}
	for _, s := range sum.Skipped {
		fmt.Fprintf(os.Stderr, "skipped %s\n", s)
	}
	if sum.Quantized > 0 {
		q := sum.QuantStats
		fmt.Fprintf(os.Stderr, "int8 quantization: %d weights, relative RMS error %.4f%%, max |error| %.3g, max |error|/scale %.3f\n",
			q.N, 100*q.RelRMSE(), q.MaxAbsErr, q.MaxErrStep)
		if *verbose {
			names := make([]string, 0, len(sum.PerTensor))
			for n := range sum.PerTensor {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				s := sum.PerTensor[n]
				fmt.Fprintf(os.Stderr, "  %-60s rel RMSE %.4f%%  max |err| %.3g\n", n, 100*s.RelRMSE(), s.MaxAbsErr)
			}
		}
	}
	return nil
}
