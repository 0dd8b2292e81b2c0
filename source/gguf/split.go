package gguf

import "fmt"

// SplitQ8_0 rewrites Q8_0 blocks losslessly as grouped int8: q receives the
// 32 int8 codes of each block in order (one byte per value) and scales the
// block's f16 scale d (two little-endian bytes per block), so that
// w = q * d equals Dequantize bit for bit. src holds whole blocks.
func SplitQ8_0(q, scales, src []byte) error {
	const bb = 34
	n := len(src) / bb
	if len(src)%bb != 0 || len(q) != 32*n || len(scales) != 2*n {
		return fmt.Errorf("gguf: Q8_0 split: %d bytes of blocks, %d codes, %d scale bytes", len(src), len(q), len(scales))
	}
	for b := 0; b < n; b++ {
		blk := src[b*bb : (b+1)*bb]
		scales[2*b], scales[2*b+1] = blk[0], blk[1]
		copy(q[32*b:32*b+32], blk[2:])
	}
	return nil
}

// SplitQ4_0 rewrites Q4_0 blocks losslessly as grouped int4: packed receives
// two values per byte, column 2i in the low nibble and 2i+1 in the high one,
// each stored as q+8 (so Q4_0's raw nibble, -8 included), and scales the
// block's f16 scale d, so that w = (nibble - 8) * d equals Dequantize bit
// for bit. Q4_0 itself keeps values 0..15 in the low nibbles and 16..31 in
// the high nibbles of its 16 bytes.
func SplitQ4_0(packed, scales, src []byte) error {
	const bb = 18
	n := len(src) / bb
	if len(src)%bb != 0 || len(packed) != 16*n || len(scales) != 2*n {
		return fmt.Errorf("gguf: Q4_0 split: %d bytes of blocks, %d packed bytes, %d scale bytes", len(src), len(packed), len(scales))
	}
	var v [32]byte
	for b := 0; b < n; b++ {
		blk := src[b*bb : (b+1)*bb]
		scales[2*b], scales[2*b+1] = blk[0], blk[1]
		for i, x := range blk[2:] {
			v[i], v[i+16] = x&15, x>>4
		}
		out := packed[16*b : 16*b+16]
		for i := range out {
			out[i] = v[2*i] | v[2*i+1]<<4
		}
	}
	return nil
}
