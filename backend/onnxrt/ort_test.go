//go:build onnxruntime

package onnxrt

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/npy"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/models/idefics3"
)

// testOptions returns Options naming the ONNX Runtime library for tests:
// CELLM_ONNXRUNTIME_LIB, else what scripts/get-onnxruntime.sh left in
// .cache/onnxruntime. It skips the test when there is neither.
func testOptions(t testing.TB) Options {
	t.Helper()
	if p := os.Getenv(EnvLibrary); p != "" {
		return Options{LibraryPath: p}
	}
	libs, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(t), ".cache", "onnxruntime", "*", "libonnxruntime.*"))
	if len(libs) == 0 {
		t.Skipf("no ONNX Runtime library: set %s or run scripts/get-onnxruntime.sh", EnvLibrary)
	}
	slices.Sort(libs)
	return Options{LibraryPath: libs[len(libs)-1]}
}

func onnxFile(t testing.TB, name string) string {
	return testutil.Fixture(t, "smolvlm-tiny", "onnx", name)
}

func refFile(t testing.TB, name string) string {
	return testutil.Fixture(t, "smolvlm-tiny", "reference", name)
}

// maxAbsDiff is the largest |got-want|; a length mismatch or a NaN or Inf
// fails t and gives +Inf.
func maxAbsDiff(t testing.TB, got, want []float32) float64 {
	t.Helper()
	return numcheck.MaxAbs(t, "output", got, want)
}

func TestRuntimeVersion(t *testing.T) {
	o := testOptions(t)
	v, err := RuntimeVersion(o)
	if err != nil {
		t.Fatal(err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil || major < 1 || major == 1 && minor < 25 {
		t.Fatalf("version %q, want >= %s", v, MinRuntimeVersion)
	}
	t.Logf("ONNX Runtime %s from %s", v, o.LibraryPath)
}

func TestLibraryErrors(t *testing.T) {
	testOptions(t) // skip together with the other tests
	dir := t.TempDir()
	bogus := filepath.Join(dir, "libonnxruntime.so")
	if err := os.WriteFile(bogus, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope", "libonnxruntime.so")
	for _, tc := range []struct {
		name string
		o    Options
		want []string
	}{
		{"missing", Options{LibraryPath: missing}, []string{missing, MinRuntimeVersion}},
		{"not a library", Options{LibraryPath: bogus}, []string{bogus, MinRuntimeVersion}},
		{"directory", Options{LibraryPath: dir}, []string{dir, MinRuntimeVersion}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenEmbedder(onnxFile(t, "embed_tokens.onnx"), tc.o)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("unset", func(t *testing.T) {
		t.Setenv(EnvLibrary, "")
		_, err := OpenEmbedder(onnxFile(t, "embed_tokens.onnx"), Options{})
		if err == nil || !strings.Contains(err.Error(), EnvLibrary) {
			t.Fatalf("error %v does not mention %s", err, EnvLibrary)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	o := testOptions(t)
	for _, tc := range []struct {
		name string
		open func() error
		want string
	}{
		{"missing model", func() error { _, err := OpenDecoder(onnxFile(t, "nope.onnx"), o); return err }, "nope.onnx"},
		{"embedder as decoder", func() error { _, err := OpenDecoder(onnxFile(t, "embed_tokens.onnx"), o); return err }, `"input_ids"`},
		{"decoder as embedder", func() error { _, err := OpenEmbedder(onnxFile(t, "decoder_model_merged.onnx"), o); return err }, "want [input_ids]"},
		{"embedder as vision", func() error { _, err := OpenVisionEncoder(onnxFile(t, "embed_tokens.onnx"), o); return err }, "pixel_values"},
		{"negative threads", func() error {
			_, err := OpenEmbedder(onnxFile(t, "embed_tokens.onnx"), Options{LibraryPath: o.LibraryPath, Threads: -1})
			return err
		}, "Threads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.open()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestDescribeIO(t *testing.T) {
	o := testOptions(t)
	s, err := DescribeIO(onnxFile(t, "decoder_model_merged.onnx"), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"inputs:", "outputs:", "inputs_embeds", "float32", "past_key_values.1.value", "[?, 2, ?, 16]", "present.0.key", "logits", "[?, ?, 49280]", "attention_mask", "int64"} {
		if !strings.Contains(s, w) {
			t.Errorf("DescribeIO output lacks %q:\n%s", w, s)
		}
	}
	s, err = DescribeIO(onnxFile(t, "vision_encoder.onnx"), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"pixel_values", "[?, ?, 3, 64, 64]", "pixel_attention_mask", "bool", "image_features"} {
		if !strings.Contains(s, w) {
			t.Errorf("DescribeIO output lacks %q:\n%s", w, s)
		}
	}
}

func TestVisionFeatures(t *testing.T) {
	o := testOptions(t)
	for _, tc := range []struct {
		model, pixels, ref string
		n                  int
		tol                float64
	}{
		{"vision_encoder.onnx", "pixel_values_single.f32", "image_features_single.npy", 1, 1e-4},
		{"vision_encoder.onnx", "pixel_values_split.f32", "image_features_split.npy", 5, 1e-4},
		{"vision_encoder_fp16.onnx", "pixel_values_single.f32", "image_features_single.npy", 1, 5e-3},
		{"vision_encoder_fp16.onnx", "pixel_values_split.f32", "image_features_split.npy", 5, 5e-3},
	} {
		t.Run(tc.model+"/"+tc.pixels, func(t *testing.T) {
			v, err := OpenVisionEncoder(onnxFile(t, tc.model), o)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			px, err := npy.ReadRawF32(refFile(t, tc.pixels))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := npy.Read(refFile(t, tc.ref))
			if err != nil {
				t.Fatal(err)
			}
			for _, mask := range [][]bool{nil, allTrue(tc.n * 64 * 64)} {
				got, rows, err := v.Run(px, mask, tc.n, 64, 64)
				if err != nil {
					t.Fatal(err)
				}
				if rows != 4*tc.n {
					t.Fatalf("rows %d, want %d", rows, 4*tc.n)
				}
				d := maxAbsDiff(t, got, ref.Data)
				t.Logf("max abs diff %.3g (tolerance %g)", d, tc.tol)
				if d > tc.tol {
					t.Fatalf("max abs diff %g > %g", d, tc.tol)
				}
			}
		})
	}
}

func allTrue(n int) []bool {
	m := make([]bool, n)
	for i := range m {
		m[i] = true
	}
	return m
}

// paddedCase is testdata/smolvlm-tiny/reference/vision_padded_case.json.
type paddedCase struct {
	PixelValues struct {
		Dims []int `json:"dims"`
	} `json:"pixel_values"`
	Mask struct {
		ValidRowsCols [][][2]int `json:"valid_rows_cols"`
	} `json:"pixel_attention_mask"`
	ImageFeatures struct {
		Dims   []int         `json:"dims"`
		Values [][][]float32 `json:"values"`
	} `json:"image_features"`
}

// TestVisionPadded runs the padded test vector: batch 2 × 2 image slots,
// flattened to 4 images of one batch (transformers flattens them the same
// way), one of them all-zero padding, two partly masked.
func TestVisionPadded(t *testing.T) {
	o := testOptions(t)
	b, err := os.ReadFile(refFile(t, "vision_padded_case.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pc paddedCase
	if err := json.Unmarshal(b, &pc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pc.PixelValues.Dims, []int{2, 2, 3, 64, 64}) {
		t.Fatalf("unexpected dims %v", pc.PixelValues.Dims)
	}
	const n, h, w = 4, 64, 64
	mask := make([]bool, n*h*w)
	pixels := make([]float32, n*3*h*w)
	for img := range n {
		rc := pc.Mask.ValidRowsCols[img/2][img%2]
		for y := range h {
			for x := range w {
				mask[(img*h+y)*w+x] = y < rc[0] && x < rc[1]
			}
		}
		for c := range 3 {
			for y := range h {
				for x := range w {
					i := ((img*3+c)*h+y)*w + x
					if mask[(img*h+y)*w+x] {
						pixels[i] = float32((i*40503)%65536-32768) / 32768
					}
				}
			}
		}
	}
	var want []float32
	for _, img := range pc.ImageFeatures.Values {
		for _, row := range img {
			want = append(want, row...)
		}
	}
	for _, tc := range []struct {
		model string
		tol   float64
	}{{"vision_encoder.onnx", 1e-4}, {"vision_encoder_fp16.onnx", 5e-3}} {
		t.Run(tc.model, func(t *testing.T) {
			v, err := OpenVisionEncoder(onnxFile(t, tc.model), o)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			got, rows, err := v.Run(pixels, mask, n, h, w)
			if err != nil {
				t.Fatal(err)
			}
			if rows != 12 {
				t.Fatalf("rows %d, want 12 (3 real images x 4)", rows)
			}
			d := maxAbsDiff(t, got, want)
			t.Logf("max abs diff %.3g (tolerance %g)", d, tc.tol)
			if d > tc.tol {
				t.Fatalf("max abs diff %g > %g", d, tc.tol)
			}
		})
	}
}

func TestVisionRunErrors(t *testing.T) {
	o := testOptions(t)
	v, err := OpenVisionEncoder(onnxFile(t, "vision_encoder.onnx"), o)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, tc := range []struct {
		name    string
		pixels  []float32
		mask    []bool
		n, h, w int
		want    string
	}{
		{"wrong size", make([]float32, 3*32*32), nil, 1, 32, 32, "[1, 1, 3, 32, 32]"},
		{"short pixels", make([]float32, 10), nil, 1, 64, 64, "10 pixel values"},
		{"short mask", make([]float32, 3*64*64), make([]bool, 5), 1, 64, 64, "5 mask values"},
		{"no images", nil, nil, 0, 64, 64, "bad image count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := v.Run(tc.pixels, tc.mask, tc.n, tc.h, tc.w)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// reference is the part of reference.json the decode tests use.
type reference struct {
	Config struct {
		ImageTokenID int64 `json:"image_token_id"`
	} `json:"config"`
	Sequences  []refSequence `json:"sequences"`
	Multimodal []refSequence `json:"multimodal"`
}

type refSequence struct {
	Name        string  `json:"name"`
	InputIDs    []int64 `json:"input_ids"`
	NumImages   int     `json:"num_images"`
	PixelValues struct {
		File string `json:"file"`
	} `json:"pixel_values"`
	LastLogits *struct {
		File string `json:"file"`
		Row  int    `json:"row"`
	} `json:"last_logits"`
	Greedy *struct {
		NewTokens []int64 `json:"new_tokens"`
		Steps     []struct {
			Top [][2]float64 `json:"top"`
		} `json:"steps"`
	} `json:"greedy"`
}

func loadReference(t testing.TB) reference {
	b, err := os.ReadFile(refFile(t, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

type pipeline struct {
	vision *VisionEncoder
	embed  *Embedder
	dec    *Decoder
}

func openPipeline(t testing.TB) *pipeline {
	o := testOptions(t)
	vision, embed, decoder, err := FindFiles(testutil.Fixture(t, "smolvlm-tiny"), "fp32")
	if err != nil {
		t.Fatal(err)
	}
	var p pipeline
	if p.vision, err = OpenVisionEncoder(vision, o); err != nil {
		t.Fatal(err)
	}
	if p.embed, err = OpenEmbedder(embed, o); err != nil {
		t.Fatal(err)
	}
	if p.dec, err = OpenDecoder(decoder, o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.vision.Close()
		p.embed.Close()
		p.dec.Close()
	})
	return &p
}

// promptEmbeds embeds the prompt of seq with its image features spliced in.
func (p *pipeline) promptEmbeds(t testing.TB, r reference, seq refSequence) []float32 {
	emb, err := p.embed.Embed(seq.InputIDs)
	if err != nil {
		t.Fatal(err)
	}
	if seq.NumImages > 0 {
		px, err := npy.ReadRawF32(refFile(t, seq.PixelValues.File))
		if err != nil {
			t.Fatal(err)
		}
		feats, _, err := p.vision.Run(px, nil, seq.NumImages, 64, 64)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int, len(seq.InputIDs))
		for i, id := range seq.InputIDs {
			ids[i] = int(id)
		}
		if err := idefics3.Splice(emb, ids, int(r.Config.ImageTokenID), feats, p.embed.Hidden()); err != nil {
			t.Fatal(err)
		}
	}
	return emb
}

func argmax(x []float32) int64 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int64(best)
}

func TestDecoderConfig(t *testing.T) {
	p := openPipeline(t)
	want := DecoderConfig{Layers: 2, KVHeads: 2, HeadDim: 16, Hidden: 64, Vocab: 49280, KVType: "float32"}
	if got := p.dec.Config(); got != want {
		t.Fatalf("Config() = %+v, want %+v", got, want)
	}
	if p.embed.Hidden() != 64 {
		t.Fatalf("Embedder.Hidden() = %d, want 64", p.embed.Hidden())
	}
}

// TestGreedy continues every reference sequence greedily for 16 tokens
// through embed + splice + decoder with cache: tokens must equal the
// reference and the top logits of every step match within 1e-3.
func TestGreedy(t *testing.T) {
	p := openPipeline(t)
	r := loadReference(t)
	var lastLogits *npy.Array
	for _, seq := range append(slices.Clone(r.Sequences), r.Multimodal...) {
		if seq.Greedy == nil {
			continue
		}
		t.Run(seq.Name, func(t *testing.T) {
			p.dec.Reset()
			emb := p.promptEmbeds(t, r, seq)
			logits, err := p.dec.Step(emb, len(seq.InputIDs))
			if err != nil {
				t.Fatal(err)
			}
			if seq.LastLogits != nil {
				if lastLogits == nil {
					if lastLogits, err = npy.Read(refFile(t, seq.LastLogits.File)); err != nil {
						t.Fatal(err)
					}
				}
				v := len(logits)
				d := maxAbsDiff(t, logits, lastLogits.Data[seq.LastLogits.Row*v:(seq.LastLogits.Row+1)*v])
				t.Logf("prefill last-position logits: max abs diff %.3g", d)
				if d > 1e-3 {
					t.Errorf("prefill logits differ by %g", d)
				}
			}
			worst := 0.0
			for k, want := range seq.Greedy.NewTokens {
				tok := argmax(logits)
				if tok != want {
					t.Fatalf("step %d: token %d, want %d", k, tok, want)
				}
				for _, top := range seq.Greedy.Steps[k].Top {
					d := numcheck.Diff(float64(logits[int(top[0])]), top[1])
					worst = max(worst, d)
					if d > 1e-3 {
						t.Fatalf("step %d: logit of %d is %g, want %g", k, int(top[0]), logits[int(top[0])], top[1])
					}
				}
				if k == len(seq.Greedy.NewTokens)-1 {
					break
				}
				e, err := p.embed.Embed([]int64{tok})
				if err != nil {
					t.Fatal(err)
				}
				if logits, err = p.dec.Step(e, 1); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := p.dec.Len(), len(seq.InputIDs)+len(seq.Greedy.NewTokens)-1; got != want {
				t.Errorf("Len() = %d, want %d", got, want)
			}
			t.Logf("%d tokens equal; top logits max abs diff %.3g", len(seq.Greedy.NewTokens), worst)
		})
	}
}

// TestStepChunks checks that feeding a prompt in pieces gives the same
// logits as one prefill, and that errors leave the cache unchanged.
func TestStepChunks(t *testing.T) {
	p := openPipeline(t)
	r := loadReference(t)
	seq := r.Sequences[slices.IndexFunc(r.Sequences, func(s refSequence) bool { return s.Name == "text_len40" })]
	emb := p.promptEmbeds(t, r, seq)
	p.dec.Reset()
	whole, err := p.dec.Step(emb, 40)
	if err != nil {
		t.Fatal(err)
	}
	p.dec.Reset()
	for _, cut := range [][2]int{{0, 17}, {17, 18}, {18, 39}} {
		if _, err := p.dec.Step(emb[cut[0]*64:cut[1]*64], cut[1]-cut[0]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.dec.Step(emb[:10], 1); err == nil || !strings.Contains(err.Error(), "want 64") {
		t.Fatalf("short embedding: error %v", err)
	}
	if _, err := p.dec.Step(nil, 0); err == nil {
		t.Fatal("empty step: no error")
	}
	if p.dec.Len() != 39 {
		t.Fatalf("Len() = %d after errors, want 39", p.dec.Len())
	}
	last, err := p.dec.Step(emb[39*64:], 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, last, whole); d > 1e-4 {
		t.Fatalf("chunked prefill differs from whole by %g", d)
	}
}
