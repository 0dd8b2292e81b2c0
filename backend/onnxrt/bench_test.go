//go:build onnxruntime

package onnxrt

import (
	"testing"

	"github.com/cellm-ai/cellm-go/internal/npy"
)

// BenchmarkVisionTile encodes one 64×64 tile per iteration.
func BenchmarkVisionTile(b *testing.B) {
	for _, model := range []string{"vision_encoder.onnx", "vision_encoder_fp16.onnx"} {
		b.Run(model, func(b *testing.B) {
			v, err := OpenVisionEncoder(onnxFile(b, model), testOptions(b))
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			px, err := npy.ReadRawF32(refFile(b, "pixel_values_single.f32"))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, _, err := v.Run(px, nil, 1, 64, 64); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tiles/s")
		})
	}
}

// BenchmarkDecoderPrefill runs the 47-token mm_split prompt (embeddings
// ready) from an empty cache per iteration.
func BenchmarkDecoderPrefill(b *testing.B) {
	p := openPipeline(b)
	r := loadReference(b)
	seq := r.Multimodal[len(r.Multimodal)-1]
	emb := p.promptEmbeds(b, r, seq)
	n := len(seq.InputIDs)
	for b.Loop() {
		p.dec.Reset()
		if _, err := p.dec.Step(emb, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "tok/s")
}

// BenchmarkDecoderDecode measures one greedy token per iteration (embed the
// token, one decoder step with the cache), with the context kept between 21
// and 256 positions.
func BenchmarkDecoderDecode(b *testing.B) {
	p := openPipeline(b)
	r := loadReference(b)
	seq := r.Multimodal[0]
	emb := p.promptEmbeds(b, r, seq)
	var logits []float32
	prefill := func() {
		p.dec.Reset()
		var err error
		if logits, err = p.dec.Step(emb, len(seq.InputIDs)); err != nil {
			b.Fatal(err)
		}
	}
	prefill()
	for b.Loop() {
		if p.dec.Len() >= 256 {
			b.StopTimer()
			prefill()
			b.StartTimer()
		}
		e, err := p.embed.Embed([]int64{argmax(logits)})
		if err != nil {
			b.Fatal(err)
		}
		if logits, err = p.dec.Step(e, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}
