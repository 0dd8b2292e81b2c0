// Package cellm is the Go SDK of the cellm engine: open a .cellm model and
// generate text from a prompt, a chat, or images and a prompt.
//
// A Model is loaded once (the weights are memory-mapped) and can be shared by
// many goroutines; every Generate call owns its own KV cache and sampler.
//
//	m, err := cellm.Open("model.cellm", nil)
//	...
//	res, err := m.Generate(ctx, cellm.Request{Prompt: "Once upon a time", MaxNewTokens: 32},
//		func(t cellm.Token) bool { fmt.Print(t.Text); return true })
//
// For SmolVLM, the vision encoder and the text decoder can each run on ONNX
// Runtime instead (Options.VisionBackend, Options.DecoderBackend) with the
// same tokenizer, image preprocessing and sampler.
package cellm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/imagecache"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/models"
	_ "github.com/cellm-ai/cellm-go/models/all" // every architecture
	"github.com/cellm-ai/cellm-go/models/idefics3"
	"github.com/cellm-ai/cellm-go/tokenizer"
)

// Options configure Open.
type Options struct {
	// TokenizerPath overrides the tokenizer.json embedded in the model.
	TokenizerPath string
	// VisionBackend and DecoderBackend pick where the vision encoder and the
	// text decoder run: BackendCellm (default) or BackendONNX.
	VisionBackend, DecoderBackend Backend
	// ONNXDir is the folder of the ONNX exports (a Hugging Face SmolVLM
	// repo or its onnx/ folder), for the onnx backends.
	ONNXDir string
	// ONNXVariant picks the export files: "fp32" (default), "fp16", "q4", ...
	ONNXVariant string
	// ONNXLibrary is the ONNX Runtime shared library (default: $CELLM_ONNXRUNTIME_LIB).
	ONNXLibrary string
	// KVBudgetBytes caps the KV cache memory of all generations and
	// sessions running at once on the native decoder (per KV type); 0
	// allows 4 sequences at the model's context length. Memory is taken as
	// positions are filled and reused afterwards; a generation that finds
	// the budget exhausted fails with an error wrapping kvcache.ErrBudget.
	KVBudgetBytes int64
	// ImageCacheBytes bounds the model's image-feature cache, which keeps the
	// vision tower's output per image (keyed by the image's bytes and the
	// processor settings) so that another request about the same image, in
	// any session, skips decoding and encoding it. 0 means 64 MiB (about 25
	// SmolVLM-256M images of 17 tiles); negative disables the cache.
	// Least recently used images are evicted first.
	ImageCacheBytes int64
	// VisionPrecision picks the native vision tower's arithmetic. The
	// default (VisionAuto) rounds its activations to bf16 and runs the
	// projections and the attention on the CPU's bf16 dot-product
	// instructions (AVX512_BF16) when the tower's weights are bf16 or f16,
	// about 2-4x faster per tile; on the test fixtures the image features
	// keep a cosine of 0.999995 with the f32 references and the greedy
	// tokens are transformers'. An int8 tower (convert --quantize-vision
	// int8) runs only its attention on bf16 dot products (its projections
	// keep f32 inputs; greedy tokens unchanged on the fixtures). f32 files
	// keep the exact f32 path. VisionBF16 and VisionF32 force either way.
	VisionPrecision VisionPrecision
	// PrefillPrecision picks the arithmetic of the native text decoder's
	// prompt prefill. The default (PrefillAuto) rounds the activations of
	// the layers' projections to bf16 when their weights are bf16 (or f16
	// holding bf16 values only) and runs them on the CPU's bf16
	// dot-product instructions (AVX512_BF16), as llama.cpp does for bf16:
	// 1.6-1.7x faster matrix products, the mean NLL of the pretrained test
	// model moved by 5e-6 (int8 weights: 3e-4). Steps of at most 32
	// positions (decode, batched decode, short prompts) keep f32
	// activations. PrefillBF16 extends it to every f16 weight (rounded to
	// bf16: NLL moved by 1.5e-5); PrefillF32 keeps f32 activations.
	PrefillPrecision PrefillPrecision
	// ImageCache, if not nil, is used instead of a cache of the model's own
	// (ImageCacheBytes is then ignored). Share one only between Models
	// opened from the same file: keys do not name the model.
	ImageCache *imagecache.Cache
	// PrefillChunk caps the prompt positions one forward pass computes
	// (engine.Options.PrefillChunk; 0: 512). Up to 32 every row runs the
	// matrix-vector kernels: the rounding of a server step, whatever it
	// batches (see server.Config.StepTokens).
	PrefillChunk int
	// MapFile maps the model file in place (pages shared with the page
	// cache, loaded on first use and reclaimable) instead of the default
	// on Linux: copying it at open into memory backed by transparent huge
	// pages, which streams weights faster (fewer TLB misses: decode was
	// 1.15-1.44x faster in paired runs) for a full read at open. Files
	// larger than half the available memory are always mapped. See format.OpenHugePages.
	MapFile bool
}

// DefaultImageCacheBytes is the image-feature cache bound when
// Options.ImageCacheBytes is 0.
const DefaultImageCacheBytes = 64 << 20

// Model is an opened model with its tokenizer, chat template and, for
// vision-language models, its image processor configuration.
type Model struct {
	file     *format.File    // nil when every backend is ONNX
	dec      models.Decoder  // the native decoder, if loaded
	vlm      *idefics3.Model // the native VLM, if loaded
	text     textBackend
	vision   visionBackend
	tok      *tokenizer.Tokenizer
	template *chat.Template
	bos, eos string
	eosIDs   []int
	maxPos   int

	imageCfg     imageproc.Config
	imageCfgErr  error // why images cannot be processed, if they cannot
	hasImages    bool
	imageTokenID int

	kvBudget     int64
	prefillChunk int
	imageCache   *imagecache.Cache // nil: disabled
	// noPrefillAhead turns off prefilling the text before an image while
	// the vision tower runs (for tests comparing both ways).
	noPrefillAhead bool
	closers        []func() error
	onnxFiles      []string

	path string    // as given to Open, for error messages
	life lifecycle // calls in flight, closed state
}

// ErrNoTokenizer is returned when text is given to a model without a tokenizer.
var ErrNoTokenizer = errors.New("the model has no tokenizer (embed tokenizer.json when converting, or set Options.TokenizerPath)")

// ErrContextFull is wrapped by the error of a generation whose prompt alone
// fills the context limit (Request.MaxContext, else the model's
// max_position_embeddings); a chat can drop its oldest turns and retry.
var ErrContextFull = errors.New("the prompt fills the context")

// Open loads a model. path is a .cellm file; with both backends set to
// BackendONNX it may instead be the Hugging Face folder of the ONNX exports
// (config, tokenizer and processor files are then read from there).
func Open(path string, opt *Options) (*Model, error) {
	o := Options{}
	if opt != nil {
		o = *opt
	}
	for _, b := range []*Backend{&o.VisionBackend, &o.DecoderBackend} {
		switch *b {
		case "":
			*b = BackendCellm
		case BackendCellm, BackendONNX:
		default:
			return nil, fmt.Errorf("backend %q: want %s or %s", *b, BackendCellm, BackendONNX)
		}
	}
	if o.PrefillPrecision < PrefillAuto || o.PrefillPrecision > PrefillF32 {
		return nil, fmt.Errorf("unknown %v", o.PrefillPrecision)
	}
	if o.KVBudgetBytes < 0 || o.PrefillChunk < 0 {
		return nil, fmt.Errorf("negative KVBudgetBytes %d or PrefillChunk %d", o.KVBudgetBytes, o.PrefillChunk)
	}
	m := &Model{kvBudget: o.KVBudgetBytes, prefillChunk: o.PrefillChunk, path: path, imageCache: o.ImageCache}
	if m.imageCache == nil && o.ImageCacheBytes >= 0 {
		n := o.ImageCacheBytes
		if n == 0 {
			n = DefaultImageCacheBytes
		}
		m.imageCache = imagecache.New(n)
	}
	if err := m.load(path, &o); err != nil {
		m.Close()
		if strings.HasPrefix(err.Error(), path+": ") { // format.Open names the file already
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func (m *Model) load(path string, o *Options) error {
	var asset func(string) ([]byte, bool)
	vocab := 0
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if o.VisionBackend != BackendONNX || o.DecoderBackend != BackendONNX {
			return fmt.Errorf("a model folder runs only with both backends onnx; convert it to .cellm for the native backends")
		}
		if o.ONNXDir == "" {
			o.ONNXDir = path
		}
		asset = dirAssets(path)
		cfg, err := hf.ReadConfig(path)
		if err != nil {
			return err
		}
		vocab, m.maxPos = cfg.Text.VocabSize, cfg.Text.MaxPositionEmbeddings
		if m.eosIDs, err = hf.EOS(path, cfg); err != nil {
			return err
		}
		if cfg.Multimodal {
			m.hasImages, m.imageTokenID = true, cfg.ImageTokenID
		}
	} else {
		open := format.OpenHugePages
		if o.MapFile {
			open = format.Open
		}
		f, err := open(path)
		if err != nil {
			return err
		}
		m.file = f
		m.closers = append(m.closers, f.Close)
		asset = f.Asset
		if err := m.loadNative(f, o); err != nil {
			return err
		}
		vocab = f.Header.VocabSize
	}
	if o.VisionBackend == BackendONNX || o.DecoderBackend == BackendONNX {
		if err := openONNX(m, o, vocab); err != nil {
			return err
		}
	}
	if err := m.loadAssets(asset, o); err != nil {
		return err
	}
	if m.hasImages && m.vision == nil {
		return fmt.Errorf("no vision backend")
	}
	return nil
}

// loadNative loads the parts of a .cellm file the native backends need.
func (m *Model) loadNative(f *format.File, o *Options) error {
	h := &f.Header
	m.maxPos, m.eosIDs = h.MaxPositionEmbeddings, h.EOSIDs()
	if idefics3.IsVLM(f) {
		m.hasImages = true
		var pc idefics3.ProjectorConfig
		if err := json.Unmarshal(h.SourceProjectorConfig, &pc); err != nil {
			return fmt.Errorf("source_projector_config: %w", err)
		}
		m.imageTokenID = pc.ImageTokenID
	}
	if o.VisionBackend == BackendONNX && o.DecoderBackend == BackendONNX {
		return nil
	}
	dec, err := models.Load(f)
	if err != nil {
		return err
	}
	if v, ok := dec.(*idefics3.Model); ok && o.VisionBackend == BackendCellm {
		m.vlm = v
		m.vision = nativeVision{v}
		v.Vision.UseBF16Activations(o.VisionPrecision == VisionBF16 ||
			o.VisionPrecision == VisionAuto && v.Vision.HalfWeights())
		v.Vision.UseBF16Attention(o.VisionPrecision == VisionAuto && v.Vision.WeightType() == kernels.Q8)
	}
	if p, ok := dec.(interface{ UseBF16Prefill(on, halfToo bool) }); ok {
		p.UseBF16Prefill(o.PrefillPrecision != PrefillF32, o.PrefillPrecision == PrefillBF16)
	}
	if o.DecoderBackend == BackendCellm {
		m.dec = dec
		m.text = &nativeText{m: m, dec: dec}
	}
	return nil
}

// loadAssets reads the tokenizer, chat template and image processor config.
func (m *Model) loadAssets(asset func(string) ([]byte, bool), o *Options) error {
	var err error
	switch {
	case o.TokenizerPath != "":
		if m.tok, err = tokenizer.LoadFile(o.TokenizerPath); err != nil {
			return err
		}
	default:
		if data, ok := asset("tokenizer.json"); ok {
			if m.tok, err = tokenizer.Load(data); err != nil {
				return fmt.Errorf("tokenizer.json: %w", err)
			}
		}
	}
	if m.tok != nil && m.tok.VocabSize() > m.text.vocab() {
		return fmt.Errorf("tokenizer has %d tokens but the model's vocabulary is %d", m.tok.VocabSize(), m.text.vocab())
	}
	tc, _ := asset("tokenizer_config.json")
	ct, _ := asset("chat_template.json")
	if ct == nil {
		ct, _ = asset("processor_config.json") // SmolVLM keeps its template there too
	}
	if tc != nil || ct != nil {
		src, bos, eos, err := chat.FromConfigs(tc, ct)
		if err == nil {
			if m.template, err = chat.Parse(src); err != nil {
				return fmt.Errorf("chat template: %w", err)
			}
		} else if !errors.Is(err, chat.ErrNoTemplate) {
			return err
		}
		m.bos, m.eos = bos, eos
	}
	if m.hasImages {
		pre, ok := asset("preprocessor_config.json")
		proc, _ := asset("processor_config.json")
		if !ok {
			// Text still works; images need the processor settings.
			m.imageCfgErr = errors.New("the model has no preprocessor_config.json (embed it when converting)")
			return nil
		}
		if m.imageCfg, err = imageproc.ParseConfig(pre, proc); err != nil {
			return fmt.Errorf("image processor config: %w", err)
		}
		if m.vlm != nil && m.imageCfg.TileSize != m.vlm.Vision.Config().ImageSize {
			m.imageCfgErr = fmt.Errorf("image processor tiles of %d but the vision tower takes %d", m.imageCfg.TileSize, m.vlm.Vision.Config().ImageSize)
		}
	}
	return nil
}

// Close releases the model file and any ONNX Runtime sessions. It makes
// new Generate, Tokens and ImageFeatures calls fail with ErrClosed, and
// waits for those already running to return (cancel their contexts to make
// that quick), so it must not be called from a token callback or a Tokens
// loop of the same model. Values from Text, VLM and File must not be used
// after Close. Closing twice is harmless.
func (m *Model) Close() error {
	if !m.life.close() {
		return nil
	}
	var first error
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	m.closers = nil
	return first
}

// Tokenizer returns the model's tokenizer, or nil if it has none.
func (m *Model) Tokenizer() *tokenizer.Tokenizer { return m.tok }

// Decoder returns the native text decoder, or nil when the decoder runs on
// ONNX Runtime.
func (m *Model) Decoder() models.Decoder { return m.dec }

// VLM returns the native vision-language model, or nil.
func (m *Model) VLM() *idefics3.Model { return m.vlm }

// IsVLM reports whether the model takes images.
func (m *Model) IsVLM() bool { return m.hasImages }

// Vocab returns the decoder's vocabulary size.
func (m *Model) Vocab() int { return m.text.vocab() }

// Hidden returns the decoder's hidden size.
func (m *Model) Hidden() int { return m.text.hidden() }

// File returns the underlying .cellm file, or nil for an ONNX-only model.
func (m *Model) File() *format.File { return m.file }

// ContextLength returns the model's context limit in tokens
// (max_position_embeddings), or 0 when the model does not give one.
func (m *Model) ContextLength() int { return m.maxPos }

// HasChatTemplate reports whether the model carries a chat template.
func (m *Model) HasChatTemplate() bool { return m.template != nil }

// ImageError reports why a vision-language model cannot take images (a
// missing or mismatched image processor configuration); nil when it can or
// when the model is text-only.
func (m *Model) ImageError() error { return m.imageCfgErr }

// ImageConfig returns the image processor configuration of a VLM.
func (m *Model) ImageConfig() (imageproc.Config, bool) { return m.imageCfg, m.hasImages }

// ImageCacheStats returns the counters of the model's image-feature cache
// (zero when it is disabled).
func (m *Model) ImageCacheStats() imagecache.Stats { return m.imageCache.Stats() }
