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
package cellm

import (
	"errors"
	"fmt"

	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/models/idefics3"
	"github.com/cellm-ai/cellm-go/models/llama"
	"github.com/cellm-ai/cellm-go/tokenizer"
)

// Options configure Open.
type Options struct {
	// TokenizerPath overrides the tokenizer.json embedded in the model.
	TokenizerPath string
}

// Model is an opened .cellm model with its tokenizer, chat template and,
// for vision-language models, its image processor configuration.
type Model struct {
	file      *format.File
	text      *llama.Model
	vlm       *idefics3.Model
	tok       *tokenizer.Tokenizer
	template  *chat.Template
	bos, eos  string
	eosIDs    map[int]bool
	imageCfg  imageproc.Config
	hasImages bool
}

// ErrNoTokenizer is returned when text is given to a model without a tokenizer.
var ErrNoTokenizer = errors.New("the model has no tokenizer (embed tokenizer.json when converting, or set Options.TokenizerPath)")

// Open maps the .cellm file at path and loads the model it holds.
func Open(path string, opt *Options) (*Model, error) {
	if opt == nil {
		opt = &Options{}
	}
	f, err := format.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := load(f, opt)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func load(f *format.File, opt *Options) (*Model, error) {
	m := &Model{file: f, eosIDs: map[int]bool{}}
	var err error
	if idefics3.IsVLM(f) {
		if m.vlm, err = idefics3.Load(f); err != nil {
			return nil, err
		}
		m.text = m.vlm.Text
	} else if m.text, err = llama.Load(f); err != nil {
		return nil, err
	}
	for _, id := range m.text.Config().EOS {
		m.eosIDs[id] = true
	}
	switch {
	case opt.TokenizerPath != "":
		if m.tok, err = tokenizer.LoadFile(opt.TokenizerPath); err != nil {
			return nil, err
		}
	default:
		if data, ok := f.Asset("tokenizer.json"); ok {
			if m.tok, err = tokenizer.Load(data); err != nil {
				return nil, fmt.Errorf("embedded tokenizer.json: %w", err)
			}
		}
	}
	if m.tok != nil && m.tok.VocabSize() > m.text.Config().Vocab {
		return nil, fmt.Errorf("tokenizer has %d tokens but the model's vocabulary is %d", m.tok.VocabSize(), m.text.Config().Vocab)
	}
	tc, _ := f.Asset("tokenizer_config.json")
	ct, _ := f.Asset("chat_template.json")
	if ct == nil {
		if p, ok := f.Asset("processor_config.json"); ok {
			ct = p // SmolVLM keeps its template there too
		}
	}
	if tc != nil || ct != nil {
		src, bos, eos, err := chat.FromConfigs(tc, ct)
		if err == nil {
			if m.template, err = chat.Parse(src); err != nil {
				return nil, fmt.Errorf("chat template: %w", err)
			}
		} else if !errors.Is(err, chat.ErrNoTemplate) {
			return nil, err
		}
		m.bos, m.eos = bos, eos
	}
	if m.vlm != nil {
		pre, _ := f.Asset("preprocessor_config.json")
		proc, _ := f.Asset("processor_config.json")
		if m.imageCfg, err = imageproc.ParseConfig(pre, proc); err != nil {
			return nil, fmt.Errorf("image processor config: %w", err)
		}
		if m.imageCfg.TileSize != m.vlm.Vision.Config().ImageSize {
			return nil, fmt.Errorf("image processor tiles of %d but the vision tower takes %d", m.imageCfg.TileSize, m.vlm.Vision.Config().ImageSize)
		}
		m.hasImages = true
	}
	return m, nil
}

// Close unmaps the model file. The Model must not be used afterwards.
func (m *Model) Close() error { return m.file.Close() }

// Tokenizer returns the model's tokenizer, or nil if it has none.
func (m *Model) Tokenizer() *tokenizer.Tokenizer { return m.tok }

// Text returns the Llama text decoder.
func (m *Model) Text() *llama.Model { return m.text }

// VLM returns the vision-language model, or nil for a text model.
func (m *Model) VLM() *idefics3.Model { return m.vlm }

// File returns the underlying .cellm file.
func (m *Model) File() *format.File { return m.file }

// HasChatTemplate reports whether the model carries a chat template.
func (m *Model) HasChatTemplate() bool { return m.template != nil }

// ImageConfig returns the image processor configuration of a VLM.
func (m *Model) ImageConfig() (imageproc.Config, bool) { return m.imageCfg, m.hasImages }
