package imageproc

import (
	"encoding/binary"
	"image"
)

// libjpeg's fixed-point YCbCr→RGB tables (jdcolor.c, SCALEBITS = 16).
var (
	crR, cbB [256]int32
	crG, cbG [256]int32
)

func init() {
	const (
		scaleBits = 16
		oneHalf   = 1 << (scaleBits - 1)
	)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + oneHalf) >> scaleBits
		cbB[i] = (fix(1.77200)*x + oneHalf) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + oneHalf
	}
}

func clampByte(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// jpegToRGB converts image/jpeg's output (used for the JPEGs the exact
// decoder leaves to it) to RGB. YCbCr images get libjpeg's fancy chroma
// upsampling and fixed-point colour conversion.
func jpegToRGB(img image.Image) *RGB {
	m, ok := img.(*image.YCbCr)
	if !ok {
		return toRGB(img, false)
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	hs, vs := 1, 1 // chroma subsampling factors
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs = 2
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		vs = 2
	case image.YCbCrSubsampleRatio411:
		hs = 4
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
	}
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	// Component planes at their own resolution, from the image origin.
	cbPlane := func(p []uint8) func(y int) []uint8 {
		return func(y int) []uint8 {
			y = min(max(y, 0), ch-1) // libjpeg replicates edge rows as context
			off := (m.Rect.Min.Y/vs+y)*m.CStride + m.Rect.Min.X/hs
			return p[off : off+cw]
		}
	}
	cbRow, crRow := cbPlane(m.Cb), cbPlane(m.Cr)
	up := newUpsampler(w, cw, hs, vs)
	cbOut, crOut := make([]uint8, w), make([]uint8, w)
	out := NewRGB(w, h)
	for y := range h {
		up.row(cbOut, cbRow, y)
		up.row(crOut, crRow, y)
		yr := m.Y[(m.Rect.Min.Y+y)*m.YStride+m.Rect.Min.X:][:w]
		yccToRGB(out.Pix[y*w*3:(y+1)*w*3], yr, cbOut, crOut)
	}
	return out
}

// yccToRGB converts one row of full-resolution Y, Cb, Cr samples to RGB with
// libjpeg's fixed-point tables (ycc_rgb_convert).
func yccToRGB(o, yr, cbr, crr []uint8) {
	o = o[:3*len(yr)]
	cbr, crr = cbr[:len(yr)], crr[:len(yr)]
	for x, yv := range yr {
		Y := int32(yv)
		cb, cr := cbr[x], crr[x]
		o[x*3] = clampByte(Y + crR[cr])
		o[x*3+1] = clampByte(Y + ((cbG[cb] + crG[cr]) >> 16))
		o[x*3+2] = clampByte(Y + cbB[cb])
	}
}

// Fixed-point constants of the islow IDCT: round(x * 2^13).
const (
	idctConstBits = 13
	idctPass1Bits = 2
	fix0298631336 = 2446
	fix0390180644 = 3196
	fix0541196100 = 4433
	fix0765366865 = 6270
	fix0899976223 = 7373
	fix1175875602 = 9633
	fix1501321110 = 12299
	fix1847759065 = 15137
	fix1961570560 = 16069
	fix2053119869 = 16819
	fix2562915447 = 20995
	fix3072711026 = 25172
)

// idctIslow is libjpeg's JDCT_ISLOW inverse DCT (the Loeffler-Ligtenberg-
// Moschytz algorithm in 13-bit fixed point, columns first with 2 extra bits
// of precision kept between the passes). coef holds quantized coefficients
// in natural order, q the quantization table; the 8×8 output samples go to
// dst with the given row stride. Results are level-shifted by 128 and range
// limited the way libjpeg's table does it: the descaled value wraps to 10
// bits before clamping.
func idctIslow(coef, q *[64]int32, dst []uint8, stride int) {
	var ws [64]int32
	for c := range 8 {
		if coef[8+c] == 0 && coef[16+c] == 0 && coef[24+c] == 0 && coef[32+c] == 0 &&
			coef[40+c] == 0 && coef[48+c] == 0 && coef[56+c] == 0 {
			dc := coef[c] * q[c] << idctPass1Bits
			for r := range 8 {
				ws[8*r+c] = dc
			}
			continue
		}
		out := idct1D(
			coef[c]*q[c], coef[8+c]*q[8+c], coef[16+c]*q[16+c], coef[24+c]*q[24+c],
			coef[32+c]*q[32+c], coef[40+c]*q[40+c], coef[48+c]*q[48+c], coef[56+c]*q[56+c])
		const shift = idctConstBits - idctPass1Bits
		for r, v := range out {
			ws[8*r+c] = (v + 1<<(shift-1)) >> shift
		}
	}
	const shift = idctConstBits + idctPass1Bits + 3
	for r := range 8 {
		row := ws[8*r : 8*r+8 : 8*r+8]
		d := dst[r*stride : r*stride+8 : r*stride+8]
		if row[1] == 0 && row[2] == 0 && row[3] == 0 && row[4] == 0 && row[5] == 0 && row[6] == 0 && row[7] == 0 {
			v := rangeLimit((row[0] + 1<<(idctPass1Bits+2)) >> (idctPass1Bits + 3))
			for i := range d {
				d[i] = v
			}
			continue
		}
		out := idct1D(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])
		for i, v := range out {
			d[i] = rangeLimit((v + 1<<(shift-1)) >> shift)
		}
	}
}

// rangeLimit maps a descaled IDCT output to a sample like libjpeg's
// idct range-limit table indexed with x & 1023: the value wraps to a signed
// 10-bit number, is shifted by 128 and clamped to [0, 255].
func rangeLimit(x int32) uint8 {
	x = x << 22 >> 22
	return clampByte(x + 128)
}

// idct1D is one 8-point pass of the islow IDCT; the outputs are scaled by
// 2^13 (not yet descaled).
func idct1D(i0, i1, i2, i3, i4, i5, i6, i7 int32) [8]int32 {
	// Even part.
	z1 := (i2 + i6) * fix0541196100
	tmp2 := z1 - i6*fix1847759065
	tmp3 := z1 + i2*fix0765366865
	tmp0 := (i0 + i4) << idctConstBits
	tmp1 := (i0 - i4) << idctConstBits
	tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
	tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2

	// Odd part.
	t0, t1, t2, t3 := i7, i5, i3, i1
	z1 = t0 + t3
	z2 := t1 + t2
	z3 := t0 + t2
	z4 := t1 + t3
	z5 := (z3 + z4) * fix1175875602
	t0 *= fix0298631336
	t1 *= fix2053119869
	t2 *= fix3072711026
	t3 *= fix1501321110
	z1 *= -fix0899976223
	z2 *= -fix2562915447
	z3 = z3*-fix1961570560 + z5
	z4 = z4*-fix0390180644 + z5
	t0 += z1 + z3
	t1 += z2 + z4
	t2 += z2 + z3
	t3 += z1 + z4

	return [8]int32{
		tmp10 + t3, tmp11 + t2, tmp12 + t1, tmp13 + t0,
		tmp13 - t0, tmp12 - t1, tmp11 - t2, tmp10 - t3,
	}
}

// upsampler reproduces libjpeg-turbo's chroma upsampling (jdsample.c):
// triangular "fancy" filters for h2v1, h1v2 and h2v2, and plain replication
// for other factors or components two samples wide or less.
type upsampler struct {
	w, cw, hs, vs int
	fancyH        bool // horizontal triangle filter
	fancyV        bool // vertical triangle filter
	sum           []int32
	buf           []uint8
}

func newUpsampler(w, cw, hs, vs int) *upsampler {
	u := &upsampler{w: w, cw: cw, hs: hs, vs: vs, sum: make([]int32, cw), buf: make([]uint8, 2*cw)}
	switch {
	case hs == 2 && vs == 1:
		u.fancyH = cw > 2
	case hs == 2 && vs == 2:
		u.fancyH = cw > 2
		u.fancyV = u.fancyH
	case hs == 1 && vs == 2:
		u.fancyV = true
	}
	return u
}

// row writes output row y of a chroma component into dst (len w), reading
// component rows through plane.
func (u *upsampler) row(dst []uint8, plane func(int) []uint8, y int) {
	if u.hs == 1 && u.vs == 1 {
		copy(dst, plane(y))
		return
	}
	cy := y / u.vs
	switch {
	case u.fancyH && u.fancyV: // h2v2
		cur := plane(cy)
		var other []uint8
		if y%2 == 0 {
			other = plane(cy - 1)
		} else {
			other = plane(cy + 1)
		}
		s := u.sum
		for i := range s {
			s[i] = 3*int32(cur[i]) + int32(other[i])
		}
		out := u.buf
		last := u.cw - 1
		out[0] = uint8((s[0]*4 + 8) >> 4)
		out[1] = uint8((s[0]*3 + s[1] + 7) >> 4)
		for i := 1; i < last; i++ {
			out[2*i] = uint8((s[i]*3 + s[i-1] + 8) >> 4)
			out[2*i+1] = uint8((s[i]*3 + s[i+1] + 7) >> 4)
		}
		out[2*last] = uint8((s[last]*3 + s[last-1] + 8) >> 4)
		out[2*last+1] = uint8((s[last]*4 + 7) >> 4)
		copy(dst, out)
	case u.fancyH: // h2v1
		in := plane(cy)
		out := u.buf
		last := u.cw - 1
		out[0] = in[0]
		out[1] = uint8((int32(in[0])*3 + int32(in[1]) + 2) >> 2)
		for i := 1; i < last; i++ {
			v := int32(in[i]) * 3
			out[2*i] = uint8((v + int32(in[i-1]) + 1) >> 2)
			out[2*i+1] = uint8((v + int32(in[i+1]) + 2) >> 2)
		}
		out[2*last] = uint8((int32(in[last])*3 + int32(in[last-1]) + 1) >> 2)
		out[2*last+1] = in[last]
		copy(dst, out)
	case u.fancyV: // h1v2
		cur := plane(cy)
		if y%2 == 0 {
			other := plane(cy - 1)
			for i := range dst {
				dst[i] = uint8((3*int32(cur[i]) + int32(other[i]) + 1) >> 2)
			}
		} else {
			other := plane(cy + 1)
			for i := range dst {
				dst[i] = uint8((3*int32(cur[i]) + int32(other[i]) + 2) >> 2)
			}
		}
	default: // replication
		in := plane(cy)
		for x := range dst {
			dst[x] = in[x/u.hs]
		}
	}
}

// jpegOrientation returns the EXIF orientation (1-8) of a JPEG, or 1 when
// there is none or it cannot be read.
func jpegOrientation(data []byte) int {
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return 1
		}
		marker := data[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan, end of image
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 1
		}
		seg := data[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			if o := exifOrientation(seg[6:]); o != 0 {
				return o
			}
		}
		i += 2 + n
	}
	return 1
}

// pngOrientation returns the EXIF orientation stored in a PNG eXIf chunk,
// or 1.
func pngOrientation(data []byte) int {
	for p := 8; p+12 <= len(data); {
		n := int64(binary.BigEndian.Uint32(data[p:]))
		typ := string(data[p+4 : p+8])
		end := int64(p) + 12 + n
		if end > int64(len(data)) || typ == "IEND" {
			return 1
		}
		if typ == "eXIf" {
			if o := exifOrientation(trimExifHeader(data[p+8 : p+8+int(n)])); o != 0 {
				return o
			}
			return 1
		}
		p = int(end)
	}
	return 1
}

// webpOrientation returns the EXIF orientation stored in a WebP EXIF chunk,
// or 1.
func webpOrientation(data []byte) int {
	for p := 12; p+8 <= len(data); {
		n := int64(binary.LittleEndian.Uint32(data[p+4:]))
		end := int64(p) + 8 + n
		if end > int64(len(data)) {
			return 1
		}
		if string(data[p:p+4]) == "EXIF" {
			if o := exifOrientation(trimExifHeader(data[p+8 : int(end)])); o != 0 {
				return o
			}
			return 1
		}
		p = int(end + end&1) // chunks are padded to even sizes
	}
	return 1
}

// trimExifHeader drops the "Exif\0\0" prefix some writers put before the
// TIFF header.
func trimExifHeader(b []byte) []byte {
	if len(b) >= 6 && string(b[:6]) == "Exif\x00\x00" {
		return b[6:]
	}
	return b
}

// exifOrientation reads tag 0x0112 of IFD0 from a TIFF-structured EXIF
// block; it returns 0 when absent or invalid.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 0
	}
	n := int64(bo.Uint16(t[off:]))
	for e := range n {
		p := off + 2 + 12*e
		if p+12 > int64(len(t)) {
			return 0
		}
		if bo.Uint16(t[p:]) != 0x0112 {
			continue
		}
		typ, count := bo.Uint16(t[p+2:]), bo.Uint32(t[p+4:])
		var v int
		switch {
		case typ == 3 && count >= 1: // SHORT
			v = int(bo.Uint16(t[p+8:]))
		case typ == 4 && count >= 1: // LONG
			v = int(bo.Uint32(t[p+8:]))
		default:
			return 0
		}
		if v >= 1 && v <= 8 {
			return v
		}
		return 0
	}
	return 0
}

// applyOrientation transforms img so that it displays upright, as
// PIL.ImageOps.exif_transpose does for EXIF orientations 2-8.
func applyOrientation(img *RGB, orientation int) *RGB {
	if orientation < 2 || orientation > 8 {
		return img
	}
	W, H := img.W, img.H
	ow, oh := W, H
	if orientation >= 5 {
		ow, oh = H, W
	}
	out := NewRGB(ow, oh)
	for y := range oh {
		for x := range ow {
			var sx, sy int
			switch orientation {
			case 2: // mirror horizontally
				sx, sy = W-1-x, y
			case 3: // rotate 180
				sx, sy = W-1-x, H-1-y
			case 4: // mirror vertically
				sx, sy = x, H-1-y
			case 5: // transpose
				sx, sy = y, x
			case 6: // rotate 90° clockwise
				sx, sy = y, H-1-x
			case 7: // transverse
				sx, sy = W-1-y, H-1-x
			case 8: // rotate 90° counter-clockwise
				sx, sy = W-1-y, x
			}
			copy(out.Pix[(y*ow+x)*3:(y*ow+x)*3+3], img.Pix[(sy*W+sx)*3:(sy*W+sx)*3+3])
		}
	}
	return out
}
