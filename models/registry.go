package models

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/models/weights"
)

// Loader builds the Decoder of an architecture from f. It must read every
// tensor through l (which records them): Load reports the file's tensors no
// loader read as ErrUnusedTensor.
type Loader func(f *format.File, l weights.Loader) (Decoder, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Loader{}
)

// Register makes an architecture loadable under modelType (a .cellm
// header's model_type, or for vision-language files its source_model_type;
// see Architecture). It panics if modelType is empty or already taken, as
// registration happens in init functions.
func Register(modelType string, load Loader) {
	regMu.Lock()
	defer regMu.Unlock()
	if modelType == "" || load == nil {
		panic("models.Register: empty model type or nil loader")
	}
	if _, dup := registry[modelType]; dup {
		panic("models.Register: " + modelType + " registered twice")
	}
	registry[modelType] = load
}

// Architectures returns the registered model types, sorted.
func Architectures() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for k := range registry {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Architecture returns the registry key of a file: its source_model_type
// when the file carries a vision tower (a vision-language wrapper such as
// idefics3, whose text stack's model_type is the header's model_type), else
// its model_type.
func Architecture(h *format.Header) string {
	if h.VisionTensorPrefix != "" && h.SourceModelType != "" {
		return h.SourceModelType
	}
	return h.ModelType
}

// Load builds the decoder of f with the loader registered for its
// architecture. An unknown architecture (ErrUnknownArchitecture) and a
// tensor the loader did not use (ErrUnusedTensor) are errors: nothing in a
// file is silently ignored.
func Load(f *format.File) (Decoder, error) {
	arch := Architecture(&f.Header)
	regMu.RLock()
	load := registry[arch]
	regMu.RUnlock()
	if load == nil {
		return nil, fmt.Errorf("%w: model_type %q (registered: %s)", ErrUnknownArchitecture, arch, strings.Join(Architectures(), ", "))
	}
	used := map[string]bool{}
	d, err := load(f, weights.Loader{F: f, Used: used})
	if err != nil {
		return nil, err
	}
	var unused []string
	for _, t := range f.Header.Tensors {
		if !used[t.Name] {
			unused = append(unused, t.Name)
		}
	}
	if len(unused) > 0 {
		more := ""
		if len(unused) > 5 {
			more = fmt.Sprintf(" and %d more", len(unused)-5)
			unused = unused[:5]
		}
		return nil, fmt.Errorf("%w: %s model: %s%s", ErrUnusedTensor, arch, strings.Join(unused, ", "), more)
	}
	return d, nil
}

// Check loads f as Load does and discards the result: the check convert
// runs on a file before publishing it.
func Check(f *format.File) error {
	_, err := Load(f)
	return err
}
