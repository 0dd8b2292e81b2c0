// Package quant implements weight quantization schemes.
//
// Int8 is weight-only, per-row symmetric quantization: for each row of an
// [out, in] weight matrix, scale = max|row| / 127 (in float32), q =
// round(w / scale) to nearest with ties away from zero, clamped to
// [-127, 127]; the scale is stored as f16 and the weight used at run time is
// q * f32(f16(scale)).
package quant

import (
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/internal/half"
)

// QuantizeRowInt8 quantizes one row into q (len(q) == len(row)) and returns
// its f16 scale. An all-zero row gets scale 0 and zeros. A row holding NaN
// or an infinity cannot be quantized and is an error.
func QuantizeRowInt8(q []int8, row []float32) (uint16, error) {
	var maxAbs float32
	for i, w := range row {
		a := float32(math.Abs(float64(w)))
		if a > math.MaxFloat32 || a != a {
			return 0, fmt.Errorf("non-finite weight %v at column %d", w, i)
		}
		maxAbs = max(maxAbs, a)
	}
	scale := maxAbs / 127
	if scale == 0 {
		for i := range q {
			q[i] = 0
		}
		return half.F32ToF16(0), nil
	}
	for i, w := range row {
		v := math.Round(float64(w / scale))
		q[i] = int8(max(-127, min(127, v)))
	}
	return half.F32ToF16(scale), nil
}

// Stats accumulates the quantization error of a tensor, measured against the
// weights the runtime will use (q * f32(f16(scale))).
type Stats struct {
	N          int
	SumSqErr   float64
	SumSqW     float64
	MaxAbsErr  float64
	MaxErrStep float64 // largest |error| / scale seen (0.5 for an exact rounding)
}

// Add records the error of one quantized row.
func (s *Stats) Add(row []float32, q []int8, scale uint16) {
	sc := half.F16ToF32(scale)
	for i, w := range row {
		d := float64(w) - float64(q[i])*float64(sc)
		s.N++
		s.SumSqErr += d * d
		s.SumSqW += float64(w) * float64(w)
		if a := math.Abs(d); a > s.MaxAbsErr {
			s.MaxAbsErr = a
		}
		if sc > 0 {
			if r := math.Abs(d) / float64(sc); r > s.MaxErrStep {
				s.MaxErrStep = r
			}
		}
	}
}

// Merge adds o's counts to s.
func (s *Stats) Merge(o Stats) {
	s.N += o.N
	s.SumSqErr += o.SumSqErr
	s.SumSqW += o.SumSqW
	s.MaxAbsErr = max(s.MaxAbsErr, o.MaxAbsErr)
	s.MaxErrStep = max(s.MaxErrStep, o.MaxErrStep)
}

// RelRMSE returns the root-mean-square error relative to the RMS weight.
func (s *Stats) RelRMSE() float64 {
	if s.SumSqW == 0 {
		return 0
	}
	return math.Sqrt(s.SumSqErr / s.SumSqW)
}
