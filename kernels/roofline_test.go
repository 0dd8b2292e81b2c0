package kernels

import (
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// rooflineBytes is the buffer the roofline streams through: larger than
// every cache, like the weights of BenchmarkMatVecDRAM (>= 128 MB) and
// BenchmarkDecodeStep (135-270 MB).
const rooflineBytes = 256 << 20

// streamParallel reads p once, split into t contiguous parts read by t
// goroutines (the caller's included).
func streamParallel(p []byte, t int) uint64 {
	if t <= 1 {
		return streamRead(p)
	}
	part := (len(p)/t + 4095) &^ 4095
	var wg sync.WaitGroup
	acc := make([]uint64, t)
	for i := 1; i < t; i++ {
		lo, hi := min(i*part, len(p)), min((i+1)*part, len(p))
		wg.Go(func() { acc[i] = streamRead(p[lo:hi]) })
	}
	acc[0] = streamRead(p[:min(part, len(p))])
	wg.Wait()
	var r uint64
	for _, a := range acc {
		r |= a
	}
	return r
}

// streamSink keeps the streamed ORs observable.
var streamSink uint64

// BenchmarkRoofline streams a 256 MiB buffer with a plain sequential read
// (streamRead) on 1 and 2 threads, from 4 KiB pages and from transparent
// huge pages (MADV_HUGEPAGE on an anonymous mapping): the bandwidth the
// weight-streaming kernels are measured against (their "roofline" metric).
func BenchmarkRoofline(b *testing.B) {
	for _, huge := range []bool{false, true} {
		name := "pages=4k"
		if huge {
			name = "pages=huge"
		}
		for _, t := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", name, t), func(b *testing.B) {
				p, unmap, err := mapBuffer(rooflineBytes, huge)
				if err != nil {
					b.Skip(err)
				}
				defer unmap()
				b.SetBytes(rooflineBytes)
				for b.Loop() {
					streamSink |= streamParallel(p, t)
				}
			})
		}
	}
}

// rooflineKey names one roofline measurement.
type rooflineKey struct {
	threads int
	huge    bool
}

// roofline caches the measured streaming bandwidth (bytes/s) per thread
// count and page size, for the fractions the GEMV benchmarks report.
var roofline struct {
	sync.Mutex
	bw map[rooflineKey]float64
}

// rooflineBW returns the best of five streaming reads of a 256 MiB buffer
// of 4 KiB pages (or huge pages) on t threads, in bytes/s, measured once
// per process.
func rooflineBW(tb testing.TB, t int, huge bool) float64 {
	roofline.Lock()
	defer roofline.Unlock()
	key := rooflineKey{t, huge}
	if bw, ok := roofline.bw[key]; ok {
		return bw
	}
	p, unmap, err := mapBuffer(rooflineBytes, huge)
	if err != nil {
		tb.Fatal(err)
	}
	defer unmap()
	best := 0.0
	for range 5 {
		start := time.Now()
		streamSink |= streamParallel(p, t)
		best = max(best, rooflineBytes/time.Since(start).Seconds())
	}
	if roofline.bw == nil {
		roofline.bw = map[rooflineKey]float64{}
	}
	roofline.bw[key] = best
	return best
}

// reportRoofline reports the bandwidth of b's loop, which read bytes per
// iteration, as a fraction of bw, the rooflineBW measured before the loop
// for the same threads and pages (metric "roofline"; 1 is a plain
// sequential read).
func reportRoofline(b *testing.B, bytes int64, bw float64) {
	got := float64(bytes) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(got/bw, "roofline")
}

// hugeCopy returns copies of ms whose weights live in one anonymous mapping
// backed by transparent huge pages, and a function that unmaps it.
func hugeCopy(tb testing.TB, ms []*Matrix) ([]*Matrix, func()) {
	total := 0
	for _, m := range ms {
		total += (len(m.F32)*4 + len(m.Half)*2 + len(m.Q8) + 63) &^ 63
	}
	buf, unmap, err := mapBuffer((total+4095)&^4095, true)
	if err != nil {
		tb.Skip(err)
	}
	out := make([]*Matrix, len(ms))
	off := 0
	for i, m := range ms {
		c := *m
		n := len(m.F32)*4 + len(m.Half)*2 + len(m.Q8)
		p := unsafe.Pointer(&buf[off])
		switch {
		case m.F32 != nil:
			c.F32 = unsafe.Slice((*float32)(p), len(m.F32))
			copy(c.F32, m.F32)
		case m.Half != nil:
			c.Half = unsafe.Slice((*uint16)(p), len(m.Half))
			copy(c.Half, m.Half)
		case m.Q8 != nil:
			c.Q8 = unsafe.Slice((*int8)(p), len(m.Q8))
			copy(c.Q8, m.Q8)
		}
		off += (n + 63) &^ 63
		out[i] = &c
	}
	return out, unmap
}
