// Package weights turns tensors of a .cellm file into the kernels' weight
// views: zero-copy matrices for f32, f16, bf16 and int8 (with its f16 row
// scales), and float32 copies of small vectors such as norms and biases.
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
	// int8 scale tensors), so that a caller can tell which tensors of the
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
	m := kernels.Matrix{Rows: rows, Cols: cols}
	switch t.DType {
	case format.F32:
		m.Type = kernels.F32
		m.F32, err = t.F32()
	case format.F16:
		m.Type = kernels.F16
		m.Half, err = t.U16()
	case format.BF16:
		m.Type = kernels.BF16
		m.Half, err = t.U16()
	case format.I8:
		m.Type = kernels.Q8
		if m.Q8, err = t.I8(); err != nil {
			break
		}
		st, serr := l.Tensor(name+format.QScaleSuffix, rows)
		if serr != nil {
			return m, serr
		}
		raw, serr := st.U16()
		if serr != nil {
			return m, weightErr("tensor %q: %v", st.Name, serr)
		}
		m.Scale = make([]float32, rows)
		kernels.F16ToF32(m.Scale, raw)
	default:
		return m, weightErr("tensor %q has unsupported dtype %s", name, t.DType)
	}
	if err != nil {
		return m, weightErr("tensor %q: %v", name, err)
	}
	if err := m.Validate(); err != nil {
		return m, weightErr("tensor %q: %v", name, err)
	}
	return m, nil
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
