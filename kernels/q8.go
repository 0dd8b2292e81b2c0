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

	// lsum[l] = q[4l] + ... + q[4l+3], set by the amd64 backends' layouts:
	// their grouped kernels subtract it times the weights' unsigned offset.
	lsum []int32
	// nib is q with each block reordered to the order the NEON int4
	// kernels unpack nibbles in (even columns, then odd ones); set by
	// NEON backend's layouts for int4 matrices (and by the quantized GEMM).
	nib []int8
	// q4 is q in chunks of 128 columns for the amd64 int4 kernels (see
	// q4Act); set by their backends' layouts for int4 matrices.
	q4 []q4Act

	// bias = sum over blocks of scale*128*sum(q): what the AVX-512 kernel
	// adds by multiplying w+128 instead of w.
	bias float32
}

var q8Pool = sync.Pool{New: func() any { return new(q8Vec) }}

// reset points q at x and sizes its buffers for the full blocks of x.
func (q *q8Vec) reset(x []float32) (nq int) {
	q.x = x
	nq = len(x) / q8Block * q8Block
	if cap(q.q) < nq {
		q.q = make([]int8, nq)
		q.ls = make([]float32, nq/4)
	}
	q.q = q.q[:nq]
	q.ls = q.ls[:nq/4]
	q.ok = true
	q.bias = 0
	return nq
}

// laneSums fills q.lsum from q.q.
func (q *q8Vec) laneSums() {
	n := len(q.q) / 4
	if cap(q.lsum) < n {
		q.lsum = make([]int32, n)
	}
	q.lsum = q.lsum[:n]
	for l := range q.lsum {
		b := q.q[4*l : 4*l+4]
		q.lsum[l] = int32(b[0]) + int32(b[1]) + int32(b[2]) + int32(b[3])
	}
}

// nibbleOrder fills q.nib from q.q: within each block of 32, the 16 even
// columns, then the 16 odd ones.
func (q *q8Vec) nibbleOrder() {
	n := len(q.q)
	if cap(q.nib) < n {
		q.nib = make([]int8, n)
	}
	q.nib = q.nib[:n]
	for b := 0; b < n; b += q8Block {
		src := (*[q8Block]int8)(q.q[b : b+q8Block])
		dst := (*[q8Block]int8)(q.nib[b : b+q8Block])
		for i := range q8Block / 2 {
			dst[i], dst[q8Block/2+i] = src[2*i], src[2*i+1]
		}
	}
}

// quantizeQ8Generic fills q from x: each full block of q8Block values is
// scaled by max|x|/127 and rounded to nearest, ties to even. The tail that
// does not fill a block is left to float code.
func quantizeQ8Generic(q *q8Vec, x []float32) {
	nq := q.reset(x)
	var bias float64
	for b := 0; b < nq; b += q8Block {
		blk := (*[q8Block]float32)(x[b : b+q8Block])
		var a0, a1, a2, a3 float32
		for i := 0; i < q8Block; i += 4 {
			a0 = max(a0, abs32(blk[i]))
			a1 = max(a1, abs32(blk[i+1]))
			a2 = max(a2, abs32(blk[i+2]))
			a3 = max(a3, abs32(blk[i+3]))
		}
		amax := max(max(a0, a1), max(a2, a3))
		if !(amax <= math.MaxFloat32) { // Inf or NaN
			q.ok = false
			return
		}
		var s, inv float32
		if amax >= q8Tiny {
			s = amax / 127
			inv = 127 / amax
		}
		out := (*[q8Block]int8)(q.q[b : b+q8Block])
		sum := 0
		for i, v := range blk {
			// |v*inv| <= 127, so adding and subtracting 1.5·2^23 rounds
			// it to the nearest integer, ties to even.
			r := int8(int32(v*inv+roundMagic) - int32(roundMagic))
			out[i] = r
			sum += int(r)
		}
		bias += float64(s) * float64(128*sum)
		ls := q.ls[b/4 : b/4+q8Block/4]
		for i := range ls {
			ls[i] = s
		}
	}
	q.bias = float32(bias)
}

// q8Tiny is the smallest block maximum that is quantized; smaller blocks
// become zeros (their contribution is far below float32 rounding, and 127/amax
// would overflow for denormal amax).
const q8Tiny = 1e-30

// roundMagic is 1.5·2^23: adding it to a float32 of magnitude below 2^22
// leaves only the integer part, rounded to nearest even.
const roundMagic = 12582912

func abs32(v float32) float32 {
	return math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
}
