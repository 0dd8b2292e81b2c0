package cellm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/imagecache"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models/idefics3"
	"github.com/cellm-ai/cellm-go/sample"
)

// Request describes one generation. Give exactly one of Prompt, Messages
// and InputIDs.
type Request struct {
	// Prompt is plain text (or, with Chat, the user's message).
	Prompt string
	// Chat renders Prompt (and System) as a chat turn with the model's chat template.
	Chat bool
	// System is the system message of a chat.
	System string
	// Messages is a whole conversation; it implies Chat.
	Messages []chat.Message
	// ChatFormat picks how a chat is rendered: "auto" (default: the model's
	// template if it has one, else ChatML), "template", "chatml" or "plain".
	ChatFormat string
	// TemplateVars are further variables for the model's chat template: the
	// keyword arguments transformers' apply_chat_template passes on, such
	// as Qwen3's "enable_thinking": false (values as chat.Options.Extra
	// takes them, json.RawMessage included). They need a chat request; the
	// chatml and plain formats, which have no template, ignore them.
	TemplateVars map[string]any
	// InputIDs feeds token ids directly, bypassing the tokenizer.
	InputIDs []int

	// Images are encoded image files (JPEG, PNG, GIF, WebP) for a
	// vision-language model. Each <image> in the prompt marks where one goes;
	// without any, they are placed before the text.
	Images [][]byte
	// ImageBatch gives already preprocessed images (pixel values, tile
	// grids) instead of Images.
	ImageBatch *imageproc.Batch
	// ImageFeatures, if set, are the connector outputs of ImageBatch already
	// computed with Model.ImageFeatures; they are used instead of encoding
	// the tiles again.
	ImageFeatures []float32
	// SplitImage overrides the processor's do_image_splitting when not nil.
	SplitImage *bool
	// MaxImagePixels caps decoded image size (default imageproc's cap).
	MaxImagePixels int
	// MaxImageTiles caps the tiles of each image, the global view counted
	// (0: no cap). Splitting resizes an image so its longest edge is the
	// processor's longest_edge (2048 for SmolVLM-256M, 4x4 tiles of 512 plus
	// the global view for a square photo); a cap lowers that edge to the
	// largest multiple of the tile size whose split fits, down to one tile.
	// Each tile is ImageSeqLen image tokens (64 for SmolVLM-256M) and one
	// vision-tower pass, so fewer tiles mean a faster first token and a
	// shorter prompt, at a lower image resolution (fine detail and small
	// text are read less well).
	MaxImageTiles int
	// ImageLongestEdge overrides the processor's size.longest_edge (the
	// first resize of split images) when > 0; a multiple of the tile size
	// keeps tiles whole. MaxImageTiles may lower it further.
	ImageLongestEdge int
	// ImageProgress, if not nil, is called after each image tile the vision
	// encoder finishes, with the tiles done and the total.
	ImageProgress func(done, total int)

	// MaxNewTokens caps the generated tokens (default 128).
	MaxNewTokens int
	// MinNewTokens suppresses end-of-sequence tokens until this many were generated.
	MinNewTokens int
	// Sampling configures the sampler; the zero value is greedy.
	Sampling sample.Options
	// Stop ends generation at the first occurrence of any of these strings
	// in the generated text (which is cut before it).
	Stop []string
	// IgnoreEOS keeps generating past end-of-sequence tokens.
	IgnoreEOS bool
	// KVType is the storage of the KV cache: "f32" (the default, also ""),
	// "f16" (half the memory) or "q8" (int8 rows of head_dim values with
	// one scale each, about a quarter; also "int8" or "q8_0").
	KVType string
	// KVF16 stores the KV cache as f16 (as KVType "f16").
	KVF16 bool
	// MaxContext caps prompt plus generated tokens (default the model's
	// max_position_embeddings).
	MaxContext int
}

// prompt is a tokenized request: ids, and for VLMs the processed images.
type prompt struct {
	ids  []int
	text string
	// images are the tiles to encode: the request's ImageBatch, or those of
	// its Images the feature cache did not hold (nil if none).
	images *imageproc.Batch
	// grids has every image's tile grid, tiles the total of their tiles.
	grids []imageproc.Grid
	tiles int
	// parts is set for Images requests: per image, its cached features or
	// its tiles among those encoded.
	parts []imagePart
	// enc, if not nil, is encoding the tiles of the Images the cache did
	// not hold, image by image as they are preprocessed (images is nil).
	enc *imageEncoding
	// prep is the time spent decoding and tiling the images that enc encodes.
	prep time.Duration
}

// abandon waits for the prompt's background image encoding, if any, after
// telling it to skip what is left: nothing of it runs once abandon returns.
func (p *prompt) abandon() {
	if p != nil && p.enc != nil {
		p.enc.stop.Store(true)
		<-p.enc.done
	}
}

// imageEncoding is the vision tower encoding a request's images in the
// background while the next ones are decoded and tiled (and the prompt
// rendered and tokenized).
type imageEncoding struct {
	in    chan encodeItem
	done  chan struct{} // closed when the encoder has finished
	stop  atomic.Bool   // skip what is left (the request failed)
	tiles int           // tiles sent so far (sender side)

	// Set by the encoder, read after done.
	feats  []float32
	timing idefics3.Timing
	err    error
}

// encodeItem is one preprocessed image and the tiles known when it was sent.
type encodeItem struct {
	b            *imageproc.Batch
	before, seen int
}

// startEncoding starts the encoder goroutine; progress (if not nil) is
// called after each tile with the tiles done and the tiles known so far.
func (m *Model) startEncoding(progress func(done, total int)) *imageEncoding {
	e := &imageEncoding{in: make(chan encodeItem, 1), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		for it := range e.in {
			if e.err != nil || e.stop.Load() {
				continue
			}
			t := idefics3.Timing{}
			if progress != nil {
				t.OnTile = func(done, _ int) { progress(it.before+done, it.seen) }
			}
			f, err := m.imageFeatures(it.b, &t)
			if err != nil {
				e.err = err
				continue
			}
			e.feats = append(e.feats, f...)
			e.timing.Encode += t.Encode
			e.timing.Project += t.Project
		}
	}()
	return e
}

// send queues a preprocessed image for encoding.
func (e *imageEncoding) send(b *imageproc.Batch) {
	before := e.tiles
	e.tiles += b.N
	e.in <- encodeItem{b: b, before: before, seen: e.tiles}
}

// wait returns the features of every image sent, once encoded.
func (e *imageEncoding) wait() ([]float32, error) {
	<-e.done
	return e.feats, e.err
}

// imagePart is one image of an Images request.
type imagePart struct {
	key    imagecache.Key
	cached *imagecache.Entry // nil: encode tiles [first, first+tiles) of prompt.images
	first  int
	tiles  int
	grid   imageproc.Grid
}

// messages returns the conversation of a chat request.
func (r *Request) messages(images int) []chat.Message {
	msgs := append([]chat.Message(nil), r.Messages...)
	if len(msgs) == 0 {
		if r.System != "" {
			msgs = append(msgs, chat.Message{Role: "system", Content: r.System})
		}
		msgs = append(msgs, chat.Message{Role: "user", Content: r.Prompt})
	}
	if images > 0 && !hasImageParts(msgs) {
		for i := range msgs {
			if msgs[i].Role == "user" && msgs[i].Images == 0 && msgs[i].Parts == nil {
				msgs[i].Images = images
				break
			}
		}
	}
	return msgs
}

// hasImageParts reports whether any message already places images (a
// multi-turn chat with images in several turns).
func hasImageParts(msgs []chat.Message) bool {
	for _, msg := range msgs {
		if msg.Images > 0 {
			return true
		}
		for _, part := range msg.Parts {
			if part.Type == "image" {
				return true
			}
		}
	}
	return false
}

// render returns the prompt text of a request.
func (m *Model) render(r *Request, images int) (text string, templated bool, err error) {
	if !r.Chat && len(r.Messages) == 0 {
		if len(r.TemplateVars) > 0 {
			return "", false, fmt.Errorf("template variables given for a prompt that is not a chat (set Chat or Messages)")
		}
		text = r.Prompt
		if images > 0 && !strings.Contains(text, imageproc.ImageToken) {
			text = strings.Repeat(imageproc.ImageToken, images) + text
		}
		return text, false, nil
	}
	msgs := r.messages(images)
	format := r.ChatFormat
	if format == "" || format == "auto" {
		format = "chatml"
		if m.template != nil {
			format = "template"
		}
	}
	switch format {
	case "template":
		if m.template == nil {
			return "", false, fmt.Errorf("chat format template: the model has no chat template")
		}
		text, err = m.template.Render(msgs, chat.Options{AddGenerationPrompt: true, BOSToken: m.bos, EOSToken: m.eos, Extra: r.TemplateVars})
		return text, true, err
	case "chatml":
		return chat.ChatML(withImageTokens(msgs), true), true, nil
	case "plain":
		return chat.Plain(withImageTokens(msgs)), false, nil
	}
	return "", false, fmt.Errorf("chat format %q: want auto, template, chatml or plain", r.ChatFormat)
}

// withImageTokens writes image parts as <image> placeholders into the
// content, for the formats that do not render parts.
func withImageTokens(msgs []chat.Message) []chat.Message {
	out := make([]chat.Message, len(msgs))
	for i, msg := range msgs {
		out[i] = chat.Message{Role: msg.Role, Content: strings.Repeat(imageproc.ImageToken, msg.Images) + msg.Content}
	}
	return out
}

// tokenize turns a request into prompt ids in one linear pass: images are
// decoded and tiled (imageproc), the messages rendered with the chat
// template (chat), each <image> placeholder expanded into the image's
// tokens (imageproc.ExpandPrompt), and the text encoded (tokenizer).
// promptEmbeddings then splices the image features in; nothing else
// prepares a prompt.
//
// With encode, images the feature cache does not hold start encoding in
// the background as soon as each is preprocessed (prompt.enc); on error
// that encoding is stopped before tokenize returns.
func (m *Model) tokenize(r *Request, encode bool) (*prompt, error) {
	p := &prompt{}
	if err := m.tokenizeInto(r, p, encode); err != nil {
		p.abandon()
		return nil, err
	}
	return p, nil
}

func (m *Model) tokenizeInto(r *Request, p *prompt, encode bool) error {
	if len(r.InputIDs) > 0 {
		if r.Prompt != "" || len(r.Messages) > 0 {
			return fmt.Errorf("give either InputIDs or a prompt, not both")
		}
		vocab := m.text.vocab()
		for _, id := range r.InputIDs {
			if id < 0 || id >= vocab {
				return fmt.Errorf("input id %d outside the vocabulary (0..%d)", id, vocab-1)
			}
		}
		if len(r.Images) > 0 {
			return fmt.Errorf("with InputIDs, give images as a preprocessed ImageBatch")
		}
		p.ids = r.InputIDs
		return m.requestImages(r, p, encode)
	}
	if m.tok == nil {
		return ErrNoTokenizer
	}
	if err := m.requestImages(r, p, encode); err != nil {
		return err
	}
	n := len(p.grids)
	text, templated, err := m.render(r, n)
	if err != nil {
		return err
	}
	if n > 0 {
		if got := strings.Count(text, imageproc.ImageToken); got != n {
			return fmt.Errorf("prompt has %d %s placeholders for %d images", got, imageproc.ImageToken, n)
		}
		if text, err = imageproc.ExpandPrompt(text, p.grids, m.imageCfg.ImageSeqLen); err != nil {
			return err
		}
	}
	p.text = text
	// Chat templates write their own special tokens (as transformers'
	// apply_chat_template, which tokenizes without add_special_tokens).
	if p.ids, err = m.tok.Encode(text, !templated); err != nil {
		return err
	}
	if len(p.ids) == 0 {
		return fmt.Errorf("empty prompt")
	}
	return nil
}

// errTextOnly is returned for images given to a model without a vision encoder.
var errTextOnly = errors.New("images given to a text-only model")

// requestImages sets the images of p from the request: its ImageBatch, or
// its Images, each taken from the feature cache when it holds it, else
// decoded and tiled into p.images.
func (m *Model) requestImages(r *Request, p *prompt, encode bool) error {
	switch {
	case r.ImageBatch != nil:
		if !m.hasImages {
			return errTextOnly
		}
		p.images, p.grids, p.tiles = r.ImageBatch, r.ImageBatch.Grids, r.ImageBatch.N
		return nil
	case len(r.Images) == 0:
		return nil
	}
	cfg, split, err := m.imageSettings(r)
	if err != nil {
		return err
	}
	var missing [][]byte
	p.parts = make([]imagePart, len(r.Images))
	p.grids = make([]imageproc.Grid, len(r.Images))
	for i, data := range r.Images {
		part := &p.parts[i]
		part.key = imagecache.KeyOf(data, cfg, split, r.MaxImageTiles)
		if r.ImageFeatures == nil {
			if e, ok := m.imageCache.Get(part.key); ok {
				part.cached, part.tiles, part.grid = &e, e.Tiles, e.Grid
				p.grids[i], p.tiles = e.Grid, p.tiles+e.Tiles
				continue
			}
		}
		missing = append(missing, data)
	}
	if len(missing) == 0 {
		return nil
	}
	if !encode || r.ImageFeatures != nil {
		if p.images, err = m.preprocess(missing, cfg, split, r.MaxImagePixels, r.MaxImageTiles); err != nil {
			return err
		}
		return p.placeMissing(p.images.Grids, p.images.N)
	}
	// Each image is encoded while the next one is decoded and tiled.
	p.enc = m.startEncoding(r.ImageProgress)
	grids := make([]imageproc.Grid, 0, len(missing))
	defer close(p.enc.in)
	for i, data := range r.Images {
		if p.parts[i].cached != nil {
			continue
		}
		start := time.Now()
		img, c, err := m.loadImage(i, data, cfg, r.MaxImagePixels, r.MaxImageTiles)
		if err != nil {
			return err
		}
		b, err := imageproc.ProcessEach([]*imageproc.RGB{img}, []imageproc.Config{c}, split)
		if err != nil {
			return fmt.Errorf("image %d: %w", i+1, err)
		}
		p.prep += time.Since(start)
		grids = append(grids, b.Grids[0])
		p.enc.send(b)
	}
	return p.placeMissing(grids, p.enc.tiles)
}

// placeMissing records the grids of the images not taken from the cache
// (in order) and where their tiles are among the n encoded.
func (p *prompt) placeMissing(grids []imageproc.Grid, n int) error {
	k, first := 0, 0
	for i := range p.parts {
		part := &p.parts[i]
		if part.cached != nil {
			continue
		}
		g := grids[k]
		part.first, part.tiles, part.grid = first, gridTiles(g), g
		p.grids[i], p.tiles = g, p.tiles+part.tiles
		first += part.tiles
		k++
	}
	if first != n {
		return fmt.Errorf("images: %d tiles from their grids, %d preprocessed", first, n)
	}
	return nil
}

// gridTiles is the number of tiles of an image with grid g.
func gridTiles(g imageproc.Grid) int {
	if g.Rows == 0 || g.Cols == 0 {
		return 1
	}
	return g.Rows*g.Cols + 1
}

// imageSettings returns the processor settings a request asks for.
func (m *Model) imageSettings(r *Request) (imageproc.Config, bool, error) {
	if !m.hasImages {
		return imageproc.Config{}, false, errTextOnly
	}
	if m.imageCfg.TileSize == 0 {
		return imageproc.Config{}, false, m.imageCfgErr
	}
	if r.MaxImageTiles < 0 {
		return imageproc.Config{}, false, fmt.Errorf("negative MaxImageTiles %d", r.MaxImageTiles)
	}
	cfg := m.imageCfg
	if r.ImageLongestEdge != 0 {
		cfg.LongestEdge = r.ImageLongestEdge
		if err := cfg.Validate(); err != nil {
			return imageproc.Config{}, false, fmt.Errorf("ImageLongestEdge: %w", err)
		}
	}
	split := cfg.DoImageSplitting
	if r.SplitImage != nil {
		split = *r.SplitImage
	}
	return cfg, split, nil
}

// PreprocessImages decodes encoded images and runs the model's image
// processor on them (resize, split into tiles, normalize). split overrides
// the processor's do_image_splitting when not nil.
func (m *Model) PreprocessImages(images [][]byte, split *bool, maxPixels int) (*imageproc.Batch, error) {
	return m.PreprocessRequestImages(Request{Images: images, SplitImage: split, MaxImagePixels: maxPixels})
}

// PreprocessRequestImages preprocesses req.Images as a generation would,
// with every image setting of req (SplitImage, MaxImagePixels,
// MaxImageTiles, ImageLongestEdge).
func (m *Model) PreprocessRequestImages(req Request) (*imageproc.Batch, error) {
	cfg, split, err := m.imageSettings(&req)
	if err != nil {
		return nil, err
	}
	return m.preprocess(req.Images, cfg, split, req.MaxImagePixels, req.MaxImageTiles)
}

// preprocess decodes and tiles images. Each image is decoded (with the
// first resize applied while decoding) and tiled as soon as the previous
// one is, so only one decoded image is held beyond the tiles.
func (m *Model) preprocess(images [][]byte, cfg imageproc.Config, split bool, maxPixels, maxTiles int) (*imageproc.Batch, error) {
	imgs := make([]*imageproc.RGB, len(images))
	cfgs := make([]imageproc.Config, len(images))
	for i, data := range images {
		img, c, err := m.loadImage(i, data, cfg, maxPixels, maxTiles)
		if err != nil {
			return nil, err
		}
		imgs[i], cfgs[i] = img, c
	}
	return imageproc.ProcessEach(imgs, cfgs, split)
}

// loadImage decodes image i (from 0) of a request, applying the first
// resize while decoding; it returns the settings to tile it with.
func (m *Model) loadImage(i int, data []byte, cfg imageproc.Config, maxPixels, maxTiles int) (*imageproc.RGB, imageproc.Config, error) {
	img, c, err := imageproc.LoadCapped(data, imageproc.DecodeOptions{MaxPixels: maxPixels}, cfg, maxTiles)
	if err != nil {
		return nil, c, fmt.Errorf("image %d: %w", i+1, err)
	}
	return img, c, nil
}

func (m *Model) imageFeatures(b *imageproc.Batch, t *idefics3.Timing) ([]float32, error) {
	if m.vision == nil {
		return nil, fmt.Errorf("the model has no vision encoder")
	}
	return m.vision.features(b, t)
}

// Tokenize returns the prompt ids a request becomes (after its chat template
// and, for images, the expansion into image tokens), without generating.
func (m *Model) Tokenize(req Request) ([]int, error) {
	p, err := m.tokenize(&req, false)
	if err != nil {
		return nil, err
	}
	return p.ids, nil
}

// promptEmbeddings returns the input embeddings of a prompt with images:
// the token embeddings with each image token's row replaced by the image
// features (computed now unless the request carries them), or nil for a
// prompt without images (the decoder embeds its ids itself). st receives
// the vision timings.
func (m *Model) promptEmbeddings(p *prompt, r *Request, st *Stats) (x []float32, err error) {
	if p.tiles == 0 { // no image tiles (an ImageBatch may come without grids)
		return nil, nil
	}
	if m.imageCfgErr != nil {
		return nil, m.imageCfgErr
	}
	if x, err = m.text.embed(p.ids); err != nil {
		return nil, err
	}
	feats, encoded := r.ImageFeatures, 0
	if p.images != nil {
		encoded = p.images.N
	}
	if p.enc != nil {
		if feats, err = p.enc.wait(); err != nil {
			return nil, err
		}
		st.VisionEncode, st.Projection = p.enc.timing.Encode, p.enc.timing.Project
		encoded = p.enc.tiles
	} else if feats == nil && p.images != nil {
		t := idefics3.Timing{OnTile: r.ImageProgress}
		if feats, err = m.imageFeatures(p.images, &t); err != nil {
			return nil, err
		}
		st.VisionEncode, st.Projection = t.Encode, t.Project
	}
	if p.parts != nil {
		if feats, err = m.assembleFeatures(p, feats, encoded, r.ImageFeatures != nil, st); err != nil {
			return nil, err
		}
	}
	st.Images, st.Tiles = len(p.grids), p.tiles
	h := m.text.hidden()
	if err := idefics3.Splice(x, p.ids, m.imageTokenID, feats, h); err != nil {
		return nil, err
	}
	return x, nil
}

// assembleFeatures returns the features of an Images request's images in
// order: cached ones from the cache, the others from encoded (the features
// of the n tiles encoded or supplied), which are stored in the cache unless
// the caller supplied them.
func (m *Model) assembleFeatures(p *prompt, encoded []float32, n int, supplied bool, st *Stats) ([]float32, error) {
	per := 0 // feature values per tile
	if n > 0 {
		if len(encoded)%n != 0 {
			return nil, fmt.Errorf("image features: %d values for %d tiles", len(encoded), n)
		}
		per = len(encoded) / n
	}
	if n > 0 && n == p.tiles {
		// Nothing came from the cache: the features are in order already.
		for _, part := range p.parts {
			if !supplied {
				m.cacheFeatures(part, encoded[part.first*per:(part.first+part.tiles)*per])
			}
		}
		return encoded, nil
	}
	out := make([]float32, 0, p.tiles*per)
	for _, part := range p.parts {
		if part.cached != nil {
			st.ImageCacheHits++
			out = append(out, part.cached.Features...)
			continue
		}
		f := encoded[part.first*per : (part.first+part.tiles)*per]
		out = append(out, f...)
		if !supplied {
			m.cacheFeatures(part, f)
		}
	}
	return out, nil
}

// cacheFeatures stores a copy of one image's features (a copy, so that the
// cache holds no reference to a whole prompt's features).
func (m *Model) cacheFeatures(part imagePart, f []float32) {
	if m.imageCache == nil {
		return
	}
	m.imageCache.Put(part.key, imagecache.Entry{Grid: part.grid, Tiles: part.tiles, Features: slices.Clone(f)})
}

// kvType returns the KV cache storage r asks for (KVType, or KVF16).
func (r *Request) kvType() (kvcache.DType, error) {
	if r.KVType == "" {
		if r.KVF16 {
			return kvcache.F16, nil
		}
		return kvcache.F32, nil
	}
	kv, err := kvcache.ParseDType(r.KVType)
	if err != nil {
		return 0, fmt.Errorf("cellm: Request.KVType: %w", err)
	}
	if r.KVF16 && kv != kvcache.F16 {
		return 0, fmt.Errorf("cellm: Request.KVF16 with KVType %q", r.KVType)
	}
	return kv, nil
}
