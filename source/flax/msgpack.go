package flax

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// This file is a small zero-copy msgpack decoder for the subset
// flax.serialization writes: maps, arrays, strings, binary, ext, integers,
// floats, nil and booleans. Strings, binary and ext payloads alias the input.

type kind uint8

const (
	kNil kind = iota
	kBool
	kInt   // signed
	kUint  // unsigned above MaxInt64 is kept as uint64
	kFloat // float32 or float64
	kStr
	kBin
	kArray
	kMap
	kExt
)

var kindNames = [...]string{"nil", "bool", "int", "uint", "float", "str", "bin", "array", "map", "ext"}

func (k kind) String() string { return kindNames[k] }

// value is one decoded msgpack object.
type value struct {
	kind  kind
	b     bool
	i     int64
	u     uint64
	f     float64
	raw   []byte  // str, bin, ext payload (aliases the input)
	ext   int8    // ext type
	items []value // array items, or map keys and values interleaved
	off   int     // offset in the input, for error messages
}

// maxDepth bounds nesting; flax files nest a few levels per module.
const maxDepth = 64

// maxValues caps the objects decoded from one buffer (each takes about 100
// bytes of memory; real checkpoints have a few per tensor).
const maxValues = 1 << 20

type decoder struct {
	data   []byte
	pos    int
	values int
}

func (d *decoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.data)-d.pos) {
		return nil, fmt.Errorf("msgpack: length %d at offset %d exceeds the %d bytes left", n, d.pos, len(d.data)-d.pos)
	}
	b := d.data[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

func (d *decoder) uint(n int) (uint64, error) {
	b, err := d.take(uint64(n))
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), nil
	}
	return binary.BigEndian.Uint64(b), nil
}

// decodeAll decodes exactly one object spanning data.
func decodeAll(data []byte) (value, error) {
	d := &decoder{data: data}
	v, err := d.decode(0)
	if err != nil {
		return v, err
	}
	if d.pos != len(data) {
		return v, fmt.Errorf("msgpack: %d trailing bytes at offset %d", len(data)-d.pos, d.pos)
	}
	return v, nil
}

func (d *decoder) decode(depth int) (value, error) {
	if depth > maxDepth {
		return value{}, fmt.Errorf("msgpack: nesting deeper than %d at offset %d", maxDepth, d.pos)
	}
	off := d.pos
	if d.pos >= len(d.data) {
		return value{}, fmt.Errorf("msgpack: truncated at offset %d", d.pos)
	}
	c := d.data[d.pos]
	d.pos++
	v := value{off: off}
	var err error
	var n uint64
	switch {
	case c <= 0x7f:
		v.kind, v.i = kInt, int64(c)
		return v, nil
	case c >= 0xe0:
		v.kind, v.i = kInt, int64(int8(c))
		return v, nil
	case c&0xf0 == 0x80:
		return d.collection(v, kMap, uint64(c&0x0f), depth)
	case c&0xf0 == 0x90:
		return d.collection(v, kArray, uint64(c&0x0f), depth)
	case c&0xe0 == 0xa0:
		v.kind = kStr
		v.raw, err = d.take(uint64(c & 0x1f))
		return v, err
	}
	switch c {
	case 0xc0:
		v.kind = kNil
	case 0xc2, 0xc3:
		v.kind, v.b = kBool, c == 0xc3
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb: // bin8/16/32, str8/16/32
		v.kind = kBin
		if c >= 0xd9 {
			v.kind = kStr
		}
		width := 1 // bin8, str8
		switch c {
		case 0xc5, 0xda:
			width = 2
		case 0xc6, 0xdb:
			width = 4
		}
		if n, err = d.uint(width); err != nil {
			return v, err
		}
		v.raw, err = d.take(n)
	case 0xc7, 0xc8, 0xc9: // ext8/16/32
		if n, err = d.uint(1 << (c - 0xc7)); err != nil {
			return v, err
		}
		return d.extension(v, n)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1/2/4/8/16
		return d.extension(v, 1<<(c-0xd4))
	case 0xca:
		v.kind = kFloat
		if n, err = d.uint(4); err == nil {
			v.f = float64(math.Float32frombits(uint32(n)))
		}
	case 0xcb:
		v.kind = kFloat
		if n, err = d.uint(8); err == nil {
			v.f = math.Float64frombits(n)
		}
	case 0xcc, 0xcd, 0xce, 0xcf: // uint8..64
		if n, err = d.uint(1 << (c - 0xcc)); err == nil {
			if n > math.MaxInt64 {
				v.kind, v.u = kUint, n
			} else {
				v.kind, v.i = kInt, int64(n)
			}
		}
	case 0xd0, 0xd1, 0xd2, 0xd3: // int8..64
		size := 1 << (c - 0xd0)
		if n, err = d.uint(size); err == nil {
			shift := 64 - 8*uint(size)
			v.kind, v.i = kInt, int64(n<<shift)>>shift
		}
	case 0xdc, 0xdd:
		if n, err = d.uint(2 << (c - 0xdc)); err != nil {
			return v, err
		}
		return d.collection(v, kArray, n, depth)
	case 0xde, 0xdf:
		if n, err = d.uint(2 << (c - 0xde)); err != nil {
			return v, err
		}
		return d.collection(v, kMap, n, depth)
	default:
		return v, fmt.Errorf("msgpack: invalid byte 0x%02x at offset %d", c, off)
	}
	return v, err
}

func (d *decoder) extension(v value, n uint64) (value, error) {
	t, err := d.take(1)
	if err != nil {
		return v, err
	}
	v.kind, v.ext = kExt, int8(t[0])
	v.raw, err = d.take(n)
	return v, err
}

// collection decodes n array items or n map pairs. Every item takes at least
// one byte, so a count larger than the remaining input is rejected before
// anything is allocated.
func (d *decoder) collection(v value, k kind, n uint64, depth int) (value, error) {
	v.kind = k
	if k == kMap {
		n *= 2
	}
	if n > uint64(len(d.data)-d.pos) {
		return v, fmt.Errorf("msgpack: %s of %d items at offset %d exceeds the %d bytes left", k, n, v.off, len(d.data)-d.pos)
	}
	if d.values += int(n); d.values > maxValues {
		return v, fmt.Errorf("msgpack: more than %d objects", maxValues)
	}
	v.items = make([]value, 0, min(n, 1024))
	for i := uint64(0); i < n; i++ {
		it, err := d.decode(depth + 1)
		if err != nil {
			return v, err
		}
		v.items = append(v.items, it)
	}
	return v, nil
}

var errNotString = errors.New("not a string")

// str returns a str (or bin) value as a Go string.
func (v *value) str() (string, error) {
	if v.kind != kStr && v.kind != kBin {
		return "", errNotString
	}
	return string(v.raw), nil
}

// lookup returns the value of a map's string key.
func (v *value) lookup(key string) (*value, bool) {
	for i := 0; i+1 < len(v.items); i += 2 {
		if s, err := v.items[i].str(); err == nil && s == key {
			return &v.items[i+1], true
		}
	}
	return nil, false
}
