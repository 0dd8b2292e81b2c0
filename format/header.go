package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// TensorInfo locates one tensor in the file.
type TensorInfo struct {
	Name        string `json:"name"`
	DType       DType  `json:"dtype"`
	Shape       []int  `json:"shape"`
	OffsetBytes int64  `json:"offset_bytes"`
	NBytes      int64  `json:"nbytes"`
}

// AssetInfo locates one embedded file (tokenizer.json, chat_template.json, ...).
// Assets are a cellm-go extension; readers that do not know the "assets" key
// (such as the original Rust cellm) ignore it.
type AssetInfo struct {
	Name        string `json:"name"`
	OffsetBytes int64  `json:"offset_bytes"`
	NBytes      int64  `json:"nbytes"`
}

// Header is the JSON header of a .cellm file. Field names match the original
// Rust cellm, so files load in both directions. Keys this version does not
// know are kept in Extra and written back on rewrite.
type Header struct {
	ModelType               string `json:"model_type"`
	SourceModelType         string `json:"source_model_type,omitempty"`
	SourceSafetensorsFormat string `json:"source_safetensors_format,omitempty"`
	TextTensorPrefix        string `json:"text_tensor_prefix,omitempty"`
	VisionTensorPrefix      string `json:"vision_tensor_prefix,omitempty"`
	ProjectorTensorPrefix   string `json:"projector_tensor_prefix,omitempty"`

	VocabSize             int     `json:"vocab_size"`
	HiddenDim             int     `json:"hidden_dim"`
	IntermediateSize      int     `json:"intermediate_size"`
	NumLayers             int     `json:"num_layers"`
	NumHeads              int     `json:"num_heads"`
	NumKVHeads            int     `json:"num_kv_heads"`
	HeadDim               int     `json:"head_dim,omitempty"`
	RMSNormEps            float64 `json:"rms_norm_eps"`
	RopeTheta             float64 `json:"rope_theta"`
	BOSTokenID            *int    `json:"bos_token_id,omitempty"`
	EOSTokenID            *int    `json:"eos_token_id,omitempty"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings,omitempty"`
	TieWordEmbeddings     *bool   `json:"tie_word_embeddings,omitempty"`

	// EOSTokenIDs lists every end-of-sequence id when the model has several
	// (EOSTokenID holds the first, for readers that expect one).
	EOSTokenIDs []int `json:"eos_token_ids,omitempty"`

	// RoPE scaling (Hugging Face rope_scaling), flattened as the Rust cellm does.
	RopeScalingType                 string  `json:"rope_scaling_type,omitempty"`
	RopeScalingFactor               float64 `json:"rope_scaling_factor,omitempty"`
	RopeScalingOriginalMaxPositions int     `json:"rope_scaling_original_max_position_embeddings,omitempty"`
	RopeScalingLowFreqFactor        float64 `json:"rope_scaling_low_freq_factor,omitempty"`
	RopeScalingHighFreqFactor       float64 `json:"rope_scaling_high_freq_factor,omitempty"`

	// Architecture options beyond Llama (absent: the Llama behaviour).
	// HiddenAct is the gated feed-forward activation: "silu" (SwiGLU,
	// default) or "gelu_pytorch_tanh" (GeGLU, Gemma).
	HiddenAct string `json:"hidden_act,omitempty"`
	// AttentionBias: q_proj, k_proj and v_proj have biases (Qwen2; o_proj's
	// is read when present).
	AttentionBias bool `json:"attention_bias,omitempty"`
	// QKNorm: an RMSNorm of head_dim weights on each head of q and k after
	// the projection, before RoPE (Qwen3, Gemma 3).
	QKNorm bool `json:"qk_norm,omitempty"`
	// NormWeightOffset is added to every RMSNorm weight: Gemma's norms
	// compute x * (1 + w), so Gemma files carry 1.
	NormWeightOffset float64 `json:"norm_weight_offset,omitempty"`
	// SandwichNorms: every block's output is normalized before the residual
	// add, and the feed-forward input has its own norm (Gemma 2/3:
	// post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm).
	SandwichNorms bool `json:"sandwich_norms,omitempty"`
	// EmbeddingScale multiplies the input embeddings (Gemma: sqrt(hidden)); 0 means 1.
	EmbeddingScale float64 `json:"embedding_scale,omitempty"`
	// QueryPreAttnScalar sets the attention scale to its -1/2 power instead of
	// head_dim's (Gemma); 0 means head_dim.
	QueryPreAttnScalar float64 `json:"query_pre_attn_scalar,omitempty"`
	// SlidingWindow is the number of keys (including its own) a query of a
	// sliding layer sees; LayerTypes names each layer's kind,
	// "sliding_attention" or "full_attention" (empty: all full).
	SlidingWindow int      `json:"sliding_window,omitempty"`
	LayerTypes    []string `json:"layer_types,omitempty"`
	// RopeLocalBaseFreq is the RoPE base of sliding layers (Gemma 3); 0 means rope_theta.
	RopeLocalBaseFreq float64 `json:"rope_local_base_freq,omitempty"`

	SourceTorchDType         string          `json:"source_torch_dtype,omitempty"`
	SourceArchitectures      []string        `json:"source_architectures,omitempty"`
	SourceQuantization       json.RawMessage `json:"source_quantization,omitempty"`
	SourceQuantizationConfig json.RawMessage `json:"source_quantization_config,omitempty"`
	SourceTextConfig         json.RawMessage `json:"source_text_config,omitempty"`
	SourceVisionConfig       json.RawMessage `json:"source_vision_config,omitempty"`
	SourceProjectorConfig    json.RawMessage `json:"source_projector_config,omitempty"`

	Tensors []TensorInfo `json:"tensors"`
	Assets  []AssetInfo  `json:"assets,omitempty"`

	// Extra holds header keys this version does not know, preserved on rewrite.
	Extra map[string]json.RawMessage `json:"-"`
}

// EOSIDs returns every end-of-sequence id the header names.
func (h *Header) EOSIDs() []int {
	if len(h.EOSTokenIDs) > 0 {
		return h.EOSTokenIDs
	}
	if h.EOSTokenID != nil {
		return []int{*h.EOSTokenID}
	}
	return nil
}

// headerFields is Header without its methods, so encoding/json can be used on it.
type headerFields Header

// knownKeys are the JSON keys that map to Header fields.
var knownKeys = func() map[string]bool {
	b, _ := json.Marshal(headerFields{})
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	keys := map[string]bool{}
	for k := range m {
		keys[k] = true
	}
	for _, k := range []string{"source_model_type", "source_safetensors_format", "text_tensor_prefix",
		"vision_tensor_prefix", "projector_tensor_prefix", "head_dim", "bos_token_id", "eos_token_id",
		"max_position_embeddings", "tie_word_embeddings", "eos_token_ids", "rope_scaling_type",
		"rope_scaling_factor", "rope_scaling_original_max_position_embeddings",
		"rope_scaling_low_freq_factor", "rope_scaling_high_freq_factor", "source_torch_dtype",
		"source_architectures", "source_quantization", "source_quantization_config",
		"source_text_config", "source_vision_config", "source_projector_config", "assets",
		"hidden_act", "attention_bias", "qk_norm", "norm_weight_offset", "sandwich_norms", "embedding_scale",
		"query_pre_attn_scalar", "sliding_window", "layer_types", "rope_local_base_freq"} {
		keys[k] = true
	}
	return keys
}()

// UnmarshalJSON decodes a header, keeping unknown keys in Extra. It accepts
// eos_token_id as a number or a list, and nulls for optional fields.
func (h *Header) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	var eos json.RawMessage
	if v, ok := raw["eos_token_id"]; ok && len(v) > 0 && v[0] == '[' {
		eos = v
		delete(raw, "eos_token_id")
	}
	for _, k := range []string{"source_quantization", "source_quantization_config", "source_text_config",
		"source_vision_config", "source_projector_config"} {
		if bytes.Equal(raw[k], []byte("null")) {
			delete(raw, k)
		}
	}
	trimmed, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	var f headerFields
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&f); err != nil {
		return err
	}
	if eos != nil {
		var ids []int
		if err := json.Unmarshal(eos, &ids); err != nil {
			return fmt.Errorf("field eos_token_id: %w", err)
		}
		if len(ids) > 0 {
			first := ids[0]
			f.EOSTokenID = &first
			if len(f.EOSTokenIDs) == 0 {
				f.EOSTokenIDs = ids
			}
		}
	}
	for k, v := range raw {
		if !knownKeys[k] {
			if f.Extra == nil {
				f.Extra = map[string]json.RawMessage{}
			}
			f.Extra[k] = v
		}
	}
	*h = Header(f)
	return nil
}

// MarshalJSON encodes the header with its Extra keys, keys in sorted order.
func (h Header) MarshalJSON() ([]byte, error) {
	f := headerFields(h)
	if f.Tensors == nil {
		f.Tensors = []TensorInfo{}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	if len(h.Extra) == 0 {
		return b, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(h.Extra))
	for k := range h.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := m[k]; !ok && !knownKeys[k] {
			m[k] = h.Extra[k]
		}
	}
	return json.Marshal(m)
}
