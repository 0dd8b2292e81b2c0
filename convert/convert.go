// Package convert turns a Hugging Face model folder into a .cellm file: it
// reads config.json and the checkpoint, casts tensors to the chosen dtype,
// optionally quantizes the text stack's linear weights to int8, embeds the
// runtime assets (tokenizer, templates, processor configs) and writes the file
// atomically.
package convert

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/quant"
	"github.com/cellm-ai/cellm-go/source"
	"github.com/cellm-ai/cellm-go/source/gguf"
	"github.com/cellm-ai/cellm-go/tokenizer"
)

// Options control a conversion.
type Options struct {
	// DType is the storage type of float tensors: f16 (default), bf16 or f32.
	DType format.DType
	// QuantizeInt8 quantizes the text stack's attention and MLP projection
	// weights to per-row symmetric int8 (the same as Quantize "int8" with
	// GroupSize 0).
	QuantizeInt8 bool
	// Quantize quantizes the text stack's attention and MLP projection
	// weights: "int8" or "int4" (symmetric, see package quant), or "mixed"
	// (attention, embed_tokens and lm_head int8, MLP int4). "" keeps floats
	// unless QuantizeInt8 is set.
	Quantize string
	// GroupSize is the number of columns sharing one scale (32, 64, 128;
	// 0: one scale per row). A tensor whose rows it does not divide uses
	// quant.GroupFor's choice.
	GroupSize int
	// QuantizeEmbeddings also quantizes embed_tokens and lm_head (needs
	// quantization; with int4 they are quantized to int4 too).
	QuantizeEmbeddings bool
	// QuantizeVision quantizes a vision-language model's vision tower:
	// "int8" stores the SigLIP encoder's attention and MLP projection
	// weights and the connector's projection as symmetric int8 (the patch
	// embedding, position embeddings, norms and biases stay float); ""
	// keeps them float. Independent of Quantize, which covers the text stack.
	QuantizeVision string
	// VisionGroupSize is QuantizeVision's columns per scale (0: one scale
	// per row; else a multiple of 32).
	VisionGroupSize int
	// Source picks the checkpoint reader: "" or "auto" detects it.
	Source string
	// Progress, if set, is called as tensor bytes are written.
	Progress func(done, total int64)
	// MaxAssetSize caps each embedded asset (default 64 MiB).
	MaxAssetSize int64
	// Verify, if set, is called with the complete temporary output before it
	// is renamed into place; an error leaves no output. Callers pass the
	// runtime loader here, so that a file that would not run is never written.
	Verify func(path string) error
}

// Summary describes a finished conversion.
type Summary struct {
	Source      string
	Tensors     int
	Quantized   int
	Skipped     []string
	Assets      []string
	OutputBytes int64
	Elapsed     time.Duration
	QuantStats  quant.Stats
	PerTensor   map[string]quant.Stats
	// Notes say what happened to each tensor type (GGUF imports).
	Notes []string
}

// SourceKinds lists the checkpoint kinds Convert reads, in the order
// auto-detection prefers them; "gguf" is a single file, detected by its magic.
func SourceKinds() []string {
	k := make([]string, len(sources))
	for i, src := range sources {
		k[i] = src.kind
	}
	return append(k, "gguf")
}

// detect returns the first source kind whose checkpoint is in dir.
func detect(dir string) (checkpointKind, error) {
	for _, src := range sources {
		if src.has(dir) {
			return src, nil
		}
	}
	return checkpointKind{}, fmt.Errorf("%s: no checkpoint found (looked for: %s)", dir, strings.Join(SourceKinds(), ", "))
}

// lookup returns the source kind called kind.
func lookup(kind string) (checkpointKind, error) {
	for _, src := range sources {
		if src.kind == kind {
			return src, nil
		}
	}
	return checkpointKind{}, fmt.Errorf("--source %s: unknown (available: %s)", kind, strings.Join(SourceKinds(), ", "))
}

// visionLinearRE matches the SigLIP encoder's projection weights under the
// vision tower prefix.
var visionLinearRE = regexp.MustCompile(`^encoder\.layers\.\d+\.(self_attn\.(q|k|v|out)_proj|mlp\.fc[12])\.weight$`)

var linearRE = regexp.MustCompile(`(^|\.)layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.weight$`)

// Convert converts the model folder in to the .cellm file out.
func Convert(in, out string, opt Options) (*Summary, error) {
	return ConvertContext(context.Background(), in, out, opt)
}

// ConvertContext is Convert that stops, leaving no output or temporary file,
// when ctx is cancelled.
func ConvertContext(ctx context.Context, in, out string, opt Options) (*Summary, error) {
	start := time.Now()
	isGGUF := opt.Source == "gguf" || ((opt.Source == "" || opt.Source == "auto") && gguf.IsGGUF(in))
	if st, err := os.Stat(in); err == nil && !st.IsDir() && !isGGUF {
		return nil, fmt.Errorf("input %s is a file; give the model folder that holds config.json and the checkpoint (%s)", in, filepath.Dir(in))
	}
	if err := checkOutput(in, out); err != nil {
		return nil, err
	}
	if opt.DType == "" {
		opt.DType = format.F16
	}
	if opt.DType != format.F16 && opt.DType != format.BF16 && opt.DType != format.F32 {
		return nil, fmt.Errorf("--dtype %s: want f16, bf16 or f32", opt.DType)
	}
	if opt.QuantizeInt8 {
		if opt.Quantize != "" && opt.Quantize != "int8" {
			return nil, fmt.Errorf("--quantize-int8-symmetric conflicts with --quantize %s", opt.Quantize)
		}
		opt.Quantize = "int8"
	}
	switch opt.Quantize {
	case "", "int8", "int4":
	case "mixed":
		opt.QuantizeEmbeddings = true
	default:
		return nil, fmt.Errorf("--quantize %s: want int8, int4 or mixed", opt.Quantize)
	}
	if opt.GroupSize < 0 || (opt.GroupSize > 0 && opt.GroupSize%32 != 0) {
		return nil, fmt.Errorf("--group-size %d: want a multiple of 32, or 0 for one scale per row", opt.GroupSize)
	}
	if opt.QuantizeEmbeddings && opt.Quantize == "" {
		return nil, fmt.Errorf("quantizing embeddings needs --quantize")
	}
	switch opt.QuantizeVision {
	case "", "int8":
	default:
		return nil, fmt.Errorf("--quantize-vision %s: want int8", opt.QuantizeVision)
	}
	if opt.VisionGroupSize < 0 || opt.VisionGroupSize%32 != 0 {
		return nil, fmt.Errorf("vision group size %d: want a multiple of 32, or 0 for one scale per row", opt.VisionGroupSize)
	}
	if opt.QuantizeVision != "" && isGGUF {
		return nil, fmt.Errorf("--quantize-vision: %s is a GGUF file, which holds no vision tower", in)
	}
	if opt.MaxAssetSize == 0 {
		opt.MaxAssetSize = 64 << 20
	}
	if isGGUF {
		return convertGGUF(ctx, in, out, opt, start)
	}
	cfg, err := hf.ReadConfig(in)
	if err != nil {
		return nil, err
	}
	var src checkpointKind
	if opt.Source == "" || opt.Source == "auto" {
		src, err = detect(in)
	} else {
		src, err = lookup(opt.Source)
	}
	if err != nil {
		return nil, err
	}
	kind := src.kind
	set, err := src.open(in)
	if err != nil {
		return nil, err
	}
	defer set.Close()

	names := make([]string, len(set.Tensors))
	for i, t := range set.Tensors {
		names[i] = t.Name
	}
	textPrefix, visionPrefix, projPrefix := hf.TensorPrefixes(names)
	eos, err := hf.EOS(in, cfg)
	if err != nil {
		return nil, err
	}
	h := header(cfg, eos, kind, opt)
	if cfg.Multimodal {
		h.TextTensorPrefix, h.VisionTensorPrefix, h.ProjectorTensorPrefix = textPrefix, visionPrefix, projPrefix
		if visionPrefix == "" || projPrefix == "" {
			return nil, fmt.Errorf("%s: model_type %s but no vision tower / connector tensors found", in, cfg.ModelType)
		}
	}
	if opt.QuantizeVision != "" && !cfg.Multimodal {
		return nil, fmt.Errorf("--quantize-vision: %s (model_type %s) has no vision tower", in, cfg.ModelType)
	}
	if cfg.TextTower {
		h.TextTensorPrefix = textPrefix
		if !strings.Contains(textPrefix, "language_model") {
			return nil, fmt.Errorf("%s: model_type %s but no language_model tensors found", in, cfg.ModelType)
		}
	}
	// ONNX graphs carry constants besides the weights; they are not model tensors.
	graphConstant := func(name string) bool {
		if kind != "onnx" || name == "lm_head.weight" {
			return false
		}
		for _, p := range []string{textPrefix, visionPrefix, projPrefix} {
			if p != "" && strings.HasPrefix(name, p) {
				return false
			}
		}
		return true
	}
	if err := checkTensors(set, cfg, textPrefix, visionPrefix, projPrefix, graphConstant); err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	if err := checkAssets(in, cfg); err != nil {
		return nil, err
	}

	w := format.NewWriter(*h)
	sum := &Summary{Source: kind, PerTensor: map[string]quant.Stats{}}
	for i := range set.Tensors {
		t := &set.Tensors[i]
		if graphConstant(t.Name) {
			sum.Skipped = append(sum.Skipped, t.Name+" (ONNX graph constant)")
			continue
		}
		if !isFloat(t.DType) {
			sum.Skipped = append(sum.Skipped, fmt.Sprintf("%s (%s)", t.Name, t.DType))
			continue
		}
		if cfg.TextTower && !strings.HasPrefix(t.Name, textPrefix) && !strings.HasSuffix(t.Name, "lm_head.weight") {
			sum.Skipped = append(sum.Skipped, t.Name+" (not in the text tower)")
			continue
		}
		if strings.HasSuffix(t.Name, "lm_head.weight") && cfg.Text.TieWordEmbeddings {
			sum.Skipped = append(sum.Skipped, t.Name+" (tied to embed_tokens)")
			continue
		}
		if strings.HasSuffix(t.Name, "rotary_emb.inv_freq") {
			sum.Skipped = append(sum.Skipped, t.Name+" (recomputed at run time)")
			continue
		}
		if opt.Quantize != "" && quantizable(t, textPrefix, opt.QuantizeEmbeddings) {
			load := func() (*source.Tensor, error) { return t, nil }
			if err := addQuantized(w, t.Name, t.Shape, load, quantDType(opt.Quantize, t.Name), opt.GroupSize, sum); err != nil {
				return nil, err
			}
			continue
		}
		if opt.QuantizeVision != "" && visionQuantizable(t, visionPrefix, projPrefix) {
			load := func() (*source.Tensor, error) { return t, nil }
			if err := addQuantized(w, t.Name, t.Shape, load, format.I8, opt.VisionGroupSize, sum); err != nil {
				return nil, err
			}
			continue
		}
		if err := addCast(w, t, opt.DType); err != nil {
			return nil, err
		}
		sum.Tensors++
	}
	if sum.Assets, err = addAssets(w, in, opt.MaxAssetSize); err != nil {
		return nil, err
	}
	return write(ctx, w, out, opt, sum, start)
}

// write writes the file (checked by opt.Verify before it replaces out) and
// completes the summary.
func write(ctx context.Context, w *format.Writer, out string, opt Options, sum *Summary, start time.Time) (*Summary, error) {
	verify := opt.Verify
	if verify != nil {
		verify = func(tmp string) error {
			if err := opt.Verify(tmp); err != nil {
				return fmt.Errorf("the converted model would not run: %w", err)
			}
			return nil
		}
	}
	if err := w.WriteFileContext(ctx, out, format.WriteOptions{Progress: opt.Progress, Verify: verify}); err != nil {
		return nil, fmt.Errorf("writing %s: %w", out, err)
	}
	st, err := os.Stat(out)
	if err != nil {
		return nil, err
	}
	sum.OutputBytes = st.Size()
	sum.Elapsed = time.Since(start)
	return sum, nil
}

func header(cfg *hf.Config, eos []int, kind string, opt Options) *format.Header {
	t := cfg.Text
	h := &format.Header{
		ModelType:             t.ModelType,
		VocabSize:             t.VocabSize,
		HiddenDim:             t.HiddenSize,
		IntermediateSize:      t.IntermediateSize,
		NumLayers:             t.NumHiddenLayers,
		NumHeads:              t.NumAttentionHeads,
		NumKVHeads:            t.NumKeyValueHeads,
		HeadDim:               t.HeadDim,
		RMSNormEps:            t.RMSNormEps,
		RopeTheta:             t.RopeTheta,
		BOSTokenID:            t.BOSTokenID,
		MaxPositionEmbeddings: t.MaxPositionEmbeddings,
		TieWordEmbeddings:     &t.TieWordEmbeddings,
		SourceTorchDType:      cfg.TorchDType,
		SourceArchitectures:   cfg.Architectures,
		SourceModelType:       cfg.ModelType,
	}
	if kind == "safetensors" {
		h.SourceSafetensorsFormat = "pt"
	}
	if t.HiddenAct != "silu" {
		h.HiddenAct = t.HiddenAct
	}
	h.AttentionBias, h.QKNorm, h.SandwichNorms = t.AttentionBias, t.QKNorm, t.SandwichNorms
	h.NormWeightOffset, h.EmbeddingScale, h.QueryPreAttnScalar = t.NormWeightOffset, t.EmbeddingScale, t.QueryPreAttnScalar
	if len(t.LayerTypes) > 0 {
		h.LayerTypes = t.LayerTypes
		h.SlidingWindow = *t.SlidingWindow
		h.RopeLocalBaseFreq = t.RopeLocalBaseFreq
	}
	if rs := t.RopeScaling; rs != nil && rs.Kind() != "" && rs.Kind() != "default" {
		h.RopeScalingType = rs.Kind()
		h.RopeScalingFactor = rs.Factor
		h.RopeScalingLowFreqFactor = rs.LowFreqFactor
		h.RopeScalingHighFreqFactor = rs.HighFreqFactor
		h.RopeScalingOriginalMaxPositions = rs.OriginalMaxPositionEmbeddings
	}
	if len(eos) > 0 {
		h.EOSTokenID = &eos[0]
		if len(eos) > 1 {
			h.EOSTokenIDs = eos
		}
	}
	q := map[string]string{} // source_quantization: the schemes applied
	if opt.Quantize != "" {
		q["scope"] = "text_linear"
		if opt.QuantizeEmbeddings {
			q["scope"] = "text_linear_and_embeddings"
		}
		q["quant_scheme"] = quantScheme(opt.Quantize, opt.GroupSize)
		if opt.Quantize == "mixed" {
			q["quant_scheme"] = "mixed_int8_attention_embeddings_int4_mlp_" + strings.TrimPrefix(q["quant_scheme"], "mixed_symmetric_")
		}
	}
	if opt.QuantizeVision != "" {
		q["vision_quant_scheme"], q["vision_scope"] = quantScheme(opt.QuantizeVision, opt.VisionGroupSize), "vision_linear_and_connector"
	}
	if len(q) > 0 {
		q["scale_dtype"] = "f16"
		h.SourceQuantization, _ = json.Marshal(q)
	}
	h.SourceQuantizationConfig = cfg.QuantizationConfig
	if cfg.Multimodal {
		h.SourceTextConfig = cfg.ResolvedText()
		h.SourceVisionConfig = cfg.ResolvedVision()
		h.SourceProjectorConfig, _ = json.Marshal(map[string]any{"scale_factor": cfg.ScaleFactor,
			"image_token_id": cfg.ImageTokenID, "input_dim": cfg.Vision.HiddenSize * cfg.ScaleFactor * cfg.ScaleFactor,
			"output_dim": t.HiddenSize, "bias": false})
	}
	return h
}

// checkOutput refuses an output path that is a folder, whose folder does not
// exist, or that is the input folder or one of its files (the rename would
// destroy the checkpoint being read).
func checkOutput(in, out string) error {
	if out == "" {
		return errors.New("no output file given")
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return fmt.Errorf("output %s is a folder; give a file name such as %s", out, filepath.Join(out, "model.cellm"))
	}
	dir := filepath.Dir(out)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("output %s: folder %s does not exist", out, dir)
	}
	ost, err := os.Stat(out)
	if err != nil {
		return nil // a new file cannot be one of the inputs
	}
	return filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if st, err := os.Stat(path); err == nil && os.SameFile(st, ost) {
			return fmt.Errorf("output %s is the input file %s; write the .cellm file elsewhere", out, path)
		}
		return nil
	})
}

// checkAssets parses the runtime assets the model folder carries with the
// runtime's own parsers, so an unsupported tokenizer, a broken chat template
// or a bad image processor setting fails before anything is written.
func checkAssets(dir string, cfg *hf.Config) error {
	path := filepath.Join(dir, "tokenizer.json")
	if data, err := os.ReadFile(path); err == nil {
		tok, err := tokenizer.Load(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if tok.VocabSize() > cfg.Text.VocabSize {
			return fmt.Errorf("%s: %d tokens but config.json vocab_size is %d", path, tok.VocabSize(), cfg.Text.VocabSize)
		}
	}
	tc, _ := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	ct, _ := os.ReadFile(filepath.Join(dir, "chat_template.json"))
	if ct == nil {
		ct, _ = os.ReadFile(filepath.Join(dir, "processor_config.json")) // SmolVLM keeps its template there too
	}
	if tc != nil || ct != nil {
		src, _, _, err := chat.FromConfigs(tc, ct)
		if err == nil {
			_, err = chat.Parse(src)
		}
		if err != nil && !errors.Is(err, chat.ErrNoTemplate) {
			return fmt.Errorf("%s: %w", dir, err)
		}
	}
	if !cfg.Multimodal {
		return nil
	}
	path = filepath.Join(dir, "preprocessor_config.json")
	pre, err := os.ReadFile(path)
	if err != nil {
		return nil // text still runs; images say what is missing
	}
	proc, _ := os.ReadFile(filepath.Join(dir, "processor_config.json"))
	// A tile size other than the vision tower's only blocks images, at run time.
	if _, err := imageproc.ParseConfig(pre, proc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

var layerRE = regexp.MustCompile(`^layers\.(\d+)\.`)

// checkTensors verifies the checkpoint has the decoder tensors the config
// promises, with the right shapes, and no tensor the runtime would ignore
// (bias terms, layers beyond num_hidden_layers), so a bad checkpoint fails
// here and not at run time.
func checkTensors(set *source.Set, cfg *hf.Config, prefix, visionPrefix, projPrefix string, ignore func(string) bool) error {
	t := cfg.Text
	want := map[string][]int{
		prefix + "embed_tokens.weight": {t.VocabSize, t.HiddenSize},
		prefix + "norm.weight":         {t.HiddenSize},
	}
	q, kv := t.NumAttentionHeads*t.HeadDim, t.NumKeyValueHeads*t.HeadDim
	for l := 0; l < t.NumHiddenLayers; l++ {
		p := fmt.Sprintf("%slayers.%d.", prefix, l)
		want[p+"self_attn.q_proj.weight"] = []int{q, t.HiddenSize}
		want[p+"self_attn.k_proj.weight"] = []int{kv, t.HiddenSize}
		want[p+"self_attn.v_proj.weight"] = []int{kv, t.HiddenSize}
		want[p+"self_attn.o_proj.weight"] = []int{t.HiddenSize, q}
		want[p+"mlp.gate_proj.weight"] = []int{t.IntermediateSize, t.HiddenSize}
		want[p+"mlp.up_proj.weight"] = []int{t.IntermediateSize, t.HiddenSize}
		want[p+"mlp.down_proj.weight"] = []int{t.HiddenSize, t.IntermediateSize}
		want[p+"input_layernorm.weight"] = []int{t.HiddenSize}
		want[p+"post_attention_layernorm.weight"] = []int{t.HiddenSize}
		if t.AttentionBias {
			want[p+"self_attn.q_proj.bias"] = []int{q}
			want[p+"self_attn.k_proj.bias"] = []int{kv}
			want[p+"self_attn.v_proj.bias"] = []int{kv}
		}
		if t.QKNorm {
			want[p+"self_attn.q_norm.weight"] = []int{t.HeadDim}
			want[p+"self_attn.k_norm.weight"] = []int{t.HeadDim}
		}
		if t.SandwichNorms {
			want[p+"pre_feedforward_layernorm.weight"] = []int{t.HiddenSize}
			want[p+"post_feedforward_layernorm.weight"] = []int{t.HiddenSize}
		}
	}
	if !t.TieWordEmbeddings {
		want["lm_head.weight"] = []int{t.VocabSize, t.HiddenSize}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, name := range keys {
		tn, ok := set.Lookup(name)
		if !ok {
			return fmt.Errorf("tensor %q missing from the checkpoint", name)
		}
		if fmt.Sprint(tn.Shape) != fmt.Sprint(want[name]) {
			return fmt.Errorf("tensor %q: shape %v, config says %v", name, tn.Shape, want[name])
		}
	}
	for _, tn := range set.Tensors {
		name := tn.Name
		switch {
		case want[name] != nil, !isFloat(tn.DType), name == "lm_head.weight", ignore(name),
			strings.HasSuffix(name, "rotary_emb.inv_freq"),
			cfg.Multimodal && (strings.HasPrefix(name, visionPrefix) || strings.HasPrefix(name, projPrefix)),
			cfg.TextTower && !strings.HasPrefix(name, prefix): // the wrapper's other towers, not converted
			continue
		}
		why := "the Llama decoder does not use it"
		if m := layerRE.FindStringSubmatch(strings.TrimPrefix(name, prefix)); m != nil && strings.HasPrefix(name, prefix) {
			if l, _ := strconv.Atoi(m[1]); l >= t.NumHiddenLayers {
				why = fmt.Sprintf("layer %s is beyond config.json num_hidden_layers %d", m[1], t.NumHiddenLayers)
			}
		}
		if strings.HasSuffix(name, ".bias") {
			why = "the Llama decoder has no bias terms"
		}
		return fmt.Errorf("%w: tensor %q: %s (the converted model would silently run without it)", hf.ErrUnsupported, name, why)
	}
	return nil
}

func isFloat(d source.DType) bool {
	return d == source.F32 || d == source.F16 || d == source.BF16 || d == source.F64
}

func quantizable(t *source.Tensor, textPrefix string, embeddings bool) bool {
	if len(t.Shape) != 2 {
		return false
	}
	if strings.HasPrefix(t.Name, textPrefix) && linearRE.MatchString(strings.TrimPrefix(t.Name, textPrefix)) {
		return true
	}
	return embeddings && (t.Name == textPrefix+"embed_tokens.weight" || t.Name == "lm_head.weight")
}

// quantScheme names a symmetric scheme of kind (int8, int4, mixed) with
// group columns per scale (0: one scale per row).
func quantScheme(kind string, group int) string {
	if group > 0 {
		return fmt.Sprintf("%s_symmetric_group%d", kind, group)
	}
	return kind + "_symmetric_per_row"
}

// visionQuantizable reports whether t is a vision encoder projection or
// the connector's projection (the tensors --quantize-vision quantizes).
func visionQuantizable(t *source.Tensor, visionPrefix, projPrefix string) bool {
	if len(t.Shape) != 2 || visionPrefix == "" {
		return false
	}
	if strings.HasPrefix(t.Name, visionPrefix) && visionLinearRE.MatchString(strings.TrimPrefix(t.Name, visionPrefix)) {
		return true
	}
	return projPrefix != "" && t.Name == projPrefix+"modality_projection.proj.weight"
}

// decode converts elements [start, start+len(dst)) of t to float32.
func decode(dst []float32, t *source.Tensor, start int) {
	switch t.DType {
	case source.F32:
		b := t.Data[start*4:]
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
		}
	case source.F16:
		b := t.Data[start*2:]
		for i := range dst {
			dst[i] = half.F16ToF32(binary.LittleEndian.Uint16(b[i*2:]))
		}
	case source.BF16:
		b := t.Data[start*2:]
		for i := range dst {
			dst[i] = half.BF16ToF32(binary.LittleEndian.Uint16(b[i*2:]))
		}
	case source.F64:
		b := t.Data[start*8:]
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[i*8:])))
		}
	}
}

// chunk is the number of elements converted per write.
const chunk = 1 << 20

// parallel runs fn over [0, n) split into one contiguous range per CPU.
func parallel(n int, fn func(lo, hi int)) {
	p := min(runtime.GOMAXPROCS(0), max(1, n/4096))
	if p <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range p {
		lo, hi := i*n/p, (i+1)*n/p
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

func addCast(w *format.Writer, t *source.Tensor, to format.DType) error {
	if same := (t.DType == source.F32 && to == format.F32) || (t.DType == source.F16 && to == format.F16) ||
		(t.DType == source.BF16 && to == format.BF16); same {
		return w.AddTensorBytes(t.Name, to, t.Shape, t.Data)
	}
	return w.AddTensor(t.Name, to, t.Shape, func(out io.Writer) error {
		n := t.NumElements()
		f := make([]float32, min(n, chunk))
		buf := make([]byte, len(f)*to.BlockBytes())
		for s := 0; s < n; s += chunk {
			m := min(chunk, n-s)
			parallel(m, func(lo, hi int) {
				decode(f[lo:hi], t, s+lo)
				switch to {
				case format.F32:
					for i := lo; i < hi; i++ {
						binary.LittleEndian.PutUint32(buf[i*4:], math.Float32bits(f[i]))
					}
				case format.F16:
					for i := lo; i < hi; i++ {
						binary.LittleEndian.PutUint16(buf[i*2:], half.F32ToF16(f[i]))
					}
				case format.BF16:
					for i := lo; i < hi; i++ {
						binary.LittleEndian.PutUint16(buf[i*2:], half.F32ToBF16(f[i]))
					}
				}
			})
			if _, err := out.Write(buf[:m*to.BlockBytes()]); err != nil {
				return err
			}
		}
		return nil
	})
}

// quantDType returns the storage type of the quantizable tensor name
// under the scheme ("int8", "int4" or "mixed": MLP int4, the rest int8).
func quantDType(scheme, name string) format.DType {
	switch {
	case scheme == "int4", scheme == "mixed" && strings.Contains(name, ".mlp."):
		return format.I4
	}
	return format.I8
}

// addQuantized adds the 2-D tensor name as an i8 or i4 tensor plus its f16
// scales, one per group of columns (shape [rows] for one per row, else
// [rows, groups]). Both are computed when the weight is written, from the
// tensor load returns then; the scales are kept for the sibling tensor.
func addQuantized(w *format.Writer, name string, shape []int, load func() (*source.Tensor, error), dt format.DType, groupSize int, sum *Summary) error {
	rows, cols := shape[0], shape[1]
	if dt == format.I4 && cols%2 != 0 {
		return fmt.Errorf("%s: int4 needs an even row length, not %d", name, cols)
	}
	group := quant.GroupFor(cols, groupSize)
	groups := cols / group
	scales := make([]uint16, rows*groups)
	var st quant.Stats
	err := w.AddTensor(name, dt, shape, func(out io.Writer) error {
		t, err := load()
		if err != nil {
			return err
		}
		rowBytes := cols
		if dt == format.I4 {
			rowBytes = cols / 2
		}
		data := make([]byte, rows*rowBytes)
		var mu sync.Mutex
		var qerr error
		parallel(rows, func(lo, hi int) {
			row := make([]float32, cols)
			codes := make([]int8, cols)
			var local quant.Stats
			for r := lo; r < hi; r++ {
				decode(row, t, r*cols)
				sc := scales[r*groups : (r+1)*groups]
				var err error
				if dt == format.I4 {
					err = quant.QuantizeGroupsInt4(data[r*rowBytes:(r+1)*rowBytes], codes, sc, row, group)
				} else {
					codes = unsafe.Slice((*int8)(unsafe.Pointer(&data[r*cols])), cols)
					err = quant.QuantizeGroupsInt8(codes, sc, row, group)
				}
				if err != nil {
					mu.Lock()
					qerr = fmt.Errorf("%s row %d: %w", t.Name, r, err)
					mu.Unlock()
					return
				}
				local.AddGroups(row, codes, sc, group)
			}
			mu.Lock()
			st.Merge(local)
			mu.Unlock()
		})
		if qerr != nil {
			return qerr
		}
		sum.QuantStats.Merge(st)
		sum.PerTensor[name] = st
		_, err = out.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	sum.Quantized++
	sshape := []int{rows}
	if group != cols {
		sshape = []int{rows, groups}
	}
	// Written right after the weight, so the scales are ready by then.
	return w.AddTensor(name+format.QScaleSuffix, format.F16, sshape, func(out io.Writer) error {
		buf := make([]byte, 2*len(scales))
		for i, v := range scales {
			binary.LittleEndian.PutUint16(buf[2*i:], v)
		}
		_, err := out.Write(buf)
		return err
	})
}

func addAssets(w *format.Writer, dir string, maxSize int64) ([]string, error) {
	var added []string
	for _, name := range hf.Assets {
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil {
			continue
		}
		if st.Size() > maxSize {
			return nil, fmt.Errorf("%s: %d bytes, larger than the asset limit of %d", path, st.Size(), maxSize)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(name, ".json") && !json.Valid(data) {
			return nil, fmt.Errorf("%s: not valid JSON", path)
		}
		if err := w.AddAsset(name, data); err != nil {
			return nil, err
		}
		added = append(added, name)
	}
	return added, nil
}
