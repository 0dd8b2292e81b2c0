package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
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
		if dt == F16 || dt == BF16 {
			b.Run(fmt.Sprintf("%s-bf16act/%dx%dx%d", dt, n, cols, rows), func(b *testing.B) {
				for b.Loop() {
					MatMulBF16(y, m, x, n)
				}
				b.ReportMetric(2*n*rows*cols*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
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

// BenchmarkMatVecDRAM cycles through enough copies of each SmolLM2-135M
// decode-shaped matrix (>= 128 MB) that every call streams its weights from
// DRAM, as a decode step does, on 1 and 2 threads; it reports weight
// bandwidth and its fraction of the streaming roofline (BenchmarkRoofline).
func BenchmarkMatVecDRAM(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	shapes := [][2]int{{576, 576}, {192, 576}, {1536, 576}, {576, 1536}, {49152, 576}}
	for _, dt := range []DType{F32, F16, BF16, Q8} {
		for _, sh := range shapes {
			rows, cols := sh[0], sh[1]
			var ms []*Matrix
			per := weightBytes(dt, rows*cols)
			setup := func() {
				if ms != nil {
					return
				}
				base, _ := randMatrix(r, dt, rows, cols)
				ms = make([]*Matrix, int((128<<20)/per)+1)
				for i := range ms {
					c := *base
					c.F32 = append([]float32(nil), base.F32...)
					c.Half = append([]uint16(nil), base.Half...)
					c.Q8 = append([]int8(nil), base.Q8...)
					ms[i] = &c
				}
			}
			x := randVec(r, cols, 1)
			y := make([]float32, rows)
			for _, th := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%dx%d/threads=%d", dt, rows, cols, th), func(b *testing.B) {
					setup()
					SetThreads(th)
					defer SetThreads(0)
					bw := rooflineBW(b, th, false)
					b.SetBytes(per)
					i := 0
					for b.Loop() {
						MatVec(y, ms[i], x)
						i = (i + 1) % len(ms)
					}
					reportRoofline(b, per, bw)
				})
			}
			ms = nil
		}
	}
}

// BenchmarkMatMulVision reports GFLOP/s at the SigLIP MLP shape: 1024
// patches through a 3072x768 weight.
func BenchmarkMatMulVision(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	const n, rows, cols = 1024, 3072, 768
	m, _ := randMatrix(r, F16, rows, cols)
	x := randVec(r, n*cols, 1)
	y := make([]float32, n*rows)
	for b.Loop() {
		MatMul(y, m, x, n)
	}
	b.ReportMetric(2*n*rows*cols*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// fastMatrix returns a rows x cols matrix of type t filled with a cheap
// pseudo-random pattern (values in about [-1, 1]).
func fastMatrix(t DType, rows, cols int, seed uint32) *Matrix {
	m := &Matrix{Type: t, Rows: rows, Cols: cols}
	n := rows * cols
	h := seed*2654435761 + 1
	next := func() uint32 { h ^= h << 13; h ^= h >> 17; h ^= h << 5; return h }
	switch t {
	case F32:
		m.F32 = make([]float32, n)
		for i := range m.F32 {
			m.F32[i] = float32(int32(next())) / (1 << 31)
		}
	case F16, BF16:
		m.Half = make([]uint16, n)
		for i := range m.Half {
			v := float32(int32(next())) / (1 << 31)
			if t == F16 {
				m.Half[i] = half.F32ToF16(v)
			} else {
				m.Half[i] = half.F32ToBF16(v)
			}
		}
	case Q8:
		m.Q8 = make([]int8, n)
		m.Scale = make([]float32, rows)
		for i := range m.Q8 {
			m.Q8[i] = int8(next()%255 - 127)
		}
		for i := range m.Scale {
			m.Scale[i] = 1.0 / 127
		}
	}
	return m
}

// BenchmarkDecodeStep runs the matrix-vector products of one SmolLM2-135M
// decode step (30 layers of q, k, v, o, gate, up, down, then the 49152-row
// tied output head), all weights streaming from DRAM, from 4 KiB pages (the
// Go heap, with THP in madvise mode) and from huge pages (as cellm.Open loads them on Linux). It reports
// tokens/s, the weight bandwidth and its fraction of the streaming roofline
// of the same pages and threads, to compare with llama.cpp's tg128 (83-126 tok/s
// at 2 threads on this machine).
func BenchmarkDecodeStep(b *testing.B) {
	const d, kvd, ffn, vocab, layers = 576, 192, 1536, 49152, 30
	shapes := [][2]int{{d, d}, {kvd, d}, {kvd, d}, {d, d}, {ffn, d}, {ffn, d}, {d, ffn}}
	for _, dt := range []DType{F16, BF16, Q8} {
		var ms []*Matrix
		var bytes int64
		for l := 0; l < layers; l++ {
			for i, s := range shapes {
				ms = append(ms, fastMatrix(dt, s[0], s[1], uint32(l*10+i)))
				bytes += weightBytes(dt, s[0]*s[1])
			}
		}
		ms = append(ms, fastMatrix(dt, vocab, d, 999))
		bytes += weightBytes(dt, vocab*d)
		x := make([]float32, ffn)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		y := make([]float32, vocab)
		for _, huge := range []bool{false, true} {
			ws, pages, unmap := ms, "4k", func() {}
			if huge {
				ws, unmap = hugeCopy(b, ms)
				pages = "huge"
			}
			for _, th := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/pages=%s/threads=%d", dt, pages, th), func(b *testing.B) {
					SetThreads(th)
					defer SetThreads(0)
					bw := rooflineBW(b, th, huge)
					b.SetBytes(bytes)
					for b.Loop() {
						for _, m := range ws {
							MatVec(y[:m.Rows], m, x[:m.Cols])
						}
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
					reportRoofline(b, bytes, bw)
				})
			}
			unmap()
		}
	}
}

func BenchmarkQuantizeQ8(b *testing.B) {
	x := randVec(rand.New(rand.NewPCG(8, 8)), 1536, 1)
	var q q8Vec
	b.SetBytes(4 * 1536)
	for b.Loop() {
		active.quantizeQ8(&q, x)
	}
}

// BenchmarkAttentionVision compares SigLIP-shaped self-attention (1024
// tokens, 12 heads of 64) done as one AttentionBatch call against a loop of
// single-query Attention calls.
func BenchmarkAttentionVision(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	const n, heads, hd = 1024, 12, 64
	q := randVec(r, n*heads*hd, 1)
	k := randVec(r, heads*n*hd, 1)
	v := randVec(r, heads*n*hd, 1)
	out := make([]float32, len(q))
	flops := 4.0 * n * n * heads * hd
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			AttentionBatch(out, q, k, v, n, heads, heads, hd, n, n, 0.125)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("loop", func(b *testing.B) {
		d := heads * hd
		for b.Loop() {
			for i := 0; i < n; i++ {
				Attention(out[i*d:(i+1)*d], q[i*d:(i+1)*d], k, v, heads, heads, hd, n, n, 0.125)
			}
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// BenchmarkMatVecGrouped reports weight bandwidth (MB/s, scales included)
// of grouped int8 and int4 MatVec at the decode shapes, per backend.
func BenchmarkMatVecGrouped(b *testing.B) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, be := range backends {
		for _, dt := range []DType{Q8, Q4} {
			for _, g := range []int{32, 64} {
				for _, sh := range matVecShapes {
					m, _ := randGrouped(r, dt, sh[0], sh[1], g)
					x := randVec(r, sh[1], 1)
					y := make([]float32, sh[0])
					bytes := int64(sh[0] * sh[1] / 2)
					if dt == Q8 {
						bytes *= 2
					}
					b.Run(fmt.Sprintf("%s/%s-g%d/%dx%d", be.name, dt, m.group(), sh[0], sh[1]), func(b *testing.B) {
						old := active
						active = be
						defer func() { active = old }()
						b.SetBytes(bytes + int64(2*len(m.Scale)))
						for b.Loop() {
							MatVec(y, m, x)
						}
					})
				}
			}
		}
	}
}

// BenchmarkMatMulGrouped reports GFLOP/s of the blocked GEMM (weights
// widened to f32 per panel) for grouped int8 and int4 at the prefill shape.
func BenchmarkMatMulGrouped(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	const n, rows, cols = 512, 1536, 576
	for _, dt := range []DType{Q8, Q4} {
		m, _ := randGrouped(r, dt, rows, cols, 32)
		x := randVec(r, n*cols, 1)
		y := make([]float32, n*rows)
		b.Run(fmt.Sprintf("%s-g32/%dx%dx%d", dt, n, cols, rows), func(b *testing.B) {
			for b.Loop() {
				MatMul(y, m, x, n)
			}
			b.ReportMetric(2*n*rows*cols*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMatMulFewRows measures MatMul with a few input rows (a batched
// decode step) on a weight matrix larger than the caches, reporting the
// aggregate rows per second and the weight bytes read per call as a
// fraction of the streaming roofline (1 = weights read once at full speed);
// a memory-bound kernel serves n rows in about the time of one.
func BenchmarkMatMulFewRows(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, t := range []DType{Q8, F16} {
		w, _ := randMatrix(r, t, 8192, 2048)
		for _, n := range []int{1, 4, 8, 16, 32} {
			x := make([]float32, n*w.Cols)
			for i := range x {
				x[i] = r.Float32()*2 - 1
			}
			y := make([]float32, n*w.Rows)
			b.Run(fmt.Sprintf("%s/n=%d", t, n), func(b *testing.B) {
				bw := rooflineBW(b, Threads(), false)
				for b.Loop() {
					MatMul(y, w, x, n)
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
				reportRoofline(b, weightBytes(t, w.Rows*w.Cols), bw)
			})
		}
	}
}

// q4Shapes are the SmolLM2-135M decode shapes of an int4 model: attention
// (q/o, k/v), MLP (gate/up, down) and lm_head.
var q4Shapes = [][2]int{{576, 576}, {192, 576}, {1536, 576}, {576, 1536}, {49152, 576}}

// BenchmarkMatVecQ4Kernel times each backend's int4 g32 kernel alone on one
// thread (activations quantized once, outside the loop), matrix in cache
// where it fits: ns/op is the time per matrix.
func BenchmarkMatVecQ4Kernel(b *testing.B) {
	r := rand.New(rand.NewPCG(8, 9))
	for _, be := range backends {
		for _, sh := range q4Shapes {
			m, _ := randGrouped(r, Q4, sh[0], sh[1], 32)
			x := randVec(r, sh[1], 1)
			y := make([]float32, sh[0])
			b.Run(fmt.Sprintf("%s/%dx%d", be.name, sh[0], sh[1]), func(b *testing.B) {
				q := quantizeActivations(be, x, Q4)
				defer q8Pool.Put(q)
				b.SetBytes(int64(len(m.Q4) + 4*len(m.Scale)))
				for b.Loop() {
					be.matVecQ4(y, m.Q4, m.Scale, 32, q)
				}
			})
		}
	}
}

// BenchmarkMatVecQ4DRAM is BenchmarkMatVecDRAM for int4 g32: 1536x576
// matrices cycled through more than 128 MB, so each is read from memory,
// on 1 and 2 threads, as a fraction of the streaming roofline (weights and
// their float32 scales).
func BenchmarkMatVecQ4DRAM(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 7))
	const rows, cols = 1536, 576
	base, _ := randGrouped(r, Q4, rows, cols, 32)
	per := int64(len(base.Q4) + 4*len(base.Scale))
	ms := make([]*Matrix, int((128<<20)/per)+1)
	for i := range ms {
		c := *base
		c.Q4 = append([]byte(nil), base.Q4...)
		c.Scale = append([]float32(nil), base.Scale...)
		ms[i] = &c
	}
	x := randVec(r, cols, 1)
	y := make([]float32, rows)
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			SetThreads(th)
			defer SetThreads(0)
			bw := rooflineBW(b, th, false)
			b.SetBytes(per)
			i := 0
			for b.Loop() {
				MatVec(y, ms[i], x)
				i = (i + 1) % len(ms)
			}
			reportRoofline(b, per, bw)
		})
	}
}
