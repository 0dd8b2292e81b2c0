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
// accept it. Errors name the file as name (convert checks a temporary file).
func runnable(path, name string) error {
	err := openCheck(path)
	if err == nil {
		return nil
	}
	return renamedErr{name + ": " + strings.TrimPrefix(err.Error(), path+": "), err}
}

func openCheck(path string) error {
	f, err := format.Open(path)
	if err != nil {
		return err
	}
	h := f.Header
	f.Close()
	if h.ModelType == "" {
		return fmt.Errorf("%w: header field model_type is missing (cellm runs: %s)", hf.ErrUnsupported, hf.SupportedList())
	}
	for _, t := range []string{h.ModelType, h.SourceModelType} {
		if t != "" && !hf.Supported(t) {
			return fmt.Errorf("%w: model_type %q (cellm runs: %s)", hf.ErrUnsupported, t, hf.SupportedList())
		}
	}
	m, err := cellm.Open(path, nil)
	if err != nil {
		return err
	}
	return m.Close()
}

// renamedErr is err with another message (naming the file differently).
type renamedErr struct {
	msg string
	err error
}

func (e renamedErr) Error() string { return e.msg }
func (e renamedErr) Unwrap() error { return e.err }
