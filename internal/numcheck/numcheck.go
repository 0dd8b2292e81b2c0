// Package numcheck compares floating-point results in tests. Every check
// treats a length mismatch and any NaN or ±Inf (in the result or in the
// reference) as a failure, and a failure names the worst element, so a
// broken kernel cannot hide behind comparisons that are false for NaN.
package numcheck

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// Float is a floating-point element type.
type Float interface{ ~float32 | ~float64 }

// Sentinel errors wrapped by Compare, for errors.Is.
var (
	ErrLength    = errors.New("length mismatch")
	ErrNonFinite = errors.New("non-finite value")
	ErrTolerance = errors.New("outside tolerance")
)

// Tol is the allowed |got[i]-want[i]|: Abs + Rel*|want[i]|, or
// Abs + Rel*Scale[i] when Scale is set (e.g. the sum of |terms| of a dot
// product, the natural scale of its rounding error). The zero Tol demands
// exact equality.
type Tol struct {
	Abs, Rel float64
	Scale    []float64
}

func (t Tol) bound(i int, want float64) float64 {
	s := math.Abs(want)
	if t.Scale != nil {
		s = t.Scale[i]
	}
	return t.Abs + t.Rel*s
}

// Report describes a comparison: its size, the largest absolute
// difference, and the worst element (largest difference relative to its
// bound; the largest difference when there is no bound).
type Report struct {
	N         int     // elements compared
	MaxAbs    float64 // largest |got-want|; +Inf if any value is not finite
	Index     int     // the worst element, -1 when N is 0
	Got, Want float64 // the values at Index
	Bound     float64 // the allowed difference at Index (0 for Measure)
}

// String describes the worst element.
func (r Report) String() string {
	if r.Index < 0 {
		return fmt.Sprintf("%d elements", r.N)
	}
	s := fmt.Sprintf("max |diff| %.3g over %d elements; worst [%d]: got %.9g, want %.9g", r.MaxAbs, r.N, r.Index, r.Got, r.Want)
	if r.Bound > 0 {
		s += fmt.Sprintf(" (allowed %.3g)", r.Bound)
	}
	return s
}

// Measure compares got with want without a bound: it returns the largest
// absolute difference and where it is. The error wraps ErrLength or
// ErrNonFinite.
func Measure[G, W Float](got []G, want []W) (Report, error) {
	return compare(got, want, nil)
}

// Compare checks every element against tol. The error wraps ErrLength,
// ErrNonFinite or ErrTolerance and names the element.
func Compare[G, W Float](got []G, want []W, tol Tol) (Report, error) {
	if tol.Scale != nil && len(tol.Scale) != len(want) {
		return Report{Index: -1}, fmt.Errorf("%w: %d tolerance scales for %d values", ErrLength, len(tol.Scale), len(want))
	}
	return compare(got, want, &tol)
}

func compare[G, W Float](got []G, want []W, tol *Tol) (Report, error) {
	r := Report{N: len(got), Index: -1}
	if len(got) != len(want) {
		return r, fmt.Errorf("%w: got %d values, want %d", ErrLength, len(got), len(want))
	}
	worst := -1.0 // the worst ratio of difference to bound (or difference)
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if !finite(g) || !finite(w) {
			r.MaxAbs, r.Index, r.Got, r.Want = math.Inf(1), i, g, w
			return r, fmt.Errorf("%w at [%d]: got %g, want %g", ErrNonFinite, i, g, w)
		}
		d := math.Abs(g - w)
		r.MaxAbs = max(r.MaxAbs, d)
		score, b := d, 0.0
		if tol != nil {
			b = tol.bound(i, w)
			switch {
			case b > 0:
				score = d / b
			case d > 0:
				score = math.Inf(1)
			default:
				score = 0
			}
		}
		if score > worst {
			worst, r.Index, r.Got, r.Want, r.Bound = score, i, g, w, b
		}
	}
	if tol != nil && worst > 1 {
		return r, fmt.Errorf("%w: %v", ErrTolerance, r)
	}
	return r, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Diff returns |got-want|, or +Inf when either is NaN or ±Inf, so that a
// running maximum of Diffs compared with a bound cannot miss a NaN.
func Diff(got, want float64) float64 {
	if !finite(got) || !finite(want) {
		return math.Inf(1)
	}
	return math.Abs(got - want)
}

// Close fails t (without stopping it) when got is not within tol of want,
// naming what; it returns the report for logging the measured error.
func Close[G, W Float](t testing.TB, what string, got []G, want []W, tol Tol) Report {
	t.Helper()
	r, err := Compare(got, want, tol)
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
	return r
}

// MaxAbs returns the largest |got-want|, failing t (without stopping it)
// on a length mismatch or a non-finite value, for which it returns +Inf.
func MaxAbs[G, W Float](t testing.TB, what string, got []G, want []W) float64 {
	t.Helper()
	r, err := Measure(got, want)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return math.Inf(1)
	}
	return r.MaxAbs
}

// Finite fails t when any element of x is NaN or ±Inf, naming what and the
// first such index.
func Finite[F Float](t testing.TB, what string, x []F) {
	t.Helper()
	for i, v := range x {
		if !finite(float64(v)) {
			t.Errorf("%s: %v at [%d]: %g", what, ErrNonFinite, i, v)
			return
		}
	}
}

// Cosine returns the cosine similarity of got and want, computed in
// float64. A length mismatch, a non-finite value or an all-zero operand
// fails t (without stopping it) and gives -1, so that a lower bound on the
// result cannot pass.
func Cosine[G, W Float](t testing.TB, what string, got []G, want []W) float64 {
	t.Helper()
	if _, err := Measure(got, want); err != nil {
		t.Errorf("%s: cosine: %v", what, err)
		return -1
	}
	var gw, gg, ww float64
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		gw += g * w
		gg += g * g
		ww += w * w
	}
	if gg == 0 || ww == 0 {
		t.Errorf("%s: cosine of an all-zero vector (%d elements)", what, len(got))
		return -1
	}
	return gw / math.Sqrt(gg*ww)
}
