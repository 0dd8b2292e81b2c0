package imageproc

import (
	"strings"
	"testing"
)

func TestParseConfigSmolVLM(t *testing.T) {
	cfg := loadConfig(t)
	want := Config{
		DoConvertRGB: true, DoResize: true, DoImageSplitting: true, DoRescale: true, DoNormalize: true, DoPad: true,
		LongestEdge: 2048, TileSize: 512, Resample: Lanczos, RescaleFactor: 0.00392156862745098,
		ImageMean: [3]float64{0.5, 0.5, 0.5}, ImageStd: [3]float64{0.5, 0.5, 0.5}, ImageSeqLen: 64,
	}
	if cfg != want {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
}

func TestParseConfig(t *testing.T) {
	cases := []struct {
		name      string
		pre, proc string
		check     func(Config) bool
		errSubstr string
	}{
		{"defaults", `{}`, "", func(c Config) bool { return c == DefaultConfig() }, ""},
		{"scalar mean", `{"image_mean": 0.25, "image_std": [1, 2, 3]}`, "",
			func(c Config) bool {
				return c.ImageMean == [3]float64{0.25, 0.25, 0.25} && c.ImageStd == [3]float64{1, 2, 3}
			}, ""},
		{"bicubic no split", `{"resample": 3, "do_image_splitting": false}`, `{"image_seq_len": 81}`,
			func(c Config) bool { return c.Resample == Bicubic && !c.DoImageSplitting && c.ImageSeqLen == 81 }, ""},
		{"not json", `{`, "", nil, "preprocessor_config.json"},
		{"processor not json", `{}`, `[`, nil, "processor_config.json"},
		{"size height width", `{"size": {"height": 10, "width": 10}}`, "", nil, "longest_edge"},
		{"zero longest edge", `{"size": {"longest_edge": 0}}`, "", nil, "size.longest_edge"},
		{"huge tile", `{"max_image_size": {"longest_edge": 100000}}`, "", nil, "max_image_size"},
		{"bad resample", `{"resample": 7}`, "", nil, "resample"},
		{"zero std", `{"image_std": [0.5, 0, 0.5]}`, "", nil, "image_std[1]"},
		{"two means", `{"image_mean": [0.5, 0.5]}`, "", nil, "image_mean has 2 values"},
		{"string mean", `{"image_mean": "x"}`, "", nil, "image_mean"},
		{"zero rescale", `{"rescale_factor": 0}`, "", nil, "rescale_factor"},
		{"negative seq len", `{}`, `{"image_seq_len": -1}`, nil, "image_seq_len"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var proc []byte
			if tc.proc != "" {
				proc = []byte(tc.proc)
			}
			cfg, err := ParseConfig([]byte(tc.pre), proc)
			if tc.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSubstr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Fatalf("unexpected config %+v", cfg)
			}
		})
	}
}

// TestResizeSizes checks the size arithmetic against the sizes Python
// transformers computed (smolvlm_image_targets.json resize_calls) and a few
// hand-computed edge cases.
func TestResizeSizes(t *testing.T) {
	first := []struct{ h, w, maxLen, wantH, wantW int }{
		{803, 1199, 2048, 1372, 2048}, // bird: 1371.6 → 1371 → even 1372
		{480, 640, 2048, 1536, 2048},  // coco
		{740, 554, 2048, 2048, 1534},  // bus: 1533.2 → 1533 → 1534
		{100, 100, 2048, 2048, 2048},
		{1, 5000, 2048, 1, 2048}, // int(0.4096) = 0, even, then max(0, 1)
		{3000, 2, 512, 512, 1},
		{5, 3, 7, 7, 4}, // int(4.2) = 4 is even: no bump
		{3, 5, 7, 4, 7}, // int(4.2) = 4
		{4, 6, 9, 6, 9}, // int(6.0) = 6
		{6, 5, 9, 9, 8}, // int(7.5) = 7 → 8
	}
	for _, tc := range first {
		h, w := firstResizeSize(tc.h, tc.w, tc.maxLen)
		if h != tc.wantH || w != tc.wantW {
			t.Errorf("firstResizeSize(%d, %d, %d) = %d, %d; want %d, %d", tc.h, tc.w, tc.maxLen, h, w, tc.wantH, tc.wantW)
		}
	}
	vision := []struct{ h, w, tile, wantH, wantW int }{
		{1372, 2048, 512, 1536, 2048},
		{1536, 2048, 512, 1536, 2048},
		{2048, 1534, 512, 2048, 1536},
		{300, 200, 512, 512, 512},
		{1, 2048, 512, 512, 2048},
	}
	for _, tc := range vision {
		h, w := visionEncoderSize(tc.h, tc.w, tc.tile)
		if h != tc.wantH || w != tc.wantW {
			t.Errorf("visionEncoderSize(%d, %d, %d) = %d, %d; want %d, %d", tc.h, tc.w, tc.tile, h, w, tc.wantH, tc.wantW)
		}
	}
}

func TestProcessSmallConfigAndBatch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LongestEdge, cfg.TileSize = 64, 32
	a := loadWant(t, "formats/pngrgb.png") // 97×65
	b := &RGB{W: 10, H: 30, Pix: make([]uint8, 10*30*3)}
	batch, err := Process([]*RGB{a, b}, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	// a: 64×42 → 64×64 (2×2 tiles + global); b: 22×64 → 32×64 (2×1 + global).
	if batch.N != 5+3 || batch.H != 32 || batch.W != 32 {
		t.Fatalf("batch %d×%d×%d", batch.N, batch.H, batch.W)
	}
	if batch.Grids[0] != (Grid{2, 2}) || batch.Grids[1] != (Grid{2, 1}) {
		t.Fatalf("grids %v", batch.Grids)
	}
	// A black image normalizes to -1 everywhere.
	for _, v := range batch.Pixels[5*3*32*32:] {
		if v != -1 {
			t.Fatalf("black tile value %v, want -1", v)
		}
	}
	// Tiny tile size: the image fits one tile, so there is no split.
	cfg.LongestEdge, cfg.TileSize = 16, 16
	batch, err = Process([]*RGB{a}, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if batch.N != 1 || batch.Grids[0] != (Grid{}) {
		t.Fatalf("fits one tile: N=%d grid %v", batch.N, batch.Grids[0])
	}
	if _, err := Process(nil, cfg, true); err == nil {
		t.Error("no images: no error")
	}
	if _, err := Process([]*RGB{{W: 2, H: 2}}, cfg, true); err == nil {
		t.Error("bad image: no error")
	}
	cfg.LongestEdge, cfg.TileSize = 4096, 2
	if _, err := Process([]*RGB{a}, cfg, true); err == nil || !strings.Contains(err.Error(), "tiles") {
		t.Errorf("too many tiles: error %v", err)
	}
	cfg.TileSize = 0
	if _, err := Process([]*RGB{a}, cfg, true); err == nil {
		t.Error("bad config: no error")
	}
}
