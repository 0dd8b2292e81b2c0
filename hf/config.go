// Package hf reads a Hugging Face model folder's config.json and routes it to
// the architectures cellm runs: Llama-family text models and the Idefics3
// (SmolVLM) vision-language wrapper around a Llama text stack.
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
var TextModelTypes = []string{"llama"}

// MultimodalModelTypes are the vision-language wrappers cellm runs.
var MultimodalModelTypes = []string{"idefics3", "smolvlm"}

// Supported reports whether cellm runs models whose config.json model_type
// is t (a text architecture or a vision-language wrapper).
func Supported(t string) bool {
	return contains(TextModelTypes, t) || contains(MultimodalModelTypes, t)
}

// SupportedList names every supported model_type, for messages.
func SupportedList() string {
	return strings.Join(append(append([]string(nil), TextModelTypes...), MultimodalModelTypes...), ", ")
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
		if !contains(TextModelTypes, tt.ModelType) {
			return nil, fmt.Errorf("%w: text_config.model_type %q (supported: %s)", ErrUnsupported, tt.ModelType, strings.Join(TextModelTypes, ", "))
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
	default:
		return nil, fmt.Errorf("%w: model_type %q (supported: %s; multimodal: %s)", ErrUnsupported, c.ModelType,
			strings.Join(TextModelTypes, ", "), strings.Join(MultimodalModelTypes, ", "))
	}
	return c, nil
}

func parseText(data []byte, nested bool) (*TextConfig, error) {
	t := &TextConfig{
		ModelType: "llama", VocabSize: 32000, HiddenSize: 4096, IntermediateSize: 11008, NumHiddenLayers: 32,
		NumAttentionHeads: 32, HiddenAct: "silu", MaxPositionEmbeddings: 2048, RMSNormEps: 1e-6, RopeTheta: 10000,
	}
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
		t.TieWordEmbeddings = false // LlamaConfig default
	}
	bos, err := tokenIDs(ids.BOS, []int{1})
	if err != nil {
		return nil, fmt.Errorf("field bos_token_id: %w", err)
	}
	if len(bos) > 0 {
		t.BOSTokenID = &bos[0]
	}
	if t.EOSTokenIDs, err = tokenIDs(ids.EOS, []int{2}); err != nil {
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
	if t.HiddenAct != "silu" {
		return nil, fmt.Errorf("%w: hidden_act %q (supported: silu)", ErrUnsupported, t.HiddenAct)
	}
	if t.AttentionBias || t.MLPBias {
		return nil, fmt.Errorf("%w: attention_bias / mlp_bias true (the Llama decoder has no bias terms)", ErrUnsupported)
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
	return t, nil
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
	text = pick("model.text_model.", "text_model.", "model.")
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
