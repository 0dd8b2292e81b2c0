package convert

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/source"
	"github.com/cellm-ai/cellm-go/source/safetensors"
)

func convertFixture(t *testing.T, name string, opt Options) (*format.File, *source.Set, *Summary) {
	t.Helper()
	in := testutil.Fixture(t, name)
	f, sum := convertTo(t, in, opt)
	set, err := safetensors.OpenDir(in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	return f, set, sum
}

func TestBF16KeptExactly(t *testing.T) {
	for _, fixture := range []string{"llama-tiny", "llama3-tiny", "smolvlm-tiny"} {
		t.Run(fixture, func(t *testing.T) {
			f, set, sum := convertFixture(t, fixture, Options{DType: format.BF16})
			if sum.Tensors != len(set.Tensors) {
				t.Errorf("%d tensors written, checkpoint has %d", sum.Tensors, len(set.Tensors))
			}
			for _, src := range set.Tensors {
				got, err := f.Tensor(src.Name)
				if err != nil {
					t.Fatal(err)
				}
				if got.DType != format.BF16 || string(got.Data) != string(src.Data) {
					t.Fatalf("%s: not bit-identical", src.Name)
				}
			}
			if _, ok := f.Asset("config.json"); !ok {
				t.Error("config.json not embedded")
			}
		})
	}
}

func TestCasts(t *testing.T) {
	f32, set, _ := convertFixture(t, "llama-tiny", Options{DType: format.F32})
	f16, _, _ := convertFixture(t, "llama-tiny", Options{DType: format.F16})
	for _, src := range set.Tensors {
		a, _ := f32.Tensor(src.Name)
		b, _ := f16.Tensor(src.Name)
		av, _ := a.F32()
		bv, _ := b.U16()
		for i := range av {
			bf := binary.LittleEndian.Uint16(src.Data[2*i:])
			if math.Float32bits(av[i]) != uint32(bf)<<16 {
				t.Fatalf("%s[%d]: bf16->f32 not exact", src.Name, i)
			}
			if bv[i] != half.F32ToF16(av[i]) {
				t.Fatalf("%s[%d]: f16 %#04x, want %#04x", src.Name, i, bv[i], half.F32ToF16(av[i]))
			}
		}
	}
}

func TestHeaderFields(t *testing.T) {
	f, _, _ := convertFixture(t, "llama3-tiny", Options{})
	h := f.Header
	if h.ModelType != "llama" || h.HiddenDim != 64 || h.NumKVHeads != 1 || h.HeadDim != 32 || h.RopeTheta != 500000 {
		t.Errorf("header: %+v", h)
	}
	if h.RopeScalingType != "llama3" || h.RopeScalingFactor != 32 || h.RopeScalingOriginalMaxPositions != 8192 || h.RopeScalingHighFreqFactor != 4 {
		t.Errorf("rope scaling: %+v", h)
	}
	v, _, _ := convertFixture(t, "smolvlm-tiny", Options{})
	vh := v.Header
	if vh.SourceModelType != "idefics3" || vh.TextTensorPrefix != "model.text_model." ||
		vh.VisionTensorPrefix != "model.vision_model." || vh.ProjectorTensorPrefix != "model.connector." {
		t.Errorf("vlm prefixes: %+v", vh)
	}
	if vh.VocabSize != 49280 || *vh.TieWordEmbeddings || vh.MaxPositionEmbeddings != 2048 {
		t.Errorf("vlm text config: %+v", vh)
	}
	for _, want := range []string{`"scale_factor":2`, `"image_token_id":49190`} {
		if !strings.Contains(string(vh.SourceProjectorConfig), want) {
			t.Errorf("projector config %s lacks %s", vh.SourceProjectorConfig, want)
		}
	}
	if !strings.Contains(string(vh.SourceVisionConfig), `"patch_size":16`) || !strings.Contains(string(vh.SourceVisionConfig), `"layer_norm_eps":0.000001`) {
		t.Errorf("vision config: %s", vh.SourceVisionConfig)
	}
	if _, ok := v.Asset("preprocessor_config.json"); !ok {
		t.Error("preprocessor_config.json not embedded")
	}
}

// The int8 reference was made by the fixture's authors with the scheme the
// format documents; the converter must match it bit for bit.
func TestInt8MatchesReference(t *testing.T) {
	f, set, sum := convertFixture(t, "pretrained-micro", Options{QuantizeInt8: true})
	if sum.Quantized != 28 {
		t.Errorf("%d tensors quantized, want 28", sum.Quantized)
	}
	ref, err := safetensors.Open(testutil.Fixture(t, "pretrained-micro", "reference", "int8_layer0.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	checked := 0
	for _, rt := range ref.Tensors {
		name, isQ := strings.CutSuffix(rt.Name, ".q")
		if !isQ {
			continue
		}
		q, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := f.Tensor(name + format.QScaleSuffix)
		if err != nil {
			t.Fatal(err)
		}
		rs, _ := ref.Lookup(name + ".scale")
		if string(q.Data) != string(rt.Data) {
			t.Errorf("%s: q differs from the reference", name)
		}
		if string(s.Data) != string(rs.Data) {
			t.Errorf("%s: scales differ from the reference", name)
		}
		checked++
	}
	if checked != 7 {
		t.Fatalf("checked %d tensors", checked)
	}
	// Every quantized weight dequantizes to within half a step of the original
	// (plus the f16 rounding of the scale).
	for _, src := range set.Tensors {
		q, _ := f.Tensor(src.Name)
		if q.DType != format.I8 {
			continue
		}
		s, _ := f.Tensor(src.Name + format.QScaleSuffix)
		qv, _ := q.I8()
		sv, _ := s.U16()
		cols := src.Shape[1]
		for i, v := range qv {
			w := half.BF16ToF32(binary.LittleEndian.Uint16(src.Data[2*i:]))
			sc := half.F16ToF32(sv[i/cols])
			exact := float64(sc) // the f32 scale is within f16 rounding of this
			bound := exact/2 + 127*exact*math.Pow(2, -11)
			if d := numcheck.Diff(float64(w), float64(v)*float64(sc)); !(d <= bound) {
				t.Fatalf("%s[%d]: error %g > %g", src.Name, i, d, bound)
			}
		}
	}
	if _, err := f.Tensor("model.embed_tokens.weight"); err != nil {
		t.Fatal(err)
	}
	e, _ := f.Tensor("model.embed_tokens.weight")
	if e.DType != format.F16 {
		t.Errorf("embeddings quantized without the flag: %s", e.DType)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.cellm")
	if _, err := Convert(dir, out, Options{}); err == nil {
		t.Error("empty folder converted")
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"gpt2"}`), 0o644)
	if _, err := Convert(dir, out, Options{}); !errors.Is(err, hf.ErrUnsupported) || !strings.Contains(err.Error(), "supported: llama") {
		t.Errorf("unsupported model: %v", err)
	}
	// A checkpoint missing a tensor fails before anything is written.
	src := testutil.Fixture(t, "llama-tiny")
	cfg, _ := os.ReadFile(filepath.Join(src, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	set, _ := safetensors.OpenDir(src)
	defer set.Close()
	safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), set.Tensors[1:], nil)
	if _, err := Convert(dir, out, Options{}); err == nil || !strings.Contains(err.Error(), "missing from the checkpoint") {
		t.Errorf("missing tensor: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("failed convert left an output file")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

// copyFixture copies the small files of a fixture into a temp folder and
// writes its safetensors checkpoint with the tensors edit returns.
func copyFixture(t *testing.T, name string, edit func([]source.Tensor) []source.Tensor) string {
	t.Helper()
	src := testutil.Fixture(t, name)
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".safetensors") || strings.HasSuffix(e.Name(), ".bin") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644)
	}
	set, err := safetensors.OpenDir(src)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	ts := append([]source.Tensor(nil), set.Tensors...)
	if edit != nil {
		ts = edit(ts)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// setJSON rewrites key of the JSON object in file (nil value: delete it).
func setJSON(t *testing.T, file string, key string, value any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(m, key)
	} else {
		m[key] = value
	}
	data, _ = json.Marshal(m)
	os.WriteFile(file, data, 0o644)
}

// Checkpoints and folders that would convert into a file that fails (or
// silently misbehaves) at run time are refused, naming the cause.
func TestRefusesWhatWouldNotRun(t *testing.T) {
	withTensor := func(name string, shape ...int) func([]source.Tensor) []source.Tensor {
		return func(ts []source.Tensor) []source.Tensor {
			n := 1
			for _, d := range shape {
				n *= d
			}
			return append(ts, source.Tensor{Name: name, DType: source.BF16, Shape: shape, Data: make([]byte, 2*n)})
		}
	}
	cases := []struct {
		name, fixture string
		edit          func([]source.Tensor) []source.Tensor
		file, key     string
		value         any
		want          string
	}{
		{"attention bias tensors", "llama-tiny", withTensor("model.layers.0.self_attn.q_proj.bias", 64), "", "", nil,
			`"model.layers.0.self_attn.q_proj.bias": the Llama decoder has no bias terms`},
		{"more layers than num_hidden_layers", "llama-tiny", withTensor("model.layers.2.input_layernorm.weight", 64), "", "", nil,
			"layer 2 is beyond config.json num_hidden_layers 2"},
		{"attention_bias in config", "llama-tiny", nil, "config.json", "attention_bias", true, "attention_bias"},
		{"eos out of vocab", "llama-tiny", nil, "config.json", "eos_token_id", 1e9, "eos_token_id: token id 1000000000"},
		{"generation eos out of vocab", "llama-tiny", nil, "generation_config.json", "eos_token_id", 49152, "generation_config.json"},
		{"negative rope factor", "llama-tiny", nil, "config.json", "rope_scaling", map[string]any{"type": "linear", "factor": -1}, "rope_scaling.factor"},
		{"unsupported tokenizer", "pretrained-micro", nil, "tokenizer.json", "model", map[string]any{"type": "WordPiece", "vocab": map[string]int{"a": 0}},
			`tokenizer.json`},
		{"image_token_id outside vocab", "smolvlm-tiny", nil, "config.json", "image_token_id", 1 << 30, "image_token_id"},
		{"scale_factor 0", "smolvlm-tiny", nil, "config.json", "scale_factor", 0, "scale_factor: 0"},
		{"longest_edge 0", "smolvlm-tiny", nil, "preprocessor_config.json", "size", map[string]any{"longest_edge": 0}, "longest_edge 0"},
		{"image_std 0", "smolvlm-tiny", nil, "preprocessor_config.json", "image_std", 0, "image_std[0] = 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyFixture(t, c.fixture, c.edit)
			if c.file != "" {
				setJSON(t, filepath.Join(dir, c.file), c.key, c.value)
			}
			out := filepath.Join(t.TempDir(), "m.cellm")
			_, err := Convert(dir, out, Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Error("output written")
			}
		})
	}
}

// The output may not be a folder, lie in a missing folder, or overwrite an input file.
func TestOutputChecks(t *testing.T) {
	dir := copyFixture(t, "llama-tiny", nil)
	ckpt := filepath.Join(dir, "model.safetensors")
	before, _ := os.ReadFile(ckpt)
	link := filepath.Join(t.TempDir(), "link.cellm")
	if err := os.Symlink(ckpt, link); err != nil {
		t.Fatal(err)
	}
	for out, want := range map[string]string{
		ckpt:                                  "is the input file",
		filepath.Join(dir, "config.json"):     "is the input file",
		link:                                  "is the input file",
		dir:                                   "is a folder",
		t.TempDir():                           "is a folder",
		filepath.Join(dir, "nope", "m.cellm"): "does not exist",
		filepath.Join(ckpt, "m.cellm"):        "does not exist",
	} {
		if _, err := Convert(dir, out, Options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--output %s: %v, want %q", out, err, want)
		}
	}
	if after, _ := os.ReadFile(ckpt); string(after) != string(before) {
		t.Fatal("checkpoint changed")
	}
	if _, err := Convert(ckpt, filepath.Join(t.TempDir(), "m.cellm"), Options{}); err == nil || !strings.Contains(err.Error(), "is a file; give the model folder") {
		t.Errorf("--input FILE: %v", err)
	}
	// Writing a new file inside the model folder is fine.
	if _, err := Convert(dir, filepath.Join(dir, "m.cellm"), Options{}); err != nil {
		t.Error(err)
	}
}

// Verify sees the complete file before it is committed; its error keeps the
// output from being written.
func TestVerifyGate(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.cellm")
	bad := errors.New("does not run")
	var seen string
	_, err := Convert(testutil.Fixture(t, "llama-tiny"), out, Options{Verify: func(p string) error {
		f, err := format.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		seen = f.Header.ModelType
		return bad
	}})
	if !errors.Is(err, bad) || seen != "llama" {
		t.Errorf("err %v, verified model_type %q", err, seen)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
}

// A cancelled context (a signal) stops the conversion and leaves nothing.
func TestConvertCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := ConvertContext(ctx, testutil.Fixture(t, "llama-tiny"), filepath.Join(dir, "m.cellm"), Options{
		Progress: func(done, total int64) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
}

// int4 with groups of 32 and mixed: dtypes, scale shapes, the header's
// scheme, and every weight within half a step of the original.
func TestGroupedQuantization(t *testing.T) {
	for _, tc := range []struct {
		opt              Options
		scheme           string
		mlp, attn, embed format.DType
	}{
		{Options{Quantize: "int4", GroupSize: 32}, "int4_symmetric_group32", format.I4, format.I4, format.F16},
		{Options{Quantize: "mixed", GroupSize: 64}, "mixed_int8_attention_embeddings_int4_mlp_group64", format.I4, format.I8, format.I8},
		{Options{Quantize: "int8", GroupSize: 32}, "int8_symmetric_group32", format.I8, format.I8, format.F16},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			f, set, sum := convertFixture(t, "pretrained-micro", tc.opt)
			if !strings.Contains(string(f.Header.SourceQuantization), `"quant_scheme":"`+tc.scheme+`"`) {
				t.Errorf("source_quantization %s", f.Header.SourceQuantization)
			}
			if !(sum.QuantStats.MaxErrStep <= 0.5+127*math.Pow(2, -11)) { // half a step, plus the f16 rounding of the scale
				t.Errorf("max |error|/step %g", sum.QuantStats.MaxErrStep)
			}
			for name, want := range map[string]format.DType{
				"model.layers.1.mlp.down_proj.weight":    tc.mlp,
				"model.layers.1.self_attn.q_proj.weight": tc.attn,
				"model.embed_tokens.weight":              tc.embed,
			} {
				q, err := f.Tensor(name)
				if err != nil || q.DType != want {
					t.Fatalf("%s: %s, %v; want %s", name, q.DType, err, want)
				}
				if want == format.F16 {
					continue
				}
				s, _ := f.Tensor(name + format.QScaleSuffix)
				rows, cols := q.Shape[0], q.Shape[1]
				if g := tc.opt.GroupSize; len(s.Shape) != 2 || s.Shape[0] != rows || s.Shape[1] != cols/g {
					t.Errorf("%s: scale shape %v, want [%d %d]", name, s.Shape, rows, cols/g)
				}
				checkDequantized(t, set, q, s)
			}
		})
	}
}

// checkDequantized compares the weights of quantized tensor q (scales s)
// with the checkpoint's bf16 values: within half a step plus the f16
// rounding of the scale.
func checkDequantized(t *testing.T, set *source.Set, q, s format.Tensor) {
	t.Helper()
	src, ok := set.Lookup(q.Name)
	if !ok {
		t.Fatalf("%s not in the checkpoint", q.Name)
	}
	cols := q.Shape[1]
	sv, _ := s.U16()
	group := format.GroupSize(q.Shape, s.Shape)
	qmax := 127.0
	if q.DType == format.I4 {
		qmax = 7
	}
	for i := range cols * q.Shape[0] {
		var code int
		if q.DType == format.I4 {
			code = int(q.Data[i/2]>>(4*(i%2))&15) - 8
		} else {
			code = int(int8(q.Data[i]))
		}
		sc := float64(half.F16ToF32(sv[i/group]))
		w := float64(half.BF16ToF32(binary.LittleEndian.Uint16(src.Data[2*i:])))
		if d := numcheck.Diff(w, float64(code)*sc); !(d <= sc/2+qmax*sc*math.Pow(2, -11)) {
			t.Fatalf("%s[%d]: code %d scale %g, weight %g: error %g", q.Name, i, code, sc, w, d)
		}
	}
}

// QuantizeVision stores the SigLIP encoder's projections and the connector
// as int8 and leaves the patch embedding, norms, biases and the text stack
// as they were.
func TestQuantizeVision(t *testing.T) {
	for _, group := range []int{0, 32} {
		f, set, sum := convertFixture(t, "smolvlm-tiny", Options{QuantizeVision: "int8", VisionGroupSize: group})
		scheme := "int8_symmetric_per_row"
		if group > 0 {
			scheme = "int8_symmetric_group32"
		}
		if q := string(f.Header.SourceQuantization); !strings.Contains(q, `"vision_quant_scheme":"`+scheme+`"`) || strings.Contains(q, `"quant_scheme"`) {
			t.Errorf("source_quantization %s", q)
		}
		// 2 layers x (q, k, v, out, fc1, fc2) + the connector.
		if sum.Quantized != 13 {
			t.Errorf("%d tensors quantized, want 13", sum.Quantized)
		}
		for name, want := range map[string]format.DType{
			"model.vision_model.encoder.layers.1.self_attn.out_proj.weight": format.I8,
			"model.vision_model.encoder.layers.0.self_attn.q_proj.weight":   format.I8,
			"model.vision_model.encoder.layers.1.mlp.fc2.weight":            format.I8,
			"model.connector.modality_projection.proj.weight":               format.I8,
			"model.vision_model.embeddings.patch_embedding.weight":          format.F16,
			"model.vision_model.embeddings.position_embedding.weight":       format.F16,
			"model.vision_model.encoder.layers.1.mlp.fc2.bias":              format.F16,
			"model.vision_model.post_layernorm.weight":                      format.F16,
			"model.text_model.layers.1.self_attn.q_proj.weight":             format.F16,
		} {
			q, err := f.Tensor(name)
			if err != nil || q.DType != want {
				t.Fatalf("%s: %s, %v; want %s", name, q.DType, err, want)
			}
			if want == format.I8 {
				s, err := f.Tensor(name + format.QScaleSuffix)
				if err != nil {
					t.Fatal(err)
				}
				if g := format.GroupSize(q.Shape, s.Shape); (group == 0 && g != q.Shape[1]) || (group > 0 && g != min(group, q.Shape[1])) {
					t.Errorf("%s: group %d (scales %v), want %d", name, g, s.Shape, group)
				}
				checkDequantized(t, set, q, s)
			}
		}
	}
	// With text quantization both schemes are recorded.
	f, _, _ := convertFixture(t, "smolvlm-tiny", Options{QuantizeInt8: true, QuantizeVision: "int8"})
	if q := string(f.Header.SourceQuantization); !strings.Contains(q, `"quant_scheme":"int8_symmetric_per_row"`) || !strings.Contains(q, `"vision_quant_scheme"`) {
		t.Errorf("source_quantization %s", q)
	}
	out := filepath.Join(t.TempDir(), "x.cellm")
	for _, c := range []struct {
		in   string
		opt  Options
		want string
	}{
		{"llama-tiny", Options{QuantizeVision: "int8"}, "has no vision tower"},
		{"smolvlm-tiny", Options{QuantizeVision: "int4"}, "--quantize-vision int4: want int8"},
		{"smolvlm-tiny", Options{QuantizeVision: "int8", VisionGroupSize: 48}, "vision group size 48"},
	} {
		if _, err := Convert(testutil.Fixture(t, c.in), out, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: %v, want %q", c.in, c.opt, err, c.want)
		}
	}
}
