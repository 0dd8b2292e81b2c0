package imageproc

import "image"

// libwebp's YUV→RGB conversion (src/dsp/yuv.h): limited-range BT.601 with
// 14-bit fixed point and 6 fractional bits in the result.
func webpMultHi(v, coeff int32) int32 { return (v * coeff) >> 8 }

func webpClip8(v int32) uint8 {
	if v&^16383 == 0 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}

func webpYUVToRGB(y, u, v uint8) (uint8, uint8, uint8) {
	Y := webpMultHi(int32(y), 19077)
	r := webpClip8(Y + webpMultHi(int32(v), 26149) - 14234)
	g := webpClip8(Y - webpMultHi(int32(u), 6419) - webpMultHi(int32(v), 13320) + 8708)
	b := webpClip8(Y + webpMultHi(int32(u), 33050) - 17685)
	return r, g, b
}

// webpToRGB converts x/image/webp's output to RGB. Lossy (VP8) images come
// as 4:2:0 YCbCr planes; they are upsampled with libwebp's "fancy" filter
// and converted with libwebp's arithmetic, which is what PIL (via libwebp)
// returns. Lossless images are already RGB(A).
func webpToRGB(img image.Image, composite bool) *RGB {
	var (
		m     *image.YCbCr
		alpha []uint8
		aStr  int
	)
	switch t := img.(type) {
	case *image.YCbCr:
		m = t
	case *image.NYCbCrA:
		m, alpha, aStr = &t.YCbCr, t.A, t.AStride
	}
	if m == nil || m.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return toRGB(img, composite)
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	out := NewRGB(w, h)
	uvw := (w + 1) / 2
	uvRow := func(p []uint8, j int) []uint8 {
		off := (m.Rect.Min.Y/2+j)*m.CStride + m.Rect.Min.X/2
		return p[off : off+uvw]
	}
	yRow := func(y int) []uint8 {
		off := (m.Rect.Min.Y+y)*m.YStride + m.Rect.Min.X
		return m.Y[off : off+w]
	}
	// Row 0 uses chroma row 0 alone; then rows (2k-1, 2k) interpolate chroma
	// rows k-1 and k; an even height ends with a row using the last chroma row.
	emit := func(y int, topU, topV, curU, curV []uint8) {
		upsampleWebPRow(yRow(y), topU, topV, curU, curV, out.Pix[y*w*3:(y+1)*w*3])
	}
	emit(0, uvRow(m.Cb, 0), uvRow(m.Cr, 0), uvRow(m.Cb, 0), uvRow(m.Cr, 0))
	for k := 1; 2*k-1 < h; k++ {
		if 2*k < h {
			tu, tv := uvRow(m.Cb, k-1), uvRow(m.Cr, k-1)
			cu, cv := uvRow(m.Cb, k), uvRow(m.Cr, k)
			emit(2*k-1, tu, tv, cu, cv)
			emit(2*k, cu, cv, tu, tv)
		} else {
			u, v := uvRow(m.Cb, k-1), uvRow(m.Cr, k-1)
			emit(2*k-1, u, v, u, v)
		}
	}
	if composite && alpha != nil {
		for y := range h {
			a := alpha[(m.Rect.Min.Y+y)*aStr+m.Rect.Min.X:][:w]
			o := out.Pix[y*w*3:]
			for x, av := range a {
				o[x*3] = blendWhite(o[x*3], av)
				o[x*3+1] = blendWhite(o[x*3+1], av)
				o[x*3+2] = blendWhite(o[x*3+2], av)
			}
		}
	}
	return out
}

// upsampleWebPRow converts one luma row with libwebp's UpsampleRgbLinePair
// arithmetic. near is the chroma row closest to the output row (weight 3/4
// vertically), far the other one.
func upsampleWebPRow(y, nearU, nearV, farU, farV []uint8, dst []uint8) {
	w := len(y)
	u := webpFancyRow(nearU, farU, w)
	v := webpFancyRow(nearV, farV, w)
	for x := range w {
		dst[x*3], dst[x*3+1], dst[x*3+2] = webpYUVToRGB(y[x], u[x], v[x])
	}
}

// webpFancyRow upsamples one chroma plane to w samples for one output row.
func webpFancyRow(near, far []uint8, w int) []uint8 {
	out := make([]uint8, w)
	tl, l := int32(near[0]), int32(far[0])
	out[0] = uint8((3*tl + l + 2) >> 2)
	lastPair := (w - 1) >> 1
	for x := 1; x <= lastPair; x++ {
		t, c := int32(near[x]), int32(far[x])
		avg := tl + t + l + c + 8
		d12 := (avg + 2*(t+l)) >> 3
		d03 := (avg + 2*(tl+c)) >> 3
		out[2*x-1] = uint8((d12 + tl) >> 1)
		out[2*x] = uint8((d03 + t) >> 1)
		tl, l = t, c
	}
	if w&1 == 0 {
		out[w-1] = uint8((3*tl + l + 2) >> 2)
	}
	return out
}
