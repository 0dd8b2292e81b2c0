//go:build !amd64 || purego

package kernels

// peakLoops returns the peak loops this CPU can run: none without the
// amd64 assembly.
func peakLoops() map[PeakKind]peakLoop { return map[PeakKind]peakLoop{} }
