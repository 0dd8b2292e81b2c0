package imageproc

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Filter is a resampling filter. The values are PIL's Image.Resampling
// numbers, so the "resample" field of a preprocessor_config.json converts
// directly.
type Filter int

// Resampling filters, numbered as in PIL.
const (
	Nearest  Filter = 0
	Lanczos  Filter = 1
	Bilinear Filter = 2
	Bicubic  Filter = 3
	Box      Filter = 4
	Hamming  Filter = 5
)

// String returns PIL's name of the filter.
func (f Filter) String() string {
	switch f {
	case Nearest:
		return "NEAREST"
	case Lanczos:
		return "LANCZOS"
	case Bilinear:
		return "BILINEAR"
	case Bicubic:
		return "BICUBIC"
	case Box:
		return "BOX"
	case Hamming:
		return "HAMMING"
	}
	return fmt.Sprintf("Filter(%d)", int(f))
}

// kernel is one of Pillow's convolution filters: a weight function and its
// support (half-width) at scale 1.
type kernel struct {
	support float64
	weight  func(x float64) float64
}

// The weight functions follow Pillow's Resample.c. Products are wrapped in
// float64() so that the compiler never fuses them into FMA instructions,
// which would round differently from the C code.

func boxWeight(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func bilinearWeight(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func hammingWeight(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x = float64(x * math.Pi)
	return float64(math.Sin(x)/x) * float64(0.54+float64(0.46*math.Cos(x)))
}

func bicubicWeight(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return float64(float64(float64(float64(float64((a+2)*x)-(a+3))*x)*x) + 1)
	}
	if x < 2 {
		return float64(float64(float64(float64(float64(float64(x-5)*x)+8)*x)-4) * a)
	}
	return 0
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x = float64(x * math.Pi)
	return math.Sin(x) / x
}

func lanczosWeight(x float64) float64 {
	if x >= -3 && x < 3 {
		return float64(sinc(x) * sinc(x/3))
	}
	return 0
}

func kernelFor(f Filter) (kernel, bool) {
	switch f {
	case Lanczos:
		return kernel{3, lanczosWeight}, true
	case Bilinear:
		return kernel{1, bilinearWeight}, true
	case Bicubic:
		return kernel{2, bicubicWeight}, true
	case Box:
		return kernel{0.5, boxWeight}, true
	case Hamming:
		return kernel{1, hammingWeight}, true
	}
	return kernel{}, false
}

// precisionBits is the fixed-point precision of Pillow's 8-bit coefficients.
const precisionBits = 32 - 8 - 2

// coeffs holds the fixed-point weights of one resampling pass: output sample
// i reads inputs start[i] .. start[i]+count[i]-1 with weights
// k[i*ksize : i*ksize+count[i]].
type coeffs struct {
	ksize        int
	start, count []int
	k            []int32
}

// precompute ports Pillow's precompute_coeffs and normalize_coeffs_8bpc for
// the box [0, inSize) mapped onto outSize samples.
func precompute(inSize, outSize int, kern kernel) coeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := float64(kern.support * filterscale)
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{
		ksize: ksize,
		start: make([]int, outSize),
		count: make([]int, outSize),
		k:     make([]int32, outSize*ksize),
	}
	w := make([]float64, ksize)
	ss := 1 / filterscale
	for xx := 0; xx < outSize; xx++ {
		center := float64(float64(float64(xx)+0.5) * scale)
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			v := kern.weight(float64((float64(x+xmin) - center + 0.5) * ss))
			w[x] = v
			ww += v
		}
		kk := c.k[xx*ksize : xx*ksize+ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				kk[x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				kk[x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		c.start[xx] = xmin
		c.count[xx] = xmax
	}
	return c
}

// clip8 converts a fixed-point accumulator to a byte as Pillow does.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// Resize resamples src to w×h pixels exactly as Pillow's Image.resize does for
// an RGB image (box = whole image, no reducing_gap). A resize to the same
// size returns a copy. Pillow skips the horizontal or vertical pass when that
// dimension does not change; so does Resize.
func Resize(src *RGB, w, h int, filter Filter) (*RGB, error) {
	if err := src.validate(); err != nil {
		return nil, err
	}
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("imageproc: resize target %dx%d is not positive", w, h)
	}
	if int64(w)*int64(h) > 1<<31 {
		return nil, fmt.Errorf("imageproc: resize target %dx%d is too large", w, h)
	}
	if filter == Nearest {
		return resizeNearest(src, w, h), nil
	}
	kern, ok := kernelFor(filter)
	if !ok {
		return nil, fmt.Errorf("imageproc: unsupported resample filter %v", filter)
	}
	if w == src.W && h == src.H {
		return src.clone(), nil
	}
	needH := w != src.W
	needV := h != src.H
	vert := precompute(src.H, h, kern)
	img := src
	if needH {
		horiz := precompute(src.W, w, kern)
		// Only the rows the vertical pass reads are computed.
		first, last := 0, src.H
		if needV {
			first = vert.start[0]
			last = vert.start[h-1] + vert.count[h-1]
			for i := range vert.start {
				vert.start[i] -= first
			}
		}
		img = resampleHorizontal(src, first, last, w, horiz)
	}
	if needV {
		img = resampleVertical(img, h, vert)
	}
	return img, nil
}

// parallelRows splits [0, n) into contiguous chunks processed concurrently,
// one per available CPU, when the work is large enough to pay for it.
func parallelRows(n, workPerRow int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 || n*workPerRow < 1<<18 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range workers {
		lo, hi := n*i/workers, n*(i+1)/workers
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// resampleHorizontal resamples rows first..last-1 of src to width w.
func resampleHorizontal(src *RGB, first, last, w int, c coeffs) *RGB {
	out := NewRGB(w, last-first)
	parallelRows(last-first, w*c.ksize, func(lo, hi int) {
		for y := first + lo; y < first+hi; y++ {
			resampleRow(out.Pix[(y-first)*w*3:(y-first+1)*w*3], src.Pix[y*src.W*3:(y+1)*src.W*3], w, c)
		}
	})
	return out
}

// resampleRow resamples one RGB row in to the w pixels of o.
func resampleRow(o, in []uint8, w int, c coeffs) {
	const half = int32(1) << (precisionBits - 1)
	for xx := 0; xx < w; xx++ {
		k := c.k[xx*c.ksize : xx*c.ksize+c.count[xx]]
		p := in[c.start[xx]*3 : (c.start[xx]+len(k))*3]
		s0, s1, s2 := half, half, half
		for i, kv := range k {
			q := p[i*3 : i*3+3 : i*3+3]
			s0 += int32(q[0]) * kv
			s1 += int32(q[1]) * kv
			s2 += int32(q[2]) * kv
		}
		o[xx*3] = clip8(s0)
		o[xx*3+1] = clip8(s1)
		o[xx*3+2] = clip8(s2)
	}
}

// resampleVertical resamples src to height h. Integer sums are exact, so
// accumulating whole rows (several taps at a time) gives Pillow's result.
func resampleVertical(src *RGB, h int, c coeffs) *RGB {
	rowBytes := src.W * 3
	out := NewRGB(src.W, h)
	const half = int32(1) << (precisionBits - 1)
	parallelRows(h, rowBytes*c.ksize, func(lo, hi int) {
		acc := make([]int32, rowBytes)
		for yy := lo; yy < hi; yy++ {
			for i := range acc {
				acc[i] = half
			}
			k := c.k[yy*c.ksize : yy*c.ksize+c.count[yy]]
			row := func(i int) []uint8 {
				r := src.Pix[(c.start[yy]+i)*rowBytes : (c.start[yy]+i+1)*rowBytes]
				return r[:len(acc)]
			}
			i := 0
			for ; i+2 <= len(k); i += 2 {
				k0, k1 := k[i], k[i+1]
				r0, r1 := row(i), row(i+1)
				for x := range acc {
					acc[x] += int32(r0[x])*k0 + int32(r1[x])*k1
				}
			}
			if i < len(k) {
				k0, r0 := k[i], row(i)
				for x := range acc {
					acc[x] += int32(r0[x]) * k0
				}
			}
			o := out.Pix[yy*rowBytes : (yy+1)*rowBytes]
			o = o[:len(acc)]
			for x, v := range acc {
				o[x] = clip8(v)
			}
		}
	})
	return out
}

// resizeNearest ports Pillow's NEAREST resize (an affine transform that
// samples the source pixel under each output pixel centre).
func resizeNearest(src *RGB, w, h int) *RGB {
	out := NewRGB(w, h)
	sx := float64(src.W) / float64(w)
	sy := float64(src.H) / float64(h)
	xin := make([]int, w)
	xo := float64(sx * 0.5)
	for x := range xin {
		xin[x] = min(int(xo), src.W-1)
		xo += sx
	}
	yo := float64(sy * 0.5)
	for y := 0; y < h; y++ {
		yi := min(int(yo), src.H-1)
		in := src.Pix[yi*src.W*3:]
		o := out.Pix[y*w*3:]
		for x, xi := range xin {
			copy(o[x*3:x*3+3], in[xi*3:xi*3+3])
		}
		yo += sy
	}
	return out
}
