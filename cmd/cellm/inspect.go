package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/progress"
	"github.com/cellm-ai/cellm-go/source/gguf"
)

func init() {
	register("inspect", "show a .cellm file's config, tensors, assets and whether it runs (GGUF files: metadata and tensors)", false, runInspect)
}

func runInspect(args []string) error {
	fs := newFlags("inspect", "FILE.cellm|FILE.gguf [--json]")
	asJSON := fs.Bool("json", false, "print the header and verdict as JSON")
	maxRows := fs.Int("tensors", 40, "list at most this many tensors (0: all)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	if gguf.IsGGUF(pos[0]) {
		g, err := gguf.Open(pos[0])
		if err != nil {
			return err
		}
		defer g.Close()
		st, err := os.Stat(pos[0])
		if err != nil {
			return err
		}
		return inspectGGUF(os.Stdout, pos[0], g, st.Size(), *asJSON, *maxRows)
	}
	if pos[0], err = resolveModel(pos[0]); err != nil {
		return err
	}
	f, err := format.Open(pos[0])
	if err != nil {
		err = convertHint(pos[0], err)
		if *asJSON {
			json.NewEncoder(os.Stdout).Encode(map[string]any{"file": pos[0], "valid": false, "runs": false, "error": err.Error()})
		} else {
			fmt.Printf("%s: INVALID\n  %v\n", pos[0], err)
		}
		return errVerdict
	}
	defer f.Close()
	notes, runErr := runCheck(pos[0], pos[0])
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		v := map[string]any{"file": pos[0], "valid": true, "runs": runErr == nil, "size": f.Size(), "header": f.Header}
		if len(notes) > 0 {
			v["notes"] = notes
		}
		if runErr != nil {
			v["error"] = runErr.Error()
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	} else {
		printInspect(os.Stdout, pos[0], f, *maxRows)
		printVerdict(os.Stdout, notes, runErr)
	}
	if runErr != nil {
		return errVerdict
	}
	return nil
}

// archOptions lists the header's architecture options beyond Llama.
func archOptions(h *format.Header) string {
	var o []string
	if h.HiddenAct != "" {
		o = append(o, "hidden_act "+h.HiddenAct)
	}
	if h.AttentionBias {
		o = append(o, "attention_bias")
	}
	if h.QKNorm {
		o = append(o, "qk_norm")
	}
	if h.NormWeightOffset != 0 {
		o = append(o, fmt.Sprintf("norm weight offset %g", h.NormWeightOffset))
	}
	if h.SandwichNorms {
		o = append(o, "sandwich norms")
	}
	if h.EmbeddingScale != 0 {
		o = append(o, fmt.Sprintf("embedding scale %g", h.EmbeddingScale))
	}
	if h.QueryPreAttnScalar != 0 {
		o = append(o, fmt.Sprintf("query_pre_attn_scalar %g", h.QueryPreAttnScalar))
	}
	return strings.Join(o, ", ")
}

// errVerdict is inspect's error after it printed why a file does not run.
var errVerdict = errors.New("the file does not run (see above)")

// printVerdict prints whether the file runs and, if not, why.
func printVerdict(w io.Writer, notes []string, runErr error) {
	if runErr != nil {
		fmt.Fprintf(w, "runs: no\n  %v\n", runErr)
		return
	}
	fmt.Fprintln(w, "runs: yes (supported model type; the runtime loads its weights and embedded assets)")
	for _, n := range notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func printInspect(w io.Writer, path string, f *format.File, maxRows int) {
	h := f.Header
	fmt.Fprintf(w, "%s: %s, format v%d\n\n", path, progress.Bytes(f.Size()), format.Version)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "  %s\t%v\n", k, v) }
	fmt.Fprintln(w, "config:")
	row("model_type", h.ModelType)
	if len(h.SourceArchitectures) > 0 {
		row("architectures", strings.Join(h.SourceArchitectures, ", "))
	}
	row("vocab_size", h.VocabSize)
	row("hidden_dim", h.HiddenDim)
	row("intermediate_size", h.IntermediateSize)
	row("num_layers", h.NumLayers)
	row("heads / kv heads / head_dim", fmt.Sprintf("%d / %d / %d", h.NumHeads, h.NumKVHeads, h.HeadDim))
	row("rms_norm_eps", h.RMSNormEps)
	row("rope_theta", h.RopeTheta)
	if h.RopeScalingType != "" {
		row("rope_scaling", fmt.Sprintf("%s factor %g (low %g, high %g, original %d)", h.RopeScalingType,
			h.RopeScalingFactor, h.RopeScalingLowFreqFactor, h.RopeScalingHighFreqFactor, h.RopeScalingOriginalMaxPositions))
	}
	if h.BOSTokenID != nil {
		row("bos_token_id", *h.BOSTokenID)
	}
	row("eos_token_ids", h.EOSIDs())
	row("max_position_embeddings", h.MaxPositionEmbeddings)
	if h.TieWordEmbeddings != nil {
		row("tie_word_embeddings", *h.TieWordEmbeddings)
	}
	if h.SourceTorchDType != "" {
		row("source_torch_dtype", h.SourceTorchDType)
	}
	if opts := archOptions(&h); opts != "" {
		row("architecture options", opts)
	}
	if len(h.LayerTypes) > 0 {
		sliding := 0
		for _, t := range h.LayerTypes {
			if t == "sliding_attention" {
				sliding++
			}
		}
		row("sliding window", fmt.Sprintf("%d positions in %d of %d layers (local rope_theta %g)", h.SlidingWindow, sliding, len(h.LayerTypes), h.RopeLocalBaseFreq))
	}
	if len(h.SourceQuantization) > 0 {
		row("quantization", string(h.SourceQuantization))
	}
	tw.Flush()
	if h.VisionTensorPrefix != "" {
		fmt.Fprintln(w, "\nvision-language:")
		row("source_model_type", h.SourceModelType)
		row("text_tensor_prefix", h.TextTensorPrefix)
		row("vision_tensor_prefix", h.VisionTensorPrefix)
		row("projector_tensor_prefix", h.ProjectorTensorPrefix)
		if len(h.SourceProjectorConfig) > 0 {
			row("projector", string(h.SourceProjectorConfig))
		}
		if len(h.SourceVisionConfig) > 0 {
			var v map[string]any
			json.Unmarshal(h.SourceVisionConfig, &v)
			row("vision", fmt.Sprintf("hidden %v, layers %v, heads %v, image %v, patch %v",
				v["hidden_size"], v["num_hidden_layers"], v["num_attention_heads"], v["image_size"], v["patch_size"]))
		}
		tw.Flush()
	}
	if len(h.Extra) > 0 {
		keys := make([]string, 0, len(h.Extra))
		for k := range h.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "\nother header keys: %s\n", strings.Join(keys, ", "))
	}

	fmt.Fprintf(w, "\ntensors (%d):\n", len(h.Tensors))
	fmt.Fprintf(tw, "  name\tdtype\tshape\toffset\tbytes\n")
	for i, t := range h.Tensors {
		if maxRows > 0 && i == maxRows {
			fmt.Fprintf(tw, "  ... %d more (--tensors 0 lists all)\n", len(h.Tensors)-maxRows)
			break
		}
		fmt.Fprintf(tw, "  %s\t%s\t%v\t%d\t%d\n", t.Name, t.DType, t.Shape, t.OffsetBytes, t.NBytes)
	}
	tw.Flush()

	type total struct {
		n     int
		elems int64
		bytes int64
	}
	totals := map[format.DType]*total{}
	for _, t := range h.Tensors {
		tt := totals[t.DType]
		if tt == nil {
			tt = &total{}
			totals[t.DType] = tt
		}
		tt.n++
		elems := int64(1)
		for _, d := range t.Shape {
			elems *= int64(d)
		}
		tt.elems += elems
		tt.bytes += t.NBytes
	}
	fmt.Fprintln(w, "\ntotals by dtype:")
	var dts []string
	for d := range totals {
		dts = append(dts, string(d))
	}
	sort.Strings(dts)
	for _, d := range dts {
		t := totals[format.DType(d)]
		fmt.Fprintf(tw, "  %s\t%d tensors\t%d elements\t%s\n", d, t.n, t.elems, progress.Bytes(t.bytes))
	}
	tw.Flush()

	fmt.Fprintf(w, "\nassets (%d):\n", len(h.Assets))
	for _, a := range h.Assets {
		fmt.Fprintf(tw, "  %s\t%s\n", a.Name, progress.Bytes(a.NBytes))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nfile structure: OK (magic, version, header, dtypes, shapes, alignment, bounds, overlaps, names, int8 scales)")
}
