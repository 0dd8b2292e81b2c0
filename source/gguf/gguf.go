// Package gguf reads GGUF files (versions 2 and 3), the single-file model
// format of llama.cpp: a header of typed key/value metadata, a table of
// tensor infos, and aligned tensor data that may be block-quantized.
//
// Parse validates everything against the size of the data before use: every
// count, string length, array length, dimension, type and offset, with caps
// that keep a hostile file from causing large allocations. Tensor data are
// zero-copy views of the parsed bytes (a memory map with Open). Dequantize
// converts the float types, the legacy and K-quants and IQ4_NL/IQ4_XS to
// float32 exactly as llama.cpp's gguf-py does, bit for bit.
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"unicode/utf8"

	"github.com/cellm-ai/cellm-go/internal/mmap"
)

// ErrFormat is wrapped by every validation error.
var ErrFormat = errors.New("invalid GGUF file")

// Magic is the first four bytes of a GGUF file.
const Magic = "GGUF"

// Caps on what a file may declare; real files are far below them.
const (
	MaxKeys       = 1 << 16 // key/value pairs
	MaxTensors    = 1 << 20
	MaxStringLen  = 64 << 20 // one string (chat templates can be long)
	MaxArrayLen   = 1 << 24  // elements of one array (vocabularies are < 1M)
	MaxDims       = 4        // GGML_MAX_DIMS
	MaxNameLen    = 1024     // tensor names (ggml itself allows 63 bytes)
	DefaultAlign  = 32
	maxAlignment  = 1 << 16
	maxArrayDepth = 1
)

// ValueType is the type tag of a metadata value.
type ValueType uint32

// The GGUF metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = []string{"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING",
	"ARRAY", "UINT64", "INT64", "FLOAT64"}

// String returns the GGUF name of the type ("UINT32").
func (v ValueType) String() string {
	if int(v) < len(valueTypeNames) {
		return valueTypeNames[v]
	}
	return fmt.Sprintf("type(%d)", uint32(v))
}

// scalarSize is the encoded size of a scalar value type (0 for string, array
// or unknown).
func (v ValueType) scalarSize() int {
	switch v {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// KV is one metadata key/value pair. Value holds uint8, int8, uint16, int16,
// uint32, int32, float32, bool, string, uint64, int64 or float64; arrays hold
// a slice of the element type ([]string, []int32, []float32, ...), with
// ElemType set.
type KV struct {
	Key      string
	Type     ValueType
	ElemType ValueType
	Value    any
}

// Tensor is one tensor info with its data.
type Tensor struct {
	Name string
	Type Type
	// Dims are the dimensions in GGUF (ggml) order, fastest first: a matrix
	// of Dims [cols, rows] is row-major [rows][cols].
	Dims []int
	// Offset is the absolute file offset of the data.
	Offset int64
	// Data are the tensor's bytes, aliasing the file.
	Data []byte
}

// Shape returns the dimensions in row-major order (reversed Dims), as
// Hugging Face and numpy write them.
func (t *Tensor) Shape() []int {
	s := slices.Clone(t.Dims)
	slices.Reverse(s)
	return s
}

// NumElements returns the product of the dimensions.
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file.
type File struct {
	Version   uint32
	Alignment int
	// DataOffset is the absolute offset where tensor data starts.
	DataOffset int64
	KVs        []KV
	Tensors    []Tensor
	kv         map[string]int
	mm         *mmap.File
}

// Open maps and parses the GGUF file at path. Close releases it.
func Open(path string) (*File, error) {
	mm, err := mmap.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(mm.Bytes())
	if err != nil {
		mm.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.mm = mm
	return f, nil
}

// Close releases the file's memory map; tensor data must not be used after.
func (f *File) Close() error {
	if f.mm == nil {
		return nil
	}
	err := f.mm.Close()
	f.mm = nil
	return err
}

// reader decodes little-endian values with bounds checks.
type reader struct {
	b   []byte
	pos int
}

func (r *reader) need(n uint64, what string) error {
	if n > uint64(len(r.b)-r.pos) {
		return fmt.Errorf("%w: %s needs %d bytes at offset %d, file has %d", ErrFormat, what, n, r.pos, len(r.b))
	}
	return nil
}

func (r *reader) u32(what string) (uint32, error) {
	if err := r.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(r.b[r.pos:])
	r.pos += 4
	return v, nil
}

func (r *reader) u64(what string) (uint64, error) {
	if err := r.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(r.b[r.pos:])
	r.pos += 8
	return v, nil
}

func (r *reader) str(what string) (string, error) {
	n, err := r.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > MaxStringLen {
		return "", fmt.Errorf("%w: %s: string length %d exceeds %d", ErrFormat, what, n, MaxStringLen)
	}
	if err := r.need(n, what); err != nil {
		return "", err
	}
	s := string(r.b[r.pos : r.pos+int(n)])
	r.pos += int(n)
	return s, nil
}

// Parse validates a whole GGUF file held in data. Tensor data alias data.
func Parse(data []byte) (*File, error) {
	r := &reader{b: data}
	if len(data) < 4 || string(data[:4]) != Magic {
		return nil, fmt.Errorf("%w: no GGUF magic", ErrFormat)
	}
	r.pos = 4
	version, err := r.u32("version")
	if err != nil {
		return nil, err
	}
	if version != 2 && version != 3 {
		if bits.ReverseBytes32(version) == 2 || bits.ReverseBytes32(version) == 3 {
			return nil, fmt.Errorf("%w: big-endian GGUF is not supported", ErrFormat)
		}
		return nil, fmt.Errorf("%w: version %d (supported: 2, 3)", ErrFormat, version)
	}
	nTensors, err := r.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := r.u64("key/value count")
	if err != nil {
		return nil, err
	}
	if nTensors > MaxTensors {
		return nil, fmt.Errorf("%w: tensor count %d exceeds %d", ErrFormat, nTensors, MaxTensors)
	}
	if nKV > MaxKeys {
		return nil, fmt.Errorf("%w: key/value count %d exceeds %d", ErrFormat, nKV, MaxKeys)
	}
	// Every key takes at least 12 bytes and every tensor info at least 24,
	// so the counts are also bounded by the file size.
	if err := r.need(nKV*12+nTensors*24, "key/values and tensor infos"); err != nil {
		return nil, err
	}
	f := &File{Version: version, Alignment: DefaultAlign, kv: make(map[string]int, nKV)}
	for i := uint64(0); i < nKV; i++ {
		key, err := r.str(fmt.Sprintf("key %d", i))
		if err != nil {
			return nil, err
		}
		if !utf8.ValidString(key) {
			return nil, fmt.Errorf("%w: key %d is not UTF-8", ErrFormat, i)
		}
		if _, dup := f.kv[key]; dup {
			return nil, fmt.Errorf("%w: duplicate key %q", ErrFormat, key)
		}
		kv, err := r.value(key, 0)
		if err != nil {
			return nil, err
		}
		f.kv[key] = len(f.KVs)
		f.KVs = append(f.KVs, kv)
	}
	if kv, ok := f.Lookup("general.alignment"); ok {
		a, ok := kv.Value.(uint32)
		if !ok {
			return nil, fmt.Errorf("%w: general.alignment is %s, want UINT32", ErrFormat, kv.Type)
		}
		if a == 0 || a > maxAlignment || a&(a-1) != 0 {
			return nil, fmt.Errorf("%w: general.alignment %d is not a power of two up to %d", ErrFormat, a, maxAlignment)
		}
		f.Alignment = int(a)
	}
	names := make(map[string]bool, nTensors)
	type span struct {
		off, end uint64
		name     string
	}
	spans := make([]span, 0, nTensors)
	f.Tensors = make([]Tensor, 0, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		t, off, size, err := r.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if names[t.Name] {
			return nil, fmt.Errorf("%w: duplicate tensor %q", ErrFormat, t.Name)
		}
		names[t.Name] = true
		if off%uint64(f.Alignment) != 0 {
			return nil, fmt.Errorf("%w: tensor %q: offset %d is not a multiple of the alignment %d", ErrFormat, t.Name, off, f.Alignment)
		}
		spans = append(spans, span{off, off + size, t.Name}) // no overflow: both < 2^62
		f.Tensors = append(f.Tensors, t)
	}
	start := (uint64(r.pos) + uint64(f.Alignment) - 1) / uint64(f.Alignment) * uint64(f.Alignment)
	f.DataOffset = int64(start)
	for i, s := range spans {
		if start > uint64(len(data)) || s.end > uint64(len(data))-start {
			return nil, fmt.Errorf("%w: tensor %q: data [%d, %d) past the end of the file (%d bytes of tensor data)",
				ErrFormat, s.name, s.off, s.end, max(0, int64(len(data))-int64(start)))
		}
		t := &f.Tensors[i]
		t.Offset = int64(start + s.off)
		t.Data = data[start+s.off : start+s.end : start+s.end]
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.off != b.off {
			return cmpU64(a.off, b.off)
		}
		return cmpU64(a.end, b.end)
	})
	for i := 1; i < len(spans); i++ {
		if spans[i].off < spans[i-1].end {
			return nil, fmt.Errorf("%w: tensors %q and %q overlap", ErrFormat, spans[i-1].name, spans[i].name)
		}
	}
	return f, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// tensorInfo reads one tensor info and returns its relative offset and size.
func (r *reader) tensorInfo(i uint64) (Tensor, uint64, uint64, error) {
	var t Tensor
	name, err := r.str(fmt.Sprintf("tensor %d name", i))
	if err != nil {
		return t, 0, 0, err
	}
	if len(name) == 0 || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return t, 0, 0, fmt.Errorf("%w: tensor %d: name of %d bytes is empty, too long or not UTF-8", ErrFormat, i, len(name))
	}
	t.Name = name
	nd, err := r.u32("tensor " + name + " dimension count")
	if err != nil {
		return t, 0, 0, err
	}
	if nd == 0 || nd > MaxDims {
		return t, 0, 0, fmt.Errorf("%w: tensor %q: %d dimensions (want 1..%d)", ErrFormat, name, nd, MaxDims)
	}
	n := uint64(1)
	for d := uint32(0); d < nd; d++ {
		v, err := r.u64("tensor " + name + " dimension")
		if err != nil {
			return t, 0, 0, err
		}
		if v == 0 || v > 1<<40 {
			return t, 0, 0, fmt.Errorf("%w: tensor %q: dimension %d is %d", ErrFormat, name, d, v)
		}
		hi, lo := bits.Mul64(n, v)
		if hi != 0 || lo > 1<<50 {
			return t, 0, 0, fmt.Errorf("%w: tensor %q: element count overflows", ErrFormat, name)
		}
		n = lo
		t.Dims = append(t.Dims, int(v))
	}
	typ, err := r.u32("tensor " + name + " type")
	if err != nil {
		return t, 0, 0, err
	}
	t.Type = Type(typ)
	if !t.Type.Known() {
		return t, 0, 0, fmt.Errorf("%w: tensor %q: unsupported ggml type %d", ErrFormat, name, typ)
	}
	bs := uint64(t.Type.BlockSize())
	if uint64(t.Dims[0])%bs != 0 {
		return t, 0, 0, fmt.Errorf("%w: tensor %q: first dimension %d is not a multiple of %s's block size %d",
			ErrFormat, name, t.Dims[0], t.Type, bs)
	}
	off, err := r.u64("tensor " + name + " offset")
	if err != nil {
		return t, 0, 0, err
	}
	if off > 1<<60 {
		return t, 0, 0, fmt.Errorf("%w: tensor %q: offset %d out of range", ErrFormat, name, off)
	}
	return t, off, n / bs * uint64(t.Type.BlockBytes()), nil
}

// value reads one typed value; key names it in errors.
func (r *reader) value(key string, depth int) (KV, error) {
	kv := KV{Key: key}
	typ, err := r.u32(key + " type")
	if err != nil {
		return kv, err
	}
	kv.Type = ValueType(typ)
	if kv.Type == TypeArray {
		if depth >= maxArrayDepth {
			return kv, fmt.Errorf("%w: %s: nested arrays are not supported", ErrFormat, key)
		}
		et, err := r.u32(key + " element type")
		if err != nil {
			return kv, err
		}
		kv.ElemType = ValueType(et)
		n, err := r.u64(key + " array length")
		if err != nil {
			return kv, err
		}
		if n > MaxArrayLen {
			return kv, fmt.Errorf("%w: %s: array length %d exceeds %d", ErrFormat, key, n, MaxArrayLen)
		}
		kv.Value, err = r.array(key, kv.ElemType, int(n))
		return kv, err
	}
	kv.Value, err = r.scalar(key, kv.Type)
	return kv, err
}

func (r *reader) scalar(key string, t ValueType) (any, error) {
	if t == TypeString {
		s, err := r.str(key)
		return s, err
	}
	size := t.scalarSize()
	if size == 0 {
		return nil, fmt.Errorf("%w: %s: unknown value type %d", ErrFormat, key, uint32(t))
	}
	if err := r.need(uint64(size), key); err != nil {
		return nil, err
	}
	b := r.b[r.pos:]
	r.pos += size
	switch t {
	case TypeUint8:
		return b[0], nil
	case TypeInt8:
		return int8(b[0]), nil
	case TypeBool:
		if b[0] > 1 {
			return nil, fmt.Errorf("%w: %s: bool byte %d", ErrFormat, key, b[0])
		}
		return b[0] == 1, nil
	case TypeUint16:
		return binary.LittleEndian.Uint16(b), nil
	case TypeInt16:
		return int16(binary.LittleEndian.Uint16(b)), nil
	case TypeUint32:
		return binary.LittleEndian.Uint32(b), nil
	case TypeInt32:
		return int32(binary.LittleEndian.Uint32(b)), nil
	case TypeFloat32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
	case TypeUint64:
		return binary.LittleEndian.Uint64(b), nil
	case TypeInt64:
		return int64(binary.LittleEndian.Uint64(b)), nil
	default: // TypeFloat64
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	}
}

func (r *reader) array(key string, et ValueType, n int) (any, error) {
	if et == TypeString {
		// Each string takes at least its 8-byte length.
		if err := r.need(uint64(n)*8, key); err != nil {
			return nil, err
		}
		out := make([]string, n)
		for i := range out {
			s, err := r.str(key)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	if et == TypeArray {
		return nil, fmt.Errorf("%w: %s: nested arrays are not supported", ErrFormat, key)
	}
	size := et.scalarSize()
	if size == 0 {
		return nil, fmt.Errorf("%w: %s: unknown array element type %d", ErrFormat, key, uint32(et))
	}
	if err := r.need(uint64(n)*uint64(size), key); err != nil {
		return nil, err
	}
	out := makeSlice(et, n)
	for i := 0; i < n; i++ {
		v, err := r.scalar(key, et)
		if err != nil {
			return nil, err
		}
		setElem(out, i, v)
	}
	return out, nil
}

func makeSlice(t ValueType, n int) any {
	switch t {
	case TypeUint8:
		return make([]uint8, n)
	case TypeInt8:
		return make([]int8, n)
	case TypeUint16:
		return make([]uint16, n)
	case TypeInt16:
		return make([]int16, n)
	case TypeUint32:
		return make([]uint32, n)
	case TypeInt32:
		return make([]int32, n)
	case TypeFloat32:
		return make([]float32, n)
	case TypeBool:
		return make([]bool, n)
	case TypeUint64:
		return make([]uint64, n)
	case TypeInt64:
		return make([]int64, n)
	default:
		return make([]float64, n)
	}
}

func setElem(s any, i int, v any) {
	switch s := s.(type) {
	case []uint8:
		s[i] = v.(uint8)
	case []int8:
		s[i] = v.(int8)
	case []uint16:
		s[i] = v.(uint16)
	case []int16:
		s[i] = v.(int16)
	case []uint32:
		s[i] = v.(uint32)
	case []int32:
		s[i] = v.(int32)
	case []float32:
		s[i] = v.(float32)
	case []bool:
		s[i] = v.(bool)
	case []uint64:
		s[i] = v.(uint64)
	case []int64:
		s[i] = v.(int64)
	case []float64:
		s[i] = v.(float64)
	}
}

// Lookup returns the key/value pair called key.
func (f *File) Lookup(key string) (KV, bool) {
	i, ok := f.kv[key]
	if !ok {
		return KV{}, false
	}
	return f.KVs[i], true
}

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// String returns the string value of key; ok is false if it is absent, and
// err is set if it has another type.
func (f *File) String(key string) (s string, ok bool, err error) {
	kv, ok := f.Lookup(key)
	if !ok {
		return "", false, nil
	}
	s, isStr := kv.Value.(string)
	if !isStr {
		return "", true, fmt.Errorf("%w: %s is %s, want STRING", ErrFormat, key, kv.Type)
	}
	return s, true, nil
}

// Int returns an integer value of key (any integer type that fits in int64).
func (f *File) Int(key string) (v int64, ok bool, err error) {
	kv, ok := f.Lookup(key)
	if !ok {
		return 0, false, nil
	}
	switch x := kv.Value.(type) {
	case uint8:
		return int64(x), true, nil
	case int8:
		return int64(x), true, nil
	case uint16:
		return int64(x), true, nil
	case int16:
		return int64(x), true, nil
	case uint32:
		return int64(x), true, nil
	case int32:
		return int64(x), true, nil
	case int64:
		return x, true, nil
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true, nil
		}
	}
	return 0, true, fmt.Errorf("%w: %s is %s, want an integer", ErrFormat, key, kv.Type)
}

// Float returns a floating-point value of key (FLOAT32 widened exactly).
func (f *File) Float(key string) (v float64, ok bool, err error) {
	kv, ok := f.Lookup(key)
	if !ok {
		return 0, false, nil
	}
	switch x := kv.Value.(type) {
	case float32:
		return float64(x), true, nil
	case float64:
		return x, true, nil
	}
	return 0, true, fmt.Errorf("%w: %s is %s, want a float", ErrFormat, key, kv.Type)
}

// Bool returns a BOOL value of key.
func (f *File) Bool(key string) (v, ok bool, err error) {
	kv, ok := f.Lookup(key)
	if !ok {
		return false, false, nil
	}
	b, isBool := kv.Value.(bool)
	if !isBool {
		return false, true, fmt.Errorf("%w: %s is %s, want BOOL", ErrFormat, key, kv.Type)
	}
	return b, true, nil
}

// IsGGUF reports whether path is a regular file that starts with the GGUF magic.
func IsGGUF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == Magic
}
