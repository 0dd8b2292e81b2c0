package kernels

import (
	"fmt"
	"strings"
)

// DType identifies the element type of a weight Matrix. Each type is
// described once in the traits table (traits.go).
type DType uint8

// Weight element types.
const (
	F32  DType = iota // 32-bit IEEE float, Matrix.F32
	F16               // IEEE binary16 bit patterns, Matrix.Half
	BF16              // bfloat16 bit patterns, Matrix.Half
	Q8                // symmetric int8, Matrix.Q8, with Matrix.Scale per row or per Group columns
	Q4                // symmetric int4, two per byte in Matrix.Q4, with Matrix.Scale per row or per Group columns
)

// String returns the lower-case name of the type ("f32", "f16", "bf16",
// "q8", "q4").
func (t DType) String() string {
	if t.known() {
		return t.traits().name
	}
	return fmt.Sprintf("DType(%d)", uint8(t))
}

// Matrix is a row-major weight matrix of Rows x Cols. Exactly the storage
// field(s) matching Type are used; the New* constructors fill them.
//
// Quantized matrices (Q8, Q4) hold w[r,c] = q[r,c] * Scale[r*G + c/Group],
// with G = Cols/Group scales per row; Group 0 means Cols (one scale per
// row). Q4 stores row r in Q4[r*Cols/2 : (r+1)*Cols/2], column 2i in the low
// nibble of byte i and 2i+1 in the high one, each as q+8 (0..15).
type Matrix struct {
	Type       DType
	Rows, Cols int
	F32        []float32 // Type == F32
	Half       []uint16  // Type == F16 or BF16 (raw bit patterns)
	Q8         []int8    // Type == Q8: Rows*Cols values
	Q4         []byte    // Type == Q4: Rows*Cols/2 bytes
	Scale      []float32 // Type == Q8 or Q4: Rows*Cols/Group scales
	Group      int       // Type == Q8 or Q4: columns per scale (0: Cols)
}

// NewF32 returns a rows x cols float32 matrix viewing w.
func NewF32(rows, cols int, w []float32) (Matrix, error) {
	m := Matrix{Type: F32, Rows: rows, Cols: cols, F32: w}
	return m, m.Validate()
}

// NewF16 returns a rows x cols matrix viewing the IEEE binary16 bit patterns w.
func NewF16(rows, cols int, w []uint16) (Matrix, error) {
	m := Matrix{Type: F16, Rows: rows, Cols: cols, Half: w}
	return m, m.Validate()
}

// NewBF16 returns a rows x cols matrix viewing the bfloat16 bit patterns w.
func NewBF16(rows, cols int, w []uint16) (Matrix, error) {
	m := Matrix{Type: BF16, Rows: rows, Cols: cols, Half: w}
	return m, m.Validate()
}

// NewQ8 returns a rows x cols int8 matrix viewing q, with one scale per
// group of group columns (group 0 or cols: one per row).
func NewQ8(rows, cols, group int, q []int8, scale []float32) (Matrix, error) {
	m := Matrix{Type: Q8, Rows: rows, Cols: cols, Q8: q, Scale: scale, Group: group}
	return m, m.Validate()
}

// NewQ4 returns a rows x cols int4 matrix viewing the packed nibbles (see
// Matrix), with one scale per group of group columns (0 or cols: per row).
func NewQ4(rows, cols, group int, packed []byte, scale []float32) (Matrix, error) {
	m := Matrix{Type: Q4, Rows: rows, Cols: cols, Q4: packed, Scale: scale, Group: group}
	return m, m.Validate()
}

// group returns the columns per scale of a quantized matrix.
func (m *Matrix) group() int {
	if m.Group <= 0 {
		return m.Cols
	}
	return m.Group
}

// groups returns the scales per row of a quantized matrix.
func (m *Matrix) groups() int {
	if m.Cols == 0 {
		return 1
	}
	return m.Cols / m.group()
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
	if !m.Type.known() {
		return fmt.Errorf("kernels: matrix has unknown type %d", uint8(m.Type))
	}
	tr := m.Type.traits()
	if tr.quantized && m.Group != 0 && (m.Group < 0 || m.Cols%m.Group != 0) {
		return fmt.Errorf("kernels: %s matrix %dx%d: group %d does not divide the columns", m.Type, m.Rows, m.Cols, m.Group)
	}
	if err := tr.check(m); err != nil {
		return fmt.Errorf("kernels: %s matrix %dx%d: %v", m.Type, m.Rows, m.Cols, err)
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

// Row widens row r of m to float32 into dst (len m.Cols), scales applied.
// It serves embedding lookups from any weight type.
func (m *Matrix) Row(dst []float32, r int) {
	mustValid("Matrix.Row", m)
	if r < 0 || r >= m.Rows {
		panic(fmt.Sprintf("kernels.Matrix.Row: row %d out of range [0, %d)", r, m.Rows))
	}
	mustLen("Matrix.Row", "dst", len(dst), m.Cols)
	m.Type.traits().widen(active, dst, m, r, 0)
}
