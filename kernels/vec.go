package kernels

// Dot returns the inner product of a and b, which must have equal length.
func Dot(a, b []float32) float32 {
	mustLen("Dot", "b", len(b), len(a))
	return active.dot(a, b)
}

// Axpy computes y += alpha*x; x and y must have equal length.
func Axpy(alpha float32, x, y []float32) {
	mustLen("Axpy", "y", len(y), len(x))
	active.axpy(alpha, x, y)
}

// Add computes dst = a + b element-wise. dst may alias a or b.
func Add(dst, a, b []float32) {
	mustLen("Add", "a", len(a), len(dst))
	mustLen("Add", "b", len(b), len(dst))
	add := active.add
	if add == nil {
		add = addGeneric
	}
	if len(dst) < parallelMin {
		add(dst, a, b)
		return
	}
	elementwise(len(dst), func(lo, hi int) { add(dst[lo:hi], a[lo:hi], b[lo:hi]) })
}

func addGeneric(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) {
	active.scale(x, s)
}

func scaleGeneric(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// F16ToF32 widens IEEE binary16 bit patterns to float32 (exactly);
// len(dst) must equal len(src).
func F16ToF32(dst []float32, src []uint16) {
	mustLen("F16ToF32", "dst", len(dst), len(src))
	active.f16ToF32(dst, src)
}

// BF16ToF32 widens bfloat16 bit patterns to float32 (exactly);
// len(dst) must equal len(src).
func BF16ToF32(dst []float32, src []uint16) {
	mustLen("BF16ToF32", "dst", len(dst), len(src))
	active.bf16ToF32(dst, src)
}

// F32ToF16 rounds float32 values to IEEE binary16 (nearest, ties to even;
// overflow gives ±Inf); len(dst) must equal len(src).
func F32ToF16(dst []uint16, src []float32) {
	mustLen("F32ToF16", "dst", len(dst), len(src))
	active.f32ToF16(dst, src)
}
