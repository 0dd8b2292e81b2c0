package imageproc

import (
	"image"
	"image/color"
)

// gifToRGB converts the first GIF frame as PIL does: the frame is placed on
// the logical screen (screenW×screenH), whose other pixels take the
// transparent index if the frame has one, else index 0. image/gif replaces
// the colour of the transparent index with transparent black, while PIL's
// convert("RGB") keeps the palette colour, so the frame's own colour table is
// read from the file.
func gifToRGB(img image.Image, data []byte, screenW, screenH int, composite bool) *RGB {
	m, ok := img.(*image.Paletted)
	if !ok {
		return toRGB(img, composite)
	}
	table := gifFirstColorTable(data)
	pal := paletteNRGBA(m.Palette)
	for i := 0; i+2 < len(table) && i/3 < 256; i += 3 {
		pal[i/3].R, pal[i/3].G, pal[i/3].B = table[i], table[i+1], table[i+2]
	}
	if composite {
		for i, c := range pal {
			pal[i] = color.NRGBA{blendWhite(c.R, c.A), blendWhite(c.G, c.A), blendWhite(c.B, c.A), 255}
		}
	}
	fill := uint8(0)
	for i, c := range m.Palette {
		if _, _, _, a := c.RGBA(); a == 0 && i < 256 {
			fill = uint8(i)
			break
		}
	}
	// image/gif guarantees that the frame lies inside the screen.
	b := m.Bounds().Intersect(image.Rect(0, 0, screenW, screenH))
	out := NewRGB(screenW, screenH)
	o := out.Pix
	for y := range screenH {
		for x := range screenW {
			idx := fill
			if (image.Point{x, y}).In(b) {
				idx = m.Pix[m.PixOffset(x, y)]
			}
			c := pal[idx]
			i := (y*screenW + x) * 3
			o[i], o[i+1], o[i+2] = c.R, c.G, c.B
		}
	}
	return out
}

// gifFirstColorTable returns the colour table (RGB triples) that applies to
// the first image of a GIF: its local table, else the global one. It
// returns nil if the file cannot be walked.
func gifFirstColorTable(d []byte) []byte {
	if len(d) < 13 {
		return nil
	}
	var global []byte
	p := 13
	if d[10]&0x80 != 0 {
		n := 3 << (uint(d[10]&7) + 1)
		if p+n > len(d) {
			return nil
		}
		global = d[p : p+n]
		p += n
	}
	for p < len(d) {
		switch d[p] {
		case 0x21: // extension: label, then data sub-blocks
			p += 2
			for p < len(d) && d[p] != 0 {
				p += int(d[p]) + 1
			}
			p++
		case 0x2C: // image descriptor
			if p+10 > len(d) {
				return global
			}
			flags := d[p+9]
			if flags&0x80 != 0 {
				n := 3 << (uint(flags&7) + 1)
				if p+10+n > len(d) {
					return global
				}
				return d[p+10 : p+10+n]
			}
			return global
		default:
			return global
		}
	}
	return global
}
