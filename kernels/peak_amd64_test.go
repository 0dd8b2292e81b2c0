//go:build amd64 && !purego

package kernels

import (
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
	"golang.org/x/sys/cpu"
)

// TestDPBF16PSEncoding runs the hand-encoded VDPBF16PS on this CPU against
// its definition: acc[i] += a[2i]*b[2i] + a[2i+1]*b[2i+1]. The operands are
// small integers, so every product and sum is exact in float32.
func TestDPBF16PSEncoding(t *testing.T) {
	if !cpu.X86.HasAVX512BF16 || !cpu.X86.HasAVX512F {
		t.Skip("the CPU lacks AVX512_BF16")
	}
	var a, b [32]uint16
	var acc, want [16]float32
	for i := range 32 {
		av, bv := float32(i%7-3), float32((i*5)%11-5)
		a[i], b[i] = half.F32ToBF16(av), half.F32ToBF16(bv)
		want[i/2] += av * bv
	}
	for i := range 16 {
		acc[i] = float32(100 * i)
		want[i] += float32(100 * i)
	}
	dpbf16ps(&acc[0], &a[0], &b[0])
	if acc != want {
		t.Fatalf("VDPBF16PS gave %v, want %v", acc, want)
	}
}

// TestMeasurePeak checks that every peak loop the CPU has runs and gives a
// plausible rate (between 1 GOP/s and 10 TOP/s per thread).
func TestMeasurePeak(t *testing.T) {
	kinds := PeakKinds()
	if cpu.X86.HasAVX512F && len(kinds) == 0 {
		t.Fatal("no peak loop on an AVX-512 CPU")
	}
	for _, k := range kinds {
		r, err := MeasurePeak(k, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r < 1e9 || r > 1e13 {
			t.Errorf("%s: %.3g op/s", k, r)
		}
	}
	if _, err := MeasurePeak("nope", 1, 0); err == nil {
		t.Error("an unknown kind was measured")
	}
}
