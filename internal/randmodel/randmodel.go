// Package randmodel writes Hugging Face model folders with random weights at
// the real shapes of published models (SmolLM2-135M, SmolLM2-360M,
// SmolVLM-256M, SmolVLM2-256M, Qwen2.5-0.5B, Qwen3-0.6B, gemma-3-1b), for speed measurements: speed does not depend on weight
// values. Weights are N(0, 0.02), norm weights ones, biases zeros, stored as
// bf16 like the published checkpoints.
package randmodel

import (
	"embed"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/source"
	"github.com/cellm-ai/cellm-go/source/safetensors"
)

//go:embed configs/*.json
var configs embed.FS

// Models lists the shapes this package can make.
var Models = map[string]struct{ Config, Generation, Preprocessor, Processor string }{
	"smollm2-135m": {Config: "configs/smollm2-135m.json", Generation: "configs/smollm2-generation.json"},
	"smollm2-360m": {Config: "configs/smollm2-360m.json", Generation: "configs/smollm2-generation.json"},
	"smolvlm-256m": {Config: "configs/smolvlm-256m.json", Generation: "configs/smolvlm-generation.json",
		Preprocessor: "configs/smolvlm-preprocessor.json", Processor: "configs/smolvlm-processor.json"},
	// SmolVLM2-256M has SmolVLM-256M's shapes under the smolvlm model types.
	"smolvlm2-256m": {Config: "configs/smolvlm2-256m.json", Generation: "configs/smolvlm-generation.json",
		Preprocessor: "configs/smolvlm-preprocessor.json", Processor: "configs/smolvlm-processor.json"},
	"qwen2.5-0.5b": {Config: "configs/qwen2.5-0.5b.json", Generation: "configs/qwen2.5-generation.json"},
	"qwen3-0.6b":   {Config: "configs/qwen3-0.6b.json", Generation: "configs/qwen3-generation.json"},
	"gemma-3-1b":   {Config: "configs/gemma-3-1b.json", Generation: "configs/gemma3-generation.json"},
}

// Names returns the model names in sorted order.
func Names() []string {
	var n []string
	for k := range Models {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Spec is one tensor to generate.
type Spec struct {
	Name  string
	Shape []int
	Fill  string // "normal", "ones" or "zeros"
}

// Specs lists the tensors of a model with config c, as transformers names them.
func Specs(c *hf.Config) []Spec {
	var s []Spec
	t := c.Text
	prefix := "model."
	if c.Multimodal {
		prefix = "model.text_model."
	}
	add := func(name, fill string, shape ...int) { s = append(s, Spec{name, shape, fill}) }
	add(prefix+"embed_tokens.weight", "normal", t.VocabSize, t.HiddenSize)
	q, kv := t.NumAttentionHeads*t.HeadDim, t.NumKeyValueHeads*t.HeadDim
	norm := "ones"
	if t.NormWeightOffset == 1 {
		norm = "zeros" // Gemma's norms scale by 1 + w
	}
	for l := 0; l < t.NumHiddenLayers; l++ {
		p := fmt.Sprintf("%slayers.%d.", prefix, l)
		add(p+"input_layernorm.weight", norm, t.HiddenSize)
		add(p+"post_attention_layernorm.weight", norm, t.HiddenSize)
		if t.SandwichNorms {
			add(p+"pre_feedforward_layernorm.weight", norm, t.HiddenSize)
			add(p+"post_feedforward_layernorm.weight", norm, t.HiddenSize)
		}
		if t.QKNorm {
			add(p+"self_attn.q_norm.weight", norm, t.HeadDim)
			add(p+"self_attn.k_norm.weight", norm, t.HeadDim)
		}
		if t.AttentionBias {
			add(p+"self_attn.q_proj.bias", "zeros", q)
			add(p+"self_attn.k_proj.bias", "zeros", kv)
			add(p+"self_attn.v_proj.bias", "zeros", kv)
		}
		add(p+"self_attn.q_proj.weight", "normal", q, t.HiddenSize)
		add(p+"self_attn.k_proj.weight", "normal", kv, t.HiddenSize)
		add(p+"self_attn.v_proj.weight", "normal", kv, t.HiddenSize)
		add(p+"self_attn.o_proj.weight", "normal", t.HiddenSize, q)
		add(p+"mlp.gate_proj.weight", "normal", t.IntermediateSize, t.HiddenSize)
		add(p+"mlp.up_proj.weight", "normal", t.IntermediateSize, t.HiddenSize)
		add(p+"mlp.down_proj.weight", "normal", t.HiddenSize, t.IntermediateSize)
	}
	add(prefix+"norm.weight", norm, t.HiddenSize)
	if !t.TieWordEmbeddings {
		add("lm_head.weight", "normal", t.VocabSize, t.HiddenSize)
	}
	if !c.Multimodal {
		return s
	}
	v := c.Vision
	vp := "model.vision_model."
	patches := (v.ImageSize / v.PatchSize) * (v.ImageSize / v.PatchSize)
	add(vp+"embeddings.patch_embedding.weight", "normal", v.HiddenSize, v.NumChannels, v.PatchSize, v.PatchSize)
	add(vp+"embeddings.patch_embedding.bias", "zeros", v.HiddenSize)
	add(vp+"embeddings.position_embedding.weight", "normal", patches, v.HiddenSize)
	for l := 0; l < v.NumHiddenLayers; l++ {
		p := fmt.Sprintf("%sencoder.layers.%d.", vp, l)
		for _, n := range []string{"layer_norm1", "layer_norm2"} {
			add(p+n+".weight", "ones", v.HiddenSize)
			add(p+n+".bias", "zeros", v.HiddenSize)
		}
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			add(p+"self_attn."+n+".weight", "normal", v.HiddenSize, v.HiddenSize)
			add(p+"self_attn."+n+".bias", "zeros", v.HiddenSize)
		}
		add(p+"mlp.fc1.weight", "normal", v.IntermediateSize, v.HiddenSize)
		add(p+"mlp.fc1.bias", "zeros", v.IntermediateSize)
		add(p+"mlp.fc2.weight", "normal", v.HiddenSize, v.IntermediateSize)
		add(p+"mlp.fc2.bias", "zeros", v.HiddenSize)
	}
	add(vp+"post_layernorm.weight", "ones", v.HiddenSize)
	add(vp+"post_layernorm.bias", "zeros", v.HiddenSize)
	add("model.connector.modality_projection.proj.weight", "normal", t.HiddenSize, v.HiddenSize*c.ScaleFactor*c.ScaleFactor)
	return s
}

// Write makes the folder dir for model name with random weights from seed,
// with the genuine config.json, generation_config.json and (SmolVLM) image
// processor configs.
// Files of tokenizerDir (tokenizer.json, tokenizer_config.json, ...), if
// given, are copied in so the folder can be run with a genuine tokenizer.
func Write(dir, name string, seed uint64, tokenizerDir string) error {
	m, ok := Models[name]
	if !ok {
		return fmt.Errorf("unknown model %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	cfgData, err := configs.ReadFile(m.Config)
	if err != nil {
		return err
	}
	gen, err := configs.ReadFile(m.Generation)
	if err != nil {
		return err
	}
	cfg, err := hf.ParseConfig(cfgData)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var tensors []source.Tensor
	for _, s := range Specs(cfg) {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		data := make([]byte, 2*n)
		switch s.Fill {
		case "normal":
			for i := 0; i < n; i++ {
				binary.LittleEndian.PutUint16(data[2*i:], half.F32ToBF16(float32(rng.NormFloat64()*0.02)))
			}
		case "ones":
			for i := 0; i < n; i++ {
				binary.LittleEndian.PutUint16(data[2*i:], 0x3f80)
			}
		}
		tensors = append(tensors, source.Tensor{Name: s.Name, DType: source.BF16, Shape: s.Shape, Data: data})
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), tensors, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfgData, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), gen, 0o644); err != nil {
		return err
	}
	for name, src := range map[string]string{"preprocessor_config.json": m.Preprocessor, "processor_config.json": m.Processor} {
		if src == "" {
			continue
		}
		b, err := configs.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	if tokenizerDir == "" {
		return nil
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
		"chat_template.json", "preprocessor_config.json", "processor_config.json"} {
		b, err := os.ReadFile(filepath.Join(tokenizerDir, f))
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
