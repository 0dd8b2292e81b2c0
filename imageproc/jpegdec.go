package imageproc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file is a Huffman JPEG decoder (baseline, extended sequential and
// progressive, 8-bit) that reproduces what libjpeg-turbo gives Pillow with
// its default settings: the same entropy decoding (including its handling of
// bad Huffman codes and of entropy data cut short by a marker), the
// "islow" integer IDCT, fancy chroma upsampling and fixed-point colour
// conversion. Files it does not handle (arithmetic coding, lossless,
// hierarchical, 12-bit, DNL, broken restart sequences) return
// errJPEGNotHandled, and Decode falls back to Go's image/jpeg for them.

// errJPEGNotHandled marks JPEGs this decoder leaves to image/jpeg.
var errJPEGNotHandled = errors.New("jpeg variant not handled by the exact decoder")

// ErrCorruptJPEG is returned (wrapped) for malformed JPEG data.
var ErrCorruptJPEG = errors.New("corrupt JPEG")

// jpegNatural maps zigzag index to natural (row-major) index. The 16 extra
// entries absorb run lengths that overflow the block, as libjpeg's table does.
var jpegNatural = [64 + 16]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
}

// huffLookupBits is the number of bits resolved by one table lookup.
const huffLookupBits = 9

// huffTable is a decoding table built like libjpeg's d_derived_tbl.
type huffTable struct {
	// lookup[code prefix] = length<<8 | symbol for codes of at most
	// huffLookupBits bits; 0 when the code is longer.
	lookup  [1 << huffLookupBits]uint16
	maxcode [18]int32 // largest code of each length, -1 if none; [17] is a sentinel
	valoff  [17]int32 // symbol index of code c of length l: c + valoff[l]
	vals    [256]uint8
}

// buildHuffTable builds a table from the 16 code-length counts and the
// symbols of a DHT segment, with libjpeg's validity checks.
func buildHuffTable(counts []uint8, vals []uint8, isDC bool) (*huffTable, error) {
	t := &huffTable{}
	copy(t.vals[:], vals)
	if isDC {
		for _, v := range vals {
			if v > 15 {
				return nil, fmt.Errorf("%w: DC Huffman symbol %d > 15", ErrCorruptJPEG, v)
			}
		}
	}
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		if code+n >= 1<<l && n > 0 { // no code may be all ones
			return nil, fmt.Errorf("%w: Huffman code lengths overflow", ErrCorruptJPEG)
		}
		if n == 0 {
			t.maxcode[l] = -1
		} else {
			t.valoff[l] = k - code
			for range n {
				if l <= huffLookupBits {
					shift := huffLookupBits - l
					for p := code << shift; p < (code+1)<<shift; p++ {
						t.lookup[p] = uint16(l)<<8 | uint16(vals[k])
					}
				}
				code++
				k++
			}
			t.maxcode[l] = code - 1
		}
		code <<= 1
	}
	t.maxcode[17] = 0x7FFFFFFF
	return t, nil
}

// jpegBits reads the entropy-coded segment of a scan: byte stuffing is
// removed and a marker stops the data, after which zero bits are supplied
// (as libjpeg does, flagging the data as insufficient once such a bit is
// actually used).
type jpegBits struct {
	data   []byte
	pos    int    // next unread byte; at a marker, the 0xFF before its code
	acc    uint64 // next bit is bit 63
	n      uint   // valid bits in acc
	pad    uint   // how many of the last valid bits are padding zeros
	marker bool   // a marker ended the data
	eof    bool   // the file ended without a marker
	short  bool   // padding bits were consumed
}

func (b *jpegBits) fill() {
	for b.n <= 56 {
		if b.marker || b.eof {
			b.n += 8
			b.pad += 8
			continue
		}
		if b.pos >= len(b.data) {
			b.eof = true
			continue
		}
		c := b.data[b.pos]
		if c == 0xFF {
			p := b.pos + 1
			for p < len(b.data) && b.data[p] == 0xFF {
				p++
			}
			if p >= len(b.data) {
				b.eof = true
				continue
			}
			if b.data[p] != 0 {
				b.pos = p - 1
				b.marker = true
				continue
			}
			b.pos = p + 1
		} else {
			b.pos++
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// consume drops k ≤ 32 bits that are in the accumulator.
func (b *jpegBits) consume(k uint) {
	b.acc <<= k
	b.n -= k
	if b.pad > b.n {
		b.short = true
		b.pad = b.n
	}
}

// bits returns the next k ≤ 16 bits.
func (b *jpegBits) bits(k uint) int32 {
	if k == 0 {
		return 0
	}
	if b.n < k {
		b.fill()
	}
	v := int32(b.acc >> (64 - k))
	b.consume(k)
	return v
}

// receiveExtend reads an s-bit magnitude and sign-extends it (HUFF_EXTEND).
func (b *jpegBits) receiveExtend(s uint8) int32 {
	if s == 0 {
		return 0
	}
	v := b.bits(uint(s))
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// decode reads one Huffman symbol. A code longer than 16 bits gives symbol 0
// after 17 bits, as libjpeg does.
func (b *jpegBits) decode(t *huffTable) uint8 {
	if b.n < 32 {
		b.fill()
	}
	if e := t.lookup[b.acc>>(64-huffLookupBits)]; e != 0 {
		b.consume(uint(e >> 8))
		return uint8(e)
	}
	l := uint(huffLookupBits + 1)
	for ; l <= 16; l++ {
		if code := int32(b.acc >> (64 - l)); code <= t.maxcode[l] {
			b.consume(l)
			return t.vals[uint8(code+t.valoff[l])]
		}
	}
	b.consume(17)
	return 0
}

// jpegComponent is one colour component of the frame.
type jpegComponent struct {
	id      uint8
	h, v    int // sampling factors
	tq      uint8
	w, hgt  int // size in samples: ceil(width*h/maxH) × ceil(height*v/maxV)
	bw, bh  int // allocated blocks per row and column (whole MCUs)
	plane   []uint8
	coefs   []int16 // progressive only: bw*bh blocks of 64, natural order
	dcPred  int32
	dcTable *huffTable
	acTable *huffTable
	scanned bool
	quant   [64]int32 // natural order, latched at the component's first scan
	latched bool
	blocksW int // blocks in a non-interleaved scan: ceil(w/8)
	blocksH int
}

// jpegDecoder holds the state of one decode.
type jpegDecoder struct {
	data          []byte
	width, height int
	comps         []jpegComponent
	maxH, maxV    int
	mcusX, mcusY  int
	progressive   bool
	quant         [4][64]int32 // natural order
	quantSet      [4]bool
	dc, ac        [4]*huffTable
	restart       int
	jfif, adobe   bool
	adobeXform    int
	eobrun        int32
	limit         int64
	bits          jpegBits
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorruptJPEG}, args...)...)
}

// decodeJPEGExact decodes data like libjpeg-turbo with Pillow's settings.
// limit caps width*height (≤ 0: no cap).
func decodeJPEGExact(data []byte, limit int64) (*RGB, error) {
	r, err := openJPEGRows(data, limit)
	if err != nil {
		return nil, err
	}
	return readAll(r)
}

// openJPEGRows decodes the entropy-coded data and returns a row reader.
func openJPEGRows(data []byte, limit int64) (*jpegRows, error) {
	d := &jpegDecoder{data: data, limit: limit}
	if err := d.run(); err != nil {
		return nil, err
	}
	return d.rows(), nil
}

func (d *jpegDecoder) run() error {
	data := d.data
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return corrupt("missing SOI marker")
	}
	pos := 2
	for {
		// Find the next marker, skipping garbage and fill bytes.
		for pos < len(data) && data[pos] != 0xFF {
			pos++
		}
		for pos < len(data) && data[pos] == 0xFF {
			pos++
		}
		if pos >= len(data) {
			if d.comps != nil && d.anyScanned() {
				return nil // missing EOI after image data: accepted
			}
			return corrupt("unexpected end of data before the image")
		}
		m := data[pos]
		pos++
		switch {
		case m == 0xD9: // EOI
			if d.comps == nil || !d.anyScanned() {
				return corrupt("no image data before EOI")
			}
			return nil
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // TEM, stray RSTn
			continue
		case m == 0x00:
			continue
		}
		if pos+2 > len(data) {
			return corrupt("truncated marker %#x", m)
		}
		n := int(binary.BigEndian.Uint16(data[pos:]))
		if n < 2 || pos+n > len(data) {
			return corrupt("marker %#x segment length %d exceeds the data", m, n)
		}
		seg := data[pos+2 : pos+n]
		pos += n
		var err error
		switch {
		case m == 0xC0 || m == 0xC1 || m == 0xC2:
			err = d.parseSOF(seg, m == 0xC2)
		case m == 0xC3 || (m >= 0xC5 && m <= 0xC7) || (m >= 0xC9 && m <= 0xCB) || (m >= 0xCD && m <= 0xCF):
			return fmt.Errorf("SOF%d: %w", m-0xC0, errJPEGNotHandled)
		case m == 0xC4:
			err = d.parseDHT(seg)
		case m == 0xCC: // DAC: arithmetic coding
			return fmt.Errorf("DAC: %w", errJPEGNotHandled)
		case m == 0xDB:
			err = d.parseDQT(seg)
		case m == 0xDD:
			if len(seg) != 2 {
				return corrupt("DRI length %d", len(seg))
			}
			d.restart = int(binary.BigEndian.Uint16(seg))
		case m == 0xDC:
			return fmt.Errorf("DNL: %w", errJPEGNotHandled)
		case m == 0xE0:
			if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.jfif = true
			}
		case m == 0xEE:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.adobe = true
				d.adobeXform = int(seg[11])
			}
		case m == 0xDA:
			if pos, err = d.scan(seg, pos); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
	}
}

func (d *jpegDecoder) anyScanned() bool {
	for i := range d.comps {
		if d.comps[i].scanned {
			return true
		}
	}
	return false
}

func (d *jpegDecoder) parseSOF(seg []byte, progressive bool) error {
	if d.comps != nil {
		return corrupt("more than one SOF marker")
	}
	if len(seg) < 6 {
		return corrupt("SOF length %d", len(seg))
	}
	if seg[0] != 8 {
		return fmt.Errorf("%d-bit samples: %w", seg[0], errJPEGNotHandled)
	}
	d.height = int(binary.BigEndian.Uint16(seg[1:]))
	d.width = int(binary.BigEndian.Uint16(seg[3:]))
	nc := int(seg[5])
	if d.height == 0 {
		return fmt.Errorf("height from DNL: %w", errJPEGNotHandled)
	}
	if d.width == 0 {
		return fmt.Errorf("imageproc: jpeg: %w (%dx%d)", ErrEmptyImage, d.width, d.height)
	}
	if d.limit > 0 && int64(d.width)*int64(d.height) > d.limit {
		return fmt.Errorf("imageproc: jpeg: %w: %dx%d exceeds the cap of %d", ErrTooManyPixels, d.width, d.height, d.limit)
	}
	if nc != 1 && nc != 3 && nc != 4 {
		return corrupt("%d components (Pillow reads 1, 3 or 4)", nc)
	}
	if len(seg) != 6+3*nc {
		return corrupt("SOF length %d for %d components", len(seg), nc)
	}
	d.progressive = progressive
	d.comps = make([]jpegComponent, nc)
	d.maxH, d.maxV = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		p := seg[6+3*i:]
		c.id, c.h, c.v, c.tq = p[0], int(p[1]>>4), int(p[1]&15), p[2]
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return corrupt("component %d sampling factors %dx%d", c.id, c.h, c.v)
		}
		if c.tq > 3 {
			return corrupt("component %d quantization table %d", c.id, c.tq)
		}
		d.maxH, d.maxV = max(d.maxH, c.h), max(d.maxV, c.v)
	}
	d.mcusX = (d.width + 8*d.maxH - 1) / (8 * d.maxH)
	d.mcusY = (d.height + 8*d.maxV - 1) / (8 * d.maxV)
	for i := range d.comps {
		c := &d.comps[i]
		if d.maxH%c.h != 0 || d.maxV%c.v != 0 {
			return corrupt("component %d sampling %dx%d does not divide %dx%d", c.id, c.h, c.v, d.maxH, d.maxV)
		}
		c.w = (d.width*c.h + d.maxH - 1) / d.maxH
		c.hgt = (d.height*c.v + d.maxV - 1) / d.maxV
		c.blocksW, c.blocksH = (c.w+7)/8, (c.hgt+7)/8
		if nc == 1 {
			// A single component is never interleaved: its MCU is one block.
			c.bw, c.bh = c.blocksW, c.blocksH
		} else {
			c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		}
		c.plane = make([]uint8, c.bw*8*c.bh*8)
		if progressive {
			c.coefs = make([]int16, c.bw*c.bh*64)
		}
	}
	return nil
}

func (d *jpegDecoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return corrupt("DHT segment too short")
		}
		class, id := seg[0]>>4, seg[0]&15
		if class > 1 || id > 3 {
			return corrupt("DHT table class %d id %d", class, id)
		}
		counts := seg[1:17]
		total := 0
		for _, c := range counts {
			total += int(c)
		}
		if total > 256 || len(seg) < 17+total {
			return corrupt("DHT table with %d symbols", total)
		}
		t, err := buildHuffTable(counts, seg[17:17+total], class == 0)
		if err != nil {
			return err
		}
		if class == 0 {
			d.dc[id] = t
		} else {
			d.ac[id] = t
		}
		seg = seg[17+total:]
	}
	return nil
}

func (d *jpegDecoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		prec, id := seg[0]>>4, seg[0]&15
		if prec > 1 || id > 3 {
			return corrupt("DQT precision %d id %d", prec, id)
		}
		n := 64 * (1 + int(prec))
		if len(seg) < 1+n {
			return corrupt("DQT segment too short")
		}
		for k := range 64 {
			var v int32
			if prec == 0 {
				v = int32(seg[1+k])
			} else {
				v = int32(binary.BigEndian.Uint16(seg[1+2*k:]))
			}
			d.quant[id][jpegNatural[k]] = v
		}
		d.quantSet[id] = true
		seg = seg[1+n:]
	}
	return nil
}

// scan parses an SOS header and decodes its entropy-coded data, which starts
// at pos. It returns the position after the data.
func (d *jpegDecoder) scan(seg []byte, pos int) (int, error) {
	if d.comps == nil {
		return 0, corrupt("SOS before SOF")
	}
	if len(seg) < 1 {
		return 0, corrupt("empty SOS")
	}
	ns := int(seg[0])
	if ns < 1 || ns > 4 || len(seg) != 4+2*ns {
		return 0, corrupt("SOS with %d components and length %d", ns, len(seg))
	}
	comps := make([]*jpegComponent, ns)
	blocks := 0
	for i := range ns {
		id, tables := seg[1+2*i], seg[2+2*i]
		var c *jpegComponent
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return 0, corrupt("SOS names unknown component %d", id)
		}
		for _, prev := range comps[:i] {
			if prev == c {
				return 0, corrupt("SOS names component %d twice", id)
			}
		}
		td, ta := tables>>4, tables&15
		if td > 3 || ta > 3 {
			return 0, corrupt("SOS table selectors %d/%d", td, ta)
		}
		c.dcTable, c.acTable = d.dc[td], d.ac[ta]
		comps[i] = c
		blocks += c.h * c.v
	}
	if ns > 1 && blocks > 10 {
		return 0, corrupt("%d blocks per MCU (at most 10)", blocks)
	}
	p := seg[1+2*ns:]
	ss, se, ah, al := int(p[0]), int(p[1]), int(p[2]>>4), int(p[2]&15)
	if d.progressive {
		bad := al > 13 || (ah != 0 && al != ah-1)
		if ss == 0 {
			bad = bad || se != 0
		} else {
			bad = bad || se < ss || se > 63 || ns != 1
		}
		if bad {
			return 0, corrupt("bad progression Ss=%d Se=%d Ah=%d Al=%d", ss, se, ah, al)
		}
	}
	// Latch quantization tables and check the Huffman tables the scan uses.
	for _, c := range comps {
		if !c.latched {
			if !d.quantSet[c.tq] {
				return 0, corrupt("component %d uses undefined quantization table %d", c.id, c.tq)
			}
			c.quant = d.quant[c.tq]
			c.latched = true
		}
		needDC := !d.progressive || (ss == 0 && ah == 0)
		needAC := !d.progressive || ss > 0
		if (needDC && c.dcTable == nil) || (needAC && c.acTable == nil) {
			return 0, fmt.Errorf("component %d: undefined Huffman table (libjpeg-turbo would use the standard one): %w", c.id, errJPEGNotHandled)
		}
		c.dcPred = 0
		c.scanned = true
	}
	d.eobrun = 0
	d.bits = jpegBits{data: d.data, pos: pos}

	var mcuFn func(c *jpegComponent, bx, by int)
	switch {
	case !d.progressive:
		var blk [64]int32
		mcuFn = func(c *jpegComponent, bx, by int) {
			d.decodeSequentialBlock(c, &blk)
			idctIslow(&blk, &c.quant, c.plane[by*8*c.bw*8+bx*8:], c.bw*8)
		}
	case ss == 0 && ah == 0:
		mcuFn = func(c *jpegComponent, bx, by int) { d.dcFirst(c, bx, by, al) }
	case ss == 0:
		mcuFn = func(c *jpegComponent, bx, by int) { d.dcRefine(c, bx, by, al) }
	case ah == 0:
		mcuFn = func(c *jpegComponent, bx, by int) { d.acFirst(c, bx, by, ss, se, al) }
	default:
		mcuFn = func(c *jpegComponent, bx, by int) { d.acRefine(c, bx, by, ss, se, al) }
	}

	total := d.mcusX * d.mcusY
	if ns == 1 {
		total = comps[0].blocksW * comps[0].blocksH
	}
	nextRST := 0
	for mcu := range total {
		if d.restart > 0 && mcu > 0 && mcu%d.restart == 0 {
			if err := d.processRestart(nextRST); err != nil {
				return 0, err
			}
			nextRST = (nextRST + 1) & 7
			for _, c := range comps {
				c.dcPred = 0
			}
			d.eobrun = 0
		}
		if ns == 1 {
			c := comps[0]
			mcuFn(c, mcu%c.blocksW, mcu/c.blocksW)
		} else {
			mx, my := mcu%d.mcusX, mcu/d.mcusX
			for _, c := range comps {
				for v := range c.v {
					for h := range c.h {
						mcuFn(c, mx*c.h+h, my*c.v+v)
					}
				}
			}
		}
		if d.bits.short && d.bits.eof {
			return 0, corrupt("image data is truncated")
		}
	}
	// Continue after the bytes the scan used; the marker loop skips any
	// remaining garbage up to the next marker.
	return d.bits.pos, nil
}

// processRestart discards buffered bits and expects marker RSTn, as
// libjpeg's process_restart does; a missing or out-of-sequence marker is left
// to image/jpeg (libjpeg's resynchronisation is not reproduced).
func (d *jpegDecoder) processRestart(n int) error {
	b := &d.bits
	pos := b.pos
	for pos < len(b.data) && b.data[pos] != 0xFF {
		pos++
	}
	for pos < len(b.data) && b.data[pos] == 0xFF {
		pos++
	}
	if pos >= len(b.data) {
		return corrupt("image data is truncated")
	}
	if b.data[pos] != byte(0xD0+n) {
		return fmt.Errorf("restart marker %#x where RST%d was due: %w", b.data[pos], n, errJPEGNotHandled)
	}
	*b = jpegBits{data: b.data, pos: pos + 1}
	return nil
}

// decodeSequentialBlock decodes one block of a sequential scan into blk
// (natural order, not dequantized). Once the data has run short, blocks are
// zero, as libjpeg leaves them.
func (d *jpegDecoder) decodeSequentialBlock(c *jpegComponent, blk *[64]int32) {
	*blk = [64]int32{}
	b := &d.bits
	if b.short {
		return
	}
	s := b.decode(c.dcTable)
	c.dcPred += b.receiveExtend(s)
	blk[0] = int32(int16(c.dcPred))
	for k := 1; k < 64; k++ {
		rs := b.decode(c.acTable)
		r, s := int(rs>>4), rs&15
		if s != 0 {
			k += r
			blk[jpegNatural[k]] = int32(int16(b.receiveExtend(s)))
		} else {
			if r != 15 {
				break
			}
			k += 15
		}
	}
}

func (c *jpegComponent) block(bx, by int) []int16 {
	i := (by*c.bw + bx) * 64
	return c.coefs[i : i+64 : i+64]
}

func (d *jpegDecoder) dcFirst(c *jpegComponent, bx, by, al int) {
	b := &d.bits
	if b.short {
		return
	}
	s := b.decode(c.dcTable)
	c.dcPred += b.receiveExtend(s)
	c.block(bx, by)[0] = int16(c.dcPred << al)
}

func (d *jpegDecoder) dcRefine(c *jpegComponent, bx, by, al int) {
	b := &d.bits
	if b.short {
		return
	}
	if b.bits(1) != 0 {
		c.block(bx, by)[0] |= int16(1 << al)
	}
}

func (d *jpegDecoder) acFirst(c *jpegComponent, bx, by, ss, se, al int) {
	b := &d.bits
	if b.short {
		return
	}
	if d.eobrun > 0 {
		d.eobrun--
		return
	}
	blk := c.block(bx, by)
	for k := ss; k <= se; k++ {
		rs := b.decode(c.acTable)
		r, s := int(rs>>4), rs&15
		if s != 0 {
			k += r
			blk[jpegNatural[k]] = int16(b.receiveExtend(s) << al)
			continue
		}
		if r == 15 {
			k += 15
			continue
		}
		d.eobrun = 1 << r
		if r != 0 {
			d.eobrun += b.bits(uint(r))
		}
		d.eobrun--
		break
	}
}

func (d *jpegDecoder) acRefine(c *jpegComponent, bx, by, ss, se, al int) {
	b := &d.bits
	if b.short {
		return
	}
	p1, m1 := int16(1<<al), int16(-1<<al)
	blk := c.block(bx, by)
	refine := func(coef *int16) {
		if b.bits(1) != 0 && *coef&p1 == 0 {
			if *coef >= 0 {
				*coef += p1
			} else {
				*coef += m1
			}
		}
	}
	k := ss
	if d.eobrun == 0 {
		for ; k <= se; k++ {
			rs := b.decode(c.acTable)
			r, s := int(rs>>4), int16(0)
			if rs&15 != 0 {
				// A magnitude other than 1 is a (warned) error in libjpeg,
				// which still reads one sign bit.
				if b.bits(1) != 0 {
					s = p1
				} else {
					s = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r != 0 {
					d.eobrun += b.bits(uint(r))
				}
				break
			}
			for k <= se {
				coef := &blk[jpegNatural[k]]
				if *coef != 0 {
					refine(coef)
				} else {
					r--
					if r < 0 {
						break
					}
				}
				k++
			}
			if s != 0 {
				blk[jpegNatural[k]] = s
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= se; k++ {
			if coef := &blk[jpegNatural[k]]; *coef != 0 {
				refine(coef)
			}
		}
		d.eobrun--
	}
}

// finish runs the IDCT of progressive coefficients and fills components
// that never had a scan with the IDCT of zero blocks (mid-grey), as libjpeg's
// zero-initialised coefficient buffers give.
func (d *jpegDecoder) finish() {
	var blk [64]int32
	for i := range d.comps {
		c := &d.comps[i]
		if !c.scanned {
			for j := range c.plane {
				c.plane[j] = 128
			}
			continue
		}
		if c.coefs == nil {
			continue
		}
		for by := range c.bh {
			for bx := range c.bw {
				for k, v := range c.block(bx, by) {
					blk[k] = int32(v)
				}
				idctIslow(&blk, &c.quant, c.plane[by*8*c.bw*8+bx*8:], c.bw*8)
			}
		}
		c.coefs = nil
	}
}

// jpegColor is the colour space of the decoded components, as libjpeg
// infers it.
type jpegColor int

const (
	jpegGray jpegColor = iota
	jpegYCbCr
	jpegRGB
	jpegCMYK
	jpegYCCK
)

// jpegRows yields the decoded image row by row: chroma upsampling and colour
// conversion run per output row, so only the component planes are kept at
// full size.
type jpegRows struct {
	d      *jpegDecoder
	space  jpegColor
	ups    []*upsampler
	planes []func(int) []uint8
	rows   [][]uint8
	y      int
}

// rows finishes decoding (progressive IDCT) and returns the row reader.
func (d *jpegDecoder) rows() *jpegRows {
	d.finish()
	nc := len(d.comps)
	r := &jpegRows{d: d, space: d.colorSpace(), ups: make([]*upsampler, nc),
		planes: make([]func(int) []uint8, nc), rows: make([][]uint8, nc)}
	for i := range d.comps {
		c := &d.comps[i]
		stride := c.bw * 8
		cw, ch := c.w, c.hgt
		r.planes[i] = func(y int) []uint8 {
			y = min(max(y, 0), ch-1) // libjpeg replicates edge rows as context
			return c.plane[y*stride : y*stride+cw]
		}
		r.ups[i] = newUpsampler(d.width, cw, d.maxH/c.h, d.maxV/c.v)
		r.rows[i] = make([]uint8, d.width)
	}
	return r
}

func (r *jpegRows) size() (int, int) { return r.d.width, r.d.height }

// readRow writes the next row as RGB into dst (3*width bytes).
func (r *jpegRows) readRow(o []uint8) error {
	w, y := r.d.width, r.y
	if y >= r.d.height {
		return fmt.Errorf("jpeg: read past the last row")
	}
	r.y++
	rows := r.rows
	for i := range rows {
		r.ups[i].row(rows[i], r.planes[i], y)
	}
	o = o[:3*w]
	switch r.space {
	case jpegGray:
		for x, v := range rows[0] {
			o[3*x], o[3*x+1], o[3*x+2] = v, v, v
		}
	case jpegRGB:
		for x := range w {
			o[3*x], o[3*x+1], o[3*x+2] = rows[0][x], rows[1][x], rows[2][x]
		}
	case jpegYCbCr:
		yccToRGB(o, rows[0], rows[1], rows[2])
	case jpegCMYK, jpegYCCK:
		for x := range w {
			cc, mm, yy, kk := rows[0][x], rows[1][x], rows[2][x], rows[3][x]
			if r.space == jpegYCCK {
				Y, cb, cr := int32(cc), rows[1][x], rows[2][x]
				cc = clampByte(255 - (Y + crR[cr]))
				mm = clampByte(255 - (Y + ((cbG[cb] + crG[cr]) >> 16)))
				yy = clampByte(255 - (Y + cbB[cb]))
			}
			// Pillow reads CMYK JPEGs as "CMYK;I" (Adobe's inverted
			// convention), then converts like convert("RGB").
			o[3*x], o[3*x+1], o[3*x+2] = cmykToRGB(^cc, ^mm, ^yy, ^kk)
		}
	}
	return nil
}

// colorSpace returns the JPEG colour space libjpeg infers
// (default_decompress_parms).
func (d *jpegDecoder) colorSpace() jpegColor {
	switch len(d.comps) {
	case 1:
		return jpegGray
	case 3:
		switch {
		case d.jfif:
			return jpegYCbCr
		case d.adobe:
			if d.adobeXform == 0 {
				return jpegRGB
			}
			return jpegYCbCr
		case d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B':
			return jpegRGB
		}
		return jpegYCbCr
	}
	if d.adobe && d.adobeXform == 0 {
		return jpegCMYK
	}
	if d.adobe {
		return jpegYCCK
	}
	return jpegCMYK
}
