package cellm

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cellm-ai/cellm-go/backend/onnxrt"
	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/generate"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models"
	"github.com/cellm-ai/cellm-go/models/idefics3"
)

// Backend names where a part of the model runs (Options.VisionBackend,
// Options.DecoderBackend).
type Backend string

// Backends.
const (
	BackendCellm Backend = "cellm" // native Go kernels (the default)
	BackendONNX  Backend = "onnx"  // ONNX Runtime on the official SmolVLM exports (build tag onnxruntime)
)

// visionBackend turns preprocessed tiles into <image>-token features.
type visionBackend interface {
	// features encodes the tiles; t receives the time per stage (an ONNX
	// session reports it all as Encode).
	features(b *imageproc.Batch, t *idefics3.Timing) ([]float32, error)
}

// textBackend embeds tokens and opens conversations with the decoder.
type textBackend interface {
	vocab() int
	hidden() int
	embed(ids []int) ([]float32, error)
	// conversation returns an empty conversation with its own cache.
	conversation(kv kvcache.DType) (conversation, error)
}

// conversation is one sequence on a text backend, kept between turns.
type conversation interface {
	generate.Sequence
	// prefill makes the conversation hold ids (x, if not nil, their input
	// embeddings), reusing what it already holds of them, and writes the
	// last position's logits; it returns the positions reused.
	prefill(ids []int, x []float32, logits []float32) (reused int, err error)
	// close releases the conversation's cache.
	close()
}

// nativeText is the decoder of a .cellm file, served by one engine per KV
// cache type (made on first use), which every generation shares.
type nativeText struct {
	m       *Model
	dec     models.Decoder
	mu      sync.Mutex
	engines [3]*engine.Engine // by kvcache.DType
}

func (t *nativeText) vocab() int  { return t.dec.Spec().Vocab }
func (t *nativeText) hidden() int { return t.dec.Spec().Hidden }

func (t *nativeText) embed(ids []int) ([]float32, error) {
	x := make([]float32, len(ids)*t.hidden())
	return x, t.dec.Embed(x, ids)
}

func (t *nativeText) engine(kv kvcache.DType) (*engine.Engine, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.engines[kv]; e != nil {
		return e, nil
	}
	e, err := engine.New(t.dec, engine.Options{KVType: kv, MaxContext: t.m.maxPos, KVBudgetBytes: t.m.kvBudget, PrefillChunk: t.m.prefillChunk})
	if err != nil {
		return nil, err
	}
	t.engines[kv] = e
	return e, nil
}

func (t *nativeText) conversation(kv kvcache.DType) (conversation, error) {
	e, err := t.engine(kv)
	if err != nil {
		return nil, err
	}
	return &nativeConv{Session: e.NewSession(), t: t}, nil
}

// nativeConv is an engine session. It keeps the input embeddings of its
// last prompt when they were given (images spliced in), so that the next
// prompt reuses the positions whose embeddings are unchanged: the engine
// alone reuses only positions computed from ids.
type nativeConv struct {
	*engine.Session
	t *nativeText
	x []float32 // embeddings of the first len(x)/hidden cached positions, or nil
}

func (c *nativeConv) prefill(ids []int, x []float32, logits []float32) (int, error) {
	if x == nil {
		c.x = nil
		return c.Prefill(ids, nil, logits)
	}
	known, err := c.sameEmbeddings(ids, x)
	if err != nil {
		return 0, err
	}
	c.x = nil
	reused, err := c.PrefillKnown(ids, x, logits, known)
	if err == nil {
		c.x = append(c.x[:0], x...)
	}
	return reused, err
}

// sameEmbeddings returns how many leading cached positions have the ids and
// the input embeddings x gives: the rows of the previous prompt are
// compared with its stored embeddings, later (generated) positions with
// their ids' token embeddings.
func (c *nativeConv) sameEmbeddings(ids []int, x []float32) (int, error) {
	h := c.t.hidden()
	held := c.History()
	n := 0
	for n < len(held) && n < len(ids) && held[n] == ids[n] && n < len(c.x)/h &&
		slices.Equal(c.x[n*h:(n+1)*h], x[n*h:(n+1)*h]) {
		n++
	}
	if n < len(c.x)/h {
		return n, nil
	}
	end := n
	for end < len(held) && end < len(ids) && held[end] == ids[end] {
		end++
	}
	if end == n {
		return n, nil
	}
	emb, err := c.t.embed(ids[n:end])
	if err != nil {
		return 0, err
	}
	for i := range end - n {
		if !slices.Equal(emb[i*h:(i+1)*h], x[(n+i)*h:(n+i+1)*h]) {
			break
		}
		n++
	}
	return n, nil
}

func (c *nativeConv) close() { c.Close() }

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
// decoder keeps the past of one sequence: conversations take turns on it
// one forward call at a time (the lock is never held while tokens are
// handed to the caller), and a conversation whose past was replaced by
// another's replays its own input embeddings first.
type onnxText struct {
	mu        sync.Mutex
	emb       *onnxrt.Embedder
	dec       *onnxrt.Decoder
	owner     *onnxConv // whose past the decoder holds
	vocabSize int
	maxPos    int // context limit (0: 2048)
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

func (t *onnxText) conversation(kvcache.DType) (conversation, error) {
	return &onnxConv{t: t, cap: t.maxPositions()}, nil
}

func (t *onnxText) maxPositions() int {
	if t.maxPos > 0 {
		return t.maxPos
	}
	return 2048
}

// onnxConv is one conversation on the ONNX decoder: the ids and input
// embeddings of its positions, to replay them when it regains the decoder.
type onnxConv struct {
	t   *onnxText
	cap int
	ids []int
	x   []float32
}

// step runs x (n rows) after the conversation's positions and copies the
// last logits out. It holds the decoder only for the call.
func (c *onnxConv) step(x []float32, n int, logits []float32) error {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.owner != c || t.dec.Len() != len(c.ids) {
		t.dec.Reset()
		t.owner = nil
		if len(c.ids) > 0 {
			if _, err := t.dec.Step(c.x, len(c.ids)); err != nil {
				return err
			}
		}
		t.owner = c
	}
	last, err := t.dec.Step(x, n)
	if err != nil {
		t.owner = nil
		return err
	}
	if len(last) != len(logits) {
		return fmt.Errorf("onnx decoder: %d logits, the tokenizer/model vocabulary is %d", len(last), len(logits))
	}
	copy(logits, last)
	return nil
}

func (c *onnxConv) prefill(ids []int, x []float32, logits []float32) (int, error) {
	if x == nil {
		var err error
		if x, err = c.t.embed(ids); err != nil {
			return 0, err
		}
	}
	h := c.t.hidden()
	// Reuse the longest common prefix (one position at least is computed).
	n := 0
	for n < len(c.ids) && n < len(ids)-1 && c.ids[n] == ids[n] && slices.Equal(c.x[n*h:(n+1)*h], x[n*h:(n+1)*h]) {
		n++
	}
	c.truncate(n)
	if err := c.step(x[n*h:], len(ids)-n, logits); err != nil {
		c.truncate(0)
		return 0, err
	}
	c.ids = append(c.ids, ids[n:]...)
	c.x = append(c.x, x[n*h:]...)
	return n, nil
}

// truncate keeps the first n positions; the decoder replays them on the next step.
func (c *onnxConv) truncate(n int) {
	if n == len(c.ids) {
		return
	}
	c.ids, c.x = c.ids[:n], c.x[:n*c.t.hidden()]
	c.t.mu.Lock()
	if c.t.owner == c {
		c.t.owner = nil
	}
	c.t.mu.Unlock()
}

func (c *onnxConv) Append(id int, logits []float32) error {
	// A fresh slice: cgo refuses memory that shares an object with Go pointers.
	x, err := c.t.emb.Embed([]int64{int64(id)})
	if err != nil {
		return err
	}
	if err := c.step(x, 1, logits); err != nil {
		return err
	}
	c.ids = append(c.ids, id)
	c.x = append(c.x, x...)
	return nil
}

func (c *onnxConv) Len() int { return len(c.ids) }
func (c *onnxConv) Cap() int { return c.cap }
func (c *onnxConv) close()   { c.truncate(0) }

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
		m.text = &onnxText{emb: emb, dec: dec, vocabSize: vocab, maxPos: m.maxPos}
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
