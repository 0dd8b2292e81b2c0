package cellm

import "fmt"

// VisionPrecision is the arithmetic of the native vision tower
// (Options.VisionPrecision).
type VisionPrecision int

const (
	// VisionAuto is bf16 activations for bf16 and f16 weight files, bf16
	// attention alone for int8 vision towers, the exact f32 path otherwise.
	VisionAuto VisionPrecision = iota
	// VisionBF16 rounds the activations to bf16 whatever the weights (the
	// projections use bf16 dot products on bf16 weights, the attention on
	// any); no effect without AVX512_BF16.
	VisionBF16
	// VisionF32 keeps the activations in f32 (features as close to the
	// reference as the weights allow).
	VisionF32
)

// String returns "auto", "bf16" or "f32".
func (p VisionPrecision) String() string {
	switch p {
	case VisionAuto:
		return "auto"
	case VisionBF16:
		return "bf16"
	case VisionF32:
		return "f32"
	}
	return fmt.Sprintf("VisionPrecision(%d)", int(p))
}
