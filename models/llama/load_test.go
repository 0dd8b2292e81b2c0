package llama

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// synthTensor is one tensor of a synthetic model.
type synthTensor struct {
	dtype format.DType
	shape []int
	data  []byte
}

// synthModel builds a tiny random Llama (.cellm bytes): vocab 40, hidden 16,
// intermediate 24, 2 layers, 4 heads / 2 KV heads. mutate may edit the
// header and tensors before encoding.
func synthModel(t testing.TB, mutate func(h *format.Header, ts map[string]*synthTensor)) []byte {
	return synthModelDims(t, synthDims{vocab: 40, hidden: 16, inter: 24, layers: 2, heads: 4, kv: 2}, mutate)
}

// synthDims are the dimensions of a synthetic model.
type synthDims struct{ vocab, hidden, inter, layers, heads, kv int }

func synthModelDims(t testing.TB, d synthDims, mutate func(h *format.Header, ts map[string]*synthTensor)) []byte {
	t.Helper()
	tied := true
	bos, eos := 1, 2
	h := format.Header{ModelType: "llama", VocabSize: d.vocab, HiddenDim: d.hidden, IntermediateSize: d.inter, NumLayers: d.layers,
		NumHeads: d.heads, NumKVHeads: d.kv, RMSNormEps: 1e-5, RopeTheta: 10000, BOSTokenID: &bos, EOSTokenID: &eos,
		MaxPositionEmbeddings: 64, TieWordEmbeddings: &tied}
	q, kv := d.hidden, d.hidden/d.heads*d.kv
	rng := rand.New(rand.NewPCG(1, 2))
	ts := map[string]*synthTensor{}
	f32 := func(shape ...int) *synthTensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		b := make([]byte, 4*n)
		for i := range n {
			v := float32(rng.NormFloat64() * 0.3)
			if len(shape) == 1 {
				v = 1 + v/3
			}
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return &synthTensor{format.F32, shape, b}
	}
	ts["model.embed_tokens.weight"] = f32(d.vocab, d.hidden)
	ts["model.norm.weight"] = f32(d.hidden)
	for l := range d.layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		ts[p+"self_attn.q_proj.weight"] = f32(q, d.hidden)
		ts[p+"self_attn.k_proj.weight"] = f32(kv, d.hidden)
		ts[p+"self_attn.v_proj.weight"] = f32(kv, d.hidden)
		ts[p+"self_attn.o_proj.weight"] = f32(d.hidden, q)
		ts[p+"mlp.gate_proj.weight"] = f32(d.inter, d.hidden)
		ts[p+"mlp.up_proj.weight"] = f32(d.inter, d.hidden)
		ts[p+"mlp.down_proj.weight"] = f32(d.hidden, d.inter)
		ts[p+"input_layernorm.weight"] = f32(d.hidden)
		ts[p+"post_attention_layernorm.weight"] = f32(d.hidden)
	}
	if mutate != nil {
		mutate(&h, ts)
	}
	w := format.NewWriter(h)
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := w.AddTensorBytes(n, ts[n].dtype, ts[n].shape, ts[n].data); err != nil {
			t.Fatal(err)
		}
	}
	b, err := w.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadBytes(b []byte) (*Model, error) {
	f, err := format.Parse(b)
	if err != nil {
		return nil, err
	}
	return Load(f)
}

func TestLoadErrors(t *testing.T) {
	del := func(name string) func(*format.Header, map[string]*synthTensor) {
		return func(_ *format.Header, ts map[string]*synthTensor) { delete(ts, name) }
	}
	for _, tc := range []struct {
		name   string
		mutate func(h *format.Header, ts map[string]*synthTensor)
		want   string
	}{
		{"missing embedding", del("model.embed_tokens.weight"), `"model.embed_tokens.weight" is missing`},
		{"missing layer norm", del("model.layers.1.post_attention_layernorm.weight"), `"model.layers.1.post_attention_layernorm.weight" is missing`},
		{"missing untied head", func(h *format.Header, _ map[string]*synthTensor) { f := false; h.TieWordEmbeddings = &f }, `"lm_head.weight" is missing`},
		{"bad shape", func(_ *format.Header, ts map[string]*synthTensor) {
			ts["model.layers.0.self_attn.k_proj.weight"].shape = []int{16, 8}
		}, `"model.layers.0.self_attn.k_proj.weight" has shape [16 8], want [8 16]`},
		{"norm dtype", func(_ *format.Header, ts map[string]*synthTensor) {
			t := ts["model.norm.weight"]
			t.dtype, t.data = format.I8, t.data[:16]
			ts["model.norm.weight.qscale"] = &synthTensor{format.F16, []int{16}, make([]byte, 32)}
		}, `"model.norm.weight" has dtype i8`},
		{"zero layers", func(h *format.Header, _ map[string]*synthTensor) { h.NumLayers = 0 }, "num_layers = 0"},
		{"heads not multiple", func(h *format.Header, _ map[string]*synthTensor) { h.NumKVHeads = 3 }, "not a multiple of num_kv_heads"},
		{"odd head dim", func(h *format.Header, _ map[string]*synthTensor) { h.HeadDim = 3 }, "head_dim = 3"},
		{"huge vocab", func(h *format.Header, _ map[string]*synthTensor) { h.VocabSize = 1 << 40 }, "vocab_size"},
		{"eos out of range", func(h *format.Header, _ map[string]*synthTensor) { e := 99; h.EOSTokenID = &e }, "eos_token_id 99"},
		{"rope type", func(h *format.Header, _ map[string]*synthTensor) { h.RopeScalingType = "yarn" }, `rope_scaling_type "yarn"`},
		{"llama3 params", func(h *format.Header, _ map[string]*synthTensor) { h.RopeScalingType = "llama3" }, "llama3 rope scaling needs"},
		{"nan eps", func(h *format.Header, _ map[string]*synthTensor) { h.RMSNormEps = -1 }, "rms_norm_eps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadBytes(synthModel(t, tc.mutate))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
			if !errors.Is(err, ErrModel) {
				t.Errorf("error %v does not wrap ErrModel", err)
			}
		})
	}
	if _, err := loadBytes(synthModel(t, nil)); err != nil {
		t.Fatalf("unmodified synthetic model: %v", err)
	}
}

func TestForwardErrors(t *testing.T) {
	m, err := loadBytes(synthModel(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := loadBytes(synthModel(t, nil))
	s := m.NewState(4)
	logits := make([]float32, 40)
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"token range", func() error { return m.Forward(s, []int{3, 40}, logits, false) }, "token 40 (at index 1) is outside the vocabulary [0, 40)"},
		{"negative token", func() error { return m.Forward(s, []int{-1}, logits, false) }, "token -1"},
		{"overflow", func() error { return m.Forward(s, []int{1, 2, 3, 4, 5}, logits, false) }, "capacity of 4"},
		{"empty", func() error { return m.Forward(s, nil, logits, false) }, "at least one token"},
		{"logits len", func() error { return m.Forward(s, []int{1, 2}, logits, true) }, "len(logits) = 40, want 80"},
		{"foreign state", func() error { return other.Forward(s, []int{1}, nil, false) }, "not created by this Model"},
		{"embeddings len", func() error { return m.ForwardEmbeddings(s, make([]float32, 15), 1, nil, false) }, "len(x) = 15"},
		{"embed len", func() error { return m.Embed(make([]float32, 3), []int{1}) }, "len(dst) = 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
			if s.Pos() != 0 {
				t.Fatalf("failed call moved the position to %d", s.Pos())
			}
		})
	}
	// Filling the cache exactly works; one more token is an overflow.
	if err := m.Forward(s, []int{1, 2, 3, 4}, logits, false); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(s, []int{1}, logits, false); err == nil {
		t.Fatal("no error past the cache capacity")
	}
	if err := s.Truncate(2); err != nil || s.Pos() != 2 {
		t.Fatalf("Truncate: %v, pos %d", err, s.Pos())
	}
	if err := s.Truncate(3); err == nil {
		t.Fatal("Truncate past the position succeeded")
	}
}

// TestEmbeddingsPath checks that ForwardEmbeddings(Embed(ids)) equals Forward(ids).
func TestEmbeddingsPath(t *testing.T) {
	m := loadModel(t, "smolvlm-tiny", convert.Options{DType: format.BF16})
	ids := readReference(t, "smolvlm-tiny").Sequences[1].InputIDs
	c := m.Config()
	if c.TiedEmbeddings || c.TensorPrefix != "model.text_model." {
		t.Fatalf("smolvlm-tiny: tied %v prefix %q", c.TiedEmbeddings, c.TensorPrefix)
	}
	want := make([]float32, c.Vocab)
	if err := m.Forward(m.NewState(0), ids, want, false); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(ids)*c.Hidden)
	if err := m.Embed(x, ids); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, c.Vocab)
	if err := m.ForwardEmbeddings(m.NewState(0), x, len(ids), got, false); err != nil {
		t.Fatal(err)
	}
	if _, err := numcheck.Compare(got, want, numcheck.Tol{}); err != nil {
		t.Fatalf("embeddings path differs: %v", err)
	}
}

// TestRopeScaling checks the inverse frequencies against values computed
// independently from the Hugging Face formulas.
func TestRopeScaling(t *testing.T) {
	base := Config{HeadDim: 8, RopeTheta: 10000}
	def := []float64{1, 0.1, 0.01, 0.001}
	for _, tc := range []struct {
		name string
		cfg  func(c *Config)
		want []float64
	}{
		{"default", func(c *Config) {}, def},
		{"linear", func(c *Config) { c.RopeScaling, c.RopeFactor = "linear", 4 }, []float64{0.25, 0.025, 0.0025, 0.00025}},
		{"llama3", func(c *Config) {
			// wavelens 2π, 62.8, 628, 6283; old 1000: low wavelen 1000, high 250.
			c.RopeScaling, c.RopeFactor, c.RopeLowFreqFactor, c.RopeHighFreqFactor, c.RopeOriginalMaxPositions = "llama3", 8, 1, 4, 1000
		}, []float64{1, 0.1, (1-(1000/(2*math.Pi*100)-1)/3)*0.01/8 + (1000/(2*math.Pi*100)-1)/3*0.01, 0.001 / 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.cfg(&c)
			got, err := ropeInvFreq(&c)
			if err != nil {
				t.Fatal(err)
			}
			numcheck.Close(t, "inv_freq", got, tc.want, numcheck.Tol{Rel: 1e-6})
		})
	}
}

func TestDecodeZeroAllocs(t *testing.T) {
	m := loadModel(t, "llama-tiny", convert.Options{DType: format.BF16})
	s := m.NewState(128)
	logits := make([]float32, m.Config().Vocab)
	tok := []int{5}
	if err := m.Forward(s, []int{1, 2, 3}, logits, false); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := m.Forward(s, tok, logits, false); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per decoded token", allocs)
	}
}

func TestConcurrentStates(t *testing.T) {
	m, err := loadBytes(synthModel(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{1, 7, 9, 22, 3, 5}
	want := make([]float32, 40)
	if err := m.Forward(m.NewState(8), ids, want, false); err != nil {
		t.Fatal(err)
	}
	done := make(chan []float32)
	for range 4 {
		go func() {
			s, got := m.NewState(8), make([]float32, 40)
			for _, id := range ids {
				if err := m.Forward(s, []int{id}, got, false); err != nil {
					panic(err)
				}
			}
			done <- got
		}()
	}
	for range 4 {
		numcheck.Close(t, "concurrent decode", <-done, want, numcheck.Tol{Abs: 1e-5})
	}
}

// FuzzLoad feeds arbitrary bytes (seeded with valid and damaged models)
// through format.Parse and Load, then one Forward step; nothing may panic.
// The seeds are whole files of several KB: run with -fuzzminimizetime=0 (or
// a small value), as minimizing such inputs dominates the fuzzer's time.
func FuzzLoad(f *testing.F) {
	tiny := synthDims{vocab: 4, hidden: 4, inter: 4, layers: 1, heads: 2, kv: 1}
	valid := synthModelDims(f, tiny, nil)
	f.Add(valid)
	f.Add(synthModel(f, nil))
	f.Add(synthModelDims(f, tiny, func(h *format.Header, _ map[string]*synthTensor) {
		h.RopeScalingType, h.RopeScalingFactor, h.RopeScalingLowFreqFactor, h.RopeScalingHighFreqFactor, h.RopeScalingOriginalMaxPositions = "llama3", 8, 1, 4, 32
		f := false
		h.TieWordEmbeddings = &f
	}))
	f.Add(valid[:len(valid)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := loadBytes(b)
		if err != nil {
			return
		}
		s := m.NewState(4)
		logits := make([]float32, m.Config().Vocab)
		_ = m.Forward(s, []int{0, 1}, logits, false)
	})
}

// TestLongPromptChunks checks that a prompt longer than MaxChunk (split into
// chunks internally) gives the logits of token-by-token decoding.
func TestLongPromptChunks(t *testing.T) {
	m, err := loadBytes(synthModel(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	n := MaxChunk + 77
	ids := make([]int, n)
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range ids {
		ids[i] = rng.IntN(40)
	}
	all := make([]float32, n*40)
	if err := m.Forward(m.NewState(n), ids, all, true); err != nil {
		t.Fatal(err)
	}
	last := make([]float32, 40)
	s2 := m.NewState(n)
	if err := m.Forward(s2, ids, last, false); err != nil {
		t.Fatal(err)
	}
	if _, err := numcheck.Compare(last, all[(n-1)*40:], numcheck.Tol{Abs: 1e-5}); err != nil { // MatVec vs MatMul rounding
		t.Fatalf("last-position logits vs the all-positions ones: %v", err)
	}
	s := m.NewState(n)
	step := make([]float32, 40)
	for i, id := range ids {
		if err := m.Forward(s, []int{id}, step, false); err != nil {
			t.Fatal(err)
		}
		if i%97 == 0 || i == n-1 {
			if _, err := numcheck.Compare(step, all[i*40:(i+1)*40], numcheck.Tol{Abs: 1e-4}); err != nil {
				t.Fatalf("position %d: decode vs the chunked prefill: %v", i, err)
			}
		}
	}
}

func TestPerplexityErrors(t *testing.T) {
	m, err := loadBytes(synthModel(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ids  []int
		ctx  int
		want string
	}{
		{[]int{1, 2, 3}, 1, "at least 2"},
		{[]int{1}, 4, "no token to score"},
		{[]int{1, 99}, 4, "token 99"},
	} {
		if _, _, err := Perplexity(m, tc.ids, tc.ctx, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Perplexity(%v, %d): %v, want %q", tc.ids, tc.ctx, err, tc.want)
		}
	}
	// A uniform-logit sanity check: a model's NLL is finite and positive.
	nll, scored, err := Perplexity(m, []int{1, 2, 3, 4, 5, 6, 7}, 3, nil)
	if err != nil || scored != 4 || !(nll > 0) || math.IsInf(nll, 0) {
		t.Fatalf("Perplexity: %v, %d scored, err %v (windows 3+3+1 score 2+2+0)", nll, scored, err)
	}
}

// BenchmarkPrefill measures one batched 128-token prompt pass on the
// pretrained-micro fixture (bf16), reporting prompt tokens per second.
func BenchmarkPrefill(b *testing.B) {
	m := loadModel(b, "pretrained-micro", convert.Options{DType: format.BF16})
	ids := make([]int, 128)
	for i := range ids {
		ids[i] = (i * 7919) % m.Config().Vocab
	}
	s := m.NewState(len(ids))
	logits := make([]float32, m.Config().Vocab)
	b.ReportAllocs()
	for b.Loop() {
		s.Reset()
		if err := m.Forward(s, ids, logits, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(ids))/b.Elapsed().Seconds(), "tok/s")
}

// BenchmarkDecode measures one decoded token (pretrained-micro, bf16) at
// positions 64..191, reporting tokens per second and allocations.
func BenchmarkDecode(b *testing.B) {
	m := loadModel(b, "pretrained-micro", convert.Options{DType: format.BF16})
	s := m.NewState(192)
	logits := make([]float32, m.Config().Vocab)
	prompt := make([]int, 64)
	tok := []int{42}
	b.ReportAllocs()
	for b.Loop() {
		if s.Pos() == 0 || s.Pos() == s.MaxSeq() {
			b.StopTimer()
			s.Reset()
			if err := m.Forward(s, prompt, logits, false); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if err := m.Forward(s, tok, logits, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}
