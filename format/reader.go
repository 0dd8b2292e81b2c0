// Package format reads and writes .cellm v1 files: one memory-mappable file
// holding a model's configuration, its tensors and the small assets
// (tokenizer, templates, processor configs) needed to run it.
//
// Layout: "CELLM", version byte 1, u32 little-endian header length, a UTF-8
// JSON header (see Header), zero padding to a multiple of 64, then tensor and
// asset data, each starting on a 64-byte boundary (offsets are absolute).
package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/cellm-ai/cellm-go/internal/mmap"
)

// Magic opens every .cellm file.
const Magic = "CELLM"

// Version is the format version this package reads and writes.
const Version = 1

// Alignment is the byte alignment of every tensor and asset.
const Alignment = 64

// MaxHeaderLen caps the JSON header length accepted on read.
const MaxHeaderLen = 64 << 20

// prefixLen is the size of magic, version and header length.
const prefixLen = len(Magic) + 1 + 4

// ErrFormat is wrapped by every validation error, for errors.Is.
var ErrFormat = errors.New("invalid .cellm file")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// File is an open .cellm file. Tensor data aliases the mapped file and is
// valid until Close.
type File struct {
	Header Header
	data   []byte
	mm     *mmap.File
	byName map[string]int
	assets map[string]int
}

// Open maps and validates the .cellm file at path.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(m.Bytes())
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.mm = m
	return f, nil
}

// OpenHugePages is Open with the file copied into anonymous memory backed
// by transparent huge pages (Linux; elsewhere, or for a file larger than
// half the available memory, it maps the file as Open does): opening reads
// the whole file and the copy is resident, but streaming the weights costs
// fewer TLB misses than through the 4 KiB pages of a file mapping.
func OpenHugePages(path string) (*File, error) {
	m, err := mmap.OpenHuge(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(m.Bytes())
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.mm = m
	return f, nil
}

// Parse validates a whole .cellm file held in memory. The File aliases data.
func Parse(data []byte) (*File, error) {
	if len(data) < prefixLen {
		return nil, formatErr("file too short (%d bytes)", len(data))
	}
	if string(data[:len(Magic)]) != Magic {
		return nil, formatErr("bad magic %q (want %q)", data[:len(Magic)], Magic)
	}
	if v := data[len(Magic)]; v != Version {
		return nil, formatErr("unsupported version %d (want %d)", v, Version)
	}
	hlen := binary.LittleEndian.Uint32(data[len(Magic)+1:])
	if hlen > MaxHeaderLen {
		return nil, formatErr("header length %d exceeds the limit of %d", hlen, MaxHeaderLen)
	}
	if uint64(prefixLen)+uint64(hlen) > uint64(len(data)) {
		return nil, formatErr("header length %d runs past the end of the file (%d bytes)", hlen, len(data))
	}
	raw := data[prefixLen : prefixLen+int(hlen)]
	if !utf8.Valid(raw) {
		return nil, formatErr("header is not valid UTF-8")
	}
	f := &File{data: data}
	if err := f.Header.UnmarshalJSON(raw); err != nil {
		return nil, formatErr("header JSON: %v", err)
	}
	if err := f.validate(int64(prefixLen) + int64(hlen)); err != nil {
		return nil, err
	}
	return f, nil
}

type span struct {
	what       string
	start, end int64
}

func (f *File) validate(headerEnd int64) error {
	h := &f.Header
	size := int64(len(f.data))
	f.byName = make(map[string]int, len(h.Tensors))
	var spans []span
	checkSpan := func(what string, off, n int64) error {
		if off < 0 || n < 0 {
			return formatErr("%s: negative offset or size", what)
		}
		if off%Alignment != 0 {
			return formatErr("%s: offset %d is not %d-byte aligned", what, off, Alignment)
		}
		if off < headerEnd {
			return formatErr("%s: offset %d lies inside the header (ends at %d)", what, off, headerEnd)
		}
		if off > size || n > size-off {
			return formatErr("%s: bytes [%d, %d) run past the end of the file (%d bytes)", what, off, off+n, size)
		}
		spans = append(spans, span{what, off, off + n})
		return nil
	}
	for i := range h.Tensors {
		t := &h.Tensors[i]
		what := fmt.Sprintf("tensor %q", t.Name)
		if t.Name == "" {
			return formatErr("tensor #%d has an empty name", i)
		}
		if _, dup := f.byName[t.Name]; dup {
			return formatErr("%s appears twice", what)
		}
		f.byName[t.Name] = i
		if !t.DType.Valid() {
			return formatErr("%s: unknown dtype %q", what, t.DType)
		}
		want, err := t.DType.ByteSize(t.Shape)
		if err != nil {
			return formatErr("%s: %v", what, err)
		}
		if t.NBytes != want {
			return formatErr("%s: nbytes %d does not match shape %v of %s (%d bytes)", what, t.NBytes, t.Shape, t.DType, want)
		}
		if err := checkSpan(what, t.OffsetBytes, t.NBytes); err != nil {
			return err
		}
	}
	f.assets = make(map[string]int, len(h.Assets))
	for i, a := range h.Assets {
		what := fmt.Sprintf("asset %q", a.Name)
		if a.Name == "" {
			return formatErr("asset #%d has an empty name", i)
		}
		if _, dup := f.assets[a.Name]; dup {
			return formatErr("%s appears twice", what)
		}
		f.assets[a.Name] = i
		if err := checkSpan(what, a.OffsetBytes, a.NBytes); err != nil {
			return err
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return formatErr("%s overlaps %s", spans[i].what, spans[i-1].what)
		}
	}
	for _, t := range h.Tensors {
		if err := checkScales(h, f.byName, t); err != nil {
			return err
		}
	}
	return nil
}

// checkScales checks the scale tensor of a quantized tensor t: f16, of shape
// [rows] (one scale per row) or [rows, groups] with groups dividing the
// row length. Scales themselves must not be quantized.
func checkScales(h *Header, byName map[string]int, t TensorInfo) error {
	if !t.DType.Quantized() {
		return nil
	}
	if strings.HasSuffix(t.Name, QScaleSuffix) {
		return formatErr("tensor %q: a scale tensor must be f16, not %s", t.Name, t.DType)
	}
	j, ok := byName[t.Name+QScaleSuffix]
	if !ok {
		return formatErr("%s tensor %q has no scale tensor %q", t.DType, t.Name, t.Name+QScaleSuffix)
	}
	s := h.Tensors[j]
	if s.DType != F16 {
		return formatErr("scale tensor %q: dtype %s, want f16", s.Name, s.DType)
	}
	rows, cols := QuantRows(t.Shape)
	switch {
	case len(s.Shape) == 1 && s.Shape[0] == rows:
	case len(s.Shape) == 2 && s.Shape[0] == rows && s.Shape[1] > 0 && cols%s.Shape[1] == 0:
	default:
		return formatErr("scale tensor %q: shape %v does not fit %q of shape %v (want [%d] or [%d, groups] with groups dividing %d)",
			s.Name, s.Shape, t.Name, t.Shape, rows, rows, cols)
	}
	return nil
}

// QuantRows returns the rows and row length of a quantized tensor of the
// given shape: the first dimension, and the product of the others (a 1-D
// tensor is one row per element, as the Rust cellm counts it).
func QuantRows(shape []int) (rows, cols int) {
	if len(shape) == 0 {
		return 1, 1
	}
	cols = 1
	for _, d := range shape[1:] {
		cols *= d
	}
	return shape[0], cols
}

// GroupSize returns how many consecutive columns share one scale for a
// quantized tensor of the given shape whose scale tensor has shape
// scaleShape (already checked by Open): the row length for per-row scales.
func GroupSize(shape, scaleShape []int) int {
	_, cols := QuantRows(shape)
	if len(scaleShape) == 2 && scaleShape[1] > 0 {
		return cols / scaleShape[1]
	}
	return cols
}

func numElements(shape []int) (uint64, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v overflows", shape)
		}
		n = lo
	}
	return n, nil
}

// Close releases the file mapping. Tensor views must not be used afterwards.
func (f *File) Close() error {
	if f.mm == nil {
		return nil
	}
	err := f.mm.Close()
	f.mm = nil
	f.data = nil
	return err
}

// Size returns the file size in bytes.
func (f *File) Size() int64 { return int64(len(f.data)) }

// Tensor is a view of one tensor's bytes in the file.
type Tensor struct {
	TensorInfo
	Data []byte
}

// Has reports whether the file holds a tensor called name.
func (f *File) Has(name string) bool {
	_, ok := f.byName[name]
	return ok
}

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (Tensor, error) {
	i, ok := f.byName[name]
	if !ok {
		return Tensor{}, fmt.Errorf("tensor %q: %w", name, ErrNotFound)
	}
	info := f.Header.Tensors[i]
	return Tensor{TensorInfo: info, Data: f.data[info.OffsetBytes : info.OffsetBytes+info.NBytes]}, nil
}

// ErrNotFound reports a missing tensor or asset.
var ErrNotFound = errors.New("not found")

// AssetNames lists the embedded assets in file order.
func (f *File) AssetNames() []string {
	names := make([]string, len(f.Header.Assets))
	for i, a := range f.Header.Assets {
		names[i] = a.Name
	}
	return names
}

// Asset returns the embedded file called name (for example "tokenizer.json").
func (f *File) Asset(name string) ([]byte, bool) {
	i, ok := f.assets[name]
	if !ok {
		return nil, false
	}
	a := f.Header.Assets[i]
	return f.data[a.OffsetBytes : a.OffsetBytes+a.NBytes], true
}

// NumElements returns the number of elements of the tensor.
func (t *Tensor) NumElements() int {
	n, _ := numElements(t.Shape)
	return int(n)
}

// F32 returns the data of an f32 tensor as []float32 without copying when the
// data is 4-byte aligned (always, for a mapped file), copying otherwise.
func (t *Tensor) F32() ([]float32, error) {
	if t.DType != F32 {
		return nil, fmt.Errorf("tensor %q: dtype %s, want f32", t.Name, t.DType)
	}
	return view[float32](t.Data), nil
}

// U16 returns the raw bit patterns of an f16 or bf16 tensor.
func (t *Tensor) U16() ([]uint16, error) {
	if t.DType != F16 && t.DType != BF16 {
		return nil, fmt.Errorf("tensor %q: dtype %s, want f16 or bf16", t.Name, t.DType)
	}
	return view[uint16](t.Data), nil
}

// Bytes returns the raw packed data of an i4 tensor (see I4).
func (t *Tensor) Bytes() []byte { return t.Data }

// I8 returns the data of an i8 tensor.
func (t *Tensor) I8() ([]int8, error) {
	if t.DType != I8 {
		return nil, fmt.Errorf("tensor %q: dtype %s, want i8", t.Name, t.DType)
	}
	return view[int8](t.Data), nil
}

// view reinterprets little-endian bytes as a slice of T. All supported
// platforms are little-endian.
func view[T float32 | uint16 | int8](b []byte) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	n := len(b) / size
	if n == 0 {
		return []T{}
	}
	if uintptr(unsafe.Pointer(&b[0]))%uintptr(size) == 0 {
		return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]T, n)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), n*size), b)
	return out
}
