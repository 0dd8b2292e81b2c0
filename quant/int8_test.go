package quant

import (
	"math"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
)

func TestQuantizeRowInt8(t *testing.T) {
	cases := []struct {
		row  []float32
		want []int8
	}{
		{[]float32{0, 0, 0}, []int8{0, 0, 0}},
		{[]float32{127, -127, 63.5, -63.5, 0.5}, []int8{127, -127, 64, -64, 1}}, // ties away from zero
		{[]float32{1, -1, 0.25}, []int8{127, -127, 32}},
	}
	for _, c := range cases {
		q := make([]int8, len(c.row))
		s, err := QuantizeRowInt8(q, c.row)
		if err != nil {
			t.Fatal(err)
		}
		for i := range q {
			if q[i] != c.want[i] {
				t.Errorf("%v: q = %v, want %v", c.row, q, c.want)
				break
			}
		}
		var maxAbs float32
		for _, w := range c.row {
			maxAbs = max(maxAbs, float32(math.Abs(float64(w))))
		}
		if want := half.F32ToF16(maxAbs / 127); !math.IsNaN(float64(maxAbs)) && maxAbs > 0 && s != want {
			t.Errorf("%v: scale %#04x, want %#04x", c.row, s, want)
		}
	}
}

func TestNonFinite(t *testing.T) {
	q := make([]int8, 2)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		if _, err := QuantizeRowInt8(q, []float32{1, bad}); err == nil || !strings.Contains(err.Error(), "column 1") {
			t.Errorf("%v: error %v", bad, err)
		}
	}
}

func TestStats(t *testing.T) {
	row := []float32{1, -0.5, 0.25, 0.1}
	q := make([]int8, 4)
	var s Stats
	sc, _ := QuantizeRowInt8(q, row)
	s.Add(row, q, sc)
	if e := s.RelRMSE(); s.N != 4 || !(e > 0 && e <= 0.01 && s.MaxErrStep <= 0.6) {
		t.Errorf("stats %+v, rel RMSE %g", s, s.RelRMSE())
	}
	var all Stats
	all.Merge(s)
	all.Merge(s)
	if all.N != 8 || all.MaxAbsErr != s.MaxAbsErr {
		t.Errorf("merge: %+v", all)
	}
}
