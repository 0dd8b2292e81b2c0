package imageproc

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"
)

// noisyImage returns a w×h NRGBA image with structure and noise (so that the
// PNG encoder uses every row filter) and, if alpha, varying transparency.
func noisyImage(w, h int, alpha bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	seed := uint32(1)
	for y := range h {
		for x := range w {
			seed = seed*1664525 + 1013904223
			a := uint8(255)
			if alpha {
				a = uint8(seed >> 24)
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x*3 + y), uint8(seed >> 16), uint8(x ^ y), a})
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPNGRowsMatchImagePNG decodes PNGs of each streamed colour type row by
// row and compares with image/png's decode converted by toRGB.
func TestPNGRowsMatchImagePNG(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 37, 23))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * i)
	}
	cases := map[string][]byte{
		"rgb":     encodePNG(t, noisyImage(53, 31, false)),
		"rgba":    encodePNG(t, noisyImage(53, 31, true)),
		"gray":    encodePNG(t, gray),
		"graya":   readTestdata(t, "formats/pngla.png"),
		"fixture": readTestdata(t, "formats/pngrgb.png"),
	}
	for name, data := range cases {
		for _, composite := range []bool{false, true} {
			r, err := openPNGRows(data, composite)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, err := readAll(r)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			std, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if want := toRGB(std, composite); !bytes.Equal(got.Pix, want.Pix) {
				m, _, n := diffStats(got.Pix, want.Pix)
				t.Errorf("%s composite=%v: %d bytes differ (max %d)", name, composite, n, m)
			}
		}
	}
	// Variants left to image/png.
	for _, name := range []string{"pngpal.png", "pnggray16.png", "png1bit.png", "pngpaltrns.png"} {
		if _, err := openPNGRows(readTestdata(t, "formats/"+name), false); err != errPNGNotStreamed {
			t.Errorf("%s: %v, want errPNGNotStreamed", name, err)
		}
	}
	// Damaged data is an error, never a short image.
	data := cases["rgb"]
	for _, bad := range [][]byte{data[:len(data)-20], append(bytes.Clone(data[:60]), data[61:]...)} {
		if img, err := Decode(bad, 0); err == nil {
			t.Errorf("damaged PNG decoded to %dx%d", img.W, img.H)
		}
	}
}

// TestLoadMatchesDecode checks that Process gives the same batch, bit for
// bit, for Load's output as for Decode's, split and not, for the test photos,
// an oriented JPEG and PNGs that shrink and grow.
func TestLoadMatchesDecode(t *testing.T) {
	small := loadConfig(t)
	small.LongestEdge, small.TileSize = 96, 32
	files := map[string][]byte{
		"bird.jpg":         readTestdata(t, "bird.jpg"),
		"bus_portrait.jpg": readTestdata(t, "bus_portrait.jpg"),
		"orient6.jpg":      readTestdata(t, "formats/orient6.jpg"),
		"wide.png":         encodePNG(t, noisyImage(301, 97, false)),
		"tall.png":         encodePNG(t, noisyImage(40, 150, true)),
	}
	for name, data := range files {
		cfgs := []Config{small}
		if name == "bird.jpg" || name == "wide.png" {
			cfgs = append(cfgs, loadConfig(t)) // upscaled to 2048
		}
		for _, cfg := range cfgs {
			decoded, err := Decode(data, 0)
			if err != nil {
				t.Fatal(err)
			}
			loaded, err := Load(data, DecodeOptions{}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, split := range []bool{false, true} {
				want, err := Process([]*RGB{decoded}, cfg, split)
				if err != nil {
					t.Fatal(err)
				}
				got, err := Process([]*RGB{loaded}, cfg, split)
				if err != nil {
					t.Fatal(err)
				}
				if got.N != want.N || f32SHA(got.Pixels) != f32SHA(want.Pixels) {
					t.Errorf("%s longest edge %d split=%v: Load+Process differs from Decode+Process", name, cfg.LongestEdge, split)
				}
			}
		}
	}
}

// TestLoadBoundedMemory loads a 3000×2000 PNG and a 2400×1600 JPEG with a
// 512 longest edge: the bytes allocated must stay well below one full-size
// RGB copy (Decode + Process allocated about 7 such copies for a PNG: RGBA,
// RGB, resize buffers).
func TestLoadBoundedMemory(t *testing.T) {
	cfg := loadConfig(t)
	cfg.LongestEdge = 512
	big := image.NewRGBA(image.Rect(0, 0, 3000, 2000))
	for i := range big.Pix {
		big.Pix[i] = uint8(i / 4 % 251)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, big); err != nil {
		t.Fatal(err)
	}
	pngData := bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := jpeg.Encode(&buf, big.SubImage(image.Rect(0, 0, 2400, 1600)), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		data     []byte
		w, h     int
		maxRatio float64 // allocated bytes / full-size RGB bytes
	}{
		// PNG: the 512-wide intermediate (0.17) plus buffers.
		{"png", pngData, 3000, 2000, 0.3},
		// JPEG: the 4:2:0 component planes (0.5) plus the intermediate
		// (0.21) plus buffers.
		{"jpeg", buf.Bytes(), 2400, 1600, 0.9},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		img, err := Load(tc.data, DecodeOptions{}, cfg)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if img.W != 512 {
			t.Fatalf("%s: loaded %dx%d", tc.name, img.W, img.H)
		}
		full := float64(tc.w * tc.h * 3)
		ratio := float64(after.TotalAlloc-before.TotalAlloc) / full
		t.Logf("%s %dx%d: Load allocated %.2f× a full-size RGB copy", tc.name, tc.w, tc.h, ratio)
		if ratio > tc.maxRatio {
			t.Errorf("%s: allocated %.2f× a full-size RGB copy, want ≤ %.2f", tc.name, ratio, tc.maxRatio)
		}
	}
}

// BenchmarkLoad compares Load (first resize while decoding) with Decode +
// Resize for a 3000×2000 PNG brought to a 1024 longest edge.
func BenchmarkLoad(b *testing.B) {
	cfg := loadConfig(b)
	cfg.LongestEdge = 1024
	big := image.NewRGBA(image.Rect(0, 0, 3000, 2000))
	for i := range big.Pix {
		big.Pix[i] = uint8(i / 4 % 251)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, big); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.Run("Load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Load(data, DecodeOptions{}, cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeResize", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			img, err := Decode(data, 0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Resize(img, 1024, 683, cfg.Resample); err != nil {
				b.Fatal(err)
			}
		}
	})
}
