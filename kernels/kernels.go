package kernels

import (
	"fmt"
	"strings"
)

// DType identifies the element type of a weight Matrix.
type DType uint8

// Weight element types.
const (
	F32  DType = iota // 32-bit IEEE float, Matrix.F32
	F16               // IEEE binary16 bit patterns, Matrix.Half
	BF16              // bfloat16 bit patterns, Matrix.Half
	Q8                // per-row symmetric int8, Matrix.Q8 and Matrix.Scale
)

// String returns the lower-case name of the type ("f32", "f16", "bf16", "q8").
func (t DType) String() string {
	switch t {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case BF16:
		return "bf16"
	case Q8:
		return "q8"
	}
	return fmt.Sprintf("DType(%d)", uint8(t))
}

// Matrix is a row-major weight matrix of Rows x Cols. Exactly the storage
// field(s) matching Type are used.
type Matrix struct {
	Type       DType
	Rows, Cols int
	F32        []float32 // Type == F32
	Half       []uint16  // Type == F16 or BF16 (raw bit patterns)
	Q8         []int8    // Type == Q8: per-row symmetric int8, value = Q8[r*Cols+c] * Scale[r]
	Scale      []float32 // Type == Q8: len Rows
}

// Validate returns an error naming the offending field if the storage of m
// does not match its type and shape (slices may be longer than needed).
func (m *Matrix) Validate() error {
	if m == nil {
		return fmt.Errorf("kernels: nil matrix")
	}
	if m.Rows < 0 || m.Cols < 0 {
		return fmt.Errorf("kernels: matrix shape %dx%d is negative", m.Rows, m.Cols)
	}
	n := m.Rows * m.Cols
	if m.Cols != 0 && n/m.Cols != m.Rows {
		return fmt.Errorf("kernels: matrix shape %dx%d overflows", m.Rows, m.Cols)
	}
	switch m.Type {
	case F32:
		if len(m.F32) < n {
			return fmt.Errorf("kernels: %s matrix %dx%d: F32 has %d elements, want %d", m.Type, m.Rows, m.Cols, len(m.F32), n)
		}
	case F16, BF16:
		if len(m.Half) < n {
			return fmt.Errorf("kernels: %s matrix %dx%d: Half has %d elements, want %d", m.Type, m.Rows, m.Cols, len(m.Half), n)
		}
	case Q8:
		if len(m.Q8) < n {
			return fmt.Errorf("kernels: q8 matrix %dx%d: Q8 has %d elements, want %d", m.Rows, m.Cols, len(m.Q8), n)
		}
		if len(m.Scale) < m.Rows {
			return fmt.Errorf("kernels: q8 matrix %dx%d: Scale has %d elements, want %d", m.Rows, m.Cols, len(m.Scale), m.Rows)
		}
	default:
		return fmt.Errorf("kernels: matrix has unknown type %d", uint8(m.Type))
	}
	return nil
}

func mustValid(fn string, w *Matrix) {
	if err := w.Validate(); err != nil {
		panic("kernels." + fn + ": " + strings.TrimPrefix(err.Error(), "kernels: "))
	}
}

func mustLen(fn, name string, got, want int) {
	if got != want {
		panic(fmt.Sprintf("kernels.%s: len(%s) = %d, want %d", fn, name, got, want))
	}
}

func mustAtLeast(fn, name string, got, want int) {
	if got < want {
		panic(fmt.Sprintf("kernels.%s: len(%s) = %d, want at least %d", fn, name, got, want))
	}
}

// Row widens row r of m to float32 into dst (len m.Cols); for Q8 the row
// scale is applied. It serves embedding lookups from any weight type.
func (m *Matrix) Row(dst []float32, r int) {
	mustValid("Matrix.Row", m)
	if r < 0 || r >= m.Rows {
		panic(fmt.Sprintf("kernels.Matrix.Row: row %d out of range [0, %d)", r, m.Rows))
	}
	mustLen("Matrix.Row", "dst", len(dst), m.Cols)
	lo, hi := r*m.Cols, (r+1)*m.Cols
	switch m.Type {
	case F32:
		copy(dst, m.F32[lo:hi])
	case F16:
		active.f16ToF32(dst, m.Half[lo:hi])
	case BF16:
		active.bf16ToF32(dst, m.Half[lo:hi])
	case Q8:
		dequantRow(dst, m.Q8[lo:hi], m.Scale[r])
	}
}
