//go:build !amd64 || purego

package kernels

// ropeHeads rotates the heads of x (see ropeGeneric).
func ropeHeads(x []float32, nHeads, headDim int, cos, sin []float32) {
	ropeGeneric(x, nHeads, headDim, cos, sin)
}
