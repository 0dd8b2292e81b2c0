package kernels

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// PeakKind names a multiply-accumulate instruction whose peak rate
// MeasurePeak measures.
type PeakKind string

// Peak kinds (amd64 with AVX-512).
const (
	PeakF32FMA  PeakKind = "f32-fma"  // VFMADD231PS zmm: 32 flop per instruction
	PeakBF16Dot PeakKind = "bf16-dot" // VDPBF16PS zmm (AVX512_BF16): 64 flop
	PeakInt8Dot PeakKind = "int8-dot" // VPDPBUSD zmm (AVX512_VNNI): 128 int8 ops
)

// peakLoop is an assembly loop of independent multiply-accumulates.
type peakLoop struct {
	fn         func(n int)
	opsPerIter int
}

// ErrNoPeakKernel is returned by MeasurePeak for an instruction the CPU (or
// the build) lacks.
var ErrNoPeakKernel = errors.New("kernels: no peak loop for this instruction on this CPU or build")

// PeakKinds returns the kinds MeasurePeak can measure here.
func PeakKinds() []PeakKind {
	var out []PeakKind
	loops := peakLoops()
	for _, k := range []PeakKind{PeakF32FMA, PeakBF16Dot, PeakInt8Dot} {
		if _, ok := loops[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// MeasurePeak runs kind's register-only multiply-accumulate loop on threads
// goroutines at once for about d and returns the aggregate rate in
// operations per second (a multiply and an add count two). It is the
// machine's ceiling for kernels built on that instruction, measured under
// the current load: report a kernel's speed as a fraction of it, measured
// in the same run.
func MeasurePeak(kind PeakKind, threads int, d time.Duration) (float64, error) {
	loop, ok := peakLoops()[kind]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrNoPeakKernel, kind)
	}
	threads = max(threads, 1)
	const iters = 1 << 16 // ~1 ms per call
	loop.fn(iters)        // warm up (frequency, page-in)
	var wg sync.WaitGroup
	counts := make([]int, threads)
	start := time.Now()
	deadline := start.Add(d)
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for { // at least one call
				loop.fn(iters)
				counts[t]++
				if !time.Now().Before(deadline) {
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	total := 0
	for _, c := range counts {
		total += c
	}
	return float64(total) * iters * float64(loop.opsPerIter) / elapsed, nil
}
