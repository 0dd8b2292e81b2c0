// Package llama runs Llama-family decoder-only language models (Llama 2/3,
// SmolLM2, TinyLlama and the text stack of SmolVLM) from a .cellm file.
//
// Load builds a Model whose weight matrices are zero-copy views of the
// memory-mapped file; the Model is immutable and may be shared by any number
// of goroutines. Each sequence being generated owns a State (KV cache,
// scratch buffers, position). Forward appends tokens to a State: a prompt is
// processed in one batched pass (matrix-matrix products and causal
// attention), later tokens one at a time against the KV cache. All numerical
// work goes through package kernels.
//
// The computation follows Hugging Face transformers' LlamaForCausalLM:
// RMSNorm, rotary position embeddings in the rotate-half layout (with the
// default, linear and llama3 rope_scaling variants), grouped-query attention
// and a SwiGLU feed-forward block.
//
// The same decoder runs the Llama variants, selected by header options
// (format.Header) and registered under their model types: Qwen2 (qwen2:
// q/k/v biases), Qwen3 (qwen3: per-head q/k RMSNorm, explicit head_dim) and
// Gemma 3 text (gemma3_text: (1+w) RMSNorms, sandwich norms around both
// blocks, q/k norms, GeGLU with tanh GELU, embeddings scaled by
// sqrt(hidden), query_pre_attn_scalar, and sliding-window layers with their
// own RoPE base beside global ones).
package llama

import (
	"errors"
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/models"
	"github.com/cellm-ai/cellm-go/models/weights"
)

// Config is the architecture of a loaded model, resolved from the .cellm header.
type Config struct {
	Vocab        int     // vocabulary size (rows of the embedding and lm_head)
	Hidden       int     // model width
	Intermediate int     // feed-forward width
	Layers       int     // decoder layers
	Heads        int     // query heads
	KVHeads      int     // key/value heads (Heads is a multiple of KVHeads)
	HeadDim      int     // per-head width (even)
	Eps          float32 // RMSNorm epsilon
	RopeTheta    float64 // RoPE base
	// RopeScaling is "" (none), "linear" or "llama3"; the other Rope fields
	// are its parameters as in Hugging Face rope_scaling.
	RopeScaling              string
	RopeFactor               float64
	RopeLowFreqFactor        float64
	RopeHighFreqFactor       float64
	RopeOriginalMaxPositions int
	// Architecture options (Qwen2, Qwen3, Gemma 3); zero values are Llama's.
	ModelType      string  // the registry key (llama, qwen2, qwen3, gemma3_text, or idefics3's)
	GELU           bool    // GeGLU with tanh GELU instead of SwiGLU
	AttentionBias  bool    // q/k/v projections have biases
	QKNorm         bool    // RMSNorm over each head of q and k before RoPE
	NormOffset     float32 // added to every RMSNorm weight (Gemma: 1)
	SandwichNorms  bool    // post-attention, pre- and post-feed-forward norms (Gemma)
	EmbeddingScale float32 // input embeddings are multiplied by it (1 if unset)
	AttnScale      float32 // attention score scale (1/sqrt(head_dim) if unset)
	// SlidingWindow is the number of keys a query of a sliding layer sees;
	// Sliding[i] marks those layers, whose RoPE base is RopeLocalTheta.
	SlidingWindow  int
	Sliding        []bool
	RopeLocalTheta float64
	MaxPositions   int   // max_position_embeddings (0 if unknown)
	TiedEmbeddings bool  // lm_head shares the embedding matrix
	BOS            int   // beginning-of-sequence id, -1 if none
	EOS            []int // end-of-sequence ids
	// TensorPrefix starts the decoder's tensor names: "model." for Llama,
	// "model.text_model." for the SmolVLM text stack (lm_head.weight has none).
	TensorPrefix              string
	WeightType, EmbeddingType kernels.DType // storage of the projections and of the embedding
	LMHeadType                kernels.DType // storage of the output projection
}

// layer holds the weights of one decoder layer.
type layer struct {
	attnNorm, mlpNorm   []float32
	qBias, kBias, vBias []float32 // AttentionBias (nil otherwise)
	oBias               []float32 // o_proj bias, if the file has one
	qNorm, kNorm        []float32 // QKNorm: head_dim weights
	postAttn, postFF    []float32 // SandwichNorms: norms of the blocks' outputs
	window              int       // sliding window of this layer (0: global)
	q, k, v, o          kernels.Matrix
	gate, up, down      kernels.Matrix
	qkv                 [3]*kernels.Matrix // &q, &k, &v, for fused decode calls
	gateUp              [2]*kernels.Matrix // &gate, &up
}

// Model is a loaded Llama model. It is immutable after Load and safe for
// concurrent use; its weights alias the .cellm file, which must stay open
// while the Model is used.
type Model struct {
	cfg     Config
	embed   kernels.Matrix
	lmHead  kernels.Matrix
	norm    []float32
	layers  []layer
	invFreq []float32 // headDim/2 rotary inverse frequencies (after rope scaling)
	ropeC   ropeCache // cos/sin per position, grown on demand
	// invFreqLocal and ropeLocal are the sliding layers' (RopeLocalTheta, no scaling).
	invFreqLocal []float32
	ropeLocal    ropeCache
	// bf16Prefill and bf16PrefillF16 run long steps' projections of bf16
	// (and f16) weights on bf16 activations; bf16PrefillAllF16 records
	// that f16 weights were asked for whatever their values (see
	// UseBF16Prefill).
	bf16Prefill, bf16PrefillF16, bf16PrefillAllF16 bool
}

// Config returns the model's architecture.
func (m *Model) Config() Config {
	c := m.cfg
	c.EOS = append([]int(nil), m.cfg.EOS...)
	c.Sliding = append([]bool(nil), m.cfg.Sliding...)
	return c
}

// ErrModel is wrapped by every Load error caused by the file's contents.
var ErrModel = errors.New("llama: unusable model")

func modelErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrModel, fmt.Sprintf(format, args...))
}

// ModelTypes are the model types this package registers.
var ModelTypes = []string{"llama", "qwen2", "qwen3", "gemma3_text"}

func init() {
	for _, mt := range ModelTypes {
		models.Register(mt, func(f *format.File, l weights.Loader) (models.Decoder, error) {
			return LoadFrom(f, l)
		})
	}
}

// Load validates the text decoder of f and builds a Model over its tensors.
// Every tensor's presence, dtype and shape is checked; errors name the tensor.
// Load reads only the decoder's tensors; models.Load also checks that the
// file holds nothing else.
func Load(f *format.File) (*Model, error) { return LoadFrom(f, weights.Loader{F: f}) }

// LoadFrom is Load reading the tensors through wl (which may record them).
func LoadFrom(f *format.File, wl weights.Loader) (*Model, error) {
	cfg, err := configFromHeader(&f.Header)
	if err != nil {
		return nil, err
	}
	l := loader{w: wl}
	p := cfg.TensorPrefix
	m := &Model{cfg: cfg}
	if m.embed, err = l.matrix(p+"embed_tokens.weight", cfg.Vocab, cfg.Hidden); err != nil {
		return nil, err
	}
	if m.norm, err = l.vector(p+"norm.weight", cfg.Hidden); err != nil {
		return nil, err
	}
	for j := range m.norm {
		m.norm[j] += cfg.NormOffset
	}
	tied := !f.Has("lm_head.weight")
	if h := f.Header.TieWordEmbeddings; h != nil {
		tied = *h
	}
	if tied {
		m.lmHead = m.embed
	} else if m.lmHead, err = l.matrix("lm_head.weight", cfg.Vocab, cfg.Hidden); err != nil {
		return nil, err
	}
	m.cfg.TiedEmbeddings = tied
	m.cfg.EmbeddingType = m.embed.Type
	m.cfg.LMHeadType = m.lmHead.Type
	q, kv := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	m.layers = make([]layer, cfg.Layers)
	for i := range m.layers {
		ly := &m.layers[i]
		lp := fmt.Sprintf("%slayers.%d.", p, i)
		mats := []struct {
			dst        *kernels.Matrix
			name       string
			rows, cols int
		}{
			{&ly.q, "self_attn.q_proj.weight", q, cfg.Hidden},
			{&ly.k, "self_attn.k_proj.weight", kv, cfg.Hidden},
			{&ly.v, "self_attn.v_proj.weight", kv, cfg.Hidden},
			{&ly.o, "self_attn.o_proj.weight", cfg.Hidden, q},
			{&ly.gate, "mlp.gate_proj.weight", cfg.Intermediate, cfg.Hidden},
			{&ly.up, "mlp.up_proj.weight", cfg.Intermediate, cfg.Hidden},
			{&ly.down, "mlp.down_proj.weight", cfg.Hidden, cfg.Intermediate},
		}
		for _, mt := range mats {
			if *mt.dst, err = l.matrix(lp+mt.name, mt.rows, mt.cols); err != nil {
				return nil, err
			}
			if i == 0 && mt.name == "self_attn.q_proj.weight" {
				m.cfg.WeightType = mt.dst.Type
			}
		}
		if ly.q.Type == ly.k.Type && ly.k.Type == ly.v.Type {
			ly.qkv = [3]*kernels.Matrix{&ly.q, &ly.k, &ly.v}
		}
		if ly.gate.Type == ly.up.Type {
			ly.gateUp = [2]*kernels.Matrix{&ly.gate, &ly.up}
		}
		if err := m.loadLayerOptions(l, ly, lp, i); err != nil {
			return nil, err
		}
	}
	if m.invFreq, err = ropeInvFreq(&m.cfg); err != nil {
		return nil, err
	}
	if len(cfg.Sliding) > 0 {
		local := m.cfg
		local.RopeTheta, local.RopeScaling = cfg.RopeLocalTheta, ""
		if m.invFreqLocal, err = ropeInvFreq(&local); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// vecSpec names one vector tensor of a layer and where it goes.
type vecSpec struct {
	dst  *[]float32
	name string
	n    int
	norm bool // an RMSNorm weight: NormOffset is added
}

// loadLayerOptions reads layer i's norms and the tensors of the
// architecture options.
func (m *Model) loadLayerOptions(l loader, ly *layer, lp string, i int) error {
	cfg := &m.cfg
	h, q, kv := cfg.Hidden, cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	vecs := []vecSpec{{&ly.attnNorm, "input_layernorm.weight", h, true}}
	if cfg.SandwichNorms {
		vecs = append(vecs, vecSpec{&ly.postAttn, "post_attention_layernorm.weight", h, true},
			vecSpec{&ly.mlpNorm, "pre_feedforward_layernorm.weight", h, true},
			vecSpec{&ly.postFF, "post_feedforward_layernorm.weight", h, true})
	} else {
		vecs = append(vecs, vecSpec{&ly.mlpNorm, "post_attention_layernorm.weight", h, true})
	}
	if cfg.AttentionBias {
		vecs = append(vecs, vecSpec{&ly.qBias, "self_attn.q_proj.bias", q, false},
			vecSpec{&ly.kBias, "self_attn.k_proj.bias", kv, false},
			vecSpec{&ly.vBias, "self_attn.v_proj.bias", kv, false})
		if l.w.F.Has(lp + "self_attn.o_proj.bias") { // Llama's attention_bias has one, Qwen2's not
			vecs = append(vecs, vecSpec{&ly.oBias, "self_attn.o_proj.bias", h, false})
		}
	}
	if cfg.QKNorm {
		vecs = append(vecs, vecSpec{&ly.qNorm, "self_attn.q_norm.weight", cfg.HeadDim, true},
			vecSpec{&ly.kNorm, "self_attn.k_norm.weight", cfg.HeadDim, true})
	}
	for _, v := range vecs {
		w, err := l.vector(lp+v.name, v.n)
		if err != nil {
			return err
		}
		if v.norm && cfg.NormOffset != 0 {
			for j := range w {
				w[j] += cfg.NormOffset // in float32, as Gemma's (1 + w)
			}
		}
		*v.dst = w
	}
	if len(cfg.Sliding) > 0 && cfg.Sliding[i] {
		ly.window = cfg.SlidingWindow
	}
	return nil
}

// maxDim bounds every dimension read from a header, so that a hostile
// header cannot make products overflow or request huge allocations.
const maxDim = 1 << 24

func configFromHeader(h *format.Header) (Config, error) {
	c := Config{
		Vocab: h.VocabSize, Hidden: h.HiddenDim, Intermediate: h.IntermediateSize, Layers: h.NumLayers,
		Heads: h.NumHeads, KVHeads: h.NumKVHeads, HeadDim: h.HeadDim, Eps: float32(h.RMSNormEps),
		RopeTheta: h.RopeTheta, RopeScaling: h.RopeScalingType, RopeFactor: h.RopeScalingFactor,
		RopeLowFreqFactor: h.RopeScalingLowFreqFactor, RopeHighFreqFactor: h.RopeScalingHighFreqFactor,
		RopeOriginalMaxPositions: h.RopeScalingOriginalMaxPositions, MaxPositions: h.MaxPositionEmbeddings,
		BOS: -1, EOS: append([]int(nil), h.EOSIDs()...), TensorPrefix: h.TextTensorPrefix,
	}
	if c.TensorPrefix == "" {
		c.TensorPrefix = "model."
	}
	if h.BOSTokenID != nil {
		c.BOS = *h.BOSTokenID
	}
	for _, d := range []struct {
		name string
		v    int
	}{{"vocab_size", c.Vocab}, {"hidden_dim", c.Hidden}, {"intermediate_size", c.Intermediate},
		{"num_layers", c.Layers}, {"num_heads", c.Heads}, {"num_kv_heads", c.KVHeads}} {
		if d.v <= 0 || d.v > maxDim {
			return c, modelErr("header field %s = %d is out of range [1, %d]", d.name, d.v, maxDim)
		}
	}
	if c.Heads%c.KVHeads != 0 {
		return c, modelErr("header field num_heads = %d is not a multiple of num_kv_heads = %d", c.Heads, c.KVHeads)
	}
	if c.HeadDim == 0 {
		if c.Hidden%c.Heads != 0 {
			return c, modelErr("header field hidden_dim = %d is not a multiple of num_heads = %d (and head_dim is unset)", c.Hidden, c.Heads)
		}
		c.HeadDim = c.Hidden / c.Heads
	}
	if c.HeadDim <= 0 || c.HeadDim%2 != 0 || c.HeadDim > maxDim || c.Heads*c.HeadDim > maxDim {
		return c, modelErr("header field head_dim = %d must be even and positive (num_heads %d)", c.HeadDim, c.Heads)
	}
	if !(h.RMSNormEps >= 0) || math.IsInf(h.RMSNormEps, 0) {
		return c, modelErr("header field rms_norm_eps = %v is invalid", h.RMSNormEps)
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if !(c.RopeTheta > 1) || math.IsInf(c.RopeTheta, 0) {
		return c, modelErr("header field rope_theta = %v must be > 1", h.RopeTheta)
	}
	if c.MaxPositions < 0 {
		return c, modelErr("header field max_position_embeddings = %d is negative", c.MaxPositions)
	}
	for _, id := range c.EOS {
		if id < 0 || id >= c.Vocab {
			return c, modelErr("header field eos_token_id %d is outside the vocabulary [0, %d)", id, c.Vocab)
		}
	}
	return c, archOptions(&c, h)
}

// archOptions resolves the architecture options of the header into c.
func archOptions(c *Config, h *format.Header) error {
	c.ModelType = models.Architecture(h)
	switch h.HiddenAct {
	case "", "silu":
	case "gelu_pytorch_tanh":
		c.GELU = true
	default:
		return modelErr("header field hidden_act %q is not supported (want silu or gelu_pytorch_tanh)", h.HiddenAct)
	}
	c.AttentionBias, c.QKNorm, c.SandwichNorms = h.AttentionBias, h.QKNorm, h.SandwichNorms
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if !finite(h.NormWeightOffset) || !finite(h.EmbeddingScale) || h.EmbeddingScale < 0 {
		return modelErr("header fields norm_weight_offset = %v, embedding_scale = %v are invalid", h.NormWeightOffset, h.EmbeddingScale)
	}
	c.NormOffset = float32(h.NormWeightOffset)
	c.EmbeddingScale = 1
	if h.EmbeddingScale != 0 {
		c.EmbeddingScale = float32(h.EmbeddingScale)
	}
	if math.IsInf(float64(c.NormOffset), 0) || math.IsInf(float64(c.EmbeddingScale), 0) {
		return modelErr("header fields norm_weight_offset = %v, embedding_scale = %v are out of float32 range", h.NormWeightOffset, h.EmbeddingScale)
	}
	c.AttnScale = float32(1 / math.Sqrt(float64(c.HeadDim)))
	if s := h.QueryPreAttnScalar; s != 0 {
		if !(s > 0) || !finite(s) {
			return modelErr("header field query_pre_attn_scalar = %v must be positive", s)
		}
		c.AttnScale = float32(math.Pow(s, -0.5))
		if !(c.AttnScale > 0) || math.IsInf(float64(c.AttnScale), 0) {
			return modelErr("header field query_pre_attn_scalar = %v is out of float32 range", s)
		}
	}
	if len(h.LayerTypes) == 0 {
		if h.SlidingWindow != 0 || h.RopeLocalBaseFreq != 0 {
			return modelErr("header fields sliding_window / rope_local_base_freq are set without layer_types")
		}
		return nil
	}
	if len(h.LayerTypes) != c.Layers {
		return modelErr("header field layer_types has %d entries for %d layers", len(h.LayerTypes), c.Layers)
	}
	c.Sliding = make([]bool, c.Layers)
	for i, t := range h.LayerTypes {
		switch t {
		case "full_attention":
		case "sliding_attention":
			c.Sliding[i] = true
		default:
			return modelErr("header field layer_types[%d] = %q (want sliding_attention or full_attention)", i, t)
		}
	}
	if h.SlidingWindow <= 0 || h.SlidingWindow > maxDim {
		return modelErr("header field sliding_window = %d must be in [1, %d] with layer_types", h.SlidingWindow, maxDim)
	}
	c.SlidingWindow = h.SlidingWindow
	c.RopeLocalTheta = h.RopeLocalBaseFreq
	if c.RopeLocalTheta == 0 {
		c.RopeLocalTheta = c.RopeTheta
	}
	if !(c.RopeLocalTheta > 1) || !finite(c.RopeLocalTheta) {
		return modelErr("header field rope_local_base_freq = %v must be > 1", h.RopeLocalBaseFreq)
	}
	return nil
}

// loader reads tensors through models/weights, marking its errors as ErrModel.
type loader struct{ w weights.Loader }

func (l loader) matrix(name string, rows, cols int) (kernels.Matrix, error) {
	m, err := l.w.Matrix(name, rows, cols)
	return m, asModelErr(err)
}

func (l loader) vector(name string, n int) ([]float32, error) {
	v, err := l.w.Floats(name, n)
	return v, asModelErr(err)
}

func asModelErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrModel, err)
}

// ropeInvFreq computes the rotary inverse frequencies as transformers does
// (float32 inv_freq = 1/theta^(2i/d), then the rope_scaling adjustment).
func ropeInvFreq(c *Config) ([]float32, error) {
	half := c.HeadDim / 2
	inv := make([]float32, half)
	for i := range inv {
		// torch: base ** (arange(0, dim, 2).float() / dim), in float32.
		e := float32(2*i) / float32(c.HeadDim)
		inv[i] = float32(1 / float32(math.Pow(c.RopeTheta, float64(e))))
	}
	switch c.RopeScaling {
	case "", "default":
		c.RopeScaling = ""
	case "linear":
		if !(c.RopeFactor > 0) || math.IsInf(c.RopeFactor, 0) {
			return nil, modelErr("header field rope_scaling_factor = %v must be positive for linear scaling", c.RopeFactor)
		}
		for i := range inv {
			inv[i] = float32(float64(inv[i]) / c.RopeFactor)
		}
	case "llama3":
		f, lo, hi, old := c.RopeFactor, c.RopeLowFreqFactor, c.RopeHighFreqFactor, float64(c.RopeOriginalMaxPositions)
		if !(f > 0) || !(lo > 0) || !(hi > lo) || !(old > 0) || math.IsInf(f+hi+old, 0) {
			return nil, modelErr("llama3 rope scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0 (got %v, %v, %v, %v)",
				f, lo, hi, old)
		}
		lowWavelen, highWavelen := old/lo, old/hi
		for i, v := range inv {
			wavelen := 2 * math.Pi / float64(v)
			x := float64(v)
			switch {
			case wavelen > lowWavelen:
				x /= f
			case wavelen >= highWavelen: // medium band: smooth between the two
				s := (old/wavelen - lo) / (hi - lo)
				x = (1-s)*x/f + s*x
			}
			inv[i] = float32(x)
		}
	default:
		return nil, modelErr("header field rope_scaling_type %q is not supported (want default, linear or llama3)", c.RopeScaling)
	}
	return inv, nil
}

// Embed writes the input embeddings of tokens into dst (len(tokens)*Hidden).
func (m *Model) Embed(dst []float32, tokens []int) error {
	h := m.cfg.Hidden
	if len(dst) != len(tokens)*h {
		return fmt.Errorf("llama: Embed: len(dst) = %d, want %d tokens x %d", len(dst), len(tokens), h)
	}
	if err := m.checkTokens(tokens); err != nil {
		return err
	}
	for i, t := range tokens {
		m.embedRow(dst[i*h:(i+1)*h], t)
	}
	return nil
}

func (m *Model) checkTokens(tokens []int) error {
	for i, t := range tokens {
		if t < 0 || t >= m.cfg.Vocab {
			return fmt.Errorf("llama: token %d (at index %d) is outside the vocabulary [0, %d)", t, i, m.cfg.Vocab)
		}
	}
	return nil
}

func (m *Model) embedRow(dst []float32, t int) {
	m.embed.Row(dst, t)
	if s := m.cfg.EmbeddingScale; s != 1 {
		kernels.Scale(dst, s)
	}
}
