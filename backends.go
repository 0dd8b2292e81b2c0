package cellm

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cellm-ai/cellm-go/backend/onnxrt"
	"github.com/cellm-ai/cellm-go/generate"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/models/idefics3"
	"github.com/cellm-ai/cellm-go/models/llama"
)

// Backend names for Options.VisionBackend and Options.DecoderBackend.
const (
	BackendCellm = "cellm" // native Go kernels (the default)
	BackendONNX  = "onnx"  // ONNX Runtime on the official SmolVLM exports (build tag onnxruntime)
)

// visionBackend turns preprocessed tiles into <image>-token features.
type visionBackend interface {
	// features encodes the tiles; t receives the time per stage (an ONNX
	// session reports it all as Encode).
	features(b *imageproc.Batch, t *idefics3.Timing) ([]float32, error)
}

// textBackend embeds tokens and runs the decoder of one sequence at a time.
type textBackend interface {
	vocab() int
	hidden() int
	embed(ids []int) ([]float32, error)
	// prefill runs the prompt embeddings x (n rows) and writes the last
	// position's logits; the returned sequence continues from there and
	// release must be called when it is no longer used.
	prefill(x []float32, n, capacity int, kvF16 bool, logits []float32) (seq generate.Sequence, release func(), err error)
}

// nativeText is the Llama decoder of a .cellm file.
type nativeText struct{ m *llama.Model }

func (t nativeText) vocab() int  { return t.m.Config().Vocab }
func (t nativeText) hidden() int { return t.m.Config().Hidden }

func (t nativeText) embed(ids []int) ([]float32, error) {
	x := make([]float32, len(ids)*t.hidden())
	return x, t.m.Embed(x, ids)
}

func (t nativeText) prefill(x []float32, n, capacity int, kvF16 bool, logits []float32) (generate.Sequence, func(), error) {
	s := t.m.NewState(capacity)
	if kvF16 {
		s = t.m.NewStateF16(capacity)
	}
	if err := t.m.ForwardEmbeddings(s, x, n, logits, false); err != nil {
		return nil, nil, err
	}
	return generate.LlamaSequence(t.m, s), func() {}, nil
}

// nativeVision is the SigLIP tower and connector of a .cellm file.
type nativeVision struct{ m *idefics3.Model }

func (v nativeVision) features(b *imageproc.Batch, t *idefics3.Timing) ([]float32, error) {
	vs := v.m.Vision.Config()
	if b.H != vs.ImageSize || b.W != vs.ImageSize {
		return nil, fmt.Errorf("image tiles of %dx%d, the vision tower takes %dx%d", b.H, b.W, vs.ImageSize, vs.ImageSize)
	}
	var masks [][]bool
	if len(b.Mask) == b.N*b.H*b.W {
		masks = make([][]bool, b.N)
		for i := range masks {
			masks[i] = b.Mask[i*b.H*b.W : (i+1)*b.H*b.W]
		}
	}
	return v.m.ImageFeatures(b.Pixels, masks, b.N, t)
}

// onnxVision runs vision_encoder*.onnx.
type onnxVision struct {
	mu  sync.Mutex
	enc *onnxrt.VisionEncoder
}

func (v *onnxVision) features(b *imageproc.Batch, t *idefics3.Timing) ([]float32, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var mask []bool
	if len(b.Mask) == b.N*b.H*b.W {
		mask = b.Mask
	}
	start := time.Now()
	f, _, err := v.enc.Run(b.Pixels, mask, b.N, b.H, b.W)
	if t != nil {
		t.Encode += time.Since(start)
		if t.OnTile != nil && err == nil {
			t.OnTile(b.N, b.N) // one ONNX run encodes every tile
		}
	}
	return f, err
}

// onnxText runs embed_tokens*.onnx and decoder_model_merged*.onnx. The
// decoder keeps one sequence's past, so generations take turns.
type onnxText struct {
	mu        sync.Mutex
	emb       *onnxrt.Embedder
	dec       *onnxrt.Decoder
	vocabSize int
}

func (t *onnxText) vocab() int  { return t.vocabSize }
func (t *onnxText) hidden() int { return t.emb.Hidden() }

func (t *onnxText) embed(ids []int) ([]float32, error) {
	ids64 := make([]int64, len(ids))
	for i, id := range ids {
		ids64[i] = int64(id)
	}
	return t.emb.Embed(ids64)
}

func (t *onnxText) prefill(x []float32, n, capacity int, _ bool, logits []float32) (generate.Sequence, func(), error) {
	t.mu.Lock()
	t.dec.Reset()
	last, err := t.dec.Step(x, n)
	if err != nil {
		t.mu.Unlock()
		return nil, nil, err
	}
	if len(last) != len(logits) {
		t.mu.Unlock()
		return nil, nil, fmt.Errorf("onnx decoder: %d logits, the tokenizer/model vocabulary is %d", len(last), len(logits))
	}
	copy(logits, last)
	return &onnxSeq{t: t, cap: capacity}, t.mu.Unlock, nil
}

type onnxSeq struct {
	t   *onnxText
	cap int
}

func (q *onnxSeq) Append(id int, logits []float32) error {
	// A fresh slice: cgo refuses memory that shares an object with Go pointers.
	x, err := q.t.emb.Embed([]int64{int64(id)})
	if err != nil {
		return err
	}
	last, err := q.t.dec.Step(x, 1)
	if err != nil {
		return err
	}
	copy(logits, last)
	return nil
}
func (q *onnxSeq) Len() int { return q.t.dec.Len() }
func (q *onnxSeq) Cap() int { return q.cap }

// openONNX opens the ONNX sessions the options ask for, from the exported
// model folder dir (the HF repo or its onnx/ folder).
func openONNX(m *Model, opt *Options, vocab int) error {
	dir := opt.ONNXDir
	if dir == "" {
		return fmt.Errorf("the onnx backend needs the folder of the ONNX exports (Options.ONNXDir, --model-dir)")
	}
	vision, embed, decoder, err := onnxrt.FindFiles(dir, opt.ONNXVariant)
	if err != nil {
		return err
	}
	o := onnxrt.Options{LibraryPath: opt.ONNXLibrary}
	if opt.VisionBackend == BackendONNX {
		enc, err := onnxrt.OpenVisionEncoder(vision, o)
		if err != nil {
			return err
		}
		m.closers = append(m.closers, enc.Close)
		m.vision = &onnxVision{enc: enc}
		m.onnxFiles = append(m.onnxFiles, vision)
	}
	if opt.DecoderBackend == BackendONNX {
		emb, err := onnxrt.OpenEmbedder(embed, o)
		if err != nil {
			return err
		}
		m.closers = append(m.closers, emb.Close)
		dec, err := onnxrt.OpenDecoder(decoder, o)
		if err != nil {
			return err
		}
		m.closers = append(m.closers, dec.Close)
		if v := dec.Config().Vocab; v > 0 {
			vocab = v
		}
		if vocab <= 0 {
			return fmt.Errorf("%s: cannot tell the vocabulary size", decoder)
		}
		m.text = &onnxText{emb: emb, dec: dec, vocabSize: vocab}
		m.onnxFiles = append(m.onnxFiles, embed, decoder)
	}
	return nil
}

// DescribeONNX lists the inputs and outputs of the ONNX sessions in use.
func (m *Model) DescribeONNX(library string) (string, error) {
	var out string
	for _, f := range m.onnxFiles {
		s, err := onnxrt.DescribeIO(f, onnxrt.Options{LibraryPath: library})
		if err != nil {
			return "", err
		}
		out += s
	}
	return out, nil
}

// dirAssets reads runtime assets from a Hugging Face model folder.
func dirAssets(dir string) func(string) ([]byte, bool) {
	return func(name string) ([]byte, bool) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return b, err == nil
	}
}
