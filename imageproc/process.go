package imageproc

import (
	"fmt"
	"strings"
)

// Grid is the tile grid of one image: Rows×Cols tiles plus one global image.
// Rows and Cols are both 0 when the image was not split (a single tile).
type Grid struct {
	Rows, Cols int
}

// Batch is the output of Process for one prompt's images: N tiles of
// 3×H×W float32 values, channels first, in C order (Pixels[((n*3+c)*H+y)*W+x]).
// Tiles appear image by image; within an image row by row, then the global
// image. Mask[(n*H+y)*W+x] is true where the tile has real pixels and false
// in the zero padding added to reach the largest tile. Grids has one entry per
// input image.
type Batch struct {
	Pixels  []float32
	N, H, W int
	Mask    []bool
	Grids   []Grid
}

// maxTilesPerImage bounds the split of one image (SmolVLM uses at most 4×4),
// so that an odd config cannot request millions of tiles.
const maxTilesPerImage = 1024

// maxUpperBound is transformers' MAX_IMAGE_SIZE: the first resize never
// produces a side longer than this.
const maxUpperBound = 4096

// firstResizeSize ports _resize_output_size_rescale_to_max_len followed by
// _resize_output_size_scale_below_upper_bound: the longest side becomes
// maxLen, the other keeps the aspect ratio (truncated, then bumped to even).
func firstResizeSize(h, w, maxLen int) (int, int) {
	aspect := float64(w) / float64(h)
	if w >= h {
		w = maxLen
		h = int(float64(w) / aspect)
		if h%2 != 0 {
			h++
		}
	} else {
		h = maxLen
		w = int(float64(h) * aspect)
		if w%2 != 0 {
			w++
		}
	}
	h, w = max(h, 1), max(w, 1)
	aspect = float64(w) / float64(h)
	if w >= h && w > maxUpperBound {
		w = maxUpperBound
		h = int(float64(w) / aspect)
	} else if h > w && h > maxUpperBound {
		h = maxUpperBound
		w = int(float64(h) * aspect)
	}
	return max(h, 1), max(w, 1)
}

// ceilMultiple rounds v up to a multiple of m.
func ceilMultiple(v, m int) int {
	return (v + m - 1) / m * m
}

// visionEncoderSize ports resize_for_vision_encoder's size computation: both
// sides become multiples of the tile size, keeping the aspect ratio.
func visionEncoderSize(h, w, tile int) (int, int) {
	aspect := float64(w) / float64(h)
	if w >= h {
		w = ceilMultiple(w, tile)
		h = ceilMultiple(int(float64(w)/aspect), tile)
	} else {
		h = ceilMultiple(h, tile)
		w = ceilMultiple(int(float64(h)*aspect), tile)
	}
	return h, w
}

// region is a rectangle of an image that becomes one tile.
type region struct {
	img    *RGB
	x0, y0 int
	w, h   int
}

// resizeTo resizes img unless it already has the requested size.
func resizeTo(img *RGB, w, h int, f Filter) (*RGB, error) {
	if img.W == w && img.H == h {
		return img, nil
	}
	return Resize(img, w, h, f)
}

// tilesOf runs the resize and split steps for one image.
func tilesOf(img *RGB, cfg Config, split bool) ([]region, Grid, error) {
	var err error
	if cfg.DoResize {
		h, w := firstResizeSize(img.H, img.W, cfg.LongestEdge)
		if img, err = resizeTo(img, w, h, cfg.Resample); err != nil {
			return nil, Grid{}, err
		}
	}
	m := cfg.TileSize
	if !split {
		if img, err = resizeTo(img, m, m, cfg.Resample); err != nil {
			return nil, Grid{}, err
		}
		return []region{{img: img, w: m, h: m}}, Grid{}, nil
	}
	h, w := visionEncoderSize(img.H, img.W, m)
	if h <= 0 || w <= 0 || int64(h)*int64(w) > 1<<28 {
		return nil, Grid{}, fmt.Errorf("imageproc: image %dx%d gives an unusable split size %dx%d", img.W, img.H, w, h)
	}
	if img, err = resizeTo(img, w, h, cfg.Resample); err != nil {
		return nil, Grid{}, err
	}
	if h <= m && w <= m {
		return []region{{img: img, w: w, h: h}}, Grid{}, nil
	}
	rows, cols := (h+m-1)/m, (w+m-1)/m
	if rows*cols > maxTilesPerImage {
		return nil, Grid{}, fmt.Errorf("imageproc: image %dx%d would split into %dx%d tiles, more than %d", img.W, img.H, rows, cols, maxTilesPerImage)
	}
	th, tw := (h+rows-1)/rows, (w+cols-1)/cols
	regions := make([]region, 0, rows*cols+1)
	for r := range rows {
		for c := range cols {
			x0, y0 := c*tw, r*th
			regions = append(regions, region{img: img, x0: x0, y0: y0, w: min(tw, w-x0), h: min(th, h-y0)})
		}
	}
	global, err := resizeTo(img, m, m, cfg.Resample)
	if err != nil {
		return nil, Grid{}, err
	}
	regions = append(regions, region{img: global, w: m, h: m})
	return regions, Grid{Rows: rows, Cols: cols}, nil
}

// NormalizeLUT returns, for each channel and 8-bit level, the float32 value
// that rescale and normalize produce, computed as numpy does it:
// float32(float64(level) * rescale_factor), then (v - float32(mean)) /
// float32(std) in float32 arithmetic.
func (c Config) NormalizeLUT() [3][256]float32 {
	var lut [3][256]float32
	for ch := range 3 {
		mean, std := float32(c.ImageMean[ch]), float32(c.ImageStd[ch])
		for level := range 256 {
			v := float32(level)
			if c.DoRescale {
				v = float32(float64(level) * c.RescaleFactor)
			}
			if c.DoNormalize {
				v = (v - mean) / std
			}
			lut[ch][level] = v
		}
	}
	return lut
}

// imageError names which image (from 1) an error is about, without
// repeating the package prefix of the error it wraps.
type imageError struct {
	n   int
	err error
}

func (e imageError) Error() string {
	return fmt.Sprintf("imageproc: image %d: %s", e.n, strings.TrimPrefix(e.err.Error(), "imageproc: "))
}

func (e imageError) Unwrap() error { return e.err }

// Process runs the Idefics3 preprocessing on the images of one prompt. split
// selects image splitting (pass cfg.DoImageSplitting for the model default).
// With splitting, each image is resized so its longest side is
// cfg.LongestEdge, then to multiples of cfg.TileSize, cut into tiles row by
// row, and followed by a global image resized to TileSize×TileSize. Without
// splitting, each image becomes one TileSize×TileSize tile. The tiles are
// rescaled, normalized and zero-padded to the largest tile.
func Process(imgs []*RGB, cfg Config, split bool) (*Batch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("imageproc: Process needs at least one image")
	}
	var regions []region
	grids := make([]Grid, len(imgs))
	for i, img := range imgs {
		if err := img.validate(); err != nil {
			return nil, imageError{i + 1, err}
		}
		rs, g, err := tilesOf(img, cfg, split)
		if err != nil {
			return nil, imageError{i + 1, err}
		}
		regions = append(regions, rs...)
		grids[i] = g
	}
	return assemble(regions, grids, cfg)
}

// assemble rescales, normalizes and pads the tiles into a Batch.
func assemble(regions []region, grids []Grid, cfg Config) (*Batch, error) {
	H, W := 0, 0
	for _, r := range regions {
		H, W = max(H, r.h), max(W, r.w)
	}
	if !cfg.DoPad {
		for _, r := range regions {
			if r.h != H || r.w != W {
				return nil, fmt.Errorf("imageproc: do_pad is false but tiles differ in size (%dx%d and %dx%d)", r.w, r.h, W, H)
			}
		}
	}
	b := &Batch{
		N:      len(regions),
		H:      H,
		W:      W,
		Pixels: make([]float32, len(regions)*3*H*W),
		Mask:   make([]bool, len(regions)*H*W),
		Grids:  grids,
	}
	lut := cfg.NormalizeLUT()
	plane := H * W
	for n, r := range regions {
		for y := range r.h {
			src := r.img.Pix[((r.y0+y)*r.img.W+r.x0)*3:]
			src = src[:r.w*3]
			for ch := range 3 {
				dst := b.Pixels[(n*3+ch)*plane+y*W:]
				dst = dst[:r.w]
				l := &lut[ch]
				for x := range dst {
					dst[x] = l[src[x*3+ch]]
				}
			}
			mask := b.Mask[n*plane+y*W:]
			for x := range r.w {
				mask[x] = true
			}
		}
	}
	return b, nil
}

// Token strings of the Idefics3 processor.
const (
	ImageToken       = "<image>"
	FakeImageToken   = "<fake_token_around_image>"
	GlobalImageToken = "<global-img>"
)

// ExpandImageTokens returns the text that replaces one <image> placeholder
// for an image with the given tile grid, exactly as Idefics3Processor builds
// it: for each row, per column <fake_token_around_image><row_R_col_C>
// followed by imageSeqLen <image> tokens, then a newline; after the rows a
// newline and <fake_token_around_image><global-img>, imageSeqLen <image>
// tokens and <fake_token_around_image>. rows == 0 or cols == 0 gives the
// single-image form <fake_token_around_image><global-img><image>...
// <fake_token_around_image>.
func ExpandImageTokens(rows, cols, imageSeqLen int) string {
	rows, cols, imageSeqLen = max(rows, 0), max(cols, 0), max(imageSeqLen, 0)
	images := strings.Repeat(ImageToken, imageSeqLen)
	global := FakeImageToken + GlobalImageToken + images + FakeImageToken
	if rows == 0 || cols == 0 {
		return global
	}
	var sb strings.Builder
	for r := 1; r <= rows; r++ {
		for c := 1; c <= cols; c++ {
			fmt.Fprintf(&sb, "%s<row_%d_col_%d>%s", FakeImageToken, r, c, images)
		}
		sb.WriteByte('\n')
	}
	sb.WriteByte('\n')
	sb.WriteString(global)
	return sb.String()
}

// ExpandPrompt replaces the k-th <image> placeholder of text with
// ExpandImageTokens for grids[k], as Idefics3Processor does. The number of
// placeholders must equal len(grids).
func ExpandPrompt(text string, grids []Grid, imageSeqLen int) (string, error) {
	parts := strings.Split(text, ImageToken)
	if len(parts)-1 != len(grids) {
		return "", fmt.Errorf("imageproc: prompt has %d %s tokens but %d images were given", len(parts)-1, ImageToken, len(grids))
	}
	var sb strings.Builder
	sb.WriteString(parts[0])
	for i, g := range grids {
		sb.WriteString(ExpandImageTokens(g.Rows, g.Cols, imageSeqLen))
		sb.WriteString(parts[i+1])
	}
	return sb.String(), nil
}
