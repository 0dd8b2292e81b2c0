//go:build amd64 && !purego

package kernels

import "unsafe"

// transposeWords8 stores 8 rows of n 32-bit words (src[i*lds+c], n a
// multiple of 8, n > 0) as dst[c*ldd+i]: transpose8F32, which only moves
// bits.
func transposeWords8(dst []uint32, ldd int, src []uint32, lds, n int) {
	_ = src[7*lds+n-1]
	_ = dst[(n-1)*ldd+7]
	transpose8F32((*float32)(unsafe.Pointer(&dst[0])), ldd, (*float32)(unsafe.Pointer(&src[0])), lds, n)
}
