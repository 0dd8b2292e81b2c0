package convert

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/quant"
	"github.com/cellm-ai/cellm-go/source"
	"github.com/cellm-ai/cellm-go/source/gguf"
	"github.com/cellm-ai/cellm-go/tokenizer"
)

var blockRE = regexp.MustCompile(`^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$`)

// ggufLayerNames maps llama.cpp's per-layer tensor names to Hugging Face's.
var ggufLayerNames = map[string]string{
	"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
	"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
	"attn_output": "self_attn.o_proj",
	"ffn_gate":    "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
	"attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
}

// ggufArchs are the GGUF architectures whose layout the import knows:
// llama.cpp stores them with the tensor names above, Llama with its q/k
// rows permuted. (Gemma 3 is not among them: llama.cpp stores its norm
// weights plus one.)
var ggufArchs = []string{"llama", "qwen2", "qwen3"}

// hfTensorName returns the Hugging Face name of a llama.cpp tensor name.
func hfTensorName(name string) (string, bool) {
	switch name {
	case "token_embd.weight":
		return "model.embed_tokens.weight", true
	case "output_norm.weight":
		return "model.norm.weight", true
	case "output.weight":
		return "lm_head.weight", true
	}
	m := blockRE.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	part, ok := ggufLayerNames[m[2]]
	if !ok {
		return "", false
	}
	return "model.layers." + m[1] + "." + part + "." + m[3], true
}

// ggufTensor is one GGUF tensor planned for the .cellm file.
type ggufTensor struct {
	src        *gguf.Tensor
	name       string
	shape      []int // Hugging Face (row-major) shape
	rows, cols int   // cols = the GGUF first dimension
	heads      int   // > 0: un-permute q/k rows with this many heads
}

// row returns the GGUF bytes of Hugging Face row r.
func (e *ggufTensor) row(r int) []byte {
	rb := len(e.src.Data) / e.rows
	if e.heads > 0 {
		d := e.rows / e.heads
		h, k := r/d, r%d
		j, i := k/(d/2), k%(d/2)
		r = h*d + 2*i + j
	}
	return e.src.Data[r*rb : (r+1)*rb]
}

// convertGGUF converts the GGUF file in to the .cellm file out.
func convertGGUF(ctx context.Context, in, out string, opt Options, start time.Time) (*Summary, error) {
	in, err := ggufPath(in)
	if err != nil {
		return nil, err
	}
	f, err := gguf.Open(in)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sum := &Summary{Source: "gguf", PerTensor: map[string]quant.Stats{}}
	m, err := readGGUFModel(f, sum)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	cfg, tok, plan := m.cfg, m.tok, m.plan
	h := header(cfg, tok.EOSIDs(), "gguf", opt)
	for i := range plan {
		if lossless(&plan[i], opt) {
			h.SourceQuantization, _ = json.Marshal(map[string]string{"quant_scheme": "gguf_q8_0_q4_0_lossless_group32",
				"scope": "gguf_q8_0_and_q4_0_matrices", "scale_dtype": "f16"})
			break
		}
	}
	w := format.NewWriter(*h)
	actions := map[string]int{}
	for i := range plan {
		e := &plan[i]
		st := e.src.Type
		switch {
		case lossless(e, opt):
			if err := e.addGrouped(w); err != nil {
				return nil, err
			}
			sum.Quantized++
			actions[fmt.Sprintf("%s -> %s g32 (lossless)", st, groupedDType(st))]++
		case opt.Quantize != "" && len(e.shape) == 2 && quantizable(&source.Tensor{Name: e.name, Shape: e.shape}, "model.", opt.QuantizeEmbeddings):
			dt := quantDType(opt.Quantize, e.name)
			if err := addQuantized(w, e.name, e.shape, e.load, dt, opt.GroupSize, sum); err != nil {
				return nil, err
			}
			actions[fmt.Sprintf("%s -> %s (requantized)", st, dt)]++
		default:
			if err := w.AddTensor(e.name, opt.DType, e.shape, func(out io.Writer) error { return e.write(out, opt.DType) }); err != nil {
				return nil, err
			}
			sum.Tensors++
			how := "copied"
			if st != gguf.F32 && st != gguf.F16 && st != gguf.BF16 {
				how = "dequantized exactly"
				if opt.DType != format.F32 {
					how += ", then rounded"
				}
			} else if st.String() != strings.ToUpper(string(opt.DType)) {
				how = "cast"
			}
			actions[fmt.Sprintf("%s -> %s (%s)", st, opt.DType, how)]++
		}
	}
	for a, n := range actions {
		sum.Notes = append(sum.Notes, fmt.Sprintf("%d tensors %s", n, a))
	}
	sort.Strings(sum.Notes)
	if sum.Assets, err = addGGUFAssets(w, m.cfgJSON, cfg.Text.VocabSize, tok, sum); err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	return write(ctx, w, out, opt, sum, start)
}

// ggufPath returns in, or the one .gguf file of the folder in.
func ggufPath(in string) (string, error) {
	st, err := os.Stat(in)
	if err != nil || !st.IsDir() {
		return in, err
	}
	matches, err := filepath.Glob(filepath.Join(in, "*.gguf"))
	if err != nil {
		return "", err
	}
	if len(matches) != 1 {
		return "", fmt.Errorf("%s: %d .gguf files in the folder, want one (or give the file)", in, len(matches))
	}
	return matches[0], nil
}

// ggufModel is what a GGUF file says about its model, checked.
type ggufModel struct {
	cfg     *hf.Config
	cfgJSON []byte
	tok     *gguf.Tokenizer
	plan    []ggufTensor
}

// readGGUFModel reads the architecture, hyperparameters, tokenizer and
// tensor layout of f, and checks the tensors against the hyperparameters.
// What is left out is added to sum.Skipped.
func readGGUFModel(f *gguf.File, sum *Summary) (*ggufModel, error) {
	if n, _, err := f.Int("split.count"); err != nil || n > 1 {
		return nil, fmt.Errorf("%w: split GGUF files (split.count %d); merge them with llama-gguf-split --merge first", hf.ErrUnsupported, n)
	}
	arch, _, err := f.String("general.architecture")
	if err != nil {
		return nil, err
	}
	if !slices.Contains(ggufArchs, arch) || !slices.Contains(hf.TextModelTypes, arch) {
		return nil, fmt.Errorf("%w: general.architecture %q (GGUF import supports: %s)", hf.ErrUnsupported, arch,
			strings.Join(ggufArchs, ", "))
	}
	m := &ggufModel{}
	m.tok, err = f.ReadTokenizer()
	if errors.Is(err, gguf.ErrNoTokenizer) {
		m.tok, err = &gguf.Tokenizer{BOS: -1, EOS: -1, PAD: -1, UNK: -1, EOT: -1, EOM: -1}, nil
		sum.Skipped = append(sum.Skipped, "tokenizer (the file has none)")
	}
	if err != nil {
		return nil, err
	}
	if m.cfgJSON, err = ggufConfig(f, arch, m.tok); err != nil {
		return nil, err
	}
	if m.cfg, err = hf.ParseConfig(m.cfgJSON); err != nil {
		return nil, fmt.Errorf("hyperparameters: %w", err)
	}
	if m.plan, err = planGGUF(f, arch, m.cfg, sum); err != nil {
		return nil, err
	}
	desc := make([]source.Tensor, len(m.plan))
	for i, e := range m.plan {
		desc[i] = source.Tensor{Name: e.name, DType: source.F32, Shape: e.shape}
	}
	set, err := source.NewSet(desc)
	if err != nil {
		return nil, err
	}
	if err := checkTensors(set, m.cfg, "model.", "", "", nil); err != nil {
		return nil, err
	}
	return m, nil
}

// planGGUF maps every GGUF tensor to its Hugging Face name and layout.
func planGGUF(f *gguf.File, arch string, cfg *hf.Config, sum *Summary) ([]ggufTensor, error) {
	var plan []ggufTensor
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Name == "rope_freqs.weight" {
			continue // turned into rope_scaling by ggufConfig
		}
		name, ok := hfTensorName(t.Name)
		if !ok {
			sum.Skipped = append(sum.Skipped, t.Name+" (no Hugging Face equivalent)")
			continue
		}
		if !t.Type.Dequantizable() {
			return nil, fmt.Errorf("tensor %s: type %s is not supported", t.Name, t.Type)
		}
		e := ggufTensor{src: t, name: name, shape: t.Shape(), cols: t.Dims[0]}
		e.rows = t.NumElements() / e.cols
		// llama.cpp's converter permutes Llama's q/k rows for its RoPE layout.
		if arch == "llama" && len(t.Dims) == 2 {
			switch {
			case strings.HasSuffix(name, "q_proj.weight"):
				e.heads = cfg.Text.NumAttentionHeads
			case strings.HasSuffix(name, "k_proj.weight"):
				e.heads = cfg.Text.NumKeyValueHeads
			}
			if e.heads > 0 && (e.rows%e.heads != 0 || (e.rows/e.heads)%2 != 0) {
				return nil, fmt.Errorf("tensor %s: %d rows cannot be un-permuted into %d heads", t.Name, e.rows, e.heads)
			}
		}
		plan = append(plan, e)
	}
	return plan, nil
}

// write streams the tensor in Hugging Face layout as dtype to: dequantized
// exactly to float32, then stored (bit for bit for f32, and for f16/bf16
// sources of the same type; rounded otherwise).
func (e *ggufTensor) write(out io.Writer, to format.DType) error {
	st := e.src.Type
	if e.heads == 0 && ((st == gguf.F32 && to == format.F32) || (st == gguf.F16 && to == format.F16) ||
		(st == gguf.BF16 && to == format.BF16)) {
		_, err := out.Write(e.src.Data)
		return err
	}
	chunkRows := max(1, chunk/e.cols)
	f := make([]float32, min(chunkRows, e.rows)*e.cols)
	buf := make([]byte, len(f)*to.BlockBytes())
	for r0 := 0; r0 < e.rows; r0 += chunkRows {
		m := min(chunkRows, e.rows-r0)
		var mu sync.Mutex
		var derr error
		parallel(m, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				row := f[r*e.cols : (r+1)*e.cols]
				if err := gguf.Dequantize(row, st, e.row(r0+r)); err != nil {
					mu.Lock()
					derr = fmt.Errorf("tensor %s: %w", e.src.Name, err)
					mu.Unlock()
					return
				}
				encodeFloats(buf[r*e.cols*to.BlockBytes():], row, to)
			}
		})
		if derr != nil {
			return derr
		}
		if _, err := out.Write(buf[:m*e.cols*to.BlockBytes()]); err != nil {
			return err
		}
	}
	return nil
}

// lossless reports whether e is imported as grouped ints: Q8_0 and Q4_0
// matrices (projections and embeddings), unless f32 or requantization was
// asked for.
func lossless(e *ggufTensor, opt Options) bool {
	return (e.src.Type == gguf.Q8_0 || e.src.Type == gguf.Q4_0) && opt.DType != format.F32 && opt.Quantize == "" &&
		len(e.shape) == 2
}

func groupedDType(t gguf.Type) format.DType {
	if t == gguf.Q4_0 {
		return format.I4
	}
	return format.I8
}

// addGrouped adds a Q8_0 / Q4_0 tensor as grouped i8 / i4 codes plus its f16
// scales of shape [rows, cols/32], both taken from the blocks unchanged
// (rows in Hugging Face order).
func (e *ggufTensor) addGrouped(w *format.Writer) error {
	groups := e.cols / 32
	scales := make([]byte, 2*e.rows*groups)
	dt := groupedDType(e.src.Type)
	err := w.AddTensor(e.name, dt, e.shape, func(out io.Writer) error { return e.writeGrouped(out, scales) })
	if err != nil {
		return err
	}
	// Written right after the weight, so the scales are ready by then.
	return w.AddTensor(e.name+format.QScaleSuffix, format.F16, []int{e.rows, groups}, func(out io.Writer) error {
		_, err := out.Write(scales)
		return err
	})
}

// writeGrouped writes the grouped codes of a Q8_0 / Q4_0 tensor row by row
// (Hugging Face row order) and fills scales ([rows, cols/32] f16).
func (e *ggufTensor) writeGrouped(out io.Writer, scales []byte) error {
	groups := e.cols / 32
	split, row := gguf.SplitQ8_0, make([]byte, e.cols)
	if e.src.Type == gguf.Q4_0 {
		split, row = gguf.SplitQ4_0, row[:e.cols/2]
	}
	for r := 0; r < e.rows; r++ {
		if err := split(row, scales[2*r*groups:2*(r+1)*groups], e.row(r)); err != nil {
			return fmt.Errorf("tensor %s: %w", e.src.Name, err)
		}
		if _, err := out.Write(row); err != nil {
			return err
		}
	}
	return nil
}

// load returns the whole tensor dequantized to float32, in Hugging Face layout.
func (e *ggufTensor) load() (*source.Tensor, error) {
	data := make([]byte, 4*e.rows*e.cols)
	row := make([]float32, e.cols)
	for r := 0; r < e.rows; r++ {
		if err := gguf.Dequantize(row, e.src.Type, e.row(r)); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", e.src.Name, err)
		}
		encodeFloats(data[4*r*e.cols:], row, format.F32)
	}
	return &source.Tensor{Name: e.name, DType: source.F32, Shape: e.shape, Data: data}, nil
}

func encodeFloats(dst []byte, v []float32, to format.DType) {
	switch to {
	case format.F32:
		for i, x := range v {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
		}
	case format.F16:
		for i, x := range v {
			binary.LittleEndian.PutUint16(dst[2*i:], half.F32ToF16(x))
		}
	case format.BF16:
		for i, x := range v {
			binary.LittleEndian.PutUint16(dst[2*i:], half.F32ToBF16(x))
		}
	}
}

// shortF32 returns the float64 of the shortest decimal that reads back as
// the float32 v, so 1e-5 stored as float32 becomes 1e-5 again.
func shortF32(v float64) float64 {
	s := strconv.FormatFloat(v, 'g', -1, 32)
	x, _ := strconv.ParseFloat(s, 64)
	return x
}

// ggufConfig builds the Hugging Face config.json equivalent to the file's
// {arch}.* hyperparameters.
func ggufConfig(f *gguf.File, arch string, tok *gguf.Tokenizer) ([]byte, error) {
	c := map[string]any{"model_type": arch, "hidden_act": "silu", "tie_word_embeddings": true,
		"architectures": []string{map[string]string{"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
			"qwen3": "Qwen3ForCausalLM"}[arch]}}
	ints := []struct {
		key, field string
		required   bool
	}{
		{"block_count", "num_hidden_layers", true}, {"embedding_length", "hidden_size", true},
		{"feed_forward_length", "intermediate_size", true}, {"attention.head_count", "num_attention_heads", true},
		{"attention.head_count_kv", "num_key_value_heads", false}, {"attention.key_length", "head_dim", false},
		{"context_length", "max_position_embeddings", false}, {"vocab_size", "vocab_size", false},
	}
	for _, k := range ints {
		v, ok, err := f.Int(arch + "." + k.key)
		if err != nil {
			return nil, err
		}
		if !ok {
			if k.required {
				return nil, fmt.Errorf("%w: %s.%s missing", gguf.ErrFormat, arch, k.key)
			}
			continue
		}
		if v <= 0 || v > 1<<24 {
			return nil, fmt.Errorf("%w: %s.%s = %d out of range", gguf.ErrFormat, arch, k.key, v)
		}
		c[k.field] = v
	}
	// Each layer has tensors: a block count beyond the tensor count is a
	// lie that would only make the checks below allocate.
	if n := c["num_hidden_layers"].(int64); n > int64(len(f.Tensors)) {
		return nil, fmt.Errorf("%w: %s.block_count %d but %d tensors", gguf.ErrFormat, arch, n, len(f.Tensors))
	}
	if n, ok, err := f.Int(arch + ".expert_count"); err != nil || (ok && n > 0) {
		return nil, fmt.Errorf("%w: mixture-of-experts models (%s.expert_count)", hf.ErrUnsupported, arch)
	}
	if _, ok := c["vocab_size"]; !ok {
		if emb, ok := f.Tensor("token_embd.weight"); ok && len(emb.Dims) == 2 {
			c["vocab_size"] = emb.Dims[1]
		} else {
			c["vocab_size"] = len(tok.Tokens)
		}
	}
	if _, ok := f.Tensor("output.weight"); ok {
		c["tie_word_embeddings"] = false
	}
	if eps, ok, err := f.Float(arch + ".attention.layer_norm_rms_epsilon"); err != nil {
		return nil, err
	} else if ok {
		c["rms_norm_eps"] = shortF32(eps)
	} else {
		return nil, fmt.Errorf("%w: %s.attention.layer_norm_rms_epsilon missing", gguf.ErrFormat, arch)
	}
	theta, ok, err := f.Float(arch + ".rope.freq_base")
	if err != nil {
		return nil, err
	}
	if !ok {
		theta = 10000
	}
	c["rope_theta"] = shortF32(theta)
	if rs, err := ggufRopeScaling(f, arch, theta, c); err != nil {
		return nil, err
	} else if rs != nil {
		c["rope_scaling"] = rs
	}
	c["bos_token_id"], c["eos_token_id"] = nil, nil
	if tok.BOS >= 0 {
		c["bos_token_id"] = tok.BOS
	}
	if ids := tok.EOSIDs(); len(ids) == 1 {
		c["eos_token_id"] = ids[0]
	} else if len(ids) > 1 {
		c["eos_token_id"] = ids
	}
	return json.MarshalIndent(c, "", "  ")
}

// ggufRopeScaling returns the rope_scaling of the file: linear scaling from
// {arch}.rope.scaling.*, or Llama 3 scaling recovered from the rope_freqs
// tensor llama.cpp's converter writes for it (checked value by value).
func ggufRopeScaling(f *gguf.File, arch string, theta float64, c map[string]any) (map[string]any, error) {
	typ, _, err := f.String(arch + ".rope.scaling.type")
	if err != nil {
		return nil, err
	}
	factor, _, err := f.Float(arch + ".rope.scaling.factor")
	if err != nil {
		return nil, err
	}
	if t, ok := f.Tensor("rope_freqs.weight"); ok {
		return llama3Scaling(t, theta, c)
	}
	switch typ {
	case "", "none":
		return nil, nil
	case "linear":
		return map[string]any{"rope_type": "linear", "factor": shortF32(factor)}, nil
	}
	return nil, fmt.Errorf("%w: %s.rope.scaling.type %q (supported: none, linear, llama3 via rope_freqs)", hf.ErrUnsupported, arch, typ)
}

// llama3Scaling recovers Llama 3 rope_scaling from llama.cpp's rope_freqs
// tensor: factor is its largest entry; low/high frequency factors 1 and 4
// and 8192 original positions (the values of every Llama 3.x release) must
// reproduce every entry, or the file is refused.
func llama3Scaling(t *gguf.Tensor, theta float64, c map[string]any) (map[string]any, error) {
	if t.Type != gguf.F32 || len(t.Dims) != 1 {
		return nil, fmt.Errorf("%w: rope_freqs.weight is %s %v, want a F32 vector", gguf.ErrFormat, t.Type, t.Dims)
	}
	got := make([]float32, t.Dims[0])
	if err := gguf.Dequantize(got, t.Type, t.Data); err != nil {
		return nil, err
	}
	dim := 2 * len(got)
	if hd, ok := c["head_dim"].(int64); ok && int(hd) != dim {
		return nil, fmt.Errorf("%w: rope_freqs.weight has %d entries for head_dim %d", gguf.ErrFormat, len(got), hd)
	}
	factor := float64(got[len(got)-1])
	const low, high, orig = 1.0, 4.0, 8192.0
	for i, g := range got {
		freq := float64(float32(1 / math.Pow(theta, float64(float32(2*i)/float32(dim)))))
		wavelen := 2 * math.Pi / freq
		want := 1.0
		switch {
		case wavelen < orig/high:
		case wavelen > orig/low:
			want = factor
		default:
			smooth := (orig/wavelen - low) / (high - low)
			want = 1 / ((1-smooth)/factor + smooth)
		}
		if math.Abs(float64(g)-want) > 1e-4*want {
			return nil, fmt.Errorf("%w: rope_freqs.weight[%d] = %g is not Llama 3 scaling (factor %g, 1, 4, 8192 give %g)",
				hf.ErrUnsupported, i, g, factor, want)
		}
	}
	return map[string]any{"rope_type": "llama3", "factor": shortF32(factor), "low_freq_factor": low,
		"high_freq_factor": high, "original_max_position_embeddings": orig}, nil
}

// addGGUFAssets embeds config.json, generation_config.json and the
// tokenizer files derived from the metadata. A tokenizer that cellm's
// tokenizer cannot load is left out, with a note.
func addGGUFAssets(w *format.Writer, cfgJSON []byte, vocab int, tok *gguf.Tokenizer, sum *Summary) ([]string, error) {
	gen := map[string]any{}
	if tok.BOS >= 0 {
		gen["bos_token_id"] = tok.BOS
	}
	if ids := tok.EOSIDs(); len(ids) > 0 {
		gen["eos_token_id"] = ids
	}
	if tok.PAD >= 0 {
		gen["pad_token_id"] = tok.PAD
	}
	genJSON, err := json.MarshalIndent(gen, "", "  ")
	if err != nil {
		return nil, err
	}
	assets := []namedAsset{{"config.json", cfgJSON}, {"generation_config.json", genJSON}}
	if tok.Model == "" {
		return addAssetList(w, assets)
	}
	tj, err := tok.HFTokenizerJSON()
	if err == nil {
		var tk *tokenizer.Tokenizer
		if tk, err = tokenizer.Load(tj); err == nil && tk.VocabSize() > vocab {
			return nil, fmt.Errorf("%w: the tokenizer has %d tokens but the model's vocabulary is %d", gguf.ErrFormat, tk.VocabSize(), vocab)
		}
	}
	if err == nil {
		assets = append(assets, namedAsset{"tokenizer.json", tj})
	} else {
		sum.Skipped = append(sum.Skipped, fmt.Sprintf("tokenizer.json (%v)", err))
	}
	if tok.ChatTmpl != "" {
		if _, err := chat.Parse(tok.ChatTmpl); err != nil {
			sum.Skipped = append(sum.Skipped, fmt.Sprintf("tokenizer.chat_template (%v)", err))
			t := *tok
			t.ChatTmpl = ""
			tok = &t
		}
	}
	tc, err := tok.HFTokenizerConfigJSON()
	if err != nil {
		return nil, err
	}
	assets = append(assets, namedAsset{"tokenizer_config.json", tc})
	return addAssetList(w, assets)
}

// namedAsset is one embedded file.
type namedAsset struct {
	name string
	data []byte
}

func addAssetList(w *format.Writer, assets []namedAsset) ([]string, error) {
	var names []string
	for _, a := range assets {
		if err := w.AddAsset(a.name, a.data); err != nil {
			return nil, err
		}
		names = append(names, a.name)
	}
	return names, nil
}

// CheckGGUF runs the checks of a GGUF import on f without converting: nil
// if the file would convert, with what would be left out in skipped.
func CheckGGUF(f *gguf.File) (skipped []string, err error) {
	sum := &Summary{}
	m, err := readGGUFModel(f, sum)
	if err != nil {
		return sum.Skipped, err
	}
	if m.tok.Model != "" {
		tj, err := m.tok.HFTokenizerJSON()
		if err == nil {
			_, err = tokenizer.Load(tj)
		}
		if err != nil {
			sum.Skipped = append(sum.Skipped, fmt.Sprintf("tokenizer.json (%v)", err))
		}
	}
	return sum.Skipped, nil
}
