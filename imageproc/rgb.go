package imageproc

import "fmt"

// RGB is an 8-bit RGB image: W×H pixels stored row by row, three bytes
// (R, G, B) per pixel, with no padding between rows (len(Pix) == W*H*3).
type RGB struct {
	W, H int
	Pix  []uint8
}

// NewRGB returns a black image of the given size. It panics if w or h is
// negative.
func NewRGB(w, h int) *RGB {
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("imageproc: negative image size %dx%d", w, h))
	}
	return &RGB{W: w, H: h, Pix: make([]uint8, w*h*3)}
}

// validate reports whether img is a well-formed non-empty image.
func (img *RGB) validate() error {
	if img == nil {
		return fmt.Errorf("imageproc: nil image")
	}
	if img.W <= 0 || img.H <= 0 {
		return fmt.Errorf("imageproc: image size %dx%d is not positive", img.W, img.H)
	}
	if len(img.Pix) != img.W*img.H*3 {
		return fmt.Errorf("imageproc: image %dx%d has %d bytes, want %d", img.W, img.H, len(img.Pix), img.W*img.H*3)
	}
	return nil
}

// Crop returns a copy of the rectangle [x0,x1)×[y0,y1) of img. The rectangle
// must lie inside the image and be non-empty.
func (img *RGB) Crop(x0, y0, x1, y1 int) (*RGB, error) {
	if err := img.validate(); err != nil {
		return nil, err
	}
	if x0 < 0 || y0 < 0 || x1 > img.W || y1 > img.H || x0 >= x1 || y0 >= y1 {
		return nil, fmt.Errorf("imageproc: crop box (%d,%d)-(%d,%d) outside %dx%d image", x0, y0, x1, y1, img.W, img.H)
	}
	out := NewRGB(x1-x0, y1-y0)
	rowBytes := out.W * 3
	for y := y0; y < y1; y++ {
		copy(out.Pix[(y-y0)*rowBytes:(y-y0+1)*rowBytes], img.Pix[(y*img.W+x0)*3:])
	}
	return out, nil
}

// clone returns a deep copy of img.
func (img *RGB) clone() *RGB {
	return &RGB{W: img.W, H: img.H, Pix: append([]uint8(nil), img.Pix...)}
}
