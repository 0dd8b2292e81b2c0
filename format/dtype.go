package format

import "fmt"

// DType is the element type of a tensor stored in a .cellm file.
type DType string

// The element types of format v1.
const (
	F32  DType = "f32"
	F16  DType = "f16"
	BF16 DType = "bf16"
	// I8 holds per-row symmetric int8 weights; the tensor "<name>.qscale" (F16,
	// one value per row) gives each row's scale: w = q * scale.
	I8 DType = "i8"
)

// QScaleSuffix is appended to an I8 tensor's name to name its scales.
const QScaleSuffix = ".qscale"

// Size returns the size in bytes of one element.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	case I8:
		return 1
	}
	return 0
}

// Valid reports whether d is a dtype of format v1.
func (d DType) Valid() bool { return d.Size() != 0 }

// ParseDType accepts a v1 dtype name, also in the spellings other tools use
// ("float16", "F16", "bfloat16", "int8", ...).
func ParseDType(s string) (DType, error) {
	switch s {
	case "f32", "F32", "float32", "fp32":
		return F32, nil
	case "f16", "F16", "float16", "fp16", "half":
		return F16, nil
	case "bf16", "BF16", "bfloat16":
		return BF16, nil
	case "i8", "I8", "int8":
		return I8, nil
	}
	return "", fmt.Errorf("unknown dtype %q (want f32, f16, bf16 or i8)", s)
}
