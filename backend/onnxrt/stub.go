//go:build !onnxruntime

package onnxrt

// Available reports whether the package was built with ONNX Runtime support.
const Available = false

// VisionEncoder runs a SmolVLM vision_encoder*.onnx graph. This build has no
// ONNX Runtime: OpenVisionEncoder returns ErrNotAvailable.
type VisionEncoder struct{}

// OpenVisionEncoder returns ErrNotAvailable: rebuild with -tags onnxruntime.
func OpenVisionEncoder(path string, o Options) (*VisionEncoder, error) {
	return nil, ErrNotAvailable
}

// Run returns ErrNotAvailable.
func (v *VisionEncoder) Run(pixels []float32, mask []bool, n, h, w int) (features []float32, rows int, err error) {
	return nil, 0, ErrNotAvailable
}

// Close does nothing.
func (v *VisionEncoder) Close() error { return nil }

// Embedder runs a SmolVLM embed_tokens*.onnx graph. This build has no ONNX
// Runtime: OpenEmbedder returns ErrNotAvailable.
type Embedder struct{}

// OpenEmbedder returns ErrNotAvailable: rebuild with -tags onnxruntime.
func OpenEmbedder(path string, o Options) (*Embedder, error) {
	return nil, ErrNotAvailable
}

// Hidden returns 0.
func (e *Embedder) Hidden() int { return 0 }

// Embed returns ErrNotAvailable.
func (e *Embedder) Embed(ids []int64) ([]float32, error) { return nil, ErrNotAvailable }

// Close does nothing.
func (e *Embedder) Close() error { return nil }

// Decoder runs a SmolVLM decoder_model_merged*.onnx graph. This build has no
// ONNX Runtime: OpenDecoder returns ErrNotAvailable.
type Decoder struct{}

// OpenDecoder returns ErrNotAvailable: rebuild with -tags onnxruntime.
func OpenDecoder(path string, o Options) (*Decoder, error) {
	return nil, ErrNotAvailable
}

// Config returns the zero DecoderConfig.
func (d *Decoder) Config() DecoderConfig { return DecoderConfig{} }

// Len returns 0.
func (d *Decoder) Len() int { return 0 }

// Reset does nothing.
func (d *Decoder) Reset() {}

// Step returns ErrNotAvailable.
func (d *Decoder) Step(embeds []float32, n int) (lastLogits []float32, err error) {
	return nil, ErrNotAvailable
}

// Close does nothing.
func (d *Decoder) Close() error { return nil }

// DescribeIO returns ErrNotAvailable: rebuild with -tags onnxruntime.
func DescribeIO(path string, o Options) (string, error) { return "", ErrNotAvailable }

// RuntimeVersion returns ErrNotAvailable: rebuild with -tags onnxruntime.
func RuntimeVersion(o Options) (string, error) { return "", ErrNotAvailable }
