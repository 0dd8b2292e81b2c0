package imageproc

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Fuzz limits: inputs and decoded images stay small so that every exec is
// fast and the engine's minimisation of new inputs takes milliseconds.
const (
	fuzzMaxInput  = 4 << 10
	fuzzMaxPixels = 1 << 13
	fuzzMaxSeed   = 1 << 10
)

// FuzzDecode feeds arbitrary bytes to Decode: it must return an error or a
// well-formed image within the pixel cap, never panic or hang, and Load must
// agree with Decode. The seeds are the format fixtures under 1 KiB (PNG, GIF,
// WebP), each also cut in half, plus tiny synthetic images (baseline,
// restart-marker and progressive JPEG, PNG, GIF).
func FuzzDecode(f *testing.F) {
	dir := filepath.Dir(testdataPath(f, "formats/x"))
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		switch filepath.Ext(name) {
		case ".jpg", ".gif", ".webp":
		case ".png":
			if filepath.Ext(name[:len(name)-4]) != "" { // skip *.want.png / *.white.png
				continue
			}
		default:
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		if len(data) > fuzzMaxSeed {
			continue
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	for _, seed := range tinySeeds(f) {
		f.Add(seed)
	}
	f.Add([]byte{})
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8X"))
	cfg := DefaultConfig()
	cfg.LongestEdge, cfg.TileSize = 24, 8
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMaxInput {
			t.Skip("input larger than the fuzz cap")
		}
		// Load (the first resize done while decoding) must agree with
		// Decode, on failure and in what Process makes of the image.
		loaded, loadErr := Load(data, DecodeOptions{MaxPixels: fuzzMaxPixels}, cfg)
		decoded, err := DecodeWith(data, DecodeOptions{MaxPixels: fuzzMaxPixels})
		if (err == nil) != (loadErr == nil) {
			t.Fatalf("Decode error %v but Load error %v", err, loadErr)
		}
		if err == nil {
			want, err1 := Process([]*RGB{decoded}, cfg, true)
			got, err2 := Process([]*RGB{loaded}, cfg, true)
			if err1 != nil || err2 != nil || got.N != want.N || !slices.Equal(got.Pixels, want.Pixels) {
				t.Fatalf("Process of Load's %dx%d image differs from Decode's %dx%d (%v, %v)", loaded.W, loaded.H, decoded.W, decoded.H, err1, err2)
			}
		}
		// A tile cap: the same failures, and at most that many tiles, as
		// TileCount tells from the decoded size.
		capped, ccfg, capErr := LoadCapped(data, DecodeOptions{MaxPixels: fuzzMaxPixels}, cfg, 3)
		if (err == nil) != (capErr == nil) {
			t.Fatalf("Decode error %v but LoadCapped error %v", err, capErr)
		}
		if err == nil {
			b, err := ProcessEach([]*RGB{capped}, []Config{ccfg}, true)
			if err != nil || b.N > 3 || b.N != TileCount(decoded.W, decoded.H, ccfg, true) {
				t.Fatalf("capped to 3 tiles: %v tiles (TileCount %d), err %v", b, TileCount(decoded.W, decoded.H, ccfg, true), err)
			}
		}
		for _, opts := range []DecodeOptions{{MaxPixels: fuzzMaxPixels}, {MaxPixels: fuzzMaxPixels, CompositeOnWhite: true}} {
			img, err := DecodeWith(data, opts)
			if err != nil {
				continue
			}
			if img.W <= 0 || img.H <= 0 || img.W*img.H > fuzzMaxPixels || len(img.Pix) != img.W*img.H*3 {
				t.Fatalf("bad image %dx%d with %d bytes", img.W, img.H, len(img.Pix))
			}
		}
	})
}

// tinySeeds returns tiny images encoded by the standard library (baseline
// 4:2:0 and grayscale JPEG; RGB, gray and RGBA PNG; GIF) and a JPEG with
// restart markers and a progressive one.
func tinySeeds(t testing.TB) [][]byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	var seeds [][]byte
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 50}); err != nil {
		t.Fatal(err)
	}
	seeds = append(seeds, bytes.Clone(buf.Bytes()))
	buf.Reset()
	gray := image.NewGray(image.Rect(0, 0, 8, 8))
	copy(gray.Pix, img.Pix)
	if err := jpeg.Encode(&buf, gray, nil); err != nil {
		t.Fatal(err)
	}
	seeds = append(seeds, bytes.Clone(buf.Bytes()))
	buf.Reset()
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	seeds = append(seeds, bytes.Clone(buf.Bytes()))
	for _, m := range []image.Image{gray, noisyImage(5, 4, true)} {
		buf.Reset()
		if err := png.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, bytes.Clone(buf.Bytes()))
	}
	buf.Reset()
	if err := gif.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	seeds = append(seeds, bytes.Clone(buf.Bytes()), restartJPEG(t, 16, 8, 1), progressiveJPEG(t, 16, 8))
	return seeds
}

// FuzzParseConfig feeds arbitrary JSON to ParseConfig: it must return an
// error or a config that passes Validate.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"size": {"longest_edge": 2048}, "max_image_size": {"longest_edge": 512}, "image_mean": [0.5,0.5,0.5]}`), []byte(`{"image_seq_len": 64}`))
	f.Add([]byte(`{"image_std": 0}`), []byte(`{}`))
	f.Add([]byte(`{"resample": 3, "rescale_factor": 1e309}`), []byte(nil))
	f.Fuzz(func(t *testing.T, pre, proc []byte) {
		cfg, err := ParseConfig(pre, proc)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted an invalid config: %v", err)
		}
	})
}
