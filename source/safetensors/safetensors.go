// Package safetensors reads and writes the safetensors checkpoint format:
// an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then raw little-endian tensor data.
//
// Files are memory-mapped; tensors alias the mapping. Sharded checkpoints are
// read through their model.safetensors.index.json.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"unicode/utf8"

	"github.com/cellm-ai/cellm-go/internal/mmap"
	"github.com/cellm-ai/cellm-go/source"
)

// MaxHeaderLen caps the JSON header length accepted on read.
const MaxHeaderLen = 100 << 20

// ErrFormat is wrapped by every validation error.
var ErrFormat = errors.New("invalid safetensors file")

// IndexFile is the name of the shard index of a sharded checkpoint.
const IndexFile = "model.safetensors.index.json"

var dtypes = map[string]source.DType{
	"F64": source.F64, "F32": source.F32, "F16": source.F16, "BF16": source.BF16,
	"I64": source.I64, "I32": source.I32, "I16": source.I16, "I8": source.I8,
	"U8": source.U8, "BOOL": source.Bool,
}

type entry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Parse validates a safetensors file held in memory and returns its tensors
// (aliasing data) and its __metadata__.
func Parse(data []byte) ([]source.Tensor, map[string]string, error) {
	fail := func(format string, args ...any) ([]source.Tensor, map[string]string, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	if len(data) < 8 {
		return fail("file too short (%d bytes)", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderLen {
		return fail("header length %d exceeds the limit of %d", n, MaxHeaderLen)
	}
	if n+8 > uint64(len(data)) {
		return fail("header length %d runs past the end of the file (%d bytes)", n, len(data))
	}
	raw := data[8 : 8+n]
	if !utf8.Valid(raw) {
		return fail("header is not valid UTF-8")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fail("header JSON: %v", err)
	}
	var meta map[string]string
	body := data[8+n:]
	tensors := make([]source.Tensor, 0, len(fields))
	type span struct {
		name       string
		start, end int64
	}
	spans := make([]span, 0, len(fields))
	for name, v := range fields {
		if name == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return fail("__metadata__: %v", err)
			}
			continue
		}
		var e entry
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return fail("tensor %q: %v", name, err)
		}
		dt, ok := dtypes[e.DType]
		if !ok {
			return fail("tensor %q: unsupported dtype %q", name, e.DType)
		}
		count := uint64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return fail("tensor %q: negative dimension in shape %v", name, e.Shape)
			}
			hi, lo := bits.Mul64(count, uint64(d))
			if hi != 0 || lo > math.MaxInt64 {
				return fail("tensor %q: shape %v overflows", name, e.Shape)
			}
			count = lo
		}
		hi, size := bits.Mul64(count, uint64(dt.Size()))
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if hi != 0 || begin < 0 || end < begin || uint64(end-begin) != size {
			return fail("tensor %q: data_offsets [%d, %d] do not hold shape %v of %s", name, begin, end, e.Shape, e.DType)
		}
		if end > int64(len(body)) {
			return fail("tensor %q: data_offsets [%d, %d] run past the end of the data (%d bytes)", name, begin, end, len(body))
		}
		tensors = append(tensors, source.Tensor{Name: name, DType: dt, Shape: e.Shape, Data: body[begin:end:end]})
		spans = append(spans, span{name, begin, end})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return fail("tensor %q overlaps tensor %q", spans[i].name, spans[i-1].name)
		}
	}
	return tensors, meta, nil
}

// Open maps the safetensors file at path.
func Open(path string) (*source.Set, error) {
	tensors, closer, err := load(path)
	if err != nil {
		return nil, err
	}
	set, err := source.NewSet(tensors, closer)
	if err != nil {
		closer()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// load maps one file and parses it.
func load(path string) ([]source.Tensor, func() error, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, nil, err
	}
	tensors, _, err := Parse(m.Bytes())
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return tensors, m.Close, nil
}

// OpenDir opens the safetensors checkpoint in a model folder: the shards
// listed by model.safetensors.index.json, or else every *.safetensors file.
func OpenDir(dir string) (*source.Set, error) {
	idx := filepath.Join(dir, IndexFile)
	if _, err := os.Stat(idx); err == nil {
		return source.OpenSharded(idx, load, true)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no *.safetensors files", dir)
	}
	sort.Strings(files)
	var all []source.Tensor
	var closers []func() error
	for _, path := range files {
		tensors, closer, err := load(path)
		if err != nil {
			for _, c := range closers {
				c()
			}
			return nil, err
		}
		closers = append(closers, closer)
		all = append(all, tensors...)
	}
	set, err := source.NewSet(all, closers...)
	if err != nil {
		for _, c := range closers {
			c()
		}
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return set, nil
}

// HasCheckpoint reports whether dir holds a safetensors checkpoint.
func HasCheckpoint(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, IndexFile)); err == nil {
		return true
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	return len(files) > 0
}

// Write writes tensors as a safetensors file to w, in name order, with the
// header padded with spaces to a multiple of 8 bytes.
func Write(w io.Writer, tensors []source.Tensor, metadata map[string]string) error {
	sorted := append([]source.Tensor(nil), tensors...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, t := range sorted {
		if len(t.Data) != t.NumElements()*t.DType.Size() {
			return fmt.Errorf("tensor %q: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = entry{DType: string(t.DType), Shape: shape, DataOffsets: [2]int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	for _, t := range sorted {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes tensors to a safetensors file at path.
func WriteFile(path string, tensors []source.Tensor, metadata map[string]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, tensors, metadata); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
