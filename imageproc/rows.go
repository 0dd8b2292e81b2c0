package imageproc

import (
	"fmt"
)

// rowSource yields the RGB rows of an image, top to bottom.
type rowSource interface {
	size() (w, h int)
	// readRow writes the next row (3*w bytes) into dst.
	readRow(dst []uint8) error
}

// rgbRows is a rowSource over an image decoded whole.
type rgbRows struct {
	img *RGB
	y   int
}

func (r *rgbRows) size() (int, int) { return r.img.W, r.img.H }

func (r *rgbRows) readRow(dst []uint8) error {
	if r.y >= r.img.H {
		return fmt.Errorf("imageproc: read past the last row")
	}
	n := 3 * r.img.W
	copy(dst[:n], r.img.Pix[r.y*n:])
	r.y++
	return nil
}

// readAll collects every row of src into an image.
func readAll(src rowSource) (*RGB, error) {
	if r, ok := src.(*rgbRows); ok && r.y == 0 {
		return r.img, nil
	}
	w, h := src.size()
	out := NewRGB(w, h)
	for y := range h {
		if err := src.readRow(out.Pix[y*w*3 : (y+1)*w*3]); err != nil {
			return nil, fmt.Errorf("imageproc: %w", err)
		}
	}
	return out, nil
}

// Load decodes an image like DecodeWith and, when cfg resizes it (do_resize),
// applies Process's first resize step (longest edge to cfg.LongestEdge)
// while decoding: the horizontal pass consumes decoded rows as they come, so
// a big photo never exists whole as RGB, only the horizontally resized rows
// do. Process gives the same result for Load's output as for DecodeWith's,
// bit for bit; Load falls back to DecodeWith (then a plain resize) when an
// EXIF orientation must be applied first, with the NEAREST filter, or when
// the size does not shrink horizontally.
func Load(data []byte, opts DecodeOptions, cfg Config) (*RGB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	src, orientation, err := openRows(data, opts)
	if err != nil {
		return nil, err
	}
	return loadRows(src, orientation, opts, cfg)
}

// loadRows is Load after the header: src yields the rows of an image whose
// EXIF orientation is given.
func loadRows(src rowSource, orientation int, opts DecodeOptions, cfg Config) (*RGB, error) {
	W, H := src.size()
	kern, ok := kernelFor(cfg.Resample)
	oriented := !opts.IgnoreOrientation && orientation >= 2 && orientation <= 8
	h, w := firstResizeSize(H, W, cfg.LongestEdge)
	// Stream only when Process would then find the resize already done:
	// firstResizeSize must map the resized size to itself.
	h2, w2 := firstResizeSize(h, w, cfg.LongestEdge)
	if !cfg.DoResize || !ok || oriented || w == W || h2 != h || w2 != w || int64(w)*int64(h) > 1<<31 {
		img, err := readAll(src)
		if err != nil {
			return nil, err
		}
		if !opts.IgnoreOrientation {
			img = applyOrientation(img, orientation)
		}
		return img, nil
	}
	return resizeRows(src, w, h, kern)
}

// resizeRows is Resize for an image read row by row, horizontal pass first
// (as Pillow does): rows are resampled to width w in batches as they are
// decoded, then the vertical pass runs on the narrow intermediate image.
func resizeRows(src rowSource, w, h int, kern kernel) (*RGB, error) {
	W, H := src.size()
	horiz := precompute(W, w, kern)
	first, last := 0, H
	var vert coeffs
	needV := h != H
	if needV {
		vert = precompute(H, h, kern)
		first = vert.start[0]
		last = vert.start[h-1] + vert.count[h-1]
		for i := range vert.start {
			vert.start[i] -= first
		}
	}
	mid := NewRGB(w, last-first)
	const batch = 64
	in := make([]uint8, batch*W*3)
	for y0 := 0; y0 < H; y0 += batch {
		n := min(batch, H-y0)
		for i := range n {
			if err := src.readRow(in[i*W*3 : (i+1)*W*3]); err != nil {
				return nil, fmt.Errorf("imageproc: %w", err)
			}
		}
		// Rows outside [first, last) are decoded (errors surface as in a
		// whole decode) but not resampled.
		lo, hi := max(y0, first), min(y0+n, last)
		if lo >= hi {
			continue
		}
		parallelRows(hi-lo, w*horiz.ksize, func(a, b int) {
			for y := lo + a; y < lo+b; y++ {
				resampleRow(mid.Pix[(y-first)*w*3:(y-first+1)*w*3], in[(y-y0)*W*3:(y-y0+1)*W*3], w, horiz)
			}
		})
	}
	if !needV {
		return mid, nil
	}
	return resampleVertical(mid, h, vert), nil
}
