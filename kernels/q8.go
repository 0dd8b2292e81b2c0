package kernels

import (
	"math"
	"sync"
)

// q8Block is the number of activations sharing one scale when x is
// quantized to int8 for integer dot products.
const q8Block = 32

// q8Vec is an activation vector prepared for a Q8 matrix product: the float
// values, and (for SIMD backends) their int8 quantization in blocks of
// q8Block with one scale per block, expanded to one scale per group of four
// bytes (lane) so that int32 lanes of VPDPBUSD results can be scaled with a
// plain vector multiply.
type q8Vec struct {
	x  []float32
	q  []int8    // len(x) rounded down to a multiple of q8Block
	ls []float32 // len(q)/4: ls[l] = scale of block l*4/q8Block
	ok bool      // false if x holds Inf or NaN: use float code instead
}

var q8Pool = sync.Pool{New: func() any { return new(q8Vec) }}

// quantizeQ8 fills q from x: each full block of q8Block values is scaled by
// max|x|/127 and rounded to nearest. The tail that does not fill a block is
// left to float code.
func (q *q8Vec) quantize(x []float32) {
	q.x = x
	nq := len(x) / q8Block * q8Block
	if cap(q.q) < nq {
		q.q = make([]int8, nq)
		q.ls = make([]float32, nq/4)
	}
	q.q = q.q[:nq]
	q.ls = q.ls[:nq/4]
	q.ok = true
	for b := 0; b < nq; b += q8Block {
		blk := x[b : b+q8Block]
		var amax float32
		for _, v := range blk {
			amax = max(amax, abs32(v))
		}
		var s, inv float32
		if !(amax <= math.MaxFloat32) { // Inf or NaN
			q.ok = false
			return
		}
		if amax > 0 {
			s = amax / 127
			inv = 127 / amax
		}
		out := q.q[b : b+q8Block]
		for i, v := range blk {
			out[i] = int8(math.RoundToEven(float64(v * inv)))
		}
		ls := q.ls[b/4 : b/4+q8Block/4]
		for i := range ls {
			ls[i] = s
		}
	}
}

func abs32(v float32) float32 {
	return math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
}
