//go:build !amd64 || purego

package kernels

// xor80 sets dst[i] = src[i] ^ 0x80 (see qgemmPrepQ8).
func xor80(dst, src []byte) { xor80Generic(dst, src) }

// nibbles unpacks int4 blocks (see qgemmPrepQ4).
func nibbles(dst, src []byte) { nibblesGeneric(dst, src) }

// packTileRow stores one quantized input row in its tile (see
// packTileRowGeneric).
func packTileRow(tile, q []byte, ls []float32, lane int, off int32) {
	packTileRowGeneric(tile, q, ls, lane, off)
}
