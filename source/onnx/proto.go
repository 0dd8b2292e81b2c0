package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// This file is a minimal protobuf wire-format reader: tags, varints, fixed
// 32/64-bit values and length-delimited fields, all over a byte slice and
// without copying. Every length is checked against the bytes that remain.

const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireStart   = 3 // deprecated groups: rejected
	wireEnd     = 4
	wireFixed32 = 5
)

var errOverflow = errors.New("varint overflows 64 bits")

// wire walks the fields of one message.
type wire struct {
	b   []byte
	pos int
	// base is the offset of b in the file, for error messages.
	base int
}

func (w *wire) more() bool { return w.pos < len(w.b) }

func (w *wire) varint() (uint64, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		if w.pos >= len(w.b) {
			return 0, fmt.Errorf("truncated varint at offset %d", w.base+w.pos)
		}
		c := w.b[w.pos]
		w.pos++
		if i == 9 && c > 1 {
			return 0, errOverflow
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errOverflow
}

// field reads the next tag.
func (w *wire) field() (num int, typ int, err error) {
	t, err := w.varint()
	if err != nil {
		return 0, 0, err
	}
	num, typ = int(t>>3), int(t&7)
	if num <= 0 || t>>3 > math.MaxInt32 {
		return 0, 0, fmt.Errorf("invalid field number %d at offset %d", t>>3, w.base+w.pos)
	}
	return num, typ, nil
}

// bytes reads a length-delimited payload; off is its offset in the file.
func (w *wire) bytes() (b []byte, off int, err error) {
	n, err := w.varint()
	if err != nil {
		return nil, 0, err
	}
	if n > uint64(len(w.b)-w.pos) {
		return nil, 0, fmt.Errorf("length %d at offset %d exceeds the %d bytes left", n, w.base+w.pos, len(w.b)-w.pos)
	}
	off = w.base + w.pos
	b = w.b[w.pos : w.pos+int(n) : w.pos+int(n)]
	w.pos += int(n)
	return b, off, nil
}

func (w *wire) fixed(n int) (uint64, error) {
	if n > len(w.b)-w.pos {
		return 0, fmt.Errorf("truncated fixed%d at offset %d", 8*n, w.base+w.pos)
	}
	var v uint64
	if n == 4 {
		v = uint64(binary.LittleEndian.Uint32(w.b[w.pos:]))
	} else {
		v = binary.LittleEndian.Uint64(w.b[w.pos:])
	}
	w.pos += n
	return v, nil
}

// skip discards a field's value.
func (w *wire) skip(typ int) error {
	var err error
	switch typ {
	case wireVarint:
		_, err = w.varint()
	case wireFixed64:
		_, err = w.fixed(8)
	case wireFixed32:
		_, err = w.fixed(4)
	case wireBytes:
		_, _, err = w.bytes()
	default:
		err = fmt.Errorf("unsupported wire type %d at offset %d", typ, w.base+w.pos)
	}
	return err
}

// sub returns a reader over a nested message.
func (w *wire) sub() (*wire, error) {
	b, off, err := w.bytes()
	if err != nil {
		return nil, err
	}
	return &wire{b: b, base: off}, nil
}

// str reads a string field.
func (w *wire) str() (string, error) {
	b, _, err := w.bytes()
	return string(b), err
}

// int64s reads one repeated int64 field occurrence: packed or a single varint.
func (w *wire) int64s(typ int, dst []int64, limit int) ([]int64, error) {
	switch typ {
	case wireVarint:
		v, err := w.varint()
		if err != nil {
			return nil, err
		}
		if len(dst) >= limit {
			return nil, fmt.Errorf("more than %d values", limit)
		}
		return append(dst, int64(v)), nil
	case wireBytes:
		b, off, err := w.bytes()
		if err != nil {
			return nil, err
		}
		p := &wire{b: b, base: off}
		for p.more() {
			v, err := p.varint()
			if err != nil {
				return nil, err
			}
			if len(dst) >= limit {
				return nil, fmt.Errorf("more than %d values", limit)
			}
			dst = append(dst, int64(v))
		}
		return dst, nil
	}
	return nil, fmt.Errorf("wire type %d for a repeated integer", typ)
}
