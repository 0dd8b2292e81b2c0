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

func restartJPEG(t testing.TB, w, h, interval int) []byte {
	t.Helper()
	if w%8 != 0 || h%8 != 0 {
		t.Fatalf("restartJPEG: %dx%d is not a multiple of 8", w, h)
	}
	var acSyms []byte
	acSyms = append(acSyms, 0x00, 0xF0)
	for r := range 4 {
		for s := 1; s <= 10; s++ {
			acSyms = append(acSyms, byte(r<<4|s))
		}
	}
	acCode := map[byte]uint32{}
	for i, s := range acSyms {
		acCode[s] = uint32(i) // all of length 6
	}
	e := &testJPEG{}
	seg := func(marker byte, body []byte) {
		e.buf.Write([]byte{0xFF, marker, byte((len(body) + 2) >> 8), byte(len(body) + 2)})
		e.buf.Write(body)
	}
	e.buf.Write([]byte{0xFF, 0xD8})
	seg(0xDB, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...))
	seg(0xC0, []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0})
	dht := []byte{0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	dht = append(dht, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
	dht = append(dht, 0x10, 0, 0, 0, 0, 0, byte(len(acSyms)), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	dht = append(dht, acSyms...)
	seg(0xC4, dht)
	if interval > 0 {
		seg(0xDD, []byte{byte(interval >> 8), byte(interval)})
	}
	seg(0xDA, []byte{1, 1, 0x00, 0, 63, 0})
	seed := uint32(12345)
	rnd := func(n int) int { // uniform in [-n, n]
		seed = seed*1103515245 + 12345
		return int(seed>>8)%(2*n+1) - n
	}
	pred, rst := 0, 0
	blocks := (w / 8) * (h / 8)
	for b := range blocks {
		if interval > 0 && b > 0 && b%interval == 0 {
			e.flush()
			e.buf.Write([]byte{0xFF, byte(0xD0 + rst)})
			rst = (rst + 1) & 7
			pred = 0
		}
		dc := rnd(400)
		s, bits := magnitude(dc - pred)
		pred = dc
		e.put(uint32(s), 4)
		e.put(bits, s)
		run := 0
		for k := 1; k < 6; k++ {
			v := rnd(40)
			if k%2 == 0 && v%3 != 0 {
				run++
				continue
			}
			s, bits := magnitude(v)
			if s == 0 {
				run++
				continue
			}
			e.put(acCode[byte(run<<4|int(s))], 6)
			e.put(bits, s)
			run = 0
		}
		e.put(acCode[0x00], 6) // EOB
	}
	e.flush()
	e.buf.Write([]byte{0xFF, 0xD9})
	return e.buf.Bytes()
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
