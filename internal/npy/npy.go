// Package npy reads NumPy .npy files of little-endian float32 (format 1.0),
// the layout of the reference outputs under testdata.
package npy

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Array is a float32 array in C order.
type Array struct {
	Shape []int
	Data  []float32
}

var shapeRE = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)

// Read reads the .npy file at path.
func Read(path string) (*Array, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	a, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Parse decodes .npy bytes.
func Parse(b []byte) (*Array, error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("not a .npy file")
	}
	if b[6] != 1 {
		return nil, fmt.Errorf("npy version %d.%d not supported", b[6], b[7])
	}
	hlen := int(binary.LittleEndian.Uint16(b[8:]))
	if 10+hlen > len(b) {
		return nil, fmt.Errorf("truncated header")
	}
	h := string(b[10 : 10+hlen])
	if !strings.Contains(h, "'descr': '<f4'") || strings.Contains(h, "'fortran_order': True") {
		return nil, fmt.Errorf("want little-endian float32 in C order, header %q", h)
	}
	m := shapeRE.FindStringSubmatch(h)
	if m == nil {
		return nil, fmt.Errorf("no shape in header %q", h)
	}
	a := &Array{}
	n := 1
	for _, f := range strings.Split(m[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad shape %q", m[1])
		}
		a.Shape = append(a.Shape, d)
		n *= d
	}
	data := b[10+hlen:]
	if len(data) != 4*n {
		return nil, fmt.Errorf("%d data bytes for shape %v", len(data), a.Shape)
	}
	a.Data = make([]float32, n)
	for i := range a.Data {
		a.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return a, nil
}

// ReadRawF32 reads a headerless little-endian float32 file.
func ReadRawF32(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of float32", path, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}
