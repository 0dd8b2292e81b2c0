package cellm

import "fmt"

// PrefillPrecision is the arithmetic of the native text decoder's prompt
// prefill (Options.PrefillPrecision): how the layers' projections of steps
// longer than 32 positions multiply. Decode steps keep f32 activations.
type PrefillPrecision int

const (
	// PrefillAuto rounds the activations to bf16 for bf16 weights (as
	// llama.cpp does) and for f16 weights that all hold bf16 values (a
	// bf16 checkpoint converted to f16, as SmolLM2's), and keeps f32
	// activations for every other weight.
	PrefillAuto PrefillPrecision = iota
	// PrefillBF16 rounds the activations to bf16 for bf16 and f16 weights,
	// the f16 weights rounded to bf16 as they are packed; no effect
	// without AVX512_BF16 or on other weight types.
	PrefillBF16
	// PrefillF32 keeps the activations in f32 for every weight type.
	PrefillF32
)

// String returns "auto", "bf16" or "f32".
func (p PrefillPrecision) String() string {
	switch p {
	case PrefillAuto:
		return "auto"
	case PrefillBF16:
		return "bf16"
	case PrefillF32:
		return "f32"
	}
	return fmt.Sprintf("PrefillPrecision(%d)", int(p))
}
