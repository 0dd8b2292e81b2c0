package cellm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/imageproc"
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
	// KVF16 stores the KV cache as f16 (half the memory).
	KVF16 bool
	// MaxContext caps prompt plus generated tokens (default the model's
	// max_position_embeddings).
	MaxContext int
}

// prompt is a tokenized request: ids, and for VLMs the processed images.
type prompt struct {
	ids    []int
	text   string
	images *imageproc.Batch
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
func (m *Model) tokenize(r *Request) (*prompt, error) {
	if len(r.InputIDs) > 0 {
		if r.Prompt != "" || len(r.Messages) > 0 {
			return nil, fmt.Errorf("give either InputIDs or a prompt, not both")
		}
		if len(r.Images) > 0 {
			return nil, fmt.Errorf("with InputIDs, give images as a preprocessed ImageBatch")
		}
		vocab := m.text.vocab()
		for _, id := range r.InputIDs {
			if id < 0 || id >= vocab {
				return nil, fmt.Errorf("input id %d outside the vocabulary (0..%d)", id, vocab-1)
			}
		}
		images, err := m.requestImages(r)
		if err != nil {
			return nil, err
		}
		return &prompt{ids: r.InputIDs, images: images}, nil
	}
	if m.tok == nil {
		return nil, ErrNoTokenizer
	}
	images, err := m.requestImages(r)
	if err != nil {
		return nil, err
	}
	p := &prompt{images: images}
	n := 0
	if p.images != nil {
		n = len(p.images.Grids)
	}
	text, templated, err := m.render(r, n)
	if err != nil {
		return nil, err
	}
	if p.images != nil {
		if got := strings.Count(text, imageproc.ImageToken); got != n {
			return nil, fmt.Errorf("prompt has %d %s placeholders for %d images", got, imageproc.ImageToken, n)
		}
		if text, err = imageproc.ExpandPrompt(text, p.images.Grids, m.imageCfg.ImageSeqLen); err != nil {
			return nil, err
		}
	}
	p.text = text
	// Chat templates write their own special tokens (as transformers'
	// apply_chat_template, which tokenizes without add_special_tokens).
	if p.ids, err = m.tok.Encode(text, !templated); err != nil {
		return nil, err
	}
	if len(p.ids) == 0 {
		return nil, fmt.Errorf("empty prompt")
	}
	return p, nil
}

// errTextOnly is returned for images given to a model without a vision encoder.
var errTextOnly = errors.New("images given to a text-only model")

// requestImages returns the request's images, preprocessed, or nil.
func (m *Model) requestImages(r *Request) (*imageproc.Batch, error) {
	switch {
	case r.ImageBatch != nil:
		if !m.hasImages {
			return nil, errTextOnly
		}
		return r.ImageBatch, nil
	case len(r.Images) > 0:
		return m.PreprocessImages(r.Images, r.SplitImage, r.MaxImagePixels)
	}
	return nil, nil
}

// PreprocessImages decodes encoded images and runs the model's image
// processor on them (resize, split into tiles, normalize). split overrides
// the processor's do_image_splitting when not nil.
func (m *Model) PreprocessImages(images [][]byte, split *bool, maxPixels int) (*imageproc.Batch, error) {
	if !m.hasImages {
		return nil, errTextOnly
	}
	if m.imageCfg.TileSize == 0 {
		return nil, m.imageCfgErr
	}
	imgs := make([]*imageproc.RGB, len(images))
	for i, data := range images {
		// Load applies the first resize while decoding: a big photo is
		// never held at full size.
		img, err := imageproc.Load(data, imageproc.DecodeOptions{MaxPixels: maxPixels}, m.imageCfg)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i+1, err)
		}
		imgs[i] = img
	}
	doSplit := m.imageCfg.DoImageSplitting
	if split != nil {
		doSplit = *split
	}
	return imageproc.Process(imgs, m.imageCfg, doSplit)
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
	p, err := m.tokenize(&req)
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
func (m *Model) promptEmbeddings(p *prompt, r *Request, st *Stats) ([]float32, error) {
	if p.images == nil {
		return nil, nil
	}
	if m.imageCfgErr != nil {
		return nil, m.imageCfgErr
	}
	x, err := m.text.embed(p.ids)
	if err != nil {
		return nil, err
	}
	feats := r.ImageFeatures
	if feats == nil {
		t := idefics3.Timing{OnTile: r.ImageProgress}
		if feats, err = m.imageFeatures(p.images, &t); err != nil {
			return nil, err
		}
		st.VisionEncode, st.Projection = t.Encode, t.Project
	}
	st.Images, st.Tiles = len(p.images.Grids), p.images.N
	if err := idefics3.Splice(x, p.ids, m.imageTokenID, feats, m.text.hidden()); err != nil {
		return nil, err
	}
	return x, nil
}
