package imageproc

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode: it must return an error or a
// well-formed image within the pixel cap, never panic or hang.
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
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte{})
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8X"))
	const maxPixels = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []DecodeOptions{{MaxPixels: maxPixels}, {MaxPixels: maxPixels, CompositeOnWhite: true}} {
			img, err := DecodeWith(data, opts)
			if err != nil {
				continue
			}
			if img.W <= 0 || img.H <= 0 || img.W*img.H > maxPixels || len(img.Pix) != img.W*img.H*3 {
				t.Fatalf("bad image %dx%d with %d bytes", img.W, img.H, len(img.Pix))
			}
		}
	})
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
