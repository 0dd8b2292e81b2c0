//go:build !onnxruntime

package onnxrt

import (
	"errors"
	"testing"
)

func TestNotAvailable(t *testing.T) {
	const want = `onnx backend not available: rebuild with -tags onnxruntime (see README "ONNX Runtime")`
	if Available {
		t.Fatal("Available is true without the onnxruntime tag")
	}
	o := Options{LibraryPath: "/nonexistent/libonnxruntime.so"}
	for name, f := range map[string]func() error{
		"OpenVisionEncoder": func() error { _, err := OpenVisionEncoder("vision_encoder.onnx", o); return err },
		"OpenEmbedder":      func() error { _, err := OpenEmbedder("embed_tokens.onnx", o); return err },
		"OpenDecoder":       func() error { _, err := OpenDecoder("decoder_model_merged.onnx", o); return err },
		"DescribeIO":        func() error { _, err := DescribeIO("x.onnx", o); return err },
		"RuntimeVersion":    func() error { _, err := RuntimeVersion(o); return err },
		"Run":               func() error { _, _, err := (&VisionEncoder{}).Run(nil, nil, 1, 1, 1); return err },
		"Embed":             func() error { _, err := (&Embedder{}).Embed([]int64{1}); return err },
		"Step":              func() error { _, err := (&Decoder{}).Step([]float32{1}, 1); return err },
	} {
		err := f()
		if !errors.Is(err, ErrNotAvailable) || err.Error() != want {
			t.Errorf("%s: error %v, want %q", name, err, want)
		}
	}
}
