package kernels

import (
	"fmt"
	"sync"
	"testing"
	"time"
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

// roofline caches the measured streaming bandwidth (bytes/s) of 4 KiB-page
// memory per thread count, for the fractions the GEMV benchmarks report.
var roofline struct {
	sync.Mutex
	bw map[int]float64
}

// rooflineBW returns the best of five streaming reads of a 4 KiB-page 256
// MiB buffer on t threads, in bytes/s (measured once per t and process).
func rooflineBW(tb testing.TB, t int) float64 {
	roofline.Lock()
	defer roofline.Unlock()
	if bw, ok := roofline.bw[t]; ok {
		return bw
	}
	p, unmap, err := mapBuffer(rooflineBytes, false)
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
		roofline.bw = map[int]float64{}
	}
	roofline.bw[t] = best
	return best
}

// reportRoofline reports the bandwidth of b's loop, which read bytes per
// iteration on t threads, as a fraction of rooflineBW(t) (metric
// "roofline"; 1 is a plain sequential read of 4 KiB-page memory). bw is the
// roofline measured before the loop.
func reportRoofline(b *testing.B, bytes int64, bw float64) {
	got := float64(bytes) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(got/bw, "roofline")
}
