package half

import (
	"math"
	"testing"
)

func TestF16RoundTripAllPatterns(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		if math.IsNaN(float64(f)) {
			if g := F32ToF16(f); g&0x7c00 != 0x7c00 || g&0x3ff == 0 {
				t.Fatalf("NaN %#04x -> %#04x", h, g)
			}
			continue
		}
		if g := F32ToF16(f); g != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, g)
		}
	}
}

func TestF16Rounding(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65520, 0x7c00}, // rounds to Inf
		{1e10, 0x7c00},
		{5.960464477539063e-08, 0x0001}, // smallest subnormal
		{2.98e-08, 0x0000},              // below half of it
		{1 + 1.0/2048, 0x3c00},          // tie, to even (down)
		{1 + 3.0/2048, 0x3c02},          // tie, to even (up)
		{float32(math.Inf(-1)), 0xfc00},
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
}

func TestBF16(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		f := BF16ToF32(uint16(i))
		if math.IsNaN(float64(f)) {
			continue
		}
		if g := F32ToBF16(f); g != uint16(i) {
			t.Fatalf("%#04x -> %g -> %#04x", i, f, g)
		}
	}
	// Ties to even.
	if g := F32ToBF16(math.Float32frombits(0x3f808000)); g != 0x3f80 {
		t.Errorf("tie down: %#04x", g)
	}
	if g := F32ToBF16(math.Float32frombits(0x3f818000)); g != 0x3f82 {
		t.Errorf("tie up: %#04x", g)
	}
	if g := F32ToBF16(float32(math.NaN())); g&0x7f80 != 0x7f80 || g&0x7f == 0 {
		t.Errorf("NaN: %#04x", g)
	}
}
