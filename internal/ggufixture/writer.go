package ggufixture

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/source/safetensors"
)

// KV is one metadata pair for Write. Value is a uint32, float32, bool,
// string, []string, []int32 or []float32.
type KV struct {
	Key   string
	Value any
}

// Tensor is one tensor for Write: GGUF name, ggml type id, dimensions
// (fastest first) and data.
type Tensor struct {
	Name string
	Type uint32
	Dims []uint64
	Data []byte
}

// Write encodes a GGUF v3 file with 32-byte alignment.
func Write(kvs []KV, tensors []Tensor) ([]byte, error) {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	str := func(s string) { w(uint64(len(s))); b.WriteString(s) }
	b.WriteString("GGUF")
	w(uint32(3))
	w(uint64(len(tensors)))
	w(uint64(len(kvs)))
	for _, kv := range kvs {
		str(kv.Key)
		switch v := kv.Value.(type) {
		case uint32:
			w(uint32(4))
			w(v)
		case float32:
			w(uint32(6))
			w(v)
		case bool:
			w(uint32(7))
			w(v)
		case string:
			w(uint32(8))
			str(v)
		case []string:
			w(uint32(9))
			w(uint32(8))
			w(uint64(len(v)))
			for _, s := range v {
				str(s)
			}
		case []int32:
			w(uint32(9))
			w(uint32(5))
			w(uint64(len(v)))
			w(v)
		case []float32:
			w(uint32(9))
			w(uint32(6))
			w(uint64(len(v)))
			w(v)
		default:
			return nil, fmt.Errorf("ggufixture: %s: unsupported value %T", kv.Key, kv.Value)
		}
	}
	var off uint64
	for _, t := range tensors {
		str(t.Name)
		w(uint32(len(t.Dims)))
		w(t.Dims)
		w(t.Type)
		w(off)
		off += (uint64(len(t.Data)) + 31) / 32 * 32
	}
	pad := func() {
		for b.Len()%32 != 0 {
			b.WriteByte(0)
		}
	}
	pad()
	for _, t := range tensors {
		b.Write(t.Data)
		pad()
	}
	return b.Bytes(), nil
}

var layerRE = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)\.(weight|bias)$`)

var ggufLayer = map[string]string{
	"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
	"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
	"self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
	"self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
}

// LlamaFromSafetensors writes a GGUF of the bf16 Llama, Qwen2 or Qwen3
// fixture testdata/<model> laid out as llama.cpp's converter does (names,
// Llama q/k rows permuted, norms and biases widened to f32, Llama 3 rope
// scaling as a rope_freqs tensor), without a
// tokenizer, into dir and returns its path. linear is the type of the
// attention and MLP projections: "BF16", "Q8_0" or "Q4_0" (quantized here,
// round to nearest; the bytes, not their quality, are what tests use); with
// Q8_0 or Q4_0 the embedding is Q8_0, as llama-quantize makes it.
func LlamaFromSafetensors(root, model, dir, linear string) (string, error) {
	src := filepath.Join(root, "testdata", model)
	raw, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		return "", err
	}
	var c struct {
		Arch                                                     string
		Vocab, Hidden, Inter, Layers, Heads, KV, HeadDim, MaxPos int
		Eps, Theta                                               float64
		Scaling                                                  *struct {
			Type string  `json:"rope_type"`
			F    float64 `json:"factor"`
			L    float64 `json:"low_freq_factor"`
			H    float64 `json:"high_freq_factor"`
			Orig float64 `json:"original_max_position_embeddings"`
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	for key, dst := range map[string]any{"vocab_size": &c.Vocab, "hidden_size": &c.Hidden, "intermediate_size": &c.Inter,
		"num_hidden_layers": &c.Layers, "num_attention_heads": &c.Heads, "num_key_value_heads": &c.KV, "head_dim": &c.HeadDim,
		"max_position_embeddings": &c.MaxPos, "rms_norm_eps": &c.Eps, "rope_theta": &c.Theta, "rope_scaling": &c.Scaling,
		"model_type": &c.Arch} {
		if v, ok := m[key]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return "", fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.Hidden / c.Heads
	}
	a := c.Arch + "."
	kvs := []KV{{"general.architecture", c.Arch}, {a + "block_count", uint32(c.Layers)},
		{a + "context_length", uint32(c.MaxPos)}, {a + "embedding_length", uint32(c.Hidden)},
		{a + "feed_forward_length", uint32(c.Inter)}, {a + "attention.head_count", uint32(c.Heads)},
		{a + "attention.head_count_kv", uint32(c.KV)}, {a + "rope.freq_base", float32(c.Theta)},
		{a + "attention.layer_norm_rms_epsilon", float32(c.Eps)}, {a + "attention.key_length", uint32(c.HeadDim)},
		{a + "vocab_size", uint32(c.Vocab)}}
	set, err := safetensors.OpenDir(src)
	if err != nil {
		return "", err
	}
	defer set.Close()
	var tensors []Tensor
	for _, t := range set.Tensors {
		if t.DType != "BF16" {
			return "", fmt.Errorf("ggufixture: %s is %s, want BF16", t.Name, t.DType)
		}
		var name string
		switch {
		case t.Name == "model.embed_tokens.weight":
			name = "token_embd.weight"
		case t.Name == "model.norm.weight":
			name = "output_norm.weight"
		case t.Name == "lm_head.weight":
			name = "output.weight"
		default:
			mm := layerRE.FindStringSubmatch(t.Name)
			if mm == nil || ggufLayer[mm[2]] == "" {
				return "", fmt.Errorf("ggufixture: no GGUF name for %s", t.Name)
			}
			name = "blk." + mm[1] + "." + ggufLayer[mm[2]] + "." + mm[3]
		}
		data := t.Data
		dims := make([]uint64, len(t.Shape))
		for i, d := range t.Shape {
			dims[len(t.Shape)-1-i] = uint64(d)
		}
		typ := uint32(30) // BF16
		switch {
		case c.Arch == "llama" && strings.HasSuffix(name, "attn_q.weight"):
			data = permute(data, t.Shape[0], 2*t.Shape[1], c.Heads)
		case c.Arch == "llama" && strings.HasSuffix(name, "attn_k.weight"):
			data = permute(data, t.Shape[0], 2*t.Shape[1], c.KV)
		case len(t.Shape) == 1:
			typ, data = 0, widen(data)
		}
		if len(t.Shape) == 2 {
			q := linear
			if name == "token_embd.weight" || name == "output.weight" {
				// llama-quantize gives a tied embedding the output type (Q8_0 here).
				q = map[string]string{"Q8_0": "Q8_0", "Q4_0": "Q8_0"}[linear]
				if q == "" {
					q = "BF16"
				}
			}
			switch q {
			case "Q8_0":
				typ, data = 8, quantize(widenF32(data), false)
			case "Q4_0":
				typ, data = 2, quantize(widenF32(data), true)
			case "BF16":
			default:
				return "", fmt.Errorf("ggufixture: linear type %q", linear)
			}
		}
		tensors = append(tensors, Tensor{name, typ, dims, data})
	}
	if s := c.Scaling; s != nil && s.Type == "llama3" {
		tensors = append(tensors, Tensor{"rope_freqs.weight", 0, []uint64{uint64(c.HeadDim / 2)},
			Llama3Factors(c.Theta, c.HeadDim, float32(s.F), float32(s.L), float32(s.H), float32(s.Orig))})
	}
	b, err := Write(kvs, tensors)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, model+"."+linear+".gguf")
	return out, os.WriteFile(out, b, 0o644)
}

// widen converts bf16 data to f32.
func widen(bf []byte) []byte {
	out := make([]byte, 2*len(bf))
	for i := 0; i < len(bf)/2; i++ {
		f := half.BF16ToF32(binary.LittleEndian.Uint16(bf[2*i:]))
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f))
	}
	return out
}

// widenF32 returns bf16 data as float32 values.
func widenF32(bf []byte) []float32 {
	out := make([]float32, len(bf)/2)
	for i := range out {
		out[i] = half.BF16ToF32(binary.LittleEndian.Uint16(bf[2*i:]))
	}
	return out
}

// quantize encodes x (a multiple of 32 values) as Q8_0 blocks, or Q4_0
// blocks with four bits.
func quantize(x []float32, four bool) []byte {
	var out []byte
	for b := 0; b < len(x); b += 32 {
		blk := x[b : b+32]
		var amax, signed float32
		for _, v := range blk {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, signed = a, v
			}
		}
		d := amax / 127
		if four {
			d = signed / -8
		}
		dh := half.F32ToF16(d)
		out = binary.LittleEndian.AppendUint16(out, dh)
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		if !four {
			for _, v := range blk {
				out = append(out, byte(int8(math.Round(float64(v*id)))))
			}
			continue
		}
		var q [32]byte
		for i, v := range blk {
			q[i] = byte(min(15, max(0, int(math.Floor(float64(v*id)+8.5)))))
		}
		for i := 0; i < 16; i++ {
			out = append(out, q[i]|q[i+16]<<4)
		}
	}
	return out
}

// Llama3Factors computes the rope_freqs llama.cpp's converter writes for
// Llama 3 rope scaling, in float32 as it does with torch.
func Llama3Factors(theta float64, dim int, factor, low, high, orig float32) []byte {
	out := make([]byte, 2*dim)
	for i := 0; i < dim/2; i++ {
		freq := float32(1 / float32(math.Pow(theta, float64(float32(2*i)/float32(dim)))))
		wavelen := float32(2*math.Pi) / freq
		v := float32(1)
		switch {
		case wavelen < orig/high:
		case wavelen > orig/low:
			v = factor
		default:
			smooth := (orig/wavelen - low) / (high - low)
			v = 1 / ((1-smooth)/factor + smooth)
		}
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}
