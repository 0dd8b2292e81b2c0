package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
)

// TestToBF16 checks the SIMD rounding (VCVTNE2PS2BF16 where the CPU has
// it) against half.F32ToBF16 bit for bit on every backend: normal values
// of all magnitudes, ties (exact halfway values round to even), ±0, ±Inf
// and lengths with a tail past the 32-value blocks.
func TestToBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	src := make([]float32, 1000)
	for i := range src {
		src[i] = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(60)-30)))
	}
	// Halfway cases: low 16 bits exactly 0x8000, odd and even upper halves.
	src[3] = math.Float32frombits(0x3f818000)
	src[4] = math.Float32frombits(0x3f808000)
	src[5] = float32(math.Inf(1))
	src[6] = float32(math.Inf(-1))
	src[7] = float32(math.Copysign(0, -1))
	src[8] = 0
	src[9] = math.MaxFloat32
	for _, be := range backends {
		for _, n := range []int{0, 1, 31, 32, 33, 64, 999, 1000} {
			got := make([]uint16, n)
			toBF16(be, got, src[:n])
			for i, g := range got {
				if w := half.F32ToBF16(src[i]); g != w {
					t.Fatalf("%s n=%d: [%d] %g -> %#04x, want %#04x", be.name, n, i, src[i], g, w)
				}
			}
		}
	}
}

func TestScatterInterleavePairs(t *testing.T) {
	row := []uint16{1, 2, 3, 4, 5, 6}
	dst := make([]uint32, 9)
	scatterPairs(dst, 4, row)
	if want := []uint32{0x20001, 0, 0, 0, 0x40003, 0, 0, 0, 0x60005}; !slices.Equal(dst, want) {
		t.Errorf("scatterPairs: %#x, want %#x", dst, want)
	}
	il := make([]uint32, 3)
	interleavePairs(il, []uint16{1, 2, 3}, []uint16{7, 8, 9})
	if want := []uint32{0x70001, 0x80002, 0x90003}; !slices.Equal(il, want) {
		t.Errorf("interleavePairs: %#x, want %#x", il, want)
	}
}

// TestF16ToBF16 checks the SIMD f16 -> bf16 rounding against the scalar
// one bit for bit, over every f16 pattern but NaNs, on every backend.
func TestF16ToBF16(t *testing.T) {
	var src []uint16
	for h := range 1 << 16 {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN
		}
		src = append(src, uint16(h))
	}
	src = src[:len(src)-5] // a tail past the 32-value blocks
	for _, be := range backends {
		got := make([]uint16, len(src))
		f16ToBF16(be, got, src)
		for i, g := range got {
			if w := half.F32ToBF16(half.F16ToF32(src[i])); g != w {
				t.Fatalf("%s: f16 %#04x -> %#04x, want %#04x", be.name, src[i], g, w)
			}
		}
	}
}
