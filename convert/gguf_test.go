package convert

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/internal/ggufixture"
	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/source/gguf"
	"github.com/cellm-ai/cellm-go/tokenizer"
)

func llamaTinyGGUF(t *testing.T) string {
	t.Helper()
	p, err := ggufixture.LlamaTinyBF16(testutil.RepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func convertTo(t *testing.T, in string, opt Options) (*format.File, *Summary) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.cellm")
	sum, err := Convert(in, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	f, err := format.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, sum
}

// TestGGUFMatchesSafetensors converts llama.cpp's bf16 GGUF of llama-tiny
// and the safetensors it was made from: every tensor must be byte-identical
// at every dtype (the q/k un-permutation included), and the header the same.
func TestGGUFMatchesSafetensors(t *testing.T) {
	in := llamaTinyGGUF(t)
	for _, dt := range []format.DType{format.F32, format.BF16, format.F16} {
		t.Run(string(dt), func(t *testing.T) {
			got, sum := convertTo(t, in, Options{DType: dt})
			want, _, _ := convertFixture(t, "llama-tiny", Options{DType: dt})
			if sum.Source != "gguf" || sum.Tensors != len(want.Header.Tensors) {
				t.Fatalf("source %s, %d tensors, want gguf and %d (skipped %v)", sum.Source, sum.Tensors, len(want.Header.Tensors), sum.Skipped)
			}
			for _, ti := range want.Header.Tensors {
				a, err := got.Tensor(ti.Name)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := want.Tensor(ti.Name)
				if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || string(a.Data) != string(b.Data) {
					t.Fatalf("%s: %s %v differs from the safetensors conversion (%s %v)", ti.Name, a.DType, a.Shape, b.DType, b.Shape)
				}
			}
			gh, wh := got.Header, want.Header
			type hp struct {
				V, H, I, L, NH, NKV, HD, Max int
				Eps, Theta                   float64
				Tie                          bool
				BOS, EOS                     int
			}
			pick := func(h format.Header) hp {
				return hp{h.VocabSize, h.HiddenDim, h.IntermediateSize, h.NumLayers, h.NumHeads, h.NumKVHeads, h.HeadDim,
					h.MaxPositionEmbeddings, h.RMSNormEps, h.RopeTheta, *h.TieWordEmbeddings, *h.BOSTokenID, *h.EOSTokenID}
			}
			if pick(gh) != pick(wh) {
				t.Errorf("header %+v, safetensors conversion %+v", pick(gh), pick(wh))
			}
			for _, a := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"} {
				if _, ok := got.Asset(a); !ok {
					t.Errorf("asset %s missing", a)
				}
			}
		})
	}
}

// TestGGUFTokenizer checks the tokenizer rebuilt from tokenizer.ggml.* (the
// genuine SmolLM2 vocabulary) against the reference ids of SmolLM2's
// tokenizer.json, and the embedded chat template and special tokens.
func TestGGUFTokenizer(t *testing.T) {
	f, _ := convertTo(t, llamaTinyGGUF(t), Options{DType: format.BF16})
	tj, _ := f.Asset("tokenizer.json")
	tk, err := tokenizer.Load(tj)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "tokenizer", "testdata", "SmolLM2-135M-Instruct.cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			ID      string `json:"id"`
			Text    string `json:"text"`
			IDs     []int  `json:"ids_add_special_true"`
			Plain   []int  `json:"ids_add_special_false"`
			Decoded string `json:"decode_ids_add_special_false"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 60 {
		t.Fatalf("only %d cases", len(ref.Cases))
	}
	for _, c := range ref.Cases {
		ids, err := tk.Encode(c.Text, true)
		if err != nil || !slices.Equal(ids, c.IDs) {
			t.Fatalf("%s: ids %v (%v), want %v", c.ID, ids, err, c.IDs)
		}
		plain, _ := tk.Encode(c.Text, false)
		if !slices.Equal(plain, c.Plain) {
			t.Fatalf("%s: ids without specials %v, want %v", c.ID, plain, c.Plain)
		}
		if s, err := tk.Decode(c.Plain, false); err != nil || s != c.Decoded {
			t.Fatalf("%s: decode %q (%v), want %q", c.ID, s, err, c.Decoded)
		}
	}
	g, err := gguf.Open(llamaTinyGGUF(t))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tmpl, _, _ := g.String("tokenizer.chat_template")
	var tc struct {
		ChatTemplate string `json:"chat_template"`
		BOS          string `json:"bos_token"`
		EOS          string `json:"eos_token"`
		AddBOS       bool   `json:"add_bos_token"`
	}
	raw, _ = f.Asset("tokenizer_config.json")
	if err := json.Unmarshal(raw, &tc); err != nil {
		t.Fatal(err)
	}
	if tmpl == "" || tc.ChatTemplate != tmpl || tc.BOS != "<|im_start|>" || tc.EOS != "<|im_end|>" || tc.AddBOS {
		t.Errorf("tokenizer_config: bos %q eos %q add_bos %v, template equal %v", tc.BOS, tc.EOS, tc.AddBOS, tc.ChatTemplate == tmpl)
	}
}

type ggufRef struct {
	Tensors []struct {
		Name          string `json:"name"`
		Type          string `json:"type"`
		HFName        string `json:"hf_name"`
		SHA256Dequant string `json:"sha256_dequant_f32le"`
		SHA256HF      string `json:"sha256_hf_f32le"`
	} `json:"tensors"`
}

// TestGGUFQuantizedF32 imports the quantized llama.cpp files with --dtype
// f32: every tensor must equal gguf-py's dequantization (in Hugging Face
// layout) bit for bit.
func TestGGUFQuantizedF32(t *testing.T) {
	for _, name := range []string{"kquant-tiny.quantize-Q4_K_M", "qwen2-tiny.convert-q8_0", "qwen2-tiny.quantize-Q4_0"} {
		t.Run(name, func(t *testing.T) { checkQuantizedF32(t, name) })
	}
}

func checkQuantizedF32(t *testing.T, name string) {
	dir := filepath.Join(testutil.RepoRoot(t), "source", "gguf", "testdata")
	f, sum := convertTo(t, filepath.Join(dir, name+".gguf"), Options{DType: format.F32})
	raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref ggufRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, rt := range ref.Tensors {
		ct, err := f.Tensor(rt.HFName)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(ct.Data); i += 4 {
			if v := math.Float32frombits(binary.LittleEndian.Uint32(ct.Data[i:])); math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: element %d is %v", rt.HFName, i/4, v)
			}
		}
		want := rt.SHA256Dequant
		if rt.SHA256HF != "" {
			want = rt.SHA256HF
		}
		s := sha256.Sum256(ct.Data)
		if ct.DType != format.F32 || hex.EncodeToString(s[:]) != want {
			t.Errorf("%s (%s from %s): differs from gguf-py's dequantization", rt.HFName, ct.DType, rt.Type)
		}
		types[rt.Type] = true
	}
	if len(types) < 2 || len(sum.Notes) == 0 {
		t.Fatalf("fixture types %v, notes %q", types, sum.Notes)
	}
	for ty := range types {
		if ty != "F32" && !strings.Contains(strings.Join(sum.Notes, "\n"), ty+" -> f32") {
			t.Errorf("summary notes %q say nothing of %s", sum.Notes, ty)
		}
	}
	// Default (f16): Q8_0 / Q4_0 matrices become grouped i8 / i4 whose
	// codes * scales are the f32 values exactly; the rest are those values
	// rounded to f16.
	f16, _ := convertTo(t, filepath.Join(dir, name+".gguf"), Options{DType: format.F16})
	grouped := 0
	for _, ti := range f.Header.Tensors {
		a, _ := f.Tensor(ti.Name)
		b, err := f16.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		n := len(a.Data) / 4
		if b.DType == format.I8 || b.DType == format.I4 {
			sc, err := f16.Tensor(ti.Name + format.QScaleSuffix)
			if err != nil || len(b.Shape) != 2 || len(sc.Data) != 2*n/32 {
				t.Fatalf("%s: scales %v (%d bytes)", ti.Name, err, len(sc.Data))
			}
			cols := b.Shape[1]
			for i := 0; i < n; i++ {
				var q int
				if b.DType == format.I8 {
					q = int(int8(b.Data[i]))
				} else {
					r, c := i/cols, i%cols
					q = int(b.Data[r*((cols+1)/2)+c/2]>>(4*uint(c%2))&15) - 8
				}
				got := float32(q) * half.F16ToF32(binary.LittleEndian.Uint16(sc.Data[2*(i/32):]))
				if math.Float32bits(got) != binary.LittleEndian.Uint32(a.Data[4*i:]) {
					t.Fatalf("%s element %d: grouped %s value %v is not the dequantized one", ti.Name, i, b.DType, got)
				}
			}
			grouped++
			continue
		}
		if b.DType != format.F16 || len(b.Data) != 2*n {
			t.Fatalf("%s: %s in the f16 file", ti.Name, b.DType)
		}
		for i := 0; i < n; i++ {
			x := math.Float32frombits(binary.LittleEndian.Uint32(a.Data[4*i:]))
			if binary.LittleEndian.Uint16(b.Data[2*i:]) != half.F32ToF16(x) {
				t.Fatalf("%s element %d: f16 is not the rounded f32 value", ti.Name, i)
			}
		}
	}
	if (types["Q8_0"] || types["Q4_0"]) != (grouped > 0) {
		t.Errorf("%d grouped tensors for source types %v", grouped, types)
	}
}

// TestGGUFInt8 requantizes an imported GGUF with --quantize-int8-symmetric.
func TestGGUFInt8(t *testing.T) {
	f, sum := convertTo(t, llamaTinyGGUF(t), Options{DType: format.F32, QuantizeInt8: true})
	if sum.Quantized != 14 {
		t.Fatalf("%d int8 weights, want 14", sum.Quantized)
	}
	want, _, _ := convertFixture(t, "llama-tiny", Options{DType: format.F32, QuantizeInt8: true})
	for _, ti := range want.Header.Tensors {
		a, err := f.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := want.Tensor(ti.Name)
		if a.DType != b.DType || string(a.Data) != string(b.Data) {
			t.Fatalf("%s: differs from the safetensors int8 conversion", ti.Name)
		}
	}
}

func TestGGUFErrors(t *testing.T) {
	dir := filepath.Join(testutil.RepoRoot(t), "source", "gguf", "testdata")
	out := filepath.Join(t.TempDir(), "x.cellm")
	// An architecture the import does not know.
	mamba, err := ggufixture.Write([]ggufixture.KV{{Key: "general.architecture", Value: "mamba"}},
		[]ggufixture.Tensor{{Name: "token_embd.weight", Type: 0, Dims: []uint64{4, 2}, Data: make([]byte, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	mambaPath := filepath.Join(t.TempDir(), "mamba.gguf")
	if err := os.WriteFile(mambaPath, mamba, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Convert(mambaPath, out, Options{}); !errors.Is(err, hf.ErrUnsupported) || !strings.Contains(err.Error(), "mamba") {
		t.Errorf("mamba: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "kquant-tiny.quantize-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(t.TempDir(), "trunc.gguf")
	if err := os.WriteFile(trunc, raw[:len(raw)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Convert(trunc, out, Options{}); !errors.Is(err, gguf.ErrFormat) || !strings.Contains(err.Error(), "trunc.gguf") {
		t.Errorf("truncated: %v", err)
	}
	if _, err := Convert(testutil.Fixture(t, "llama-tiny"), out, Options{Source: "gguf"}); err == nil {
		t.Error("--source gguf on a folder without a .gguf accepted")
	}
	one := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "kquant-tiny.quantize-Q4_K_M.gguf"), filepath.Join(one, "m.gguf")); err != nil {
		t.Fatal(err)
	}
	if _, err := Convert(one, filepath.Join(one, "m.cellm"), Options{Source: "gguf"}); err != nil {
		t.Errorf("--source gguf on a folder with one .gguf: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("output written despite errors")
	}
}

func TestHFTensorName(t *testing.T) {
	for in, want := range map[string]string{
		"token_embd.weight":         "model.embed_tokens.weight",
		"output.weight":             "lm_head.weight",
		"output_norm.weight":        "model.norm.weight",
		"blk.0.attn_q.weight":       "model.layers.0.self_attn.q_proj.weight",
		"blk.12.attn_k.bias":        "model.layers.12.self_attn.k_proj.bias",
		"blk.3.attn_output.weight":  "model.layers.3.self_attn.o_proj.weight",
		"blk.3.ffn_gate.weight":     "model.layers.3.mlp.gate_proj.weight",
		"blk.3.ffn_up.weight":       "model.layers.3.mlp.up_proj.weight",
		"blk.3.ffn_down.weight":     "model.layers.3.mlp.down_proj.weight",
		"blk.3.attn_norm.weight":    "model.layers.3.input_layernorm.weight",
		"blk.3.ffn_norm.weight":     "model.layers.3.post_attention_layernorm.weight",
		"blk.3.ffn_gate_inp.weight": "",
		"rope_freqs.weight":         "",
	} {
		got, ok := hfTensorName(in)
		if got != want || ok != (want != "") {
			t.Errorf("%s -> %q %v, want %q", in, got, ok, want)
		}
	}
}

// TestGGUFGroupedLayout writes the Q8_0 and Q4_0 tensors of the fixtures in
// the grouped int8/int4 layout (as if their rows were permuted q/k rows, to
// cover the un-permutation) and checks that codes * scales equal gguf-py's
// dequantization of the un-permuted tensor bit for bit.
func TestGGUFGroupedLayout(t *testing.T) {
	dir := filepath.Join(testutil.RepoRoot(t), "source", "gguf", "testdata")
	seen := map[gguf.Type]int{}
	for _, name := range []string{"qwen2-tiny.convert-q8_0", "qwen2-tiny.quantize-Q4_0"} {
		g, err := gguf.Open(filepath.Join(dir, name+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		for i := range g.Tensors {
			src := &g.Tensors[i]
			if (src.Type != gguf.Q8_0 && src.Type != gguf.Q4_0) || len(src.Dims) != 2 {
				continue
			}
			e := ggufTensor{src: src, cols: src.Dims[0], rows: src.Dims[1]}
			if e.rows%4 == 0 {
				e.heads = 2
			}
			var codes bytes.Buffer
			scales := make([]byte, 2*e.rows*e.cols/32)
			if err := e.writeGrouped(&codes, scales); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, e.rows*e.cols)
			for j := range got {
				var q int
				if src.Type == gguf.Q8_0 {
					q = int(int8(codes.Bytes()[j]))
				} else {
					q = int(codes.Bytes()[j/2]>>(4*uint(j%2))&15) - 8
				}
				got[j] = float32(q) * half.F16ToF32(binary.LittleEndian.Uint16(scales[2*(j/32):]))
			}
			hfRaw := src.Data
			if e.heads > 0 {
				hfRaw = make([]byte, len(src.Data))
				if err := gguf.UnpermuteRows(hfRaw, src.Data, e.rows, len(src.Data)/e.rows, e.heads); err != nil {
					t.Fatal(err)
				}
			}
			want := make([]float32, len(got))
			if err := gguf.Dequantize(want, src.Type, hfRaw); err != nil {
				t.Fatal(err)
			}
			for j := range got {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("%s %s element %d: %v, want %v", name, src.Name, j, got[j], want[j])
				}
			}
			seen[src.Type]++
		}
	}
	if seen[gguf.Q8_0] == 0 || seen[gguf.Q4_0] == 0 {
		t.Fatalf("checked %v", seen)
	}
}

func TestLlama3RopeScaling(t *testing.T) {
	for _, c := range []struct {
		theta  float64
		dim    int
		factor float32
	}{{500000, 64, 32}, {500000, 128, 8}} {
		tn := &gguf.Tensor{Name: "rope_freqs.weight", Type: gguf.F32, Dims: []int{c.dim / 2},
			Data: ggufixture.Llama3Factors(c.theta, c.dim, c.factor, 1, 4, 8192)}
		rs, err := llama3Scaling(tn, c.theta, map[string]any{"head_dim": int64(c.dim)})
		if err != nil {
			t.Fatal(err)
		}
		if rs["rope_type"] != "llama3" || rs["factor"] != float64(c.factor) || rs["original_max_position_embeddings"] != 8192.0 {
			t.Errorf("%+v", rs)
		}
		tn.Data = ggufixture.Llama3Factors(c.theta, c.dim, c.factor, 1, 2, 8192)
		if _, err := llama3Scaling(tn, c.theta, map[string]any{}); !errors.Is(err, hf.ErrUnsupported) {
			t.Errorf("other high_freq_factor: %v", err)
		}
	}
}

// FuzzReadGGUFModel feeds arbitrary GGUF bytes to the metadata, tokenizer
// and tensor-plan checks of the GGUF import, and writes what they accept.
func FuzzReadGGUFModel(f *testing.F) {
	dir := filepath.Join("..", "source", "gguf", "testdata")
	for _, name := range []string{"kquant-tiny.quantize-Q4_K_M.gguf", "qwen2-tiny.convert-q8_0.gguf"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := gguf.Parse(data)
		if err != nil {
			return
		}
		m, err := readGGUFModel(g, &Summary{})
		if err != nil {
			return
		}
		for i := range m.plan {
			e := &m.plan[i]
			if e.rows*e.cols > 1<<20 {
				continue
			}
			if err := e.write(io.Discard, format.F16); err != nil {
				t.Fatalf("%s: %v", e.name, err)
			}
		}
		if m.tok.Model != "" {
			m.tok.HFTokenizerJSON()
		}
	})
}
