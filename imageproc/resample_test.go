package imageproc

import (
	"fmt"
	"testing"
)

// TestResizeMatchesPillow compares Resize with Pillow 9.4's Image.resize of
// the same image (testdata/resize, made by gen_formats.py): every filter,
// downscaling, upscaling and one-axis resizes must be bit-exact.
func TestResizeMatchesPillow(t *testing.T) {
	src := loadWant(t, "formats/pngrgb.png")
	filters := []struct {
		name string
		f    Filter
	}{{"nearest", Nearest}, {"lanczos", Lanczos}, {"bilinear", Bilinear}, {"bicubic", Bicubic}, {"box", Box}, {"hamming", Hamming}}
	sizes := [][2]int{{40, 30}, {200, 131}, {97, 30}, {50, 65}, {13, 7}, {1, 1}, {301, 2}}
	for _, fl := range filters {
		for _, sz := range sizes {
			name := fmt.Sprintf("%s_%dx%d", fl.name, sz[0], sz[1])
			t.Run(name, func(t *testing.T) {
				got, err := Resize(src, sz[0], sz[1], fl.f)
				if err != nil {
					t.Fatal(err)
				}
				want := loadWant(t, "resize/"+name+".png")
				if got.W != want.W || got.H != want.H {
					t.Fatalf("size %dx%d, want %dx%d", got.W, got.H, want.W, want.H)
				}
				if m, mean, n := diffStats(got.Pix, want.Pix); n != 0 {
					t.Errorf("differs from Pillow: max %d mean %.4f in %d bytes", m, mean, n)
				}
			})
		}
	}
}

// TestResizeSplitTile checks the two LANCZOS resizes of the SmolVLM split
// path on a real image against Python transformers' tile (bird, tile
// row_1_col_1, captured right before rescale).
func TestResizeSplitTile(t *testing.T) {
	src := loadRGB(t, "bird.rgb.u8.gz", 1199, 803)
	a, err := Resize(src, 2048, 1372, Lanczos)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Resize(a, 2048, 1536, Lanczos)
	if err != nil {
		t.Fatal(err)
	}
	tile, err := b.Crop(0, 0, 512, 512)
	if err != nil {
		t.Fatal(err)
	}
	want := readTestdata(t, "bird.split.tiles.u8.gz")
	if m, mean, n := diffStats(tile.Pix, want); n != 0 {
		t.Errorf("tile differs from Python's: max %d mean %.4f in %d bytes", m, mean, n)
	}
}

func TestResizeErrors(t *testing.T) {
	ok := NewRGB(4, 4)
	cases := []struct {
		name string
		src  *RGB
		w, h int
		f    Filter
	}{
		{"nil", nil, 2, 2, Lanczos},
		{"empty", &RGB{}, 2, 2, Lanczos},
		{"short pix", &RGB{W: 4, H: 4, Pix: make([]uint8, 10)}, 2, 2, Lanczos},
		{"zero width", ok, 0, 2, Lanczos},
		{"negative height", ok, 2, -1, Lanczos},
		{"bad filter", ok, 2, 2, Filter(9)},
		{"huge", ok, 1 << 20, 1 << 20, Lanczos},
	}
	for _, tc := range cases {
		if _, err := Resize(tc.src, tc.w, tc.h, tc.f); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestResizeSameSizeCopies(t *testing.T) {
	src := loadWant(t, "formats/pngrgb.png")
	got, err := Resize(src, src.W, src.H, Lanczos)
	if err != nil {
		t.Fatal(err)
	}
	if &got.Pix[0] == &src.Pix[0] {
		t.Fatal("same-size resize shares the pixel buffer")
	}
	if _, _, n := diffStats(got.Pix, src.Pix); n != 0 {
		t.Fatal("same-size resize changed pixels")
	}
}

func BenchmarkResizeLanczos(b *testing.B) {
	src := loadRGB(b, "bird.rgb.u8.gz", 1199, 803)
	for b.Loop() {
		if _, err := Resize(src, 2048, 1372, Lanczos); err != nil {
			b.Fatal(err)
		}
	}
}
