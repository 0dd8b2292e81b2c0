package kernels

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"
)

// qgemmDecodeShapes are SmolLM2-135M's projections (rows x cols): q/o, k/v,
// gate/up, down and lm_head.
var qgemmDecodeShapes = [][2]int{{576, 576}, {192, 576}, {1536, 576}, {576, 1536}, {49152, 576}}

// BenchmarkQgemmDecode measures MatMul of int8 per-row and int4 g32
// weights at SmolLM2-135M's shapes with n = 2..32 input rows (a batched
// decode step), on the pool's threads, with the weights either hot (one
// matrix, in cache where it fits) or from DRAM (copies in huge pages cycled
// through more than 128 MB, as the engine reads them). It reports the
// int8 arithmetic rate (2*n*rows*cols per call) as a percentage of the
// int8-dot peak (MeasurePeak before and after the loop) and the bytes of
// weights and scales read per call as a fraction of the streaming roofline
// of the same pages and threads ("roofline"; 1 = read once at full speed).
func BenchmarkQgemmDecode(b *testing.B) {
	r := rand.New(rand.NewPCG(12, 34))
	for _, c := range []struct {
		name  string
		dt    DType
		group int
	}{{"q8", Q8, 0}, {"q4-g32", Q4, 32}} {
		for _, sh := range qgemmDecodeShapes {
			rows, cols := sh[0], sh[1]
			base, _ := randGrouped(r, c.dt, rows, cols, c.group)
			x := randVec(r, 32*cols, 1)
			y := make([]float32, 32*rows)
			for _, mem := range []string{"hot", "dram"} {
				ms := []*Matrix{base}
				unmap := func() {}
				if mem == "dram" {
					var err error
					if ms, unmap, err = qgemmDRAMCopies(base, 128<<20); err != nil {
						b.Logf("dram: %v", err)
						continue
					}
				}
				for _, n := range []int{2, 4, 8, 16, 32} {
					b.Run(fmt.Sprintf("%s/%dx%d/%s/n=%d", c.name, rows, cols, mem, n), func(b *testing.B) {
						benchQgemm(b, ms, x[:n*cols], y[:n*rows], n, mem == "dram")
					})
				}
				unmap()
			}
		}
	}
}

// benchQgemm runs MatMul over ms in turn (see BenchmarkQgemmDecode).
func benchQgemm(b *testing.B, ms []*Matrix, x, y []float32, n int, dram bool) {
	w := ms[0]
	bw := rooflineBW(b, Threads(), dram)
	peak, err := MeasurePeak(PeakInt8Dot, Threads(), 50*time.Millisecond)
	if err != nil && !errors.Is(err, ErrNoPeakKernel) {
		b.Fatal(err)
	}
	bytes := int64(qgemmWeightBytes(w))
	b.SetBytes(bytes)
	i := 0
	for b.Loop() {
		MatMul(y, ms[i], x, n)
		i = (i + 1) % len(ms)
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	if peak > 0 {
		p2, err := MeasurePeak(PeakInt8Dot, Threads(), 50*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		ops := 2 * float64(n) * float64(w.Rows*w.Cols)
		b.ReportMetric(100*ops/sec/((peak+p2)/2), "%int8-dot")
	}
	b.ReportMetric(float64(bytes)/sec/bw, "roofline")
}

// qgemmWeightBytes returns the bytes of w's weights and scales.
func qgemmWeightBytes(w *Matrix) int {
	return len(w.Q8) + len(w.Q4) + 4*len(w.Scale)
}

// qgemmDRAMCopies returns copies of w (weights and scales) filling at least
// total bytes of one anonymous mapping backed by huge pages, and a function
// that unmaps it.
func qgemmDRAMCopies(w *Matrix, total int) ([]*Matrix, func(), error) {
	per := (qgemmWeightBytes(w) + 63) &^ 63
	count := (total + per - 1) / per
	buf, unmap, err := mapBuffer((count*per+4095)&^4095, true)
	if err != nil {
		return nil, nil, err
	}
	ms := make([]*Matrix, count)
	for i := range ms {
		c := *w
		p := buf[i*per:]
		switch {
		case w.Q8 != nil:
			c.Q8 = unsafe.Slice((*int8)(unsafe.Pointer(&p[0])), len(w.Q8))
			copy(c.Q8, w.Q8)
			p = p[len(w.Q8):]
		case w.Q4 != nil:
			c.Q4 = p[:len(w.Q4):len(w.Q4)]
			copy(c.Q4, w.Q4)
			p = p[len(w.Q4):]
		}
		c.Scale = unsafe.Slice((*float32)(unsafe.Pointer(&p[0])), len(w.Scale))
		copy(c.Scale, w.Scale)
		ms[i] = &c
	}
	return ms, unmap, nil
}

// BenchmarkQgemm8x16 compares MatMul with n = 16 with the 8x16 kernel on
// and off (the 4x16 kernel then), alternated in the same process, weights
// from DRAM: int8 per row and int4 g32 at SmolLM2-135M's gate/up and
// lm_head shapes.
func BenchmarkQgemm8x16(b *testing.B) {
	if active.qgemm16 == nil {
		b.Skip("no 8x16 quantized GEMM kernel on this backend")
	}
	r := rand.New(rand.NewPCG(12, 34))
	k16 := active.qgemm16
	defer func() { active.qgemm16 = k16 }()
	for _, c := range []struct {
		dt    DType
		group int
	}{{Q8, 0}, {Q4, 32}} {
		for _, sh := range [][2]int{{1536, 576}, {49152, 576}} {
			rows, cols := sh[0], sh[1]
			base, _ := randGrouped(r, c.dt, rows, cols, c.group)
			x := randVec(r, qgTile*cols, 1)
			y := make([]float32, qgTile*rows)
			ms, unmap, err := qgemmDRAMCopies(base, 128<<20)
			if err != nil {
				b.Logf("dram: %v", err)
				continue
			}
			for rep := range 3 {
				for _, on := range []bool{false, true} {
					b.Run(fmt.Sprintf("%s/%dx%d/8x16=%v/rep%d", c.dt, rows, cols, on, rep), func(b *testing.B) {
						active.qgemm16 = nil
						if on {
							active.qgemm16 = k16
						}
						benchQgemm(b, ms, x, y, qgTile, true)
					})
				}
			}
			unmap()
		}
	}
}

// BenchmarkQgemmPrefill measures MatMul of int8 per-row and int4 g32
// weights at SmolLM2-135M's projection shapes with n = 32, 100 and 512
// input rows (a serving step's prompt chunk, a short prompt, pp512),
// weights from DRAM as the engine reads them, reporting the int8 rate as a
// percentage of the int8-dot peak (see benchQgemm).
func BenchmarkQgemmPrefill(b *testing.B) {
	r := rand.New(rand.NewPCG(12, 34))
	for _, c := range []struct {
		name  string
		dt    DType
		group int
	}{{"q8", Q8, 0}, {"q4-g32", Q4, 32}} {
		for _, sh := range qgemmDecodeShapes[:4] {
			rows, cols := sh[0], sh[1]
			base, _ := randGrouped(r, c.dt, rows, cols, c.group)
			x := randVec(r, 512*cols, 1)
			y := make([]float32, 512*rows)
			ms, unmap, err := qgemmDRAMCopies(base, 128<<20)
			if err != nil {
				b.Logf("dram: %v", err)
				continue
			}
			for _, n := range []int{32, 100, 512} {
				b.Run(fmt.Sprintf("%s/%dx%d/n=%d", c.name, rows, cols, n), func(b *testing.B) {
					benchQgemm(b, ms, x[:n*cols], y[:n*rows], n, true)
				})
			}
			unmap()
		}
	}
}

// BenchmarkMatMulTo: a batched step's LM head (SmolLM2-135M, int8, 49152
// rows) into each sequence's own logits buffer, by MatMulTo and by MatMul
// into one array then a copy per row (what it replaces).
func BenchmarkMatMulTo(b *testing.B) {
	r := rand.New(rand.NewPCG(12, 35))
	const rows, cols = 49152, 576
	w, _ := randGrouped(r, Q8, rows, cols, 0)
	for _, n := range []int{4, 8, 16} {
		x := randVec(r, n*cols, 1)
		ys := make([][]float32, n)
		for i := range ys {
			ys[i] = make([]float32, rows)
		}
		y := make([]float32, n*rows)
		b.Run(fmt.Sprintf("n=%d/to", n), func(b *testing.B) {
			for b.Loop() {
				MatMulTo(ys, w, x)
			}
		})
		b.Run(fmt.Sprintf("n=%d/copy", n), func(b *testing.B) {
			for b.Loop() {
				MatMul(y, w, x, n)
				for i, yi := range ys {
					copy(yi, y[i*rows:])
				}
			}
		})
	}
}
