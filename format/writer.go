package format

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Writer assembles a .cellm file: a header, then tensors and assets whose
// bytes are produced on demand while the file is written, so a converter
// never holds a whole model in memory.
type Writer struct {
	header Header
	items  []item
	names  map[string]bool
	assets map[string]bool
}

type item struct {
	name   string
	asset  bool
	dtype  DType
	shape  []int
	nbytes int64
	write  func(io.Writer) error
}

// NewWriter returns a Writer for a file with header h. The Tensors and Assets
// of h are ignored: they are filled from what is added.
func NewWriter(h Header) *Writer {
	h.Tensors, h.Assets = nil, nil
	return &Writer{header: h, names: map[string]bool{}, assets: map[string]bool{}}
}

// AddTensor adds a tensor whose bytes write will produce, exactly
// dtype.ByteSize(shape) of them, when the file is written.
func (w *Writer) AddTensor(name string, dtype DType, shape []int, write func(io.Writer) error) error {
	if name == "" {
		return errors.New("tensor with empty name")
	}
	if w.names[name] {
		return fmt.Errorf("tensor %q added twice", name)
	}
	if !dtype.Valid() {
		return fmt.Errorf("tensor %q: unknown dtype %q", name, dtype)
	}
	nbytes, err := dtype.ByteSize(shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", name, err)
	}
	w.names[name] = true
	w.items = append(w.items, item{name: name, dtype: dtype, shape: append([]int(nil), shape...),
		nbytes: nbytes, write: write})
	return nil
}

// AddTensorBytes adds a tensor whose bytes are already in memory.
func (w *Writer) AddTensorBytes(name string, dtype DType, shape []int, data []byte) error {
	return w.AddTensor(name, dtype, shape, func(out io.Writer) error {
		_, err := out.Write(data)
		return err
	})
}

// AddAsset embeds a small file, readable with File.Asset(name).
func (w *Writer) AddAsset(name string, data []byte) error {
	if name == "" || w.assets[name] {
		return fmt.Errorf("asset %q: empty or duplicate name", name)
	}
	w.assets[name] = true
	w.items = append(w.items, item{name: name, asset: true, nbytes: int64(len(data)),
		write: func(out io.Writer) error { _, err := out.Write(data); return err }})
	return nil
}

// TotalBytes returns the number of tensor and asset bytes to be written.
func (w *Writer) TotalBytes() int64 {
	var n int64
	for _, it := range w.items {
		n += it.nbytes
	}
	return n
}

func alignUp(n int64) int64 { return (n + Alignment - 1) / Alignment * Alignment }

// layout assigns offsets and returns the encoded header. Offsets depend on the
// header length and the header length on the offsets, so iterate to a fixed point.
func (w *Writer) layout() ([]byte, error) {
	dataStart := int64(0)
	for range 16 {
		h := w.header
		h.Tensors = make([]TensorInfo, 0, len(w.items))
		h.Assets = nil
		off := dataStart
		for _, it := range w.items {
			if it.asset {
				h.Assets = append(h.Assets, AssetInfo{Name: it.name, OffsetBytes: off, NBytes: it.nbytes})
			} else {
				h.Tensors = append(h.Tensors, TensorInfo{Name: it.name, DType: it.dtype, Shape: it.shape,
					OffsetBytes: off, NBytes: it.nbytes})
			}
			off = alignUp(off + it.nbytes)
		}
		js, err := json.Marshal(h)
		if err != nil {
			return nil, err
		}
		if len(js) > MaxHeaderLen {
			return nil, fmt.Errorf("header of %d bytes exceeds the limit of %d", len(js), MaxHeaderLen)
		}
		if start := alignUp(int64(prefixLen + len(js))); start != dataStart {
			dataStart = start
			continue
		}
		return js, nil
	}
	return nil, errors.New("header layout did not converge")
}

// WriteTo writes the whole file to out and returns the bytes written.
// progress, if not nil, is called with the data bytes written so far.
func (w *Writer) WriteTo(out io.Writer, progress func(done, total int64)) (int64, error) {
	js, err := w.layout()
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: out}
	var pre [prefixLen]byte
	copy(pre[:], Magic)
	pre[len(Magic)] = Version
	binary.LittleEndian.PutUint32(pre[len(Magic)+1:], uint32(len(js)))
	cw.Write(pre[:])
	cw.Write(js)
	total := w.TotalBytes()
	var done int64
	for _, it := range w.items {
		if err := cw.pad(); err != nil {
			return cw.n, err
		}
		start := cw.n
		if err := it.write(cw); err != nil {
			return cw.n, fmt.Errorf("%s %q: %w", kind(it), it.name, err)
		}
		if cw.err != nil {
			return cw.n, cw.err
		}
		if got := cw.n - start; got != it.nbytes {
			return cw.n, fmt.Errorf("%s %q: wrote %d bytes, want %d", kind(it), it.name, got, it.nbytes)
		}
		done += it.nbytes
		if progress != nil {
			progress(done, total)
		}
	}
	if err := cw.pad(); err != nil {
		return cw.n, err
	}
	return cw.n, cw.err
}

func kind(it item) string {
	if it.asset {
		return "asset"
	}
	return "tensor"
}

// WriteFile writes the file atomically: into a temporary file in the target
// directory, renamed to path only once complete. On failure nothing is left.
func (w *Writer) WriteFile(path string, progress func(done, total int64)) error {
	return w.WriteFileContext(context.Background(), path, WriteOptions{Progress: progress})
}

// WriteOptions control WriteFileContext.
type WriteOptions struct {
	// Progress, if not nil, is called with the data bytes written so far.
	Progress func(done, total int64)
	// Verify, if not nil, is called with the complete temporary file before
	// it is renamed to the target; an error keeps the target untouched.
	Verify func(tmpPath string) error
}

// WriteFileContext is WriteFile that stops when ctx is cancelled (for
// example by a signal) and can verify the file before committing it. On any
// failure or cancellation the temporary file is removed and path is not
// touched.
func (w *Writer) WriteFileContext(ctx context.Context, path string, opt WriteOptions) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				tmp.Close()
			}
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(&ctxWriter{ctx: ctx, w: tmp}, 1<<20)
	if _, err = w.WriteTo(bw, opt.Progress); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	closed = true
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if opt.Verify != nil {
		if err = opt.Verify(tmp.Name()); err != nil {
			return err
		}
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ctxWriter fails writes once its context is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

var zeros [Alignment]byte

func (c *countingWriter) pad() error {
	if r := c.n % Alignment; r != 0 {
		c.Write(zeros[:Alignment-r])
	}
	return c.err
}

// Encode returns a whole file in memory; convenient for tests and small models.
func (w *Writer) Encode() ([]byte, error) {
	var b bytes.Buffer
	_, err := w.WriteTo(&b, nil)
	return b.Bytes(), err
}
