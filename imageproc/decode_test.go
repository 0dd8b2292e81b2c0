package imageproc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/png"
	"testing"
)

// loadWant decodes a reference PNG written by testdata/gen_formats.py.
func loadWant(t *testing.T, name string) *RGB {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(readTestdata(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return toRGB(img, false)
}

// TestDecodeFormats compares Decode with what Pillow 9.4 (libjpeg-turbo
// 2.1.5, libwebp 1.2.4) gives for the same files (ImageOps.exif_transpose +
// convert("RGB"); alpha cases also alpha-composited over white).
func TestDecodeFormats(t *testing.T) {
	cases := []struct {
		file    string
		white   bool // also check CompositeOnWhite against <case>.white.png
		maxDiff int  // bound on max |diff| per channel
		maxMean float64
	}{
		// JPEG: the exact decoder (baseline, progressive, every sampling,
		// grayscale, CMYK) matches libjpeg-turbo.
		{"jpeg420.jpg", false, 0, 0},
		{"jpeg422.jpg", false, 0, 0},
		{"jpeg444.jpg", false, 0, 0},
		{"jpeg440.jpg", false, 0, 0},
		{"jpeg411.jpg", false, 0, 0},
		{"jpeg420prog.jpg", false, 0, 0},
		{"jpeggray.jpg", false, 0, 0},
		{"jpegcmyk.jpg", false, 0, 0},
		{"orient2.jpg", false, 0, 0},
		{"orient3.jpg", false, 0, 0},
		{"orient4.jpg", false, 0, 0},
		{"orient5.jpg", false, 0, 0},
		{"orient6.jpg", false, 0, 0},
		{"orient7.jpg", false, 0, 0},
		{"orient8.jpg", false, 0, 0},
		// Lossless formats and WebP.
		{"pngrgb.png", false, 0, 0},
		{"pngorient6.png", false, 0, 0},
		{"webporient8.webp", false, 0, 0},
		{"pngrgba.png", true, 0, 0},
		{"pnggray.png", false, 0, 0},
		{"pngla.png", true, 0, 0},
		{"pngpal.png", false, 0, 0},
		{"pngpaltrns.png", true, 0, 0},
		{"png1bit.png", false, 0, 0},
		{"pnggray16.png", false, 0, 0},
		{"gif.gif", false, 0, 0},
		{"giftrns.gif", true, 0, 0},
		{"gifoffset.gif", true, 0, 0}, // 8×5 frame at (2,3) on a 16×12 screen
		{"webplossless.webp", false, 0, 0},
		{"webplossy.webp", false, 0, 0},
		{"webpalpha.webp", true, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			data := readTestdata(t, "formats/"+tc.file)
			base := tc.file[:len(tc.file)-len(extOf(tc.file))]
			check := func(opts DecodeOptions, wantFile string) {
				got, err := DecodeWith(data, opts)
				if err != nil {
					t.Fatal(err)
				}
				want := loadWant(t, "formats/"+wantFile)
				if got.W != want.W || got.H != want.H {
					t.Fatalf("%s: size %dx%d, want %dx%d", wantFile, got.W, got.H, want.W, want.H)
				}
				m, mean, n := diffStats(got.Pix, want.Pix)
				t.Logf("%s: max %d mean %.4f differing %d/%d", wantFile, m, mean, n, len(got.Pix))
				if m > tc.maxDiff || mean > tc.maxMean {
					t.Errorf("%s: max diff %d mean %.4f, want ≤ %d and ≤ %.4f", wantFile, m, mean, tc.maxDiff, tc.maxMean)
				}
			}
			check(DecodeOptions{}, base+".want.png")
			if tc.white {
				check(DecodeOptions{CompositeOnWhite: true}, base+".white.png")
			}
		})
	}
}

func extOf(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			return name[i:]
		}
	}
	return ""
}

// TestDecodeRealImages decodes the SmolVLM test images and requires them to
// be byte-identical to the RGB that Pillow 9.4 / libjpeg-turbo produced
// (jsref images/*.rgb.u8).
func TestDecodeRealImages(t *testing.T) {
	cases := []struct {
		file, ref string
		w, h      int
		sha256    string // sha256 of PIL's RGB (from smolvlm_image_targets.json)
	}{
		{"bird.jpg", "bird.rgb.u8.gz", 1199, 803, "af2b092bcc715b2a0af62e230623d34cabf20fc7074b069b4827b31cf4540cf6"},
		{"bus_portrait.jpg", "bus_portrait.rgb.u8.gz", 554, 740, "e078379db71ae7aec754d3e0ea73247b52b0926a876941079e1491ff9a23550e"},
		{"coco_000000039769.png", "", 640, 480, "8050ada414034a490fc2bd6ed13a8d78b7d2ce7d896ba4fcd4651317b9471efe"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Decode(readTestdata(t, tc.file), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got.W != tc.w || got.H != tc.h {
				t.Fatalf("size %dx%d, want %dx%d", got.W, got.H, tc.w, tc.h)
			}
			sum := sha256.Sum256(got.Pix)
			if hex.EncodeToString(sum[:]) == tc.sha256 {
				return
			}
			if tc.ref == "" {
				t.Fatalf("decoded RGB sha256 %x differs from PIL's", sum)
			}
			want := loadRGB(t, tc.ref, tc.w, tc.h)
			m, mean, n := diffStats(got.Pix, want.Pix)
			t.Errorf("RGB differs from PIL's: max %d mean %.4f differing %d/%d", m, mean, n, len(got.Pix))
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	pngData := readTestdata(t, "formats/pngrgb.png")
	jpgData := readTestdata(t, "formats/jpeg420.jpg")
	cases := []struct {
		name      string
		data      []byte
		maxPixels int
		is        error
	}{
		{"empty", nil, 0, ErrUnsupportedFormat},
		{"text", []byte("hello world"), 0, ErrUnsupportedFormat},
		{"bmp", []byte("BM\x00\x00\x00\x00"), 0, ErrUnsupportedFormat},
		{"png cap", pngData, 97*65 - 1, ErrTooManyPixels},
		{"jpeg cap", jpgData, 100, ErrTooManyPixels},
		{"png truncated", pngData[:len(pngData)/2], 0, nil},
		{"png header only", pngData[:30], 0, nil},
		{"jpeg truncated", jpgData[:len(jpgData)/3], 0, ErrCorruptJPEG},
		{"jpeg soi only", jpgData[:3], 0, nil},
		{"gif header only", []byte("GIF89a\x00\x00\x00\x00\x00\x00\x00"), 0, nil},
		{"webp riff only", []byte("RIFF\x04\x00\x00\x00WEBP"), 0, nil},
		{"png zero width", zeroWidthPNG(), 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Decode(tc.data, tc.maxPixels)
			if err == nil {
				t.Fatalf("got a %dx%d image, want an error", img.W, img.H)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %q is not %q", err, tc.is)
			}
			t.Log(err)
		})
	}
	// The cap passes an image of exactly the capped size; negative disables it.
	for _, limit := range []int{97 * 65, -1} {
		if _, err := Decode(pngData, limit); err != nil {
			t.Errorf("cap %d: %v", limit, err)
		}
	}
}

// zeroWidthPNG returns a PNG whose IHDR declares a width of 0.
func zeroWidthPNG() []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		panic(err)
	}
	b := buf.Bytes()
	b[16], b[17], b[18], b[19] = 0, 0, 0, 0 // width field of IHDR (CRC now wrong too)
	return b
}
