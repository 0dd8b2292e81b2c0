//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func peakFMA512(n int)

//go:noescape
func peakDPBF16(n int)

//go:noescape
func peakVNNI512(n int)

//go:noescape
func dpbf16ps(acc *float32, a, b *uint16)

// peakLoops returns the peak loops this CPU can run.
func peakLoops() map[PeakKind]peakLoop {
	x := cpu.X86
	loops := map[PeakKind]peakLoop{}
	if !x.HasAVX512F || !x.HasOSXSAVE {
		return loops
	}
	// 14 instructions per iteration: 16 lanes x 2 flops, 16 x 2 pairs x 2, 16 x 4 pairs x 2.
	loops[PeakF32FMA] = peakLoop{fn: peakFMA512, opsPerIter: 14 * 32}
	if x.HasAVX512BF16 {
		loops[PeakBF16Dot] = peakLoop{fn: peakDPBF16, opsPerIter: 14 * 64}
	}
	if x.HasAVX512VNNI {
		loops[PeakInt8Dot] = peakLoop{fn: peakVNNI512, opsPerIter: 14 * 128}
	}
	return loops
}
