package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchPeakFraction runs fn (ops operations) in b's loop and, after each
// call, every peak loop of the CPU on the pool's threads for as long as the
// call took, so the kernel and the peaks see the same load. It reports
// GFLOP/s and the percentage of each peak (time-weighted mean of the rates
// measured between the calls).
func benchPeakFraction(b *testing.B, ops float64, fn func()) {
	b.Helper()
	kinds := PeakKinds()
	peakOps := make([]float64, len(kinds))
	var busy time.Duration
	for b.Loop() {
		start := time.Now()
		fn()
		el := time.Since(start)
		b.StopTimer()
		busy += el
		for i, k := range kinds {
			r, err := MeasurePeak(k, Threads(), el)
			if err != nil {
				b.Fatal(err)
			}
			peakOps[i] += r * el.Seconds()
		}
		b.StartTimer()
	}
	rate := ops * float64(b.N) / busy.Seconds()
	b.ReportMetric(rate/1e9, "GFLOP/s")
	for i, k := range kinds {
		b.ReportMetric(100*rate/(peakOps[i]/busy.Seconds()), "%"+string(k))
	}
}

// BenchmarkPeak measures the machine's multiply-accumulate peaks (f32 FMA,
// AVX512_BF16 VDPBF16PS, AVX512_VNNI VPDPBUSD) on the pool's threads.
func BenchmarkPeak(b *testing.B) {
	for _, k := range PeakKinds() {
		b.Run(string(k), func(b *testing.B) {
			var r float64
			for b.Loop() {
				var err error
				if r, err = MeasurePeak(k, Threads(), 100*time.Millisecond); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(r/1e9, "GOP/s")
			b.ReportMetric(r/1e9/float64(Threads()), "GOP/s/thread")
		})
	}
}

// BenchmarkVisionPeakFraction runs the GEMMs and the attention of one
// SigLIP tile of SmolVLM-256M (1024 patches, hidden 768, MLP 3072, 12
// heads of 64) and reports each as GFLOP/s and as a percentage of the
// f32-FMA, bf16-dot and int8-dot peaks measured between its calls.
func BenchmarkVisionPeakFraction(b *testing.B) {
	const n, d, ffn, heads, hd = 1024, 768, 3072, 12, 64
	r := rand.New(rand.NewPCG(11, 11))
	x := randVec(r, n*ffn, 1)
	y := make([]float32, n*ffn)
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		for _, s := range []struct {
			name       string
			rows, cols int
		}{{"qkvo-768x768", d, d}, {"fc1-3072x768", ffn, d}, {"fc2-768x3072", d, ffn}} {
			w := fastMatrix(dt, s.rows, s.cols, 5)
			b.Run(fmt.Sprintf("%s/%s", dt, s.name), func(b *testing.B) {
				benchPeakFraction(b, 2*n*float64(s.rows*s.cols), func() { MatMul(y[:n*s.rows], w, x[:n*s.cols], n) })
			})
		}
	}
	for _, sh := range []struct {
		name       string
		rows, cols int
	}{{"qkvo-768x768", d, d}, {"fc1-3072x768", ffn, d}, {"fc2-768x3072", d, ffn}} {
		w := fastMatrix(BF16, sh.rows, sh.cols, 5)
		b.Run("bf16-activations/"+sh.name, func(b *testing.B) {
			benchPeakFraction(b, 2*n*float64(sh.rows*sh.cols), func() { MatMulBF16(y[:n*sh.rows], w, x[:n*sh.cols], n) })
		})
	}
	q := randVec(r, n*heads*hd, 1)
	k := randVec(r, heads*n*hd, 1)
	v := randVec(r, heads*n*hd, 1)
	out := make([]float32, len(q))
	b.Run("attention-1024x12x64", func(b *testing.B) {
		benchPeakFraction(b, 4.0*n*n*heads*hd, func() { AttentionBatch(out, q, k, v, n, heads, heads, hd, n, n, 0.125) })
	})
}
