package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
)

func TestQuantizeGroupsInt4(t *testing.T) {
	row := []float32{7, -7, 3.5, -3.5, 0.49, 1, 0, 0, 0, 0, 0, 0, 14, 2, -1, 0}
	packed := make([]byte, 8)
	codes := make([]int8, 16)
	scales := make([]uint16, 4)
	if err := QuantizeGroupsInt4(packed, codes, scales, row, 4); err != nil {
		t.Fatal(err)
	}
	want := []int8{7, -7, 4, -4, 3, 7, 0, 0, 0, 0, 0, 0, 7, 1, -1, 0} // ties away from zero
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes %v, want %v", codes, want)
		}
		nib := packed[i/2] >> (4 * (i % 2)) & 15
		if int8(nib)-8 != want[i] {
			t.Fatalf("nibble %d = %d, want %d+8", i, nib, want[i])
		}
	}
	for g, s := range []float32{1, 1.0 / 7, 0, 2} {
		if scales[g] != half.F32ToF16(s) {
			t.Errorf("scale %d = %v, want %v", g, half.F16ToF32(scales[g]), s)
		}
	}
	if packed[0] != 0x0f|0x01<<4 {
		t.Errorf("byte 0 = %#x, want low nibble 15 (7+8), high 1 (-7+8)", packed[0])
	}
}

// Grouped int8 with one group per row is exactly the per-row scheme.
func TestGroupsInt8PerRow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	row := make([]float32, 96)
	for i := range row {
		row[i] = float32(r.NormFloat64())
	}
	a, b := make([]int8, 96), make([]int8, 96)
	s, _ := QuantizeRowInt8(a, row)
	scales := make([]uint16, 1)
	if err := QuantizeGroupsInt8(b, scales, row, 96); err != nil || scales[0] != s {
		t.Fatalf("%v, scale %#x want %#x", err, scales[0], s)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("column %d: %d, per-row %d", i, b[i], a[i])
		}
	}
}

// Smaller groups give smaller errors, and the errors stay within half a
// step: max |error| / scale = 0.5 (plus f16 scale rounding).
func TestGroupedError(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	row := make([]float32, 256)
	for i := range row {
		row[i] = float32(r.NormFloat64())
	}
	row[5] = 8 // an outlier coarsens only its own group
	prev := math.Inf(1)
	for _, g := range []int{256, 128, 64, 32} {
		var st Stats
		codes := make([]int8, 256)
		scales := make([]uint16, 256/g)
		if err := QuantizeGroupsInt4(make([]byte, 128), codes, scales, row, g); err != nil {
			t.Fatal(err)
		}
		st.AddGroups(row, codes, scales, g)
		if e := st.RelRMSE(); !(e < prev && st.MaxErrStep <= 0.51) {
			t.Errorf("g%d: rel RMSE %g (previous %g), max err/step %g", g, e, prev, st.MaxErrStep)
		} else {
			prev = e
		}
	}
}

func TestGroupErrors(t *testing.T) {
	row := make([]float32, 6)
	if err := QuantizeGroupsInt8(make([]int8, 6), make([]uint16, 2), row, 4); err == nil {
		t.Error("group 4 of 6 accepted")
	}
	if err := QuantizeGroupsInt4(make([]byte, 3), make([]int8, 6), make([]uint16, 1), row, 6); err != nil {
		t.Error(err)
	}
	if err := QuantizeGroupsInt4(make([]byte, 3), make([]int8, 5), make([]uint16, 1), row[:5], 5); err == nil {
		t.Error("odd row accepted for int4")
	}
	row[3] = float32(math.NaN())
	if err := QuantizeGroupsInt4(make([]byte, 3), make([]int8, 6), make([]uint16, 3), row, 2); err == nil {
		t.Error("NaN accepted")
	}
}

func TestGroupFor(t *testing.T) {
	for _, c := range [][3]int{{576, 128, 64}, {576, 64, 64}, {576, 32, 32}, {1536, 128, 128}, {576, 0, 576}, {100, 32, 100}, {32, 64, 32}} {
		if g := GroupFor(c[0], c[1]); g != c[2] {
			t.Errorf("GroupFor(%d, %d) = %d, want %d", c[0], c[1], g, c[2])
		}
	}
}
