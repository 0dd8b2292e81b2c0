package imageproc

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// pyTargets is the part of smolvlm_image_targets.json (Python transformers
// 4.47.1 Idefics3ImageProcessor, Pillow 9.4.0) that the tests use.
type pyTargets struct {
	NormalizeLookup struct {
		Values []float32 `json:"float32_value_by_level"`
	} `json:"normalize_lookup"`
	Images []struct {
		Image string `json:"image"`
		Runs  []struct {
			Split       bool    `json:"do_image_splitting"`
			Rows        int     `json:"rows"`
			Cols        int     `json:"cols"`
			NTiles      int     `json:"n_tiles"`
			FirstResize [2]int  `json:"first_resize_hw"`
			VisionHW    *[2]int `json:"vision_encoder_resize_hw"`
			PixelValues struct {
				Shape  []int  `json:"shape"`
				SHA256 string `json:"sha256_f32"`
			} `json:"pixel_values"`
			Tiles []struct {
				Role   string `json:"role"`
				U8SHA  string `json:"u8_hwc_sha256"`
				F32SHA string `json:"f32_chw_sha256"`
			} `json:"tiles"`
			Grid struct {
				Positions [][2]int   `json:"positions_yx"`
				Values    [][][3]int `json:"values_per_tile"`
			} `json:"u8_grid_samples"`
		} `json:"runs"`
	} `json:"images"`
}

func loadTargets(t testing.TB) pyTargets {
	t.Helper()
	var p pyTargets
	if err := json.Unmarshal(readTestdata(t, "smolvlm_image_targets.json"), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadConfig(t testing.TB) Config {
	t.Helper()
	cfg, err := ParseConfig(readTestdata(t, "preprocessor_config.json"), readTestdata(t, "processor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func f32SHA(v []float32) string {
	buf := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	s := sha256.Sum256(buf)
	return hex.EncodeToString(s[:])
}

// referenceRGB returns Pillow's decoded RGB of a test image: the jsref dump
// for the JPEGs, and our (exact, checked in TestDecodeRealImages) PNG decode.
func referenceRGB(t *testing.T, image string) *RGB {
	switch image {
	case "bird.jpg":
		return loadRGB(t, "bird.rgb.u8.gz", 1199, 803)
	case "bus_portrait.jpg":
		return loadRGB(t, "bus_portrait.rgb.u8.gz", 554, 740)
	}
	img, err := Decode(readTestdata(t, image), 0)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestProcessMatchesPython runs the whole Idefics3 pipeline on Pillow's
// decoded RGB of the three test images, split and not split, and requires
// every tile to equal Python's bit for bit: the uint8 tile before rescale
// and the float32 tile after normalize (sha256 of each), and the whole
// pixel_values.
func TestProcessMatchesPython(t *testing.T) {
	targets := loadTargets(t)
	cfg := loadConfig(t)
	for _, im := range targets.Images {
		src := referenceRGB(t, im.Image)
		for _, run := range im.Runs {
			name := im.Image + map[bool]string{true: "/split", false: "/nosplit"}[run.Split]
			t.Run(name, func(t *testing.T) {
				regions, grid, err := tilesOf(src, cfg, run.Split)
				if err != nil {
					t.Fatal(err)
				}
				if grid.Rows != run.Rows || grid.Cols != run.Cols || len(regions) != run.NTiles {
					t.Fatalf("grid %dx%d with %d tiles, want %dx%d with %d", grid.Rows, grid.Cols, len(regions), run.Rows, run.Cols, run.NTiles)
				}
				for i, r := range regions {
					tile, err := r.img.Crop(r.x0, r.y0, r.x0+r.w, r.y0+r.h)
					if err != nil {
						t.Fatal(err)
					}
					if s := sha256.Sum256(tile.Pix); hex.EncodeToString(s[:]) != run.Tiles[i].U8SHA {
						t.Errorf("tile %d (%s): uint8 sha256 differs", i, run.Tiles[i].Role)
					}
				}
				b, err := assemble(regions, []Grid{grid}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if b.N != run.PixelValues.Shape[1] || b.H != run.PixelValues.Shape[3] || b.W != run.PixelValues.Shape[4] {
					t.Fatalf("batch %dx3x%dx%d, want %v", b.N, b.H, b.W, run.PixelValues.Shape)
				}
				plane := 3 * b.H * b.W
				for i := range b.N {
					if got := f32SHA(b.Pixels[i*plane : (i+1)*plane]); got != run.Tiles[i].F32SHA {
						t.Errorf("tile %d (%s): float32 sha256 %s, want %s", i, run.Tiles[i].Role, got, run.Tiles[i].F32SHA)
					}
				}
				if got := f32SHA(b.Pixels); got != run.PixelValues.SHA256 {
					t.Errorf("pixel_values sha256 %s, want %s", got, run.PixelValues.SHA256)
				}
				for i, m := range b.Mask {
					if !m {
						t.Fatalf("mask false at %d, want all true", i)
					}
				}
			})
		}
	}
}

// TestProcessFloatDump compares the no-split pixel_values of bird with
// Python's float32 dump value by value.
func TestProcessFloatDump(t *testing.T) {
	raw := readTestdata(t, "bird.nosplit.pixel_values.f32.gz")
	b, err := Process([]*RGB{loadRGB(t, "bird.rgb.u8.gz", 1199, 803)}, loadConfig(t), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 4*len(b.Pixels) {
		t.Fatalf("dump has %d values, batch %d", len(raw)/4, len(b.Pixels))
	}
	for i, got := range b.Pixels {
		want := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		if got != want {
			t.Fatalf("value %d = %v, want %v", i, got, want)
		}
	}
}

// TestNormalizeLUT checks rescale+normalize against Python's per-level values.
func TestNormalizeLUT(t *testing.T) {
	want := loadTargets(t).NormalizeLookup.Values
	lut := loadConfig(t).NormalizeLUT()
	if len(want) != 256 {
		t.Fatalf("%d lookup values", len(want))
	}
	for ch := range 3 {
		for level, w := range want {
			if lut[ch][level] != w {
				t.Fatalf("channel %d level %d: %v, want %v", ch, level, lut[ch][level], w)
			}
		}
	}
}

// TestProcessFromFiles runs Decode + Process on the original image files and
// checks the layouts (grid, shapes, mask, expanded prompt) against
// smolvlm_image_preprocessing.json.
// Every tile's float32 values must equal Python's bit for bit (sha256 per
// tile and of the whole pixel_values), as must the 8×8 sample grid and the
// full no-split bird tensor.
func TestProcessFromFiles(t *testing.T) {
	targets := loadTargets(t)
	cfg := loadConfig(t)
	layouts := loadLayouts(t)
	if cfg.ImageSeqLen != layouts.ImageSeqLen {
		t.Fatalf("image_seq_len %d, fixture %d", cfg.ImageSeqLen, layouts.ImageSeqLen)
	}
	const maxLevels = 0 // asserted bound, in 8-bit levels
	for ii, im := range targets.Images {
		if layouts.Images[ii].Image != im.Image {
			t.Fatalf("fixture image order differs: %s vs %s", layouts.Images[ii].Image, im.Image)
		}
		src, err := Decode(readTestdata(t, im.Image), 0)
		if err != nil {
			t.Fatal(err)
		}
		for ri, run := range im.Runs {
			b, err := Process([]*RGB{src}, cfg, run.Split)
			if err != nil {
				t.Fatal(err)
			}
			lr := layouts.Images[ii].Runs[ri]
			if lr.Split != run.Split {
				t.Fatalf("fixture run order differs for %s", im.Image)
			}
			checkLayout(t, fmt.Sprintf("%s split=%v", im.Image, run.Split), b, cfg.ImageSeqLen, lr)
			plane := 3 * b.H * b.W
			for i := range min(b.N, len(run.Tiles)) {
				if got := f32SHA(b.Pixels[i*plane : (i+1)*plane]); got != run.Tiles[i].F32SHA {
					t.Errorf("%s split=%v tile %d (%s): float32 sha256 differs from Python's", im.Image, run.Split, i, run.Tiles[i].Role)
				}
			}
			if got := f32SHA(b.Pixels); got != run.PixelValues.SHA256 {
				t.Errorf("%s split=%v: pixel_values sha256 differs from Python's", im.Image, run.Split)
			}
			worst := 0.0
			for ti := range b.N {
				for pi, pos := range run.Grid.Positions {
					for ch := range 3 {
						got := b.Pixels[((ti*3+ch)*b.H+pos[0])*b.W+pos[1]]
						want := targets.NormalizeLookup.Values[run.Grid.Values[ti][pi][ch]]
						worst = max(worst, numcheck.Diff(float64(got), float64(want)))
					}
				}
			}
			levels := worst * 255 / 2
			t.Logf("%s split=%v: max |diff| at grid samples %.4f (%.1f levels)", im.Image, run.Split, worst, levels)
			if levels > maxLevels {
				t.Errorf("%s split=%v: max diff %.1f levels", im.Image, run.Split, levels)
			}
		}
	}
	// Full tensor: bird, no split.
	src, err := Decode(readTestdata(t, "bird.jpg"), 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Process([]*RGB{src}, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	raw := readTestdata(t, "bird.nosplit.pixel_values.f32.gz")
	want := make([]float32, len(raw)/4)
	for i := range want {
		want[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	worst := numcheck.MaxAbs(t, "bird.jpg full tensor", b.Pixels, want)
	t.Logf("bird.jpg no split, full tensor: max |diff| %.4f (%.1f levels)", worst, worst*255/2)
	if worst*255/2 > maxLevels {
		t.Errorf("bird.jpg full tensor: max diff %.4f", worst)
	}
}

// BenchmarkPipeline measures Decode + Process (split, 13 tiles) of bird.jpg
// (1199×803 JPEG).
func BenchmarkPipeline(b *testing.B) {
	data := readTestdata(b, "bird.jpg")
	cfg := loadConfig(b)
	for b.Loop() {
		img, err := Decode(data, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Process([]*RGB{img}, cfg, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProcess measures Process alone (split) on bird's decoded RGB.
func BenchmarkProcess(b *testing.B) {
	img := loadRGB(b, "bird.rgb.u8.gz", 1199, 803)
	cfg := loadConfig(b)
	for b.Loop() {
		if _, err := Process([]*RGB{img}, cfg, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeJPEG measures Decode of bird.jpg.
func BenchmarkDecodeJPEG(b *testing.B) {
	data := readTestdata(b, "bird.jpg")
	for b.Loop() {
		if _, err := Decode(data, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// An error about one image names it (from 1) and the package once.
func TestProcessErrorNamesImageOnce(t *testing.T) {
	_, err := Process([]*RGB{NewRGB(2, 2), {W: 0, H: 3}}, DefaultConfig(), false)
	if err == nil || err.Error() != "imageproc: image 2: image size 0x3 is not positive" {
		t.Errorf("error %v", err)
	}
}
