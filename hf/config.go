// Package hf reads a Hugging Face model folder's config.json and routes it to
// the architectures cellm runs: Llama-family text models (Llama, Qwen2.5,
// Qwen3, Gemma 3 text) and the Idefics3 / SmolVLM vision-language wrappers
// around a Llama text stack.
package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// TextModelTypes are the text architectures cellm runs, by config model_type.
var TextModelTypes = []string{"llama", "qwen2", "qwen3", "gemma3_text"}

// MultimodalModelTypes are the vision-language wrappers cellm runs.
var MultimodalModelTypes = []string{"idefics3", "smolvlm"}

// TextTowerModelTypes are multimodal wrappers whose text tower cellm runs
// alone (the vision tower and projector are left out on convert).
var TextTowerModelTypes = []string{"gemma3"}

// Supported reports whether cellm runs models whose config.json model_type
// is t (a text architecture, a vision-language wrapper, or a wrapper whose
// text tower cellm runs).
func Supported(t string) bool {
	return contains(TextModelTypes, t) || contains(MultimodalModelTypes, t) || contains(TextTowerModelTypes, t)
}

// SupportedList names every supported model_type, for messages.
func SupportedList() string {
	return strings.Join(append(append(append([]string(nil), TextModelTypes...), MultimodalModelTypes...), TextTowerModelTypes...), ", ")
}

// ErrUnsupported reports a model type cellm does not run.
var ErrUnsupported = errors.New("unsupported model")

// RopeScaling is Hugging Face's rope_scaling setting.
type RopeScaling struct {
	Type                          string  `json:"rope_type"`
	LegacyType                    string  `json:"type"`
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor"`
	HighFreqFactor                float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings"`
}

// Kind returns the scaling type ("default", "linear", "llama3", ...).
func (r *RopeScaling) Kind() string {
	if r == nil {
		return ""
	}
	if r.Type != "" {
		return r.Type
	}
	return r.LegacyType
}

// TextConfig is a Llama-family decoder configuration with the defaults of
// transformers' LlamaConfig applied.
type TextConfig struct {
	ModelType             string       `json:"model_type"`
	VocabSize             int          `json:"vocab_size"`
	HiddenSize            int          `json:"hidden_size"`
	IntermediateSize      int          `json:"intermediate_size"`
	NumHiddenLayers       int          `json:"num_hidden_layers"`
	NumAttentionHeads     int          `json:"num_attention_heads"`
	NumKeyValueHeads      int          `json:"num_key_value_heads"`
	HeadDim               int          `json:"head_dim"`
	HiddenAct             string       `json:"hidden_act"`
	MaxPositionEmbeddings int          `json:"max_position_embeddings"`
	RMSNormEps            float64      `json:"rms_norm_eps"`
	RopeTheta             float64      `json:"rope_theta"`
	RopeScaling           *RopeScaling `json:"rope_scaling"`
	TieWordEmbeddings     bool         `json:"tie_word_embeddings"`
	AttentionBias         bool         `json:"attention_bias"`
	MLPBias               bool         `json:"mlp_bias"`
	BOSTokenID            *int         `json:"-"`
	EOSTokenIDs           []int        `json:"-"`

	// Qwen2 / Qwen3: sliding-window attention (not supported when on).
	UseSlidingWindow bool `json:"use_sliding_window"`
	// Gemma 3 (gemma3_text).
	HiddenActivation      string   `json:"hidden_activation,omitempty"`
	QueryPreAttnScalar    float64  `json:"query_pre_attn_scalar,omitempty"`
	SlidingWindow         *int     `json:"sliding_window"`
	SlidingWindowPattern  int      `json:"sliding_window_pattern,omitempty"`
	LayerTypes            []string `json:"layer_types,omitempty"`
	RopeLocalBaseFreq     float64  `json:"rope_local_base_freq,omitempty"`
	AttnLogitSoftcapping  *float64 `json:"attn_logit_softcapping"`
	FinalLogitSoftcapping *float64 `json:"final_logit_softcapping"`

	// Resolved architecture options (see format.Header), set by ParseConfig
	// from the model type.
	QKNorm           bool    `json:"-"`
	NormWeightOffset float64 `json:"-"`
	SandwichNorms    bool    `json:"-"`
	EmbeddingScale   float64 `json:"-"`
}

// Config is a parsed config.json.
type Config struct {
	ModelType     string
	Architectures []string
	TorchDType    string
	// Text is the decoder: the whole model for text models, text_config for
	// multimodal wrappers.
	Text TextConfig
	// Multimodal is set for vision-language wrappers (idefics3 / smolvlm).
	Multimodal bool
	// TextTower is set for a wrapper of which only the text tower is
	// converted (gemma3): Text is its text_config.
	TextTower bool
	// RawText and RawVision are text_config and vision_config as written.
	RawText, RawVision json.RawMessage
	// Vision is vision_config with the Idefics3VisionConfig defaults applied.
	Vision VisionConfig
	// ImageTokenID and ScaleFactor are the Idefics3 connector settings.
	ImageTokenID int
	ScaleFactor  int
	// QuantizationConfig is the source's quantization_config, if any.
	QuantizationConfig json.RawMessage
}

// VisionConfig is an Idefics3 / SigLIP vision tower configuration.
type VisionConfig struct {
	ModelType         string  `json:"model_type"`
	HiddenSize        int     `json:"hidden_size"`
	IntermediateSize  int     `json:"intermediate_size"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	NumChannels       int     `json:"num_channels"`
	ImageSize         int     `json:"image_size"`
	PatchSize         int     `json:"patch_size"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float64 `json:"layer_norm_eps"`
}

// ReadConfig reads dir/config.json.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses config.json contents and applies transformers' defaults.
func ParseConfig(data []byte) (*Config, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("config JSON: %w", err)
	}
	c := &Config{}
	str := func(key string) string {
		var s string
		json.Unmarshal(top[key], &s)
		return s
	}
	c.ModelType = str("model_type")
	c.TorchDType = str("torch_dtype")
	if c.TorchDType == "" {
		c.TorchDType = str("dtype")
	}
	json.Unmarshal(top["architectures"], &c.Architectures)
	c.QuantizationConfig = top["quantization_config"]
	switch {
	case contains(TextModelTypes, c.ModelType):
		t, err := parseText(data, false)
		if err != nil {
			return nil, err
		}
		c.Text = *t
	case contains(MultimodalModelTypes, c.ModelType):
		c.Multimodal = true
		c.RawText, c.RawVision = top["text_config"], top["vision_config"]
		if len(c.RawText) == 0 {
			return nil, fmt.Errorf("field text_config: missing for model_type %q", c.ModelType)
		}
		var tt struct {
			ModelType string `json:"model_type"`
		}
		if err := json.Unmarshal(c.RawText, &tt); err != nil {
			return nil, fmt.Errorf("field text_config: %w", err)
		}
		if tt.ModelType == "" {
			tt.ModelType = "llama"
		}
		if tt.ModelType != "llama" { // the Idefics3 / SmolVLM runtime wraps a Llama text stack
			return nil, fmt.Errorf("%w: text_config.model_type %q (supported: llama)", ErrUnsupported, tt.ModelType)
		}
		t, err := parseText(c.RawText, true)
		if err != nil {
			return nil, fmt.Errorf("field text_config: %w", err)
		}
		// The wrapper's tie_word_embeddings governs the language model head.
		var tie *bool
		json.Unmarshal(top["tie_word_embeddings"], &tie)
		t.TieWordEmbeddings = tie != nil && *tie
		c.Text = *t
		if err := c.parseVision(); err != nil {
			return nil, err
		}
		c.ImageTokenID = 128257
		c.ScaleFactor = 2
		if v, ok := top["image_token_id"]; ok {
			if err := json.Unmarshal(v, &c.ImageTokenID); err != nil {
				return nil, fmt.Errorf("field image_token_id: %w", err)
			}
		}
		if v, ok := top["scale_factor"]; ok {
			if err := json.Unmarshal(v, &c.ScaleFactor); err != nil {
				return nil, fmt.Errorf("field scale_factor: %w", err)
			}
		}
		if err := CheckTokenIDs("image_token_id", []int{c.ImageTokenID}, c.Text.VocabSize); err != nil {
			return nil, err
		}
		if side := c.Vision.PatchesPerSide(); c.ScaleFactor <= 0 || side%c.ScaleFactor != 0 {
			return nil, fmt.Errorf("field scale_factor: %d must be positive and divide the %d patches per side (vision_config image_size / patch_size)",
				c.ScaleFactor, side)
		}
	case contains(TextTowerModelTypes, c.ModelType):
		c.TextTower = true
		c.RawText = top["text_config"]
		raw := c.RawText
		if len(raw) == 0 {
			raw = []byte(`{}`)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("field text_config: %w", err)
		}
		m["model_type"] = json.RawMessage(`"gemma3_text"`)
		for _, k := range []string{"bos_token_id", "eos_token_id"} { // the wrapper's ids, if text_config has none
			if _, ok := m[k]; !ok && top[k] != nil {
				m[k] = top[k]
			}
		}
		raw, _ = json.Marshal(m)
		t, err := parseText(raw, false)
		if err != nil {
			return nil, fmt.Errorf("field text_config: %w", err)
		}
		c.Text = *t
	default:
		return nil, fmt.Errorf("%w: model_type %q (supported: %s; multimodal: %s; text tower of: %s)", ErrUnsupported, c.ModelType,
			strings.Join(TextModelTypes, ", "), strings.Join(MultimodalModelTypes, ", "), strings.Join(TextTowerModelTypes, ", "))
	}
	return c, nil
}

// textDefaults returns the defaults of transformers' configuration class
// of a text model type, and the bos/eos ids it assumes when config.json has none.
func textDefaults(modelType string) (t *TextConfig, bos, eos []int) {
	switch modelType {
	case "qwen2", "qwen3": // Qwen2Config / Qwen3Config: no bos/eos defaults
		t = &TextConfig{VocabSize: 151936, HiddenSize: 4096, IntermediateSize: 22016, NumHiddenLayers: 32,
			NumAttentionHeads: 32, HiddenAct: "silu", MaxPositionEmbeddings: 32768, RMSNormEps: 1e-6, RopeTheta: 10000}
		if modelType == "qwen3" {
			t.HeadDim = 128
		}
		return t, nil, nil
	case "gemma3_text": // Gemma3TextConfig
		w := 4096
		return &TextConfig{VocabSize: 262208, HiddenSize: 2304, IntermediateSize: 9216, NumHiddenLayers: 26,
			NumAttentionHeads: 8, NumKeyValueHeads: 4, HeadDim: 256, HiddenActivation: "gelu_pytorch_tanh",
			MaxPositionEmbeddings: 131072, RMSNormEps: 1e-6, RopeTheta: 1e6, TieWordEmbeddings: true,
			QueryPreAttnScalar: 256, SlidingWindow: &w, SlidingWindowPattern: 6, RopeLocalBaseFreq: 10000}, []int{2}, []int{1}
	}
	return &TextConfig{VocabSize: 32000, HiddenSize: 4096, IntermediateSize: 11008, NumHiddenLayers: 32,
		NumAttentionHeads: 32, HiddenAct: "silu", MaxPositionEmbeddings: 2048, RMSNormEps: 1e-6, RopeTheta: 10000}, []int{1}, []int{2}
}

func parseText(data []byte, nested bool) (*TextConfig, error) {
	var mt struct {
		ModelType string `json:"model_type"`
	}
	json.Unmarshal(data, &mt)
	if mt.ModelType == "" {
		mt.ModelType = "llama"
	}
	t, defBOS, defEOS := textDefaults(mt.ModelType)
	t.ModelType = mt.ModelType
	if err := json.Unmarshal(data, t); err != nil {
		return nil, fmt.Errorf("config JSON: %w", err)
	}
	var ids struct {
		BOS json.RawMessage `json:"bos_token_id"`
		EOS json.RawMessage `json:"eos_token_id"`
		KV  *int            `json:"num_key_value_heads"`
		Tie *bool           `json:"tie_word_embeddings"`
	}
	json.Unmarshal(data, &ids)
	if ids.KV == nil || *ids.KV == 0 {
		t.NumKeyValueHeads = t.NumAttentionHeads
	}
	if !nested && ids.Tie == nil {
		t.TieWordEmbeddings = t.ModelType == "gemma3_text" // the config class's default
	}
	bos, err := tokenIDs(ids.BOS, defBOS)
	if err != nil {
		return nil, fmt.Errorf("field bos_token_id: %w", err)
	}
	if len(bos) > 0 {
		t.BOSTokenID = &bos[0]
	}
	if t.EOSTokenIDs, err = tokenIDs(ids.EOS, defEOS); err != nil {
		return nil, fmt.Errorf("field eos_token_id: %w", err)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab_size", t.VocabSize}, {"hidden_size", t.HiddenSize}, {"intermediate_size", t.IntermediateSize},
		{"num_hidden_layers", t.NumHiddenLayers}, {"num_attention_heads", t.NumAttentionHeads},
		{"num_key_value_heads", t.NumKeyValueHeads}} {
		if f.v <= 0 || f.v > 1<<24 {
			return nil, fmt.Errorf("field %s: %d out of range", f.name, f.v)
		}
	}
	if t.NumAttentionHeads%t.NumKeyValueHeads != 0 {
		return nil, fmt.Errorf("field num_key_value_heads: %d does not divide num_attention_heads %d", t.NumKeyValueHeads, t.NumAttentionHeads)
	}
	if t.HeadDim == 0 {
		if t.HiddenSize%t.NumAttentionHeads != 0 {
			return nil, fmt.Errorf("field hidden_size: %d not divisible by num_attention_heads %d", t.HiddenSize, t.NumAttentionHeads)
		}
		t.HeadDim = t.HiddenSize / t.NumAttentionHeads
	}
	if t.HeadDim <= 0 || t.HeadDim%2 != 0 || t.HeadDim > 1<<12 {
		return nil, fmt.Errorf("field head_dim: %d (must be even and positive)", t.HeadDim)
	}
	if !(t.RMSNormEps >= 0) || math.IsInf(t.RMSNormEps, 0) {
		return nil, fmt.Errorf("field rms_norm_eps: %v is not a finite number >= 0", t.RMSNormEps)
	}
	if !(t.RopeTheta > 1) || math.IsInf(t.RopeTheta, 0) {
		return nil, fmt.Errorf("field rope_theta: %v must be a finite number > 1", t.RopeTheta)
	}
	if t.MaxPositionEmbeddings < 0 {
		return nil, fmt.Errorf("field max_position_embeddings: %d is negative", t.MaxPositionEmbeddings)
	}
	if err := t.RopeScaling.check(); err != nil {
		return nil, err
	}
	if t.BOSTokenID != nil {
		if err := CheckTokenIDs("bos_token_id", []int{*t.BOSTokenID}, t.VocabSize); err != nil {
			return nil, err
		}
	}
	if err := CheckTokenIDs("eos_token_id", t.EOSTokenIDs, t.VocabSize); err != nil {
		return nil, err
	}
	if err := t.resolveArchitecture(); err != nil {
		return nil, err
	}
	return t, nil
}

// resolveArchitecture sets the architecture options of the model type and
// refuses the features cellm does not implement.
func (t *TextConfig) resolveArchitecture() error {
	switch t.ModelType {
	case "llama":
		if t.AttentionBias {
			return fmt.Errorf("%w: attention_bias true (the Llama decoder has no bias terms)", ErrUnsupported)
		}
	case "qwen2", "qwen3":
		if t.UseSlidingWindow {
			return fmt.Errorf("%w: %s with use_sliding_window true (sliding-window attention is implemented for Gemma 3 only)", ErrUnsupported, t.ModelType)
		}
		t.SlidingWindow = nil // inert without use_sliding_window
		if t.ModelType == "qwen2" {
			t.AttentionBias = true // Qwen2Attention: q/k/v always have biases
		} else {
			t.QKNorm = true
		}
	case "gemma3_text":
		if t.AttnLogitSoftcapping != nil || t.FinalLogitSoftcapping != nil {
			return fmt.Errorf("%w: gemma3_text with logit soft-capping (attn_logit_softcapping / final_logit_softcapping)", ErrUnsupported)
		}
		if t.AttentionBias {
			return fmt.Errorf("%w: gemma3_text with attention_bias true", ErrUnsupported)
		}
		if k := t.RopeScaling.Kind(); k == "llama3" {
			return fmt.Errorf("%w: gemma3_text with rope_scaling type llama3 (supported: default, linear)", ErrUnsupported)
		}
		t.HiddenAct = t.HiddenActivation
		t.QKNorm, t.SandwichNorms, t.NormWeightOffset = true, true, 1
		t.EmbeddingScale = math.Sqrt(float64(t.HiddenSize))
		if !(t.QueryPreAttnScalar > 0) || math.IsInf(t.QueryPreAttnScalar, 0) {
			return fmt.Errorf("field query_pre_attn_scalar: %v must be positive", t.QueryPreAttnScalar)
		}
		if t.SlidingWindow == nil || *t.SlidingWindow <= 0 {
			return fmt.Errorf("field sliding_window: gemma3_text needs a positive window")
		}
		if len(t.LayerTypes) == 0 {
			if t.SlidingWindowPattern <= 0 {
				return fmt.Errorf("field sliding_window_pattern: %d must be positive", t.SlidingWindowPattern)
			}
			for i := range t.NumHiddenLayers {
				kind := "sliding_attention"
				if (i+1)%t.SlidingWindowPattern == 0 {
					kind = "full_attention"
				}
				t.LayerTypes = append(t.LayerTypes, kind)
			}
		}
		if len(t.LayerTypes) != t.NumHiddenLayers {
			return fmt.Errorf("field layer_types: %d entries for %d layers", len(t.LayerTypes), t.NumHiddenLayers)
		}
		for i, k := range t.LayerTypes {
			if k != "sliding_attention" && k != "full_attention" {
				return fmt.Errorf("field layer_types[%d]: %q (want sliding_attention or full_attention)", i, k)
			}
		}
		if !(t.RopeLocalBaseFreq > 1) || math.IsInf(t.RopeLocalBaseFreq, 0) {
			return fmt.Errorf("field rope_local_base_freq: %v must be > 1", t.RopeLocalBaseFreq)
		}
	default:
		return fmt.Errorf("%w: text model_type %q (supported: %s)", ErrUnsupported, t.ModelType, strings.Join(TextModelTypes, ", "))
	}
	if t.HiddenAct != "silu" && t.HiddenAct != "gelu_pytorch_tanh" {
		return fmt.Errorf("%w: hidden_act %q (supported: silu, gelu_pytorch_tanh)", ErrUnsupported, t.HiddenAct)
	}
	if t.MLPBias {
		return fmt.Errorf("%w: mlp_bias true", ErrUnsupported)
	}
	return nil
}

// check verifies the rope_scaling parameters the decoder needs.
func (r *RopeScaling) check() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch k := r.Kind(); k {
	case "", "default":
	case "linear":
		if !(r.Factor > 0) || !finite(r.Factor) {
			return fmt.Errorf("field rope_scaling.factor: %v must be a finite number > 0 for linear scaling", r.Factor)
		}
	case "llama3":
		switch {
		case !(r.Factor > 0) || !finite(r.Factor):
			return fmt.Errorf("field rope_scaling.factor: %v must be a finite number > 0", r.Factor)
		case !(r.LowFreqFactor > 0) || !finite(r.LowFreqFactor):
			return fmt.Errorf("field rope_scaling.low_freq_factor: %v must be a finite number > 0", r.LowFreqFactor)
		case !(r.HighFreqFactor > r.LowFreqFactor) || !finite(r.HighFreqFactor):
			return fmt.Errorf("field rope_scaling.high_freq_factor: %v must be finite and above low_freq_factor %v", r.HighFreqFactor, r.LowFreqFactor)
		case r.OriginalMaxPositionEmbeddings <= 0:
			return fmt.Errorf("field rope_scaling.original_max_position_embeddings: %d must be positive", r.OriginalMaxPositionEmbeddings)
		}
	default:
		return fmt.Errorf("%w: rope_scaling type %q (supported: default, linear, llama3)", ErrUnsupported, k)
	}
	return nil
}

// CheckTokenIDs reports an error naming field if an id is outside [0, vocab).
func CheckTokenIDs(field string, ids []int, vocab int) error {
	for _, id := range ids {
		if id < 0 || id >= vocab {
			return fmt.Errorf("field %s: token id %d is outside the vocabulary [0, %d)", field, id, vocab)
		}
	}
	return nil
}

// tokenIDs accepts a token id given as a number, a list of numbers or null.
func tokenIDs(raw json.RawMessage, def []int) ([]int, error) {
	if len(raw) == 0 {
		return def, nil
	}
	if string(raw) == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want a number or a list of numbers, got %s", raw)
	}
	return many, nil
}

func (c *Config) parseVision() error {
	v, err := ParseVisionConfig(c.RawVision)
	if err != nil {
		return fmt.Errorf("field vision_config: %w", err)
	}
	c.Vision = v
	return nil
}

// ParseVisionConfig reads a vision_config object (empty: all defaults),
// applying the Idefics3VisionConfig defaults, and checks its sizes.
func ParseVisionConfig(raw json.RawMessage) (VisionConfig, error) {
	v := VisionConfig{ModelType: "idefics3_vision", HiddenSize: 1152, IntermediateSize: 3072, NumHiddenLayers: 12,
		NumAttentionHeads: 16, NumChannels: 3, ImageSize: 224, PatchSize: 32, HiddenAct: "gelu_pytorch_tanh",
		LayerNormEps: 1e-6}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			return v, err
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"hidden_size", v.HiddenSize}, {"intermediate_size", v.IntermediateSize}, {"num_hidden_layers", v.NumHiddenLayers},
		{"num_attention_heads", v.NumAttentionHeads}, {"num_channels", v.NumChannels}, {"image_size", v.ImageSize},
		{"patch_size", v.PatchSize}} {
		if f.v <= 0 || f.v > 1<<14 {
			return v, fmt.Errorf("%s: %d out of range [1, %d]", f.name, f.v, 1<<14)
		}
	}
	switch {
	case v.HiddenSize%v.NumAttentionHeads != 0:
		return v, fmt.Errorf("hidden_size: %d not divisible by num_attention_heads %d", v.HiddenSize, v.NumAttentionHeads)
	case v.ImageSize%v.PatchSize != 0:
		return v, fmt.Errorf("image_size: %d not a multiple of patch_size %d", v.ImageSize, v.PatchSize)
	case !(v.LayerNormEps >= 0) || math.IsInf(v.LayerNormEps, 0):
		return v, fmt.Errorf("layer_norm_eps: %v is not a finite number >= 0", v.LayerNormEps)
	}
	return v, nil
}

// PatchesPerSide is ImageSize / PatchSize.
func (v VisionConfig) PatchesPerSide() int { return v.ImageSize / v.PatchSize }

// ResolvedText returns text_config as written merged with the values cellm
// resolved (defaults applied), as JSON.
func (c *Config) ResolvedText() json.RawMessage {
	return merge(c.RawText, c.Text, map[string]any{"bos_token_id": c.Text.BOSTokenID, "eos_token_id": c.Text.EOSTokenIDs})
}

// ResolvedVision returns vision_config merged with its resolved defaults.
func (c *Config) ResolvedVision() json.RawMessage {
	if !c.Multimodal {
		return nil
	}
	return merge(c.RawVision, c.Vision, nil)
}

func merge(raw json.RawMessage, resolved any, extra map[string]any) json.RawMessage {
	var m map[string]any
	if len(raw) > 0 {
		json.Unmarshal(raw, &m)
	}
	if m == nil { // absent, null or not an object
		m = map[string]any{}
	}
	b, _ := json.Marshal(resolved)
	var r map[string]any
	json.Unmarshal(b, &r)
	for k, v := range r {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	out, _ := json.Marshal(m)
	return out
}

// TensorPrefixes finds the text, vision and projector prefixes of a
// checkpoint's tensor names (e.g. "model.text_model.", "model.vision_model.",
// "model.connector."). Text models have text prefix "model.".
func TensorPrefixes(names []string) (text, vision, projector string) {
	count := map[string]int{}
	for _, n := range names {
		for _, p := range []string{"model.text_model.", "model.vision_model.", "model.connector.",
			"language_model.model.", "model.language_model.",
			"text_model.", "vision_model.", "connector.", "model."} {
			if strings.HasPrefix(n, p) {
				count[p]++
				break
			}
		}
	}
	pick := func(cands ...string) string {
		for _, p := range cands {
			if count[p] > 0 {
				return p
			}
		}
		return ""
	}
	text = pick("model.text_model.", "text_model.", "language_model.model.", "model.language_model.", "model.")
	vision = pick("model.vision_model.", "vision_model.")
	projector = pick("model.connector.", "connector.")
	return
}

// Assets are the small files a runtime needs, embedded into .cellm files.
var Assets = []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
	"special_tokens_map.json", "chat_template.json", "chat_template.jinja", "preprocessor_config.json",
	"processor_config.json", "added_tokens.json"}

// EOS returns every end-of-sequence id of the model folder dir: config.json's
// (in c), then generation_config.json's, without repeats.
func EOS(dir string, c *Config) ([]int, error) {
	eos := c.Text.EOSTokenIDs
	path := filepath.Join(dir, "generation_config.json")
	if g, err := os.ReadFile(path); err == nil {
		ids, err := GenerationEOS(g)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := CheckTokenIDs("eos_token_id", ids, c.Text.VocabSize); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		eos = append(append([]int(nil), eos...), ids...)
	}
	return Unique(eos), nil
}

// GenerationEOS returns the eos_token_id list of generation_config.json data.
func GenerationEOS(data []byte) ([]int, error) {
	var g struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, err
	}
	return tokenIDs(g.EOS, nil)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Unique returns the distinct values of ids in first-seen order.
func Unique(ids []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
