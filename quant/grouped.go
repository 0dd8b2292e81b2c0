package quant

import (
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/internal/half"
)

// Grouped quantization gives each run of group consecutive columns of a row
// its own scale; group == len(row) is per-row quantization.
//
// Int8: per group, scale = max|group| / 127 (float32), q = round(w / scale)
// with ties away from zero, clamped to [-127, 127]; with group == len(row)
// this is exactly QuantizeRowInt8.
//
// Int4: per group, scale = max|group| / 7 (float32), q = round(w / scale)
// with ties away from zero, clamped to [-7, 7]. Two values share a byte:
// column 2i in the low nibble, 2i+1 in the high one, each stored as q+8
// (so readers accept the full code range -8..7). The run-time weight is
// q * f32(f16(scale)) in both cases.

// QuantizeGroupsInt8 quantizes row into q (len(row)) with one f16 scale per
// group of group columns into scales (len(row)/group). group must divide
// len(row).
func QuantizeGroupsInt8(q []int8, scales []uint16, row []float32, group int) error {
	if err := checkGroups(len(row), group, len(scales)); err != nil {
		return err
	}
	for g := range scales {
		lo, hi := g*group, (g+1)*group
		s, err := QuantizeRowInt8(q[lo:hi], row[lo:hi])
		if err != nil {
			return fmt.Errorf("group %d: %w", g, err)
		}
		scales[g] = s
	}
	return nil
}

// QuantizeGroupsInt4 quantizes row (an even number of columns) into packed
// (len(row)/2 bytes, see the package comment for the layout) with one f16
// scale per group of group columns into scales (len(row)/group). It also
// stores the codes -7..7 in codes (len(row)) for error statistics.
func QuantizeGroupsInt4(packed []byte, codes []int8, scales []uint16, row []float32, group int) error {
	if len(row)%2 != 0 {
		return fmt.Errorf("int4 needs an even row length, not %d", len(row))
	}
	if err := checkGroups(len(row), group, len(scales)); err != nil {
		return err
	}
	for g := range scales {
		lo, hi := g*group, (g+1)*group
		var maxAbs float32
		for i, w := range row[lo:hi] {
			a := float32(math.Abs(float64(w)))
			if a > math.MaxFloat32 || a != a {
				return fmt.Errorf("non-finite weight %v at column %d", w, lo+i)
			}
			maxAbs = max(maxAbs, a)
		}
		scale := maxAbs / 7
		for i, w := range row[lo:hi] {
			var v float64
			if scale != 0 {
				v = math.Round(float64(w / scale))
			}
			codes[lo+i] = int8(max(-7, min(7, v)))
		}
		scales[g] = half.F32ToF16(scale)
	}
	for i := range packed[:len(row)/2] {
		packed[i] = byte(codes[2*i]+8) | byte(codes[2*i+1]+8)<<4
	}
	return nil
}

func checkGroups(cols, group, nScales int) error {
	if group <= 0 || cols%group != 0 {
		return fmt.Errorf("group size %d does not divide the row length %d", group, cols)
	}
	if nScales != cols/group {
		return fmt.Errorf("%d scales for %d groups", nScales, cols/group)
	}
	return nil
}

// AddGroups records the error of one row quantized with one scale per group
// of group columns (codes as from QuantizeGroupsInt8 or QuantizeGroupsInt4).
func (s *Stats) AddGroups(row []float32, codes []int8, scales []uint16, group int) {
	for g, sc := range scales {
		s.Add(row[g*group:(g+1)*group], codes[g*group:(g+1)*group], sc)
	}
}

// GroupFor returns the group size to use for rows of cols columns when
// group is asked for: group itself if it divides cols; otherwise the largest
// multiple of 32 below group that divides cols (576 columns at 128 use 64);
// otherwise cols (one scale per row). group <= 0 means one scale per row.
func GroupFor(cols, group int) int {
	if group <= 0 || group >= cols {
		return cols
	}
	if cols%group == 0 {
		return group
	}
	for g := group / 2; g >= 32; g /= 2 {
		if cols%g == 0 {
			return g
		}
	}
	return cols
}
