//go:build onnxruntime

package onnxrt

import (
	"fmt"
	"path/filepath"

	ort "github.com/yalue/onnxruntime_go"
)

// VisionEncoder runs a SmolVLM vision_encoder*.onnx graph: pixel values of
// the images of one prompt to image feature rows (one per <image> token).
// It is safe for concurrent use.
type VisionEncoder struct {
	s        *session
	pixels   int // input indexes; mask is -1 when the graph has no mask
	mask     int
	features int // output index
}

// OpenVisionEncoder loads the vision encoder at path. Its inputs must be
// pixel_values (float32 or float16, [batch, images, 3, H, W] or
// [images, 3, H, W]) and optionally pixel_attention_mask (bool); its first
// output (image_features) holds the features.
func OpenVisionEncoder(path string, o Options) (*VisionEncoder, error) {
	s, err := openSession(path, o)
	if err != nil {
		return nil, err
	}
	v, err := newVisionEncoder(s)
	if err != nil {
		s.close()
		return nil, err
	}
	return v, nil
}

func newVisionEncoder(s *session) (*VisionEncoder, error) {
	v := &VisionEncoder{s: s, pixels: s.input("pixel_values"), mask: s.input("pixel_attention_mask"), features: s.output("image_features")}
	if v.pixels < 0 {
		return nil, fmt.Errorf("onnxrt: %s: no input named pixel_values (inputs: %v)", filepath.Base(s.path), names(s.in))
	}
	if v.features < 0 {
		v.features = 0
	}
	if n := 1 + btoi(v.mask >= 0); len(s.in) != n {
		return nil, fmt.Errorf("onnxrt: %s: unexpected inputs %v (want pixel_values and pixel_attention_mask)", filepath.Base(s.path), names(s.in))
	}
	px := s.in[v.pixels]
	if !isFloat(px.DataType) {
		return nil, s.errIO("input", px, "want float32 or float16")
	}
	if r := len(px.Dimensions); r != 5 && r != 4 {
		return nil, s.errIO("input", px, "want rank 5 [batch, images, 3, H, W] or 4 [images, 3, H, W]")
	}
	if v.mask >= 0 {
		m := s.in[v.mask]
		if m.DataType != ort.TensorElementDataTypeBool || len(m.Dimensions) != len(px.Dimensions)-1 {
			return nil, s.errIO("input", m, "want bool with one dimension less than pixel_values")
		}
	}
	f := s.out[v.features]
	if !isFloat(f.DataType) || len(f.Dimensions) < 2 || len(f.Dimensions) > 3 {
		return nil, s.errIO("output", f, "want float32 or float16 [images, tokens, hidden] or [rows, hidden]")
	}
	return v, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Close releases the session.
func (v *VisionEncoder) Close() error { return v.s.close() }

// Run encodes n images of h×w pixels: pixels is [n, 3, h, w] in C order
// (already normalized), mask is [n, h, w] with true on real pixels (nil:
// all true). It returns the image features, rows × hidden values in C order,
// and the number of rows: tokens per image for each image that is not all
// zero (padding images are dropped).
func (v *VisionEncoder) Run(pixels []float32, mask []bool, n, h, w int) (features []float32, rows int, err error) {
	s := v.s
	if n <= 0 || h <= 0 || w <= 0 || n > 1<<16 || h > 1<<14 || w > 1<<14 {
		return nil, 0, fmt.Errorf("onnxrt: %s: bad image count %d or size %dx%d", filepath.Base(s.path), n, h, w)
	}
	if len(pixels) != n*3*h*w {
		return nil, 0, fmt.Errorf("onnxrt: %s: %d pixel values for %d images of 3x%dx%d (want %d)", filepath.Base(s.path), len(pixels), n, h, w, n*3*h*w)
	}
	if mask != nil && len(mask) != n*h*w {
		return nil, 0, fmt.Errorf("onnxrt: %s: %d mask values for %d images of %dx%d (want %d)", filepath.Base(s.path), len(mask), n, h, w, n*h*w)
	}
	px := s.in[v.pixels]
	shape := ort.NewShape(1, int64(n), 3, int64(h), int64(w))
	if len(px.Dimensions) == 4 {
		shape = shape[1:]
	}
	for i, d := range px.Dimensions {
		if d > 0 && d != shape[i] {
			return nil, 0, s.errIO("input", px, "got shape %s", dimsString(shape))
		}
	}
	in := make([]ort.Value, len(s.in))
	defer destroyAll(in)
	if in[v.pixels], err = floatTensor(px.DataType, shape, pixels); err != nil {
		return nil, 0, s.errIO("input", px, "%v", err)
	}
	if v.mask >= 0 {
		if mask == nil {
			mask = make([]bool, n*h*w)
			for i := range mask {
				mask[i] = true
			}
		}
		mshape := append(shape[:len(shape)-3:len(shape)-3], int64(h), int64(w))
		if in[v.mask], err = ort.NewTensor(mshape, mask); err != nil {
			return nil, 0, s.errIO("input", s.in[v.mask], "%v", err)
		}
	}
	out := make([]ort.Value, len(s.out))
	defer destroyAll(out)
	f := s.out[v.features]
	if f.DataType == ort.TensorElementDataTypeFloat16 {
		// The binding cannot return float16 outputs it allocates, so
		// allocate this one: needs the static token and hidden sizes.
		d := f.Dimensions
		if len(d) != 3 || d[1] <= 0 || d[2] <= 0 {
			return nil, 0, s.errIO("output", f, "float16 features need static token and hidden dimensions")
		}
		var buf floatBuffer
		if out[v.features], err = buf.tensor(f.DataType, ort.NewShape(int64(realImages(pixels, n)), d[1], d[2])); err != nil {
			return nil, 0, s.errIO("output", f, "%v", err)
		}
	}
	if err := s.run(in, out); err != nil {
		return nil, 0, err
	}
	got := out[v.features].GetShape()
	if len(got) < 2 {
		return nil, 0, s.errIO("output", f, "got shape %s", dimsString(got))
	}
	hidden := int(got[len(got)-1])
	vals, err := floats(out[v.features], 0, -1)
	if err != nil {
		return nil, 0, s.errIO("output", f, "%v", err)
	}
	if hidden <= 0 {
		return nil, 0, nil
	}
	// vals is Go memory owned by this call (the binding copies the outputs it
	// allocates), so it is returned as is.
	return vals, len(vals) / hidden, nil
}

// realImages counts the images (of n in pixels) that are not all zero.
func realImages(pixels []float32, n int) int {
	per := len(pixels) / n
	real := 0
	for i := range n {
		for _, p := range pixels[i*per : (i+1)*per] {
			if p != 0 {
				real++
				break
			}
		}
	}
	return real
}
