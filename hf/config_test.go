package hf

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseLlamaDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type":"llama","hidden_size":64,"num_attention_heads":4,"intermediate_size":128,
		"num_hidden_layers":2,"vocab_size":100,"eos_token_id":[5,6],"rope_scaling":{"rope_type":"llama3","factor":8,
		"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}}`))
	if err != nil {
		t.Fatal(err)
	}
	x := c.Text
	if x.NumKeyValueHeads != 4 || x.HeadDim != 16 || x.RopeTheta != 10000 || x.RMSNormEps != 1e-6 ||
		x.MaxPositionEmbeddings != 2048 || x.TieWordEmbeddings || *x.BOSTokenID != 1 || len(x.EOSTokenIDs) != 2 {
		t.Errorf("defaults: %+v", x)
	}
	if x.RopeScaling.Kind() != "llama3" || x.RopeScaling.Factor != 8 {
		t.Errorf("rope scaling %+v", x.RopeScaling)
	}
}

func TestParseIdefics3(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type":"idefics3","image_token_id":7,"scale_factor":4,
		"text_config":{"model_type":"llama","hidden_size":32,"num_attention_heads":2,"num_hidden_layers":1,"intermediate_size":8,"vocab_size":10},
		"vision_config":{"hidden_size":16,"num_attention_heads":2,"patch_size":4,"image_size":16}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Multimodal || c.ImageTokenID != 7 || c.ScaleFactor != 4 || c.Vision.NumHiddenLayers != 12 || c.Text.HiddenSize != 32 {
		t.Errorf("config %+v", c)
	}
	if !strings.Contains(string(c.ResolvedVision()), `"layer_norm_eps":0.000001`) {
		t.Errorf("resolved vision %s", c.ResolvedVision())
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"model_type":"gpt2"}`, "supported: llama"},
		{`{"model_type":"idefics3","text_config":{"model_type":"mistral"}}`, `text_config.model_type "mistral"`},
		{`{"model_type":"idefics3"}`, "text_config: missing"},
		{`{"model_type":"llama","num_attention_heads":3,"hidden_size":64}`, "not divisible"},
		{`{"model_type":"llama","num_key_value_heads":3}`, "does not divide"},
		{`{"model_type":"llama","hidden_act":"gelu"}`, `hidden_act "gelu"`},
		{`{"model_type":"llama","rope_scaling":{"type":"yarn"}}`, `rope_scaling type "yarn"`},
		{`{"model_type":"llama","vocab_size":-1}`, "vocab_size"},
		{`{"model_type":"llama","eos_token_id":"x"}`, "eos_token_id"},
		{`not json`, "config JSON"},
		{`{"model_type":"llama","vocab_size":100,"eos_token_id":1000000000}`, "eos_token_id: token id 1000000000 is outside the vocabulary [0, 100)"},
		{`{"model_type":"llama","vocab_size":100,"bos_token_id":-1}`, "bos_token_id"},
		{`{"model_type":"llama","rope_scaling":{"type":"linear","factor":-1}}`, "rope_scaling.factor: -1"},
		{`{"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":4,"high_freq_factor":1,"original_max_position_embeddings":8}}`, "high_freq_factor"},
		{`{"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4}}`, "original_max_position_embeddings"},
		{`{"model_type":"llama","rope_theta":0.5}`, "rope_theta"},
		{`{"model_type":"llama","attention_bias":true}`, "attention_bias"},
		{`{"model_type":"llama","mlp_bias":true}`, "mlp_bias"},
		{`{"model_type":"idefics3","image_token_id":10,"text_config":{"vocab_size":10},"vision_config":{"patch_size":4,"image_size":16}}`, "image_token_id: token id 10"},
		{`{"model_type":"idefics3","image_token_id":1,"scale_factor":0,"text_config":{"vocab_size":10},"vision_config":{"patch_size":4,"image_size":16}}`, "scale_factor: 0"},
		{`{"model_type":"idefics3","image_token_id":1,"scale_factor":3,"text_config":{"vocab_size":10},"vision_config":{"patch_size":4,"image_size":16}}`, "scale_factor: 3"},
		{`{"model_type":"idefics3","image_token_id":1,"text_config":{"vocab_size":10},"vision_config":{"patch_size":0}}`, "vision_config: patch_size: 0"},
		{`{"model_type":"idefics3","image_token_id":1,"text_config":{"vocab_size":10},"vision_config":{"patch_size":5,"image_size":16}}`, "image_size: 16 not a multiple of patch_size 5"},
	} {
		_, err := ParseConfig([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.json, err, c.want)
		}
	}
	if _, err := ParseConfig([]byte(`{"model_type":"bert"}`)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unsupported: %v", err)
	}
}

func TestSupported(t *testing.T) {
	for _, m := range []string{"llama", "idefics3", "smolvlm"} {
		if !Supported(m) {
			t.Errorf("%s unsupported", m)
		}
	}
	for _, m := range []string{"", "gpt2", "LLAMA"} {
		if Supported(m) {
			t.Errorf("%q supported", m)
		}
	}
}

func TestTensorPrefixes(t *testing.T) {
	text, vision, proj := TensorPrefixes([]string{"model.text_model.norm.weight", "model.vision_model.x", "model.connector.y", "lm_head.weight"})
	if text != "model.text_model." || vision != "model.vision_model." || proj != "model.connector." {
		t.Errorf("%q %q %q", text, vision, proj)
	}
	if text, _, _ := TensorPrefixes([]string{"model.norm.weight"}); text != "model." {
		t.Errorf("text prefix %q", text)
	}
}

// TestParseFamilies checks the defaults and resolved options of Qwen2,
// Qwen3 and Gemma 3 configs, and the Gemma 3 wrapper's text tower.
func TestParseFamilies(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type":"qwen2","hidden_size":64,"num_attention_heads":4,"intermediate_size":8,
		"num_hidden_layers":2,"vocab_size":100,"sliding_window":4096,"use_sliding_window":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if x := c.Text; !x.AttentionBias || x.QKNorm || x.BOSTokenID != nil || x.EOSTokenIDs != nil || x.SlidingWindow != nil ||
		x.MaxPositionEmbeddings != 32768 || x.NumKeyValueHeads != 4 {
		t.Errorf("qwen2: %+v", x)
	}
	c, err = ParseConfig([]byte(`{"model_type":"qwen3","hidden_size":64,"num_attention_heads":4,"intermediate_size":8,
		"num_hidden_layers":2,"vocab_size":100}`))
	if err != nil {
		t.Fatal(err)
	}
	if x := c.Text; x.AttentionBias || !x.QKNorm || x.HeadDim != 128 {
		t.Errorf("qwen3: %+v", x)
	}
	c, err = ParseConfig([]byte(`{"model_type":"gemma3_text","hidden_size":64,"num_attention_heads":4,"intermediate_size":8,
		"num_hidden_layers":7,"vocab_size":100,"head_dim":16,"sliding_window":32}`))
	if err != nil {
		t.Fatal(err)
	}
	x := c.Text
	if !x.QKNorm || !x.SandwichNorms || x.NormWeightOffset != 1 || x.EmbeddingScale != 8 || x.HiddenAct != "gelu_pytorch_tanh" ||
		x.QueryPreAttnScalar != 256 || *x.SlidingWindow != 32 || x.RopeLocalBaseFreq != 10000 || !x.TieWordEmbeddings ||
		*x.BOSTokenID != 2 || !slices.Equal(x.EOSTokenIDs, []int{1}) {
		t.Errorf("gemma3_text: %+v", x)
	}
	wantTypes := []string{"sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention",
		"sliding_attention", "full_attention", "sliding_attention"}
	if !slices.Equal(x.LayerTypes, wantTypes) {
		t.Errorf("layer types %v, want %v", x.LayerTypes, wantTypes)
	}
	c, err = ParseConfig([]byte(`{"model_type":"gemma3","eos_token_id":[1,106],"text_config":{"hidden_size":64,
		"num_attention_heads":4,"intermediate_size":8,"num_hidden_layers":2,"vocab_size":200,"head_dim":16,
		"layer_types":["sliding_attention","full_attention"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.TextTower || c.Multimodal || c.Text.ModelType != "gemma3_text" || !slices.Equal(c.Text.EOSTokenIDs, []int{1, 106}) ||
		c.Text.LayerTypes[1] != "full_attention" {
		t.Errorf("gemma3 text tower: %+v", c)
	}
}

// TestParseFamilyErrors: features cellm does not implement are refused by name.
func TestParseFamilyErrors(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"model_type":"qwen2","use_sliding_window":true}`, "use_sliding_window"},
		{`{"model_type":"qwen3","use_sliding_window":true}`, "use_sliding_window"},
		{`{"model_type":"gemma3_text","final_logit_softcapping":30.0}`, "soft-capping"},
		{`{"model_type":"gemma3_text","attn_logit_softcapping":50.0}`, "soft-capping"},
		{`{"model_type":"gemma3_text","rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}}`, "gemma3_text with rope_scaling type llama3"},
		{`{"model_type":"gemma3_text","rope_scaling":{"rope_type":"yarn","factor":8}}`, "yarn"},
		{`{"model_type":"gemma3_text","layer_types":["sliding_attention"]}`, "layer_types"},
		{`{"model_type":"gemma3_text","num_hidden_layers":1,"layer_types":["local"]}`, "layer_types[0]"},
		{`{"model_type":"gemma3_text","sliding_window":null}`, "sliding_window"},
		{`{"model_type":"gemma3_text","query_pre_attn_scalar":0}`, "query_pre_attn_scalar"},
		{`{"model_type":"gemma3_text","hidden_activation":"relu"}`, `hidden_act "relu"`},
		{`{"model_type":"qwen2","mlp_bias":true}`, "mlp_bias"},
		{`{"model_type":"gemma3","text_config":{"model_type":"gemma3_text","attn_logit_softcapping":50.0}}`, "soft-capping"},
	} {
		_, err := ParseConfig([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.json, err, c.want)
		}
	}
}
