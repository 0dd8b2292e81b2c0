package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// DefaultMaxPixels is the pixel-count cap used when a caller passes 0: PIL's
// Image.MAX_IMAGE_PIXELS decompression-bomb threshold.
const DefaultMaxPixels = 89478485

// Errors returned (wrapped) by Decode; test with errors.Is.
var (
	ErrUnsupportedFormat = errors.New("unsupported image format")
	ErrTooManyPixels     = errors.New("image has too many pixels")
	ErrEmptyImage        = errors.New("image has zero width or height")
)

// Format names an image container format.
type Format string

// Supported formats.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	WebP Format = "webp"
)

// DecodeOptions controls DecodeWith.
type DecodeOptions struct {
	// MaxPixels caps width*height, checked from the header before any pixel
	// data is decoded. 0 means DefaultMaxPixels; a negative value disables
	// the cap.
	MaxPixels int
	// IgnoreOrientation leaves the pixels as stored instead of applying the
	// EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF), which is what
	// PIL.Image.open alone, and so the Python processor, does.
	IgnoreOrientation bool
	// CompositeOnWhite blends transparent pixels over a white background, as
	// the Hugging Face processors' convert_to_rgb does for an RGBA input
	// (PIL alpha_composite with an opaque white image). By default alpha is
	// dropped, as PIL's convert("RGB") does.
	CompositeOnWhite bool
}

// Decode decodes a JPEG, PNG, GIF (first frame) or WebP image to 8-bit RGB,
// the way transformers.image_utils.load_image does with PIL: the EXIF
// orientation is applied (ImageOps.exif_transpose), then the image
// is converted like Image.convert("RGB") (grayscale is replicated, palettes
// are looked up, CMYK is converted, alpha is dropped). maxPixels caps the
// pixel count (see DecodeOptions.MaxPixels).
func Decode(data []byte, maxPixels int) (*RGB, error) {
	return DecodeWith(data, DecodeOptions{MaxPixels: maxPixels})
}

// DetectFormat returns the format of data from its leading magic bytes.
func DetectFormat(data []byte) (Format, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG, nil
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, nil
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return GIF, nil
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return WebP, nil
	}
	n := min(len(data), 8)
	return "", fmt.Errorf("imageproc: %w (first bytes % x)", ErrUnsupportedFormat, data[:n])
}

// DecodeWith decodes an image like Decode, with options.
func DecodeWith(data []byte, opts DecodeOptions) (*RGB, error) {
	src, orientation, err := openRows(data, opts)
	if err != nil {
		return nil, err
	}
	img, err := readAll(src)
	if err != nil {
		return nil, err
	}
	if !opts.IgnoreOrientation {
		img = applyOrientation(img, orientation)
	}
	return img, nil
}

// openRows starts decoding data and returns its rows (before the EXIF
// orientation, which is returned). Baseline and progressive JPEGs and common
// PNGs are decoded row by row; other images are decoded whole first.
func openRows(data []byte, opts DecodeOptions) (rowSource, int, error) {
	format, err := DetectFormat(data)
	if err != nil {
		return nil, 0, err
	}
	limit := int64(opts.MaxPixels)
	if limit == 0 {
		limit = DefaultMaxPixels
	}
	capErr := func(w, h int) error {
		if w <= 0 || h <= 0 {
			return fmt.Errorf("imageproc: %s: %w (%dx%d)", format, ErrEmptyImage, w, h)
		}
		if limit > 0 && int64(w)*int64(h) > limit {
			return fmt.Errorf("imageproc: %s: %w: %dx%d exceeds the cap of %d", format, ErrTooManyPixels, w, h, limit)
		}
		return nil
	}
	var exactErr error // why the exact JPEG decoder refused the file
	switch format {
	case JPEG:
		r, err := openJPEGRows(data, limit)
		switch {
		case err == nil:
			return r, jpegOrientation(data), nil
		case errors.Is(err, ErrTooManyPixels), errors.Is(err, ErrEmptyImage):
			return nil, 0, err
		}
		// Variants it does not handle, and files libjpeg would reject, are
		// left to image/jpeg below.
		exactErr = err
	case PNG:
		r, err := openPNGRows(data, opts.CompositeOnWhite)
		switch {
		case err == nil:
			if err := capErr(r.size()); err != nil {
				return nil, 0, err
			}
			return r, pngOrientation(data), nil
		case errors.Is(err, ErrEmptyImage):
			return nil, 0, fmt.Errorf("imageproc: %w", err)
		case !errors.Is(err, errPNGNotStreamed):
			return nil, 0, fmt.Errorf("imageproc: %w", err)
		}
		// Left to image/png below.
	}
	var (
		decodeConfig func(io.Reader) (image.Config, error)
		decode       func(io.Reader) (image.Image, error)
	)
	switch format {
	case JPEG:
		decodeConfig, decode = jpeg.DecodeConfig, jpeg.Decode
	case PNG:
		decodeConfig, decode = png.DecodeConfig, png.Decode
	case GIF:
		decodeConfig, decode = gif.DecodeConfig, gif.Decode
	case WebP:
		decodeConfig, decode = webp.DecodeConfig, webp.Decode
	}
	// stdErr reports a failure of the standard decoder, preferring the exact
	// JPEG decoder's reason for a malformed JPEG.
	stdErr := func(what string, err error) error {
		if exactErr != nil && !errors.Is(exactErr, errJPEGNotHandled) {
			return fmt.Errorf("imageproc: jpeg: %w", exactErr)
		}
		return fmt.Errorf("imageproc: %s%s: %w", format, what, err)
	}
	cfg, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, 0, stdErr(" header", err)
	}
	if err := capErr(cfg.Width, cfg.Height); err != nil {
		return nil, 0, err
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, 0, stdErr("", err)
	}
	b := img.Bounds()
	if err := capErr(b.Dx(), b.Dy()); err != nil {
		return nil, 0, err
	}
	var (
		out         *RGB
		orientation = 1
	)
	switch format {
	case JPEG:
		out, orientation = jpegToRGB(img), jpegOrientation(data)
	case WebP:
		out, orientation = webpToRGB(img, opts.CompositeOnWhite), webpOrientation(data)
	case GIF:
		out = gifToRGB(img, data, cfg.Width, cfg.Height, opts.CompositeOnWhite)
	case PNG:
		out, orientation = toRGB(img, opts.CompositeOnWhite), pngOrientation(data)
	}
	return &rgbRows{img: out}, orientation, nil
}

// blendWhite returns channel value v with alpha a composited over white with
// Pillow's alpha_composite arithmetic (7-bit fixed point, exact /255).
func blendWhite(v, a uint8) uint8 {
	if a == 255 {
		return v
	}
	if a == 0 {
		return 255
	}
	const bits = 7
	// Destination is opaque white: blend = 255*(255-a), outa255 = 255*255.
	coef1 := uint32(a) * 255 * 255 * (1 << bits) / (255 * 255)
	coef2 := 255*(1<<bits) - coef1
	t := uint32(v)*coef1 + 255*coef2 + (0x80 << bits)
	return uint8((((t >> 8) + t) >> 8) >> bits)
}

// toRGB converts any decoded image to RGB like PIL's convert("RGB"):
// grayscale is replicated, 16-bit samples keep their high byte (16-bit
// grayscale is clipped to 255, as PIL's mode "I" conversion does), palette
// entries are looked up, and alpha is dropped unless composite is set.
func toRGB(img image.Image, composite bool) *RGB {
	b := img.Bounds()
	out := NewRGB(b.Dx(), b.Dy())
	o := out.Pix
	put := func(i int, r, g, bl, a uint8) {
		if composite {
			r, g, bl = blendWhite(r, a), blendWhite(g, a), blendWhite(bl, a)
		}
		o[i], o[i+1], o[i+2] = r, g, bl
	}
	i := 0
	switch m := img.(type) {
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for _, v := range m.Pix[m.PixOffset(b.Min.X, y):][:b.Dx()] {
				o[i], o[i+1], o[i+2] = v, v, v
				i += 3
			}
		}
	case *image.Gray16:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):][:2*b.Dx()]
			for x := 0; x < len(row); x += 2 {
				v := uint8(255)
				if row[x] == 0 {
					v = row[x+1]
				}
				o[i], o[i+1], o[i+2] = v, v, v
				i += 3
			}
		}
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):][:4*b.Dx()]
			for x := 0; x < len(row); x += 4 {
				put(i, row[x], row[x+1], row[x+2], row[x+3])
				i += 3
			}
		}
	case *image.NRGBA64:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):][:8*b.Dx()]
			for x := 0; x < len(row); x += 8 {
				put(i, row[x], row[x+2], row[x+4], row[x+6])
				i += 3
			}
		}
	case *image.RGBA:
		// Premultiplied; the decoders return it only for opaque images.
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):][:4*b.Dx()]
			for x := 0; x < len(row); x += 4 {
				c := color.NRGBAModel.Convert(color.RGBA{row[x], row[x+1], row[x+2], row[x+3]}).(color.NRGBA)
				put(i, c.R, c.G, c.B, c.A)
				i += 3
			}
		}
	case *image.RGBA64:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):][:8*b.Dx()]
			for x := 0; x < len(row); x += 8 {
				o[i], o[i+1], o[i+2] = row[x], row[x+2], row[x+4]
				i += 3
			}
		}
	case *image.Paletted:
		pal := paletteNRGBA(m.Palette)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for _, idx := range m.Pix[m.PixOffset(b.Min.X, y):][:b.Dx()] {
				c := pal[idx]
				put(i, c.R, c.G, c.B, c.A)
				i += 3
			}
		}
	case *image.CMYK:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):][:4*b.Dx()]
			for x := 0; x < len(row); x += 4 {
				o[i], o[i+1], o[i+2] = cmykToRGB(row[x], row[x+1], row[x+2], row[x+3])
				i += 3
			}
		}
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				put(i, c.R, c.G, c.B, c.A)
				i += 3
			}
		}
	}
	return out
}

// paletteNRGBA expands a palette to 256 non-premultiplied entries; missing
// entries are black, as in PIL.
func paletteNRGBA(p color.Palette) *[256]color.NRGBA {
	var pal [256]color.NRGBA
	for i := range pal {
		pal[i] = color.NRGBA{0, 0, 0, 255}
	}
	for i, c := range p {
		if i >= 256 {
			break
		}
		if c != nil {
			pal[i] = color.NRGBAModel.Convert(c).(color.NRGBA)
		}
	}
	return &pal
}

// cmykToRGB is Pillow's cmyk2rgb: each channel is (255-k) - (c*(255-k))/255
// with Pillow's rounded division by 255.
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := int(255 - k)
	f := func(v uint8) uint8 {
		t := int(v)*nk + 128
		return uint8(max(nk-(((t>>8)+t)>>8), 0))
	}
	return f(c), f(m), f(y)
}
