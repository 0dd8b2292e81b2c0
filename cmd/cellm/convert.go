package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/progress"
)

func init() {
	register("convert", "convert a Hugging Face model folder to a .cellm file", false, runConvert)
}

func runConvert(args []string) error {
	fs := newFlags("convert", "--input DIR --output FILE.cellm [flags]")
	in := fs.String("input", "", "Hugging Face model `folder` (config.json + checkpoint)")
	out := fs.String("output", "", "output .cellm `file`")
	dtype := fs.String("dtype", "f16", "storage type of float tensors: f16, bf16 or f32")
	q8 := fs.Bool("quantize-int8-symmetric", false, "quantize the text stack's linear weights to per-row symmetric int8")
	q8emb := fs.Bool("quantize-embeddings", false, "with quantization: also quantize embed_tokens and lm_head")
	qz := fs.String("quantize", "", "quantize the text stack's linear weights: int8, int4 or mixed (attention and embeddings int8, MLP int4)")
	group := fs.String("group-size", "", "with --quantize: columns per scale, 32, 64, 128 or row (default: row for int8, "+defaultGroupName+" for int4 and mixed)")
	src := fs.String("source", "auto", "checkpoint kind: auto, safetensors, pytorch, flax or onnx")
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
	scheme, err := parseQuantize(*qz)
	if err != nil {
		return err
	}
	gs, err := parseGroupSize(*group, scheme)
	if err != nil {
		return err
	}
	bar := progress.New("converting")
	sum, err := convert.Convert(*in, *out, convert.Options{DType: dt, QuantizeInt8: *q8, Quantize: scheme, GroupSize: gs,
		QuantizeEmbeddings: *q8emb, Source: *src, Progress: bar.Update})
	bar.Done()
	if err != nil {
		return err
	}
	mbps := float64(sum.OutputBytes) / 1e6 / max(sum.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(os.Stderr, "wrote %s: %d tensors (%d quantized weights with their scales), %d assets, %s in %.2fs (%.0f MB/s), source %s\n",
		*out, sum.Tensors+2*sum.Quantized, sum.Quantized, len(sum.Assets), progress.Bytes(sum.OutputBytes),
		sum.Elapsed.Seconds(), mbps, sum.Source)
	for _, s := range sum.Skipped {
		fmt.Fprintf(os.Stderr, "skipped %s\n", s)
	}
	if sum.Quantized > 0 {
		q := sum.QuantStats
		fmt.Fprintf(os.Stderr, "quantization: %d weights, relative RMS error %.4f%%, max |error| %.3g, max |error|/scale %.3f\n",
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

// defaultGroupName is the --group-size used for int4 and mixed when none is
// given (chosen by perplexity measurements, see README).
const (
	defaultGroupName = "32"
	defaultGroup     = 32
)

// parseQuantize accepts the --quantize schemes, in the spellings --dtype
// accepts too (int4 = i4 = q4, int8 = i8 = q8).
func parseQuantize(s string) (string, error) {
	switch strings.ToLower(s) {
	case "":
		return "", nil
	case "int8", "i8", "q8":
		return "int8", nil
	case "int4", "i4", "q4":
		return "int4", nil
	case "mixed":
		return "mixed", nil
	}
	return "", fmt.Errorf("--quantize %q: want int8, int4 or mixed", s)
}

// parseGroupSize returns the columns per scale for --group-size (0: per
// row), defaulting by scheme.
func parseGroupSize(s, scheme string) (int, error) {
	switch s {
	case "":
		if scheme == "int4" || scheme == "mixed" {
			return defaultGroup, nil
		}
		return 0, nil
	case "row":
		return 0, nil
	case "32", "64", "128":
		if scheme == "" {
			return 0, fmt.Errorf("--group-size needs --quantize")
		}
		return strconv.Atoi(s)
	}
	return 0, fmt.Errorf("--group-size %q: want 32, 64, 128 or row", s)
}
