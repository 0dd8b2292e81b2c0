package main

import (
	"fmt"
	"strings"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/hf"
)

// runnable reports why the .cellm file at path would not run, or nil: its
// model_type must be one cellm implements, and cellm.Open (the runtime
// loaders and the tokenizer, chat template and image processor parsers) must
// accept it. Errors name the file as name, or not at all when name is ""
// (convert checks a temporary file and names the output itself).
func runnable(path, name string) error {
	_, err := runCheck(path, name)
	return err
}

// runCheck is runnable that also returns what works only partly (no
// tokenizer, no image processor settings).
func runCheck(path, name string) (notes []string, err error) {
	notes, err = openCheck(path)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), path+": ")
		if name != "" {
			msg = name + ": " + msg
		}
		return nil, renamedErr{msg, err}
	}
	return notes, nil
}

func openCheck(path string) ([]string, error) {
	f, err := format.Open(path)
	if err != nil {
		return nil, err
	}
	h := f.Header
	f.Close()
	if h.ModelType == "" {
		return nil, fmt.Errorf("%w: header field model_type is missing (cellm runs: %s)", hf.ErrUnsupported, hf.SupportedList())
	}
	for _, t := range []string{h.ModelType, h.SourceModelType} {
		if t != "" && !hf.Supported(t) {
			return nil, fmt.Errorf("%w: model_type %q (cellm runs: %s)", hf.ErrUnsupported, t, hf.SupportedList())
		}
	}
	m, err := cellm.Open(path, nil)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	var notes []string
	if m.Tokenizer() == nil {
		notes = append(notes, "no tokenizer embedded: text prompts need --tokenizer (token ids work)")
	}
	if err := m.ImageError(); err != nil {
		notes = append(notes, "images unavailable: "+err.Error())
	}
	return notes, nil
}

// renamedErr is err with another message (naming the file differently).
type renamedErr struct {
	msg string
	err error
}

func (e renamedErr) Error() string { return e.msg }
func (e renamedErr) Unwrap() error { return e.err }
