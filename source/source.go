// Package source defines what every foreign checkpoint reader yields: a set of
// named tensors with their element type, shape and little-endian bytes.
//
// The readers live in sub-packages (safetensors, pytorch, flax, onnx). Tensor
// data may alias a memory-mapped file, so it is valid only until the Set is
// closed.
package source

import (
	"fmt"
	"sort"
)

// DType names an element type as checkpoints store it.
type DType string

// Element types that appear in real checkpoints.
const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size returns the size in bytes of one element, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// Tensor is one named tensor: C-contiguous little-endian data of Shape.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// NumElements returns the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Set is the tensors of one checkpoint, sorted by name, plus what must be
// released when they are no longer needed.
type Set struct {
	Tensors []Tensor
	closers []func() error
}

// NewSet returns a Set of tensors sorted by name. It fails on duplicate names.
// closers run, in order, on Close.
func NewSet(tensors []Tensor, closers ...func() error) (*Set, error) {
	sort.Slice(tensors, func(i, j int) bool { return tensors[i].Name < tensors[j].Name })
	for i := 1; i < len(tensors); i++ {
		if tensors[i].Name == tensors[i-1].Name {
			return nil, fmt.Errorf("duplicate tensor name %q", tensors[i].Name)
		}
	}
	return &Set{Tensors: tensors, closers: closers}, nil
}

// Lookup returns the tensor called name.
func (s *Set) Lookup(name string) (*Tensor, bool) {
	i := sort.Search(len(s.Tensors), func(i int) bool { return s.Tensors[i].Name >= name })
	if i < len(s.Tensors) && s.Tensors[i].Name == name {
		return &s.Tensors[i], true
	}
	return nil, false
}

// Close releases the memory maps or files behind the tensors.
func (s *Set) Close() error {
	var first error
	for _, c := range s.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	s.closers = nil
	return first
}
