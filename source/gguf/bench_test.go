package gguf

import (
	"testing"
)

// BenchmarkDequantize reports dequantization speed per type, in output
// (float32) bytes per second.
func BenchmarkDequantize(b *testing.B) {
	for _, t := range []Type{F16, BF16, Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K} {
		b.Run(t.String(), func(b *testing.B) {
			n := 1 << 16
			src := make([]byte, n/t.BlockSize()*t.BlockBytes())
			for i := range src {
				src[i] = byte(i * 7)
			}
			dst := make([]float32, n)
			b.SetBytes(int64(4 * n))
			for b.Loop() {
				if err := Dequantize(dst, t, src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
