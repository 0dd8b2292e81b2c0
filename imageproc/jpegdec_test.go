package imageproc

import (
	"bytes"
	"errors"
	"image/jpeg"
	"testing"
)

// testJPEG writes a grayscale baseline JPEG of w×h pixels (multiples of 8)
// whose blocks have pseudo-random DC and low-frequency AC coefficients, with
// a restart marker every interval blocks (0: none). The quantization table
// is all ones and the Huffman tables are small canonical ones.
type testJPEG struct {
	buf   bytes.Buffer
	acc   uint32
	nbits uint
}

func (e *testJPEG) put(bits uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		e.acc = e.acc<<1 | (bits>>uint(i))&1
		e.nbits++
		if e.nbits == 8 {
			b := byte(e.acc)
			e.buf.WriteByte(b)
			if b == 0xFF {
				e.buf.WriteByte(0)
			}
			e.acc, e.nbits = 0, 0
		}
	}
}

func (e *testJPEG) flush() {
	for e.nbits != 0 {
		e.put(1, 1)
	}
}

// magnitude returns the JPEG size category and the bits of v.
func magnitude(v int) (uint, uint32) {
	a, s := v, uint(0)
	if a < 0 {
		a = -a
	}
	for a>>s != 0 {
		s++
	}
	if v < 0 {
		return s, uint32(v+(1<<s)-1) & (1<<s - 1)
	}
	return s, uint32(v)
}

// testBlocks returns n blocks of quantized coefficients in zigzag order:
// pseudo-random DC values and sparse low-frequency AC values.
func testBlocks(n int) [][64]int {
	seed := uint32(12345)
	rnd := func(m int) int { // uniform in [-m, m]
		seed = seed*1103515245 + 12345
		return int(seed>>8)%(2*m+1) - m
	}
	blocks := make([][64]int, n)
	for i := range blocks {
		blocks[i][0] = rnd(400)
		for k := 1; k < 20; k++ {
			if v := rnd(40); k < 6 || v%5 == 0 {
				blocks[i][k] = v / (1 + k/6)
			}
		}
		if i%3 == 0 {
			blocks[i][40+i%20] = rnd(3) // an isolated high frequency
		}
	}
	return blocks
}

// jpegHeader writes SOI, an all-ones quantization table, the frame header
// (grayscale w×h, baseline or progressive), the Huffman tables and DRI.
func (e *testJPEG) header(w, h, interval int, progressive bool) map[byte]uint32 {
	var acSyms []byte
	acSyms = append(acSyms, 0xF0)
	for r := range 16 {
		for s := 0; s <= 10; s++ {
			if s > 0 || r < 15 {
				acSyms = append(acSyms, byte(r<<4|s))
			}
		}
	}
	acCode := map[byte]uint32{}
	for i, s := range acSyms {
		acCode[s] = uint32(i) // all of length 8
	}
	sof := byte(0xC0)
	if progressive {
		sof = 0xC2
	}
	e.buf.Write([]byte{0xFF, 0xD8})
	e.segment(0xDB, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...))
	e.segment(sof, []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0})
	dht := []byte{0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	dht = append(dht, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
	dht = append(dht, 0x10, 0, 0, 0, 0, 0, 0, 0, byte(len(acSyms)), 0, 0, 0, 0, 0, 0, 0, 0)
	dht = append(dht, acSyms...)
	e.segment(0xC4, dht)
	if interval > 0 {
		e.segment(0xDD, []byte{byte(interval >> 8), byte(interval)})
	}
	return acCode
}

func (e *testJPEG) segment(marker byte, body []byte) {
	e.buf.Write([]byte{0xFF, marker, byte((len(body) + 2) >> 8), byte(len(body) + 2)})
	e.buf.Write(body)
}

// restartJPEG writes a grayscale baseline JPEG of w×h pixels (multiples of
// 8) of testBlocks, with a restart marker every interval blocks (0: none).
func restartJPEG(t testing.TB, w, h, interval int) []byte {
	t.Helper()
	if w%8 != 0 || h%8 != 0 {
		t.Fatalf("restartJPEG: %dx%d is not a multiple of 8", w, h)
	}
	e := &testJPEG{}
	acCode := e.header(w, h, interval, false)
	e.segment(0xDA, []byte{1, 1, 0x00, 0, 63, 0})
	pred, rst := 0, 0
	for b, blk := range testBlocks((w / 8) * (h / 8)) {
		if interval > 0 && b > 0 && b%interval == 0 {
			e.flush()
			e.buf.Write([]byte{0xFF, byte(0xD0 + rst)})
			rst = (rst + 1) & 7
			pred = 0
		}
		s, bits := magnitude(blk[0] - pred)
		pred = blk[0]
		e.put(uint32(s), 4)
		e.put(bits, s)
		run := 0
		for k := 1; k < 64; k++ {
			if blk[k] == 0 {
				run++
				continue
			}
			for ; run > 15; run -= 16 {
				e.put(acCode[0xF0], 8)
			}
			s, bits := magnitude(blk[k])
			e.put(acCode[byte(run<<4|int(s))], 8)
			e.put(bits, s)
			run = 0
		}
		if run > 0 {
			e.put(acCode[0x00], 8) // EOB
		}
	}
	e.flush()
	e.buf.Write([]byte{0xFF, 0xD9})
	return e.buf.Bytes()
}

// progressiveJPEG writes the same image as restartJPEG(t, w, h, 0) as a
// progressive JPEG with successive approximation: DC and AC 1-63 first at
// half precision (Al=1), then both refined (Al=0). Every coefficient is
// complete at the end, so libjpeg's block smoothing does not apply.
func progressiveJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	e := &testJPEG{}
	acCode := e.header(w, h, 0, true)
	blocks := testBlocks((w / 8) * (h / 8))
	shift := func(v int) int { // AC point transform: magnitude >> 1
		if v < 0 {
			return -(-v >> 1)
		}
		return v >> 1
	}
	// DC first, Al=1.
	e.segment(0xDA, []byte{1, 1, 0x00, 0, 0, 0x01})
	pred := 0
	for _, blk := range blocks {
		v := blk[0] >> 1
		s, bits := magnitude(v - pred)
		pred = v
		e.put(uint32(s), 4)
		e.put(bits, s)
	}
	e.flush()
	// AC first, Ss=1 Se=63 Al=1 (each block ends with EOB: EOBRUN 1).
	e.segment(0xDA, []byte{1, 1, 0x00, 1, 63, 0x01})
	for _, blk := range blocks {
		run := 0
		for k := 1; k < 64; k++ {
			v := shift(blk[k])
			if v == 0 {
				run++
				continue
			}
			for ; run > 15; run -= 16 {
				e.put(acCode[0xF0], 8)
			}
			s, bits := magnitude(v)
			e.put(acCode[byte(run<<4|int(s))], 8)
			e.put(bits, s)
			run = 0
		}
		if run > 0 {
			e.put(acCode[0x00], 8)
		}
	}
	e.flush()
	// DC refine, Ah=1 Al=0.
	e.segment(0xDA, []byte{1, 1, 0x00, 0, 0, 0x10})
	for _, blk := range blocks {
		e.put(uint32(blk[0]&1), 1)
	}
	e.flush()
	// AC refine, Ss=1 Se=63 Ah=1 Al=0.
	e.segment(0xDA, []byte{1, 1, 0x00, 1, 63, 0x10})
	for _, blk := range blocks {
		eob := 0 // last newly non-zero coefficient
		for k := 1; k < 64; k++ {
			if a := abs(blk[k]); a == 1 {
				eob = k
			}
		}
		run := 0
		var pending []uint32 // correction bits of earlier non-zero coefficients
		for k := 1; k < 64; k++ {
			a := abs(blk[k])
			if a == 0 {
				run++
				continue
			}
			for run > 15 && k <= eob {
				e.put(acCode[0xF0], 8)
				for _, b := range pending {
					e.put(b, 1)
				}
				pending, run = nil, run-16
			}
			if a > 1 {
				pending = append(pending, uint32(a&1))
				continue
			}
			e.put(acCode[byte(run<<4|1)], 8)
			if blk[k] > 0 {
				e.put(1, 1)
			} else {
				e.put(0, 1)
			}
			for _, b := range pending {
				e.put(b, 1)
			}
			pending, run = nil, 0
		}
		if run > 0 || len(pending) > 0 {
			e.put(acCode[0x00], 8)
			for _, b := range pending {
				e.put(b, 1)
			}
		}
	}
	e.flush()
	e.buf.Write([]byte{0xFF, 0xD9})
	return e.buf.Bytes()
}

// TestJPEGProgressive decodes the same coefficients written as a baseline
// and as a progressive JPEG with successive approximation (DC and AC first
// scans and refinements): the pixels must be identical.
func TestJPEGProgressive(t *testing.T) {
	const w, h = 48, 32
	want, err := decodeJPEGExact(restartJPEG(t, w, h, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeJPEGExact(progressiveJPEG(t, w, h), 0)
	if err != nil {
		t.Fatal(err)
	}
	if m, _, n := diffStats(got.Pix, want.Pix); n != 0 {
		t.Errorf("progressive differs from baseline: %d bytes, max %d", n, m)
	}
}

// TestJPEGRestartMarkers decodes the same coefficients written with and
// without restart markers (which reset the DC predictor): the pixels must be
// identical, and within one level of image/jpeg's (different) IDCT.
func TestJPEGRestartMarkers(t *testing.T) {
	const w, h = 40, 24
	ref, err := Decode(restartJPEG(t, w, h, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	goImg, err := jpeg.Decode(bytes.NewReader(restartJPEG(t, w, h, 0)))
	if err != nil {
		t.Fatal(err)
	}
	m, mean, _ := diffStats(ref.Pix, toRGB(goImg, false).Pix)
	t.Logf("vs image/jpeg: max %d mean %.3f", m, mean)
	if m > 1 {
		t.Errorf("differs from image/jpeg by %d levels", m)
	}
	for _, interval := range []int{1, 2, 7, 15} {
		data := restartJPEG(t, w, h, interval)
		got, err := decodeJPEGExact(data, 0)
		if err != nil {
			t.Fatalf("interval %d: %v", interval, err)
		}
		if !bytes.Equal(got.Pix, ref.Pix) {
			t.Errorf("interval %d: pixels differ from the file without restarts", interval)
		}
	}
	// An out-of-sequence restart marker is left to image/jpeg.
	data := restartJPEG(t, w, h, 2)
	i := bytes.Index(data, []byte{0xFF, 0xD1})
	if i < 0 {
		t.Fatal("no RST1 in the test file")
	}
	data[i+1] = 0xD5
	if _, err := decodeJPEGExact(data, 0); !errors.Is(err, errJPEGNotHandled) {
		t.Errorf("bad restart sequence: error %v, want errJPEGNotHandled", err)
	}
}

// TestJPEGDataCutByMarker checks libjpeg's handling of entropy data that a
// marker ends early: the remaining blocks are zero (mid-grey), the earlier
// ones are unchanged. An end of file instead is an error, as in Pillow.
func TestJPEGDataCutByMarker(t *testing.T) {
	const w, h = 64, 32
	full := restartJPEG(t, w, h, 0)
	ref, err := decodeJPEGExact(full, 0)
	if err != nil {
		t.Fatal(err)
	}
	sos := bytes.Index(full, []byte{0xFF, 0xDA})
	cut := sos + 10 + (len(full)-sos)/3
	data := append(bytes.Clone(full[:cut]), 0xFF, 0xD9)
	got, err := decodeJPEGExact(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	// First block row intact, last block row grey.
	if !bytes.Equal(got.Pix[:8*w*3], ref.Pix[:8*w*3]) {
		t.Error("blocks before the cut differ")
	}
	for i, v := range got.Pix[(h-8)*w*3:] {
		if v != 128 {
			t.Fatalf("byte %d of the last block row is %d, want 128", i, v)
		}
	}
	if _, err := decodeJPEGExact(full[:cut], 0); !errors.Is(err, ErrCorruptJPEG) {
		t.Errorf("truncated file: error %v, want ErrCorruptJPEG", err)
	}
}

// TestJPEGRejects covers variants left to image/jpeg and invalid tables.
func TestJPEGRejects(t *testing.T) {
	base := restartJPEG(t, 16, 16, 0)
	sof := bytes.Index(base, []byte{0xFF, 0xC0})
	arith := bytes.Clone(base)
	arith[sof+1] = 0xC9
	if _, err := decodeJPEGExact(arith, 0); !errors.Is(err, errJPEGNotHandled) {
		t.Errorf("arithmetic SOF9: %v", err)
	}
	twelve := bytes.Clone(base)
	twelve[sof+4] = 12
	if _, err := decodeJPEGExact(twelve, 0); !errors.Is(err, errJPEGNotHandled) {
		t.Errorf("12-bit: %v", err)
	}
	// A Huffman table whose last code would be all ones.
	if _, err := buildHuffTable([]uint8{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []uint8{0, 1}, true); !errors.Is(err, ErrCorruptJPEG) {
		t.Errorf("all-ones code accepted: %v", err)
	}
	if _, err := buildHuffTable([]uint8{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []uint8{16}, true); !errors.Is(err, ErrCorruptJPEG) {
		t.Errorf("DC symbol 16 accepted: %v", err)
	}
	if _, err := decodeJPEGExact(base, 100); !errors.Is(err, ErrTooManyPixels) {
		t.Errorf("pixel cap: %v", err)
	}
}
