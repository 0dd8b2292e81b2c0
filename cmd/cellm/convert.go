package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/internal/progress"
)

func init() {
	register("convert", "convert a Hugging Face model folder or a GGUF file to a .cellm file", false, runConvert)
}

func runConvert(args []string) error {
	fs := newFlags("convert", "--input DIR|FILE.gguf --output FILE.cellm [flags]")
	in := fs.String("input", "", "Hugging Face model `folder` (config.json + checkpoint) or GGUF file")
	alias(fs, "input", "i")
	out := fs.String("output", "", "output .cellm `file`")
	alias(fs, "output", "o")
	dtype := fs.String("dtype", "f16", dtypeHelp)
	q8 := fs.Bool("quantize-int8-symmetric", false, "quantize the text stack's attention and MLP projections to per-row symmetric int8 (= --dtype int8-proj)")
	q8emb := fs.Bool("quantize-embeddings", false, "with quantization: also quantize embed_tokens and lm_head")
	qz := fs.String("quantize", "", "quantize the text stack's attention and MLP projections: int8, int4 or mixed (attention int8, MLP int4; embed_tokens and lm_head int8)")
	group := fs.String("group-size", "", "with quantization: columns per scale, 32, 64, 128 or row (default: row for int8, 32 for int4 and mixed)")
	qv := fs.String("quantize-vision", "", "for a vision-language model: int8 stores the vision encoder's attention and MLP projections and the connector as per-row symmetric int8 (patch embedding and norms stay float)")
	src := fs.String("source", "auto", "checkpoint kind: auto, "+strings.Join(convert.SourceKinds(), ", "))
	verbose := fs.Bool("v", false, "print per-tensor quantization error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		fs.Usage()
		return errUsage
	}
	opt, err := convertOptions(*dtype)
	if err != nil {
		return err
	}
	if *qz != "" {
		if opt.Quantize != "" || opt.QuantizeInt8 {
			return fmt.Errorf("--quantize %s: the --dtype %s already quantizes", *qz, *dtype)
		}
		if opt.Quantize, err = parseQuantize(*qz); err != nil {
			return err
		}
		opt.GroupSize = defaultGroupSize(opt.Quantize)
	}
	opt.QuantizeInt8 = opt.QuantizeInt8 || *q8
	opt.QuantizeEmbeddings = opt.QuantizeEmbeddings || *q8emb
	if opt.QuantizeEmbeddings && !opt.QuantizeInt8 && opt.Quantize == "" {
		return fmt.Errorf("--quantize-embeddings needs --quantize or --quantize-int8-symmetric (or --dtype int8)")
	}
	if *group != "" {
		if !opt.QuantizeInt8 && opt.Quantize == "" {
			return fmt.Errorf("--group-size needs quantization (--quantize or --dtype int8|int4|mixed)")
		}
		if opt.GroupSize, err = parseGroupSize(*group); err != nil {
			return err
		}
		if opt.QuantizeInt8 && opt.GroupSize > 0 {
			// Grouped int8 is the --quantize int8 scheme.
			opt.QuantizeInt8, opt.Quantize = false, "int8"
		}
	}
	if *qv != "" {
		if opt.QuantizeVision, err = parseQuantizeVision(*qv); err != nil {
			return err
		}
	}
	opt.Source = *src
	sum, err := convertChecked(*in, *out, opt)
	if err != nil {
		return err
	}
	mbps := float64(sum.OutputBytes) / 1e6 / max(sum.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(os.Stderr, "wrote %s: %d tensors (%d quantized weights with their scales), %d assets, %s in %.2fs (%.0f MB/s), source %s\n",
		*out, sum.Tensors+2*sum.Quantized, sum.Quantized, len(sum.Assets), progress.Bytes(sum.OutputBytes),
		sum.Elapsed.Seconds(), mbps, sum.Source)
	for _, s := range sum.Notes {
		fmt.Fprintf(os.Stderr, "%s\n", s)
	}
	for _, s := range sum.Skipped {
		fmt.Fprintf(os.Stderr, "skipped %s\n", s)
	}
	if sum.Quantized > 0 && sum.QuantStats.N > 0 { // lossless GGUF imports have no error to report
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

// convertChecked converts with a progress bar on a terminal, stops cleanly
// (no temporary file left) on SIGINT or SIGTERM, and commits the output only
// if the runtime opens it.
func convertChecked(in, out string, opt convert.Options) (*convert.Summary, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bar := progress.New("converting")
	report := opt.Progress
	opt.Progress = func(done, total int64) {
		bar.Update(done, total)
		if report != nil {
			report(done, total)
		}
	}
	opt.Verify = func(tmp string) error { return runnable(tmp, "") }
	sum, err := convert.ConvertContext(ctx, in, out, opt)
	bar.Done()
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted; %s not written", out)
	}
	return sum, err
}
