package imageproc

import (
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// errPNGNotStreamed marks PNGs that pngRows leaves to image/png (interlaced,
// palette, 16-bit, sub-byte or with a tRNS chunk).
var errPNGNotStreamed = errors.New("png variant not streamed")

// pngRows decodes a non-interlaced 8-bit grayscale, gray+alpha, RGB or RGBA
// PNG row by row into RGB, so that a big image never exists as more than one
// row of PNG samples. Chunk CRCs are checked as image/png does.
type pngRows struct {
	w, h, channels int
	composite      bool
	z              io.ReadCloser
	idat           *idatReader
	prev, cur      []uint8 // filtered rows with a leading filter byte
	y              int
}

// idatReader concatenates the data of consecutive IDAT chunks.
type idatReader struct {
	data   []byte
	pos    int // next chunk header
	remain []byte
	err    error
}

func (r *idatReader) Read(p []byte) (int, error) {
	for len(r.remain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		typ, body, next, err := pngChunk(r.data, r.pos)
		if err != nil {
			r.err = err
			return 0, err
		}
		if typ != "IDAT" {
			r.err = io.ErrUnexpectedEOF
			return 0, fmt.Errorf("png: image data ends at a %q chunk: %w", typ, io.ErrUnexpectedEOF)
		}
		r.pos, r.remain = next, body
	}
	n := copy(p, r.remain)
	r.remain = r.remain[n:]
	return n, nil
}

// pngChunk returns the chunk at pos: its type, body and the position of the
// next chunk, after checking its length and CRC.
func pngChunk(data []byte, pos int) (typ string, body []byte, next int, err error) {
	if pos+12 > len(data) {
		return "", nil, 0, fmt.Errorf("png: truncated chunk at offset %d: %w", pos, io.ErrUnexpectedEOF)
	}
	n := binary.BigEndian.Uint32(data[pos:])
	if n > 1<<31-1 || int64(pos)+12+int64(n) > int64(len(data)) {
		return "", nil, 0, fmt.Errorf("png: chunk at offset %d of length %d exceeds the data: %w", pos, n, io.ErrUnexpectedEOF)
	}
	end := pos + 8 + int(n)
	typ = string(data[pos+4 : pos+8])
	if crc32.ChecksumIEEE(data[pos+4:end]) != binary.BigEndian.Uint32(data[end:]) {
		return "", nil, 0, fmt.Errorf("png: %q chunk at offset %d: checksum mismatch", typ, pos)
	}
	return typ, data[pos+8 : end], end + 4, nil
}

// openPNGRows parses the chunks before the image data. It returns
// errPNGNotStreamed for variants left to image/png.
func openPNGRows(data []byte, composite bool) (*pngRows, error) {
	typ, ihdr, pos, err := pngChunk(data, 8)
	if err != nil {
		return nil, err
	}
	if typ != "IHDR" || len(ihdr) != 13 {
		return nil, fmt.Errorf("png: missing IHDR")
	}
	w, h := binary.BigEndian.Uint32(ihdr[0:]), binary.BigEndian.Uint32(ihdr[4:])
	depth, color, interlace := ihdr[8], ihdr[9], ihdr[12]
	if ihdr[10] != 0 || ihdr[11] != 0 {
		return nil, fmt.Errorf("png: unknown compression or filter method")
	}
	channels := map[uint8]int{0: 1, 2: 3, 4: 2, 6: 4}[color]
	if depth != 8 || channels == 0 || interlace != 0 {
		return nil, errPNGNotStreamed
	}
	if w == 0 || h == 0 || w > 1<<30 || h > 1<<30 {
		return nil, fmt.Errorf("png: %w (%dx%d)", ErrEmptyImage, w, h)
	}
	for {
		typ, _, next, err := pngChunk(data, pos)
		if err != nil {
			return nil, err
		}
		switch typ {
		case "tRNS", "PLTE":
			return nil, errPNGNotStreamed
		case "IEND":
			return nil, fmt.Errorf("png: no image data")
		}
		if typ == "IDAT" {
			break
		}
		pos = next
	}
	idat := &idatReader{data: data, pos: pos}
	z, err := zlib.NewReader(idat)
	if err != nil {
		return nil, fmt.Errorf("png: %w", err)
	}
	stride := 1 + int(w)*channels
	return &pngRows{w: int(w), h: int(h), channels: channels, composite: composite, z: z, idat: idat,
		prev: make([]uint8, stride), cur: make([]uint8, stride)}, nil
}

func (p *pngRows) size() (int, int) { return p.w, p.h }

// readRow decodes the next row into dst (3*w bytes of RGB).
func (p *pngRows) readRow(dst []uint8) error {
	if p.y >= p.h {
		return fmt.Errorf("png: read past the last row")
	}
	if _, err := io.ReadFull(p.z, p.cur); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("png: row %d: %w", p.y, err)
	}
	if err := unfilter(p.cur, p.prev, p.channels); err != nil {
		return fmt.Errorf("png: row %d: %w", p.y, err)
	}
	p.prev, p.cur = p.cur, p.prev
	row := p.prev[1:]
	dst = dst[:3*p.w]
	switch p.channels {
	case 1:
		for x, v := range row {
			dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
		}
	case 2:
		for x := range p.w {
			v, a := row[2*x], row[2*x+1]
			if p.composite {
				v = blendWhite(v, a)
			}
			dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
		}
	case 3:
		copy(dst, row)
	case 4:
		for x := range p.w {
			r, g, b, a := row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]
			if p.composite {
				r, g, b = blendWhite(r, a), blendWhite(g, a), blendWhite(b, a)
			}
			dst[3*x], dst[3*x+1], dst[3*x+2] = r, g, b
		}
	}
	p.y++
	if p.y == p.h {
		// Like image/png, the compressed stream must end with the image
		// data and be intact (its checksum is checked at its end).
		var one [1]byte
		if n, err := p.z.Read(one[:]); n > 0 {
			return fmt.Errorf("png: too much image data")
		} else if err != nil && err != io.EOF {
			return fmt.Errorf("png: %w", err)
		}
	}
	return nil
}

// unfilter reverses the PNG row filter of cur (filter byte first) using the
// previous unfiltered row prev; bpp is the bytes per pixel.
func unfilter(cur, prev []uint8, bpp int) error {
	f := cur[0]
	c, p := cur[1:], prev[1:len(cur)]
	switch f {
	case 0:
	case 1: // Sub
		for i := bpp; i < len(c); i++ {
			c[i] += c[i-bpp]
		}
	case 2: // Up
		for i := range c {
			c[i] += p[i]
		}
	case 3: // Average
		for i := range bpp {
			c[i] += p[i] / 2
		}
		for i := bpp; i < len(c); i++ {
			c[i] += uint8((int(c[i-bpp]) + int(p[i])) / 2)
		}
	case 4: // Paeth
		for i := range bpp {
			c[i] += p[i]
		}
		for i := bpp; i < len(c); i++ {
			a, b, cc := int(c[i-bpp]), int(p[i]), int(p[i-bpp])
			pa, pb, pc := abs(b-cc), abs(a-cc), abs(a+b-2*cc)
			switch {
			case pa <= pb && pa <= pc:
				c[i] += uint8(a)
			case pb <= pc:
				c[i] += uint8(b)
			default:
				c[i] += uint8(cc)
			}
		}
	default:
		return fmt.Errorf("bad filter type %d", f)
	}
	return nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
