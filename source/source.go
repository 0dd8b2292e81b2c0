// Package source defines what every foreign checkpoint reader yields: a set of
// named tensors with their element type, shape and little-endian bytes.
//
// The readers live in sub-packages (safetensors, pytorch, flax, onnx). Tensor
// data may alias a memory-mapped file, so it is valid only until the Set is
// closed.
package source

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// Transpose2D writes the [cols, rows] transpose of the [rows, cols] matrix
// src into dst. It walks 8 source columns at a time down all rows, so each
// source row segment is one cache line and the 8 destination rows are
// written sequentially.
func Transpose2D(dst, src []byte, rows, cols, es int) {
	const blk = 8
	for c0 := 0; c0 < cols; c0 += blk {
		c1 := min(c0+blk, cols)
		for r := 0; r < rows; r++ {
			s := (r*cols + c0) * es
			d := (c0*rows + r) * es
			switch es {
			case 2:
				for c := c0; c < c1; c, s, d = c+1, s+2, d+rows*2 {
					binary.LittleEndian.PutUint16(dst[d:], binary.LittleEndian.Uint16(src[s:]))
				}
			case 4:
				for c := c0; c < c1; c, s, d = c+1, s+4, d+rows*4 {
					binary.LittleEndian.PutUint32(dst[d:], binary.LittleEndian.Uint32(src[s:]))
				}
			default:
				for c := c0; c < c1; c, s, d = c+1, s+es, d+rows*es {
					copy(dst[d:d+es], src[s:s+es])
				}
			}
		}
	}
}

// ShardLoader reads one shard file: its tensors and what releases them.
type ShardLoader func(path string) ([]Tensor, func() error, error)

// OpenSharded opens a sharded checkpoint from its index JSON
// ({"weight_map": {tensor name: shard file}}), loading each shard (resolved
// next to the index) with load. With checkNames, every tensor the map names
// must be found in its shard (not for formats whose loader renames tensors).
func OpenSharded(indexPath string, load ShardLoader, checkNames bool) (*Set, error) {
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: empty or missing weight_map", indexPath)
	}
	seen := map[string]bool{}
	var shards []string
	for _, f := range idx.WeightMap {
		if f == "" || f != filepath.Base(f) || f == "." || f == ".." {
			return nil, fmt.Errorf("%s: shard name %q is not a plain file name", indexPath, f)
		}
		if !seen[f] {
			seen[f] = true
			shards = append(shards, f)
		}
	}
	sort.Strings(shards)
	var all []Tensor
	var closers []func() error
	fail := func(err error) (*Set, error) {
		for _, c := range closers {
			c()
		}
		return nil, err
	}
	for _, sh := range shards {
		ts, closer, err := load(filepath.Join(filepath.Dir(indexPath), sh))
		if err != nil {
			return fail(err)
		}
		closers = append(closers, closer)
		for _, t := range ts {
			if want, ok := idx.WeightMap[t.Name]; checkNames && ok && want != sh {
				return fail(fmt.Errorf("%s: tensor %q is in %s but listed under %s", indexPath, t.Name, sh, want))
			}
		}
		all = append(all, ts...)
	}
	set, err := NewSet(all, closers...)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", indexPath, err))
	}
	for name, f := range idx.WeightMap {
		if _, ok := set.Lookup(name); checkNames && !ok {
			set.Close()
			return nil, fmt.Errorf("%s: tensor %q listed for %s is missing", indexPath, name, f)
		}
	}
	return set, nil
}
