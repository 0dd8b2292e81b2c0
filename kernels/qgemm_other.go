//go:build !amd64 || purego

package kernels

// xor80 sets dst[i] = src[i] ^ 0x80 (see qgemmPrepQ8).
func xor80(dst, src []byte) { xor80Generic(dst, src) }

// nibbles unpacks int4 blocks (see qgemmPrepQ4).
func nibbles(dst, src []byte) { nibblesGeneric(dst, src) }
