package imageproc

import "fmt"

// TileCount returns how many tiles Process makes of a w×h image (after its
// EXIF orientation): 1 without splitting or when the image fits one tile,
// else Rows×Cols tiles plus the global image. It returns 0 for an empty size.
func TileCount(w, h int, cfg Config, split bool) int {
	if w <= 0 || h <= 0 {
		return 0
	}
	if !split {
		return 1
	}
	if cfg.DoResize {
		h, w = firstResizeSize(h, w, cfg.LongestEdge)
	}
	m := cfg.TileSize
	h, w = visionEncoderSize(h, w, m)
	if h <= m && w <= m {
		return 1
	}
	return ((h+m-1)/m)*((w+m-1)/m) + 1
}

// CapTiles returns cfg with its longest edge (size.longest_edge) lowered
// until a w×h image splits into at most maxTiles tiles (the global image
// counted): the longest edge is tried as configured, then at each multiple
// of the tile size below it. A longest edge of k tiles gives at most k×k
// tiles plus the global image, so fewer tiles mean fewer image tokens
// (ImageSeqLen each) at a lower resolution. maxTiles <= 0, an image without
// do_resize or an image that already fits leaves cfg as it is; the floor is
// one tile (the image resized to TileSize×TileSize).
func (c Config) CapTiles(w, h, maxTiles int) Config {
	if maxTiles <= 0 || !c.DoResize || TileCount(w, h, c, true) <= maxTiles {
		return c
	}
	k := (c.LongestEdge - 1) / c.TileSize // the largest multiple below LongestEdge
	for ; k > 1; k-- {
		c.LongestEdge = k * c.TileSize
		if TileCount(w, h, c, true) <= maxTiles {
			return c
		}
	}
	c.LongestEdge = c.TileSize
	return c
}

// LoadCapped is Load with the processor's longest edge capped for this
// image by cfg.CapTiles(w, h, maxTiles), w×h being the image's size after
// its EXIF orientation, known from the header before any pixel is resized.
// It returns the image and the Config to give Process (or ProcessEach) for
// it. maxTiles <= 0 is Load with cfg.
func LoadCapped(data []byte, opts DecodeOptions, cfg Config, maxTiles int) (*RGB, Config, error) {
	if err := cfg.Validate(); err != nil {
		return nil, Config{}, err
	}
	src, orientation, err := openRows(data, opts)
	if err != nil {
		return nil, Config{}, err
	}
	w, h := src.size()
	if !opts.IgnoreOrientation && orientation >= 5 && orientation <= 8 {
		w, h = h, w // transposed by the orientation
	}
	cfg = cfg.CapTiles(w, h, maxTiles)
	img, err := loadRows(src, orientation, opts, cfg)
	return img, cfg, err
}

// ProcessEach is Process with one Config per image (as LoadCapped returns
// them). The configs may differ only in LongestEdge: tiles of every image
// share TileSize, normalization and padding.
func ProcessEach(imgs []*RGB, cfgs []Config, split bool) (*Batch, error) {
	if len(cfgs) != len(imgs) {
		return nil, fmt.Errorf("imageproc: %d configs for %d images", len(cfgs), len(imgs))
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("imageproc: Process needs at least one image")
	}
	for i, c := range cfgs {
		if err := c.Validate(); err != nil {
			return nil, imageError{i + 1, err}
		}
		same := c
		same.LongestEdge = cfgs[0].LongestEdge
		if same != cfgs[0] {
			return nil, fmt.Errorf("imageproc: image %d: configs differ in more than the longest edge", i+1)
		}
	}
	var regions []region
	grids := make([]Grid, len(imgs))
	for i, img := range imgs {
		if err := img.validate(); err != nil {
			return nil, imageError{i + 1, err}
		}
		rs, g, err := tilesOf(img, cfgs[i], split)
		if err != nil {
			return nil, imageError{i + 1, err}
		}
		regions = append(regions, rs...)
		grids[i] = g
	}
	return assemble(regions, grids, cfgs[0])
}
