package imageproc

import (
	"slices"
	"testing"
)

// smolVLM256Config is SmolVLM-256M's processor: tiles of 512, longest edge 2048.
func smolVLM256Config(t *testing.T) Config {
	t.Helper()
	cfg, err := ParseConfig(readTestdata(t, "preprocessor_config.json"), readTestdata(t, "processor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TileSize != 512 || cfg.LongestEdge != 2048 {
		t.Fatalf("testdata config has tiles of %d and longest edge %d, want 512 and 2048", cfg.TileSize, cfg.LongestEdge)
	}
	return cfg
}

func TestCapTiles(t *testing.T) {
	cfg := smolVLM256Config(t)
	for _, c := range []struct {
		w, h, maxTiles int
		edge, tiles    int
	}{
		{512, 512, 0, 2048, 17}, // no cap: 4x4 + global
		{512, 512, 17, 2048, 17},
		{512, 512, 16, 1536, 10}, // 3x3 + global
		{512, 512, 10, 1536, 10},
		{512, 512, 9, 1024, 5}, // 2x2 + global
		{512, 512, 4, 512, 1},  // one tile
		{512, 512, 1, 512, 1},
		{1199, 803, 0, 2048, 13}, // 4x3 + global (bird.jpg)
		{1199, 803, 12, 1536, 10},
		{1199, 803, 9, 1024, 5},
		{803, 1199, 9, 1024, 5}, // portrait: same counts
		{1000, 250, 8, 2048, 5}, // 4x1 + global fits
		{1000, 250, 4, 1536, 4}, // 3x1 + global
		{1000, 250, 3, 1024, 3}, // 2x1 + global
		{1000, 250, 2, 512, 1},
	} {
		got := cfg.CapTiles(c.w, c.h, c.maxTiles)
		n := TileCount(c.w, c.h, got, true)
		if got.LongestEdge != c.edge || n != c.tiles {
			t.Errorf("%dx%d, at most %d tiles: longest edge %d and %d tiles, want %d and %d", c.w, c.h, c.maxTiles, got.LongestEdge, n, c.edge, c.tiles)
		}
		if c.maxTiles > 0 && n > c.maxTiles {
			t.Errorf("%dx%d: %d tiles exceed the cap of %d", c.w, c.h, n, c.maxTiles)
		}
		got.LongestEdge = cfg.LongestEdge
		if got != cfg {
			t.Errorf("CapTiles changed more than the longest edge")
		}
	}
	if n := TileCount(512, 512, cfg, false); n != 1 {
		t.Errorf("without splitting: %d tiles, want 1", n)
	}
}

// TestLoadCapped checks that a capped load gives the tiles documented by
// TileCount and exactly the pixels of Load and Process at that longest edge.
func TestLoadCapped(t *testing.T) {
	cfg := smolVLM256Config(t)
	data := readTestdata(t, "bird.jpg")
	for _, maxTiles := range []int{0, 12, 5, 1} {
		img, c, err := LoadCapped(data, DecodeOptions{}, cfg, maxTiles)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ProcessEach([]*RGB{img}, []Config{c}, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := TileCount(1199, 803, c, true); b.N != want {
			t.Errorf("cap %d: %d tiles, TileCount says %d", maxTiles, b.N, want)
		}
		if maxTiles > 0 && b.N > maxTiles {
			t.Errorf("cap %d: %d tiles", maxTiles, b.N)
		}
		ref, err := Load(data, DecodeOptions{}, c)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Process([]*RGB{ref}, c, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(b.Pixels, want.Pixels) || !slices.Equal(b.Grids, want.Grids) {
			t.Errorf("cap %d: LoadCapped+ProcessEach differ from Load+Process at longest edge %d", maxTiles, c.LongestEdge)
		}
	}
}

func TestProcessEachRefusesMixedConfigs(t *testing.T) {
	cfg := smolVLM256Config(t)
	img := NewRGB(600, 400)
	other := cfg
	other.TileSize = 256
	if _, err := ProcessEach([]*RGB{img, img}, []Config{cfg, other}, true); err == nil {
		t.Error("configs with different tile sizes were accepted")
	}
	if _, err := ProcessEach([]*RGB{img}, []Config{cfg, cfg}, true); err == nil {
		t.Error("two configs for one image were accepted")
	}
	small := cfg
	small.LongestEdge = 1024
	b, err := ProcessEach([]*RGB{img, img}, []Config{cfg, small}, true)
	if err != nil {
		t.Fatal(err)
	}
	if b.N != TileCount(600, 400, cfg, true)+TileCount(600, 400, small, true) {
		t.Errorf("%d tiles for two images at longest edges 2048 and 1024", b.N)
	}
}
