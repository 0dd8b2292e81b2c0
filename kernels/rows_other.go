//go:build !amd64 || purego

package kernels

// scaleMul sets dst[i] = x[i] * s * w[i] (see scaleMulGeneric).
func scaleMul(dst, x, w []float32, s float32) { scaleMulGeneric(dst, x, w, s) }
