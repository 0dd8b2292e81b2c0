package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// matVecShapes are the SmolLM2-135M decode shapes (rows x cols).
var matVecShapes = [][2]int{{576, 576}, {1536, 576}, {576, 1536}, {49152, 576}}

func weightBytes(t DType, n int) int64 {
	switch t {
	case F32:
		return int64(4 * n)
	case F16, BF16:
		return int64(2 * n)
	}
	return int64(n)
}

// BenchmarkMatVec reports weight bandwidth (MB/s) at decode shapes.
func BenchmarkMatVec(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		for _, sh := range matVecShapes {
			m, _ := randMatrix(r, dt, sh[0], sh[1])
			x := randVec(r, sh[1], 1)
			y := make([]float32, sh[0])
			b.Run(fmt.Sprintf("%s/%dx%d", dt, sh[0], sh[1]), func(b *testing.B) {
				b.SetBytes(weightBytes(dt, sh[0]*sh[1]))
				for b.Loop() {
					MatVec(y, m, x)
				}
			})
		}
	}
}

// BenchmarkMatMul reports GFLOP/s for a prefill-sized product: 512 tokens
// through a 1536x576 weight.
func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	const n, rows, cols = 512, 1536, 576
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		m, _ := randMatrix(r, dt, rows, cols)
		x := randVec(r, n*cols, 1)
		y := make([]float32, n*rows)
		b.Run(fmt.Sprintf("%s/%dx%dx%d", dt, n, cols, rows), func(b *testing.B) {
			for b.Loop() {
				MatMul(y, m, x, n)
			}
			b.ReportMetric(2*n*rows*cols*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	const nHeads, nKV, hd, stride = 9, 3, 64, 2048
	q := randVec(r, nHeads*hd, 1)
	k := randVec(r, nKV*stride*hd, 1)
	v := randVec(r, nKV*stride*hd, 1)
	out := make([]float32, len(q))
	for _, n := range []int{128, 1024} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				Attention(out, q, k, v, nHeads, nKV, hd, n, stride, 0.125)
			}
		})
	}
}

func BenchmarkActivations(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	x := randVec(r, 1536, 2)
	u := randVec(r, 1536, 1)
	d := make([]float32, 1536)
	b.Run("SiLUMul", func(b *testing.B) {
		for b.Loop() {
			SiLUMul(d, x, u)
		}
	})
	b.Run("GELUTanh", func(b *testing.B) {
		for b.Loop() {
			GELUTanh(d, x)
		}
	})
	b.Run("Softmax", func(b *testing.B) {
		for b.Loop() {
			copy(d, x)
			Softmax(d)
		}
	})
	b.Run("RMSNorm", func(b *testing.B) {
		for b.Loop() {
			RMSNorm(d, x, u, 1e-5)
		}
	})
}

// BenchmarkMatVecThreads shows the pool's overhead and gain on a small
// decode matrix.
func BenchmarkMatVecThreads(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	m, _ := randMatrix(r, F16, 576, 576)
	x := randVec(r, 576, 1)
	y := make([]float32, 576)
	for _, t := range []int{1, 2} {
		b.Run(fmt.Sprint(t), func(b *testing.B) {
			SetThreads(t)
			defer SetThreads(0)
			b.SetBytes(weightBytes(F16, 576*576))
			for b.Loop() {
				MatVec(y, m, x)
			}
		})
	}
}

// BenchmarkMatVecDRAM cycles through enough copies of a decode-shaped
// matrix (>= 128 MB) that every call streams its weights from DRAM, as a
// decode step does; it reports weight bandwidth.
func BenchmarkMatVecDRAM(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	const rows, cols = 1536, 576
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		base, _ := randMatrix(r, dt, rows, cols)
		per := weightBytes(dt, rows*cols)
		ms := make([]*Matrix, int((128<<20)/per)+1)
		for i := range ms {
			c := *base
			c.F32 = append([]float32(nil), base.F32...)
			c.Half = append([]uint16(nil), base.Half...)
			c.Q8 = append([]int8(nil), base.Q8...)
			ms[i] = &c
		}
		x := randVec(r, cols, 1)
		y := make([]float32, rows)
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(per)
			i := 0
			for b.Loop() {
				MatVec(y, ms[i], x)
				i = (i + 1) % len(ms)
			}
		})
	}
}
