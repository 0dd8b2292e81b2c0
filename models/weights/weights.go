// Package weights turns tensors of a .cellm file into the kernels' weight
// views: zero-copy matrices for f32, f16, bf16, int8 and int4 (with their
// f16 scales per row or per group), and float32 copies of small vectors such
// as norms and biases.
// Every error names the tensor.
package weights

import (
	"errors"
	"fmt"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/kernels"
)

// ErrWeights is wrapped by every error of this package.
var ErrWeights = errors.New("model weights")

func weightErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrWeights, fmt.Sprintf(format, args...))
}

// Loader reads and checks tensors of one file.
type Loader struct {
	F *format.File
	// Used, if not nil, records the name of every tensor read (including
	// int8 and int4 scale tensors), so that a caller can tell which tensors of the
	// file no loader consumed.
	Used map[string]bool
}

// Tensor returns the tensor name, checking that its shape is shape.
func (l Loader) Tensor(name string, shape ...int) (format.Tensor, error) {
	t, err := l.F.Tensor(name)
	if err != nil {
		return t, weightErr("tensor %q is missing", name)
	}
	if l.Used != nil {
		l.Used[name] = true
	}
	if fmt.Sprint(t.Shape) != fmt.Sprint(shape) {
		return t, weightErr("tensor %q has shape %v, want %v", name, t.Shape, shape)
	}
	return t, nil
}

// Matrix returns a zero-copy rows x cols view of the 2-D tensor name.
func (l Loader) Matrix(name string, rows, cols int) (kernels.Matrix, error) {
	return l.MatrixOf(name, []int{rows, cols}, rows, cols)
}

// MatrixOf views the tensor name of the given shape as a rows x cols matrix
// (for example a [out, c, kh, kw] convolution kernel as out x c*kh*kw).
func (l Loader) MatrixOf(name string, shape []int, rows, cols int) (kernels.Matrix, error) {
	t, err := l.Tensor(name, shape...)
	if err != nil {
		return kernels.Matrix{}, err
	}
	var m kernels.Matrix
	switch t.DType {
	case format.F32:
		var w []float32
		if w, err = t.F32(); err == nil {
			m, err = kernels.NewF32(rows, cols, w)
		}
	case format.F16, format.BF16:
		var w []uint16
		if w, err = t.U16(); err == nil && t.DType == format.F16 {
			m, err = kernels.NewF16(rows, cols, w)
		} else if err == nil {
			m, err = kernels.NewBF16(rows, cols, w)
		}
	case format.I8, format.I4:
		var scale []float32
		var group int
		if scale, group, err = l.scales(t, rows, cols); err != nil {
			return m, err
		}
		if t.DType == format.I8 {
			var q []int8
			if q, err = t.I8(); err == nil {
				m, err = kernels.NewQ8(rows, cols, group, q, scale)
			}
		} else {
			m, err = kernels.NewQ4(rows, cols, group, t.Bytes(), scale)
		}
	default:
		return m, weightErr("tensor %q has unsupported dtype %s", name, t.DType)
	}
	if err != nil {
		return m, weightErr("tensor %q: %v", name, err)
	}
	return m, nil
}

// scales reads the f16 scales of the quantized tensor t viewed as rows x
// cols: shape [rows] (one per row) or [rows, groups].
func (l Loader) scales(t format.Tensor, rows, cols int) ([]float32, int, error) {
	name := t.Name + format.QScaleSuffix
	st, err := l.F.Tensor(name)
	if err != nil {
		return nil, 0, weightErr("tensor %q is missing", name)
	}
	if l.Used != nil {
		l.Used[name] = true
	}
	group := cols
	switch {
	case len(st.Shape) == 1 && st.Shape[0] == rows:
	case len(st.Shape) == 2 && st.Shape[0] == rows && st.Shape[1] > 0 && cols%st.Shape[1] == 0:
		group = cols / st.Shape[1]
	default:
		return nil, 0, weightErr("tensor %q has shape %v, want [%d] or [%d, groups] for %q viewed as %dx%d",
			name, st.Shape, rows, rows, t.Name, rows, cols)
	}
	raw, err := st.U16()
	if err != nil {
		return nil, 0, weightErr("tensor %q: %v", name, err)
	}
	scale := make([]float32, len(raw))
	kernels.F16ToF32(scale, raw)
	return scale, group, nil
}

// Floats returns a float32 copy of the f32, f16 or bf16 tensor name of the
// given shape.
func (l Loader) Floats(name string, shape ...int) ([]float32, error) {
	t, err := l.Tensor(name, shape...)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.NumElements())
	switch t.DType {
	case format.F32:
		src, _ := t.F32()
		copy(out, src)
	case format.F16:
		src, _ := t.U16()
		kernels.F16ToF32(out, src)
	case format.BF16:
		src, _ := t.U16()
		kernels.BF16ToF32(out, src)
	default:
		return nil, weightErr("tensor %q has dtype %s, want f32, f16 or bf16", name, t.DType)
	}
	return out, nil
}
