package numcheck

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestCompareFailures(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name      string
		got, want []float32
		tol       Tol
		err       error
		index     int
	}{
		{"NaN in got", []float32{1, nan, 3}, []float32{1, 2, 3}, Tol{Abs: 1e9}, ErrNonFinite, 1},
		{"NaN in want", []float32{1, 2, 3}, []float32{1, 2, nan}, Tol{Abs: 1e9}, ErrNonFinite, 2},
		{"+Inf", []float32{inf, 2}, []float32{1, 2}, Tol{Abs: 1e9}, ErrNonFinite, 0},
		{"-Inf both", []float32{1, -inf}, []float32{1, -inf}, Tol{Abs: 1e9}, ErrNonFinite, 1},
		{"shorter", []float32{}, []float32{1}, Tol{Abs: 1e9}, ErrLength, -1},
		{"longer", []float32{1, 2}, []float32{1}, Tol{Abs: 1e9}, ErrLength, -1},
		{"scale length", []float32{1}, []float32{1}, Tol{Rel: 1, Scale: []float64{1, 2}}, ErrLength, -1},
		{"abs", []float32{1, 2.5, 3.01}, []float32{1, 2, 3}, Tol{Abs: 0.1}, ErrTolerance, 1},
		{"rel", []float32{100.5, 2.1}, []float32{100, 2}, Tol{Rel: 0.01}, ErrTolerance, 1},
		{"scale", []float32{1.5, 2.1}, []float32{1, 2}, Tol{Rel: 0.1, Scale: []float64{10, 0.1}}, ErrTolerance, 1},
		{"exact", []float32{1, 2}, []float32{1, 2.0000002}, Tol{}, ErrTolerance, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Compare(tc.got, tc.want, tc.tol)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if r.Index != tc.index {
				t.Errorf("worst index %d, want %d (%v)", r.Index, tc.index, err)
			}
			if tc.index >= 0 && !strings.Contains(err.Error(), fmt.Sprintf("[%d]", tc.index)) {
				t.Errorf("error %q does not name element %d", err, tc.index)
			}
		})
	}
}

func TestComparePasses(t *testing.T) {
	r, err := Compare([]float32{1, 2.05, 3}, []float64{1, 2, 3.01}, Tol{Abs: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Index != 1 || math.Abs(r.MaxAbs-0.05) > 1e-6 || r.N != 3 {
		t.Errorf("report %+v, want worst [1] with max diff 0.05", r)
	}
	if _, err := Compare([]float64{}, []float64{}, Tol{}); err != nil {
		t.Errorf("empty: %v", err)
	}
	if _, err := Compare([]float64{-1, 0}, []float64{-1, 0}, Tol{}); err != nil {
		t.Errorf("exact: %v", err)
	}
	r, err = Measure([]float32{1, 5}, []float32{1, 2})
	if err != nil || r.MaxAbs != 3 || r.Index != 1 {
		t.Errorf("Measure: %+v, %v", r, err)
	}
	if _, err := Measure([]float32{float32(math.NaN())}, []float32{0}); !errors.Is(err, ErrNonFinite) {
		t.Errorf("Measure of NaN: %v", err)
	}
}

func TestDiff(t *testing.T) {
	for _, tc := range [][2]float64{{math.NaN(), 1}, {1, math.NaN()}, {math.Inf(1), 1}, {1, math.Inf(-1)}} {
		if d := Diff(tc[0], tc[1]); !math.IsInf(d, 1) {
			t.Errorf("Diff(%g, %g) = %g, want +Inf", tc[0], tc[1], d)
		}
	}
	if d := Diff(1, 3.5); d != 2.5 {
		t.Errorf("Diff(1, 3.5) = %g", d)
	}
	// A running maximum of Diffs cannot lose a NaN.
	if m := max(0, Diff(math.NaN(), 0), 1); !(m > 1) {
		t.Errorf("running max %g hides the NaN", m)
	}
}

// recorder is a testing.TB that records failures instead of reporting them.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestHelpersFail(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		run  func(tb testing.TB)
		want string
	}{
		{"Close NaN", func(tb testing.TB) { Close(tb, "logits", []float64{nan}, []float64{0}, Tol{Abs: 1}) }, "logits: non-finite value at [0]"},
		{"Close length", func(tb testing.TB) { Close(tb, "logits", []float64{}, []float64{0}, Tol{Abs: 1}) }, "length mismatch"},
		{"Close tolerance", func(tb testing.TB) { Close(tb, "x", []float64{0, 2}, []float64{0, 0}, Tol{Abs: 1}) }, "worst [1]"},
		{"MaxAbs Inf", func(tb testing.TB) {
			if d := MaxAbs(tb, "h", []float32{float32(math.Inf(1))}, []float32{0}); !math.IsInf(d, 1) {
				tb.Errorf("MaxAbs returned %g", d)
			}
		}, "h: non-finite"},
		{"MaxAbs length", func(tb testing.TB) { MaxAbs(tb, "h", []float32{1}, []float32{}) }, "length mismatch"},
		{"Finite", func(tb testing.TB) { Finite(tb, "y", []float32{0, 1, float32(nan)}) }, "y: non-finite value at [2]"},
		{"Cosine NaN", func(tb testing.TB) {
			if c := Cosine(tb, "f", []float32{1, float32(nan)}, []float32{1, 1}); c != -1 {
				tb.Errorf("Cosine returned %g", c)
			}
		}, "f: cosine: non-finite"},
		{"Cosine length", func(tb testing.TB) { Cosine(tb, "f", []float32{1}, []float64{1, 2}) }, "f: cosine: length mismatch"},
		{"Cosine zero", func(tb testing.TB) { Cosine(tb, "f", []float32{0, 0}, []float64{1, 2}) }, "all-zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			tc.run(r)
			if len(r.failures) != 1 || !strings.Contains(r.failures[0], tc.want) {
				t.Errorf("failures %q, want one containing %q", r.failures, tc.want)
			}
		})
	}
	r := &recorder{TB: t}
	Close(r, "ok", []float32{1, 2}, []float32{1, 2}, Tol{})
	if d := MaxAbs(r, "ok", []float32{1, 2}, []float64{1, 2.5}); d != 0.5 {
		t.Errorf("MaxAbs = %g, want 0.5", d)
	}
	Finite(r, "ok", []float64{0, -1e300})
	if c := Cosine(r, "ok", []float32{1, 2}, []float64{2, 4}); math.Abs(c-1) > 1e-15 {
		t.Errorf("Cosine of parallel vectors = %g, want 1", c)
	}
	if c := Cosine(r, "ok", []float32{1, 0}, []float64{0, 3}); c != 0 {
		t.Errorf("Cosine of orthogonal vectors = %g, want 0", c)
	}
	if len(r.failures) != 0 {
		t.Errorf("passing checks failed: %q", r.failures)
	}
}
