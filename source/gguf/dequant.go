package gguf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/internal/half"
)

// Dequantize converts the elements in src, stored as type t, to float32 in
// dst, exactly as gguf-py's gguf.quants.dequantize does: float32 arithmetic
// rounded after every operation, f16 block constants widened exactly.
// len(dst) must be a multiple of t's block size and src exactly its bytes.
//
// Every product and sum below is converted to float32 on its own so the Go
// compiler cannot fuse a*b+c into one FMA, which would change the last bit.
func Dequantize(dst []float32, t Type, src []byte) error {
	bs, bb := t.BlockSize(), t.BlockBytes()
	if !t.Dequantizable() {
		return fmt.Errorf("gguf: dequantizing %s is not supported", t)
	}
	if len(dst)%bs != 0 || len(src) != len(dst)/bs*bb {
		return fmt.Errorf("gguf: %s: %d values need %d bytes, got %d", t, len(dst), len(dst)/bs*bb, len(src))
	}
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		return nil
	case F16:
		for i := range dst {
			dst[i] = half.F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
		return nil
	case BF16:
		for i := range dst {
			dst[i] = half.BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
		return nil
	}
	for b := 0; b < len(dst)/bs; b++ {
		out, blk := dst[b*bs:(b+1)*bs], src[b*bb:(b+1)*bb]
		switch t {
		case Q4_0:
			d := f16(blk)
			for i, q := range blk[2:18] {
				out[i] = d * float32(int(q&15)-8)
				out[i+16] = d * float32(int(q>>4)-8)
			}
		case Q4_1:
			d, m := f16(blk), f16(blk[2:])
			for i, q := range blk[4:20] {
				out[i] = float32(d*float32(q&15)) + m
				out[i+16] = float32(d*float32(q>>4)) + m
			}
		case Q5_0:
			d, qh := f16(blk), binary.LittleEndian.Uint32(blk[2:])
			for i, q := range blk[6:22] {
				lo := int(q&15) | int(qh>>i&1)<<4
				hi := int(q>>4) | int(qh>>(i+16)&1)<<4
				out[i] = d * float32(lo-16)
				out[i+16] = d * float32(hi-16)
			}
		case Q5_1:
			d, m, qh := f16(blk), f16(blk[2:]), binary.LittleEndian.Uint32(blk[4:])
			for i, q := range blk[8:24] {
				lo := q&15 | uint8(qh>>i&1)<<4
				hi := q>>4 | uint8(qh>>(i+16)&1)<<4
				out[i] = float32(d*float32(lo)) + m
				out[i+16] = float32(d*float32(hi)) + m
			}
		case Q8_0:
			d := f16(blk)
			for i, q := range blk[2:34] {
				out[i] = d * float32(int8(q))
			}
		case Q8_1:
			d := f16(blk)
			for i, q := range blk[4:36] {
				out[i] = d * float32(int8(q))
			}
		case IQ4_NL:
			d := f16(blk)
			for i, q := range blk[2:18] {
				out[i] = d * float32(iq4nlValues[q&15])
				out[i+16] = d * float32(iq4nlValues[q>>4])
			}
		case IQ4_XS:
			dequantIQ4XS(out, blk)
		case Q2_K:
			dequantQ2K(out, blk)
		case Q3_K:
			dequantQ3K(out, blk)
		case Q4_K:
			dequantQ4K(out, blk)
		case Q5_K:
			dequantQ5K(out, blk)
		case Q6_K:
			dequantQ6K(out, blk)
		}
	}
	return nil
}

func f16(b []byte) float32 { return half.F16ToF32(binary.LittleEndian.Uint16(b)) }

// scaleMin unpacks the eight 6-bit scales and mins of a Q4_K/Q5_K block.
func scaleMin(s []byte) (sc, mn [8]uint8) {
	for j := 0; j < 4; j++ {
		sc[j] = s[j] & 63
		mn[j] = s[j+4] & 63
		sc[j+4] = s[j+8]&15 | (s[j]>>6)<<4
		mn[j+4] = s[j+8]>>4 | (s[j+4]>>6)<<4
	}
	return sc, mn
}

// iq4nlValues is the non-linear 4-bit codebook of IQ4_NL and IQ4_XS.
var iq4nlValues = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// dequantIQ4XS: d (f16), 16 bits of 2-bit high scale parts, 4 bytes of 4-bit
// low parts (eight 6-bit scales offset by 32), 128 bytes of codebook
// indices: value i of sub-block j is nibble i/16 of qs[16j + i%16].
func dequantIQ4XS(out []float32, blk []byte) {
	d, sh := f16(blk), binary.LittleEndian.Uint16(blk[2:])
	sl, qs := blk[4:8], blk[8:136]
	for j := 0; j < 8; j++ {
		lo := sl[j/2] >> (4 * uint(j%2)) & 15
		hi := uint8(sh>>(2*uint(j))) & 3
		dl := d * float32(int(lo|hi<<4)-32)
		for i := 0; i < 32; i++ {
			q := qs[16*j+i%16] >> (4 * uint(i/16)) & 15
			out[32*j+i] = dl * float32(iq4nlValues[q])
		}
	}
}

// dequantQ2K: 16 bytes of 4-bit scale/min pairs (one per 16 values), 64
// bytes of 2-bit values, d and dmin (f16). Value e of half h = e/128
// (r = e%128) is bits 2*(r/32) of qs[32h + r%32].
func dequantQ2K(out []float32, blk []byte) {
	scales, qs := blk[0:16], blk[16:80]
	d, dmin := f16(blk[80:]), f16(blk[82:])
	for e := 0; e < qkK; e++ {
		h, r := e/128, e%128
		q := qs[32*h+r%32] >> (2 * uint(r/32)) & 3
		sc := scales[e/16]
		dl, ml := d*float32(sc&15), dmin*float32(sc>>4)
		out[e] = float32(dl*float32(q)) - ml
	}
}

// dequantQ3K: 32 bytes of high-bit masks, 64 bytes of 2-bit values, 12
// bytes of sixteen 6-bit scales (offset by 32), d (f16). Value e takes its
// low bits as Q2_K does and subtracts 4 when bit e/32 of hmask[e%32] is
// clear.
func dequantQ3K(out []float32, blk []byte) {
	hmask, qs, sc := blk[0:32], blk[32:96], blk[96:108]
	d := f16(blk[108:])
	var scales [16]float32
	for m := 0; m < 16; m++ {
		lo := sc[m%8] >> (4 * uint(m/8)) & 15
		hi := sc[8+m%4] >> (2 * uint(m/4)) & 3
		scales[m] = d * float32(int(lo|hi<<4)-32)
	}
	for e := 0; e < qkK; e++ {
		h, r := e/128, e%128
		q := int(qs[32*h+r%32] >> (2 * uint(r/32)) & 3)
		if hmask[e%32]>>(uint(e/32))&1 == 0 {
			q -= 4
		}
		out[e] = scales[e/16] * float32(q)
	}
}

// dequantQ4K: d, dmin (f16), 12 bytes of scales/mins, 128 bytes of nibbles.
// Sub-block j (32 values) = nibble j%2 of bytes 32*(j/2) ... 32*(j/2)+31.
func dequantQ4K(out []float32, blk []byte) {
	d, dmin := f16(blk), f16(blk[2:])
	sc, mn := scaleMin(blk[4:16])
	qs := blk[16:144]
	for j := 0; j < 8; j++ {
		ds, dm := d*float32(sc[j]), dmin*float32(mn[j])
		g, shift := qs[32*(j/2):32*(j/2)+32], uint(4*(j%2))
		for i, q := range g {
			out[32*j+i] = float32(ds*float32(q>>shift&15)) - dm
		}
	}
}

// dequantQ5K: as Q4_K plus 32 bytes of high bits: bit j of byte i is the
// fifth bit of value i of sub-block j.
func dequantQ5K(out []float32, blk []byte) {
	d, dmin := f16(blk), f16(blk[2:])
	sc, mn := scaleMin(blk[4:16])
	qh, qs := blk[16:48], blk[48:176]
	for j := 0; j < 8; j++ {
		ds, dm := d*float32(sc[j]), dmin*float32(mn[j])
		g, shift := qs[32*(j/2):32*(j/2)+32], uint(4*(j%2))
		for i, q := range g {
			v := q>>shift&15 | (qh[i]>>j&1)<<4
			out[32*j+i] = float32(ds*float32(v)) - dm
		}
	}
}

// dequantQ6K: 128 bytes of low nibbles, 64 of 2-bit high parts, 16 int8
// scales (one per 16 values), d (f16). Value e of half h = e/128 (r = e%128)
// takes nibble r/64 of ql[64h + r%64] and bits 2*(r/32) of qh[32h + r%32].
func dequantQ6K(out []float32, blk []byte) {
	ql, qh, scales := blk[0:128], blk[128:192], blk[192:208]
	d := f16(blk[208:])
	for e := 0; e < qkK; e++ {
		h, r := e/128, e%128
		lo := ql[64*h+r%64] >> (4 * uint(r/64)) & 15
		hi := qh[32*h+r%32] >> (2 * uint(r/32)) & 3
		q := int(lo|hi<<4) - 32
		ds := d * float32(int8(scales[e/16]))
		out[e] = ds * float32(q)
	}
}

// UnpermuteRows undoes the row permutation llama.cpp's converter applies to
// a Llama q_proj / k_proj weight (so RoPE rotates adjacent pairs) and writes
// the Hugging Face row order (RoPE on halves) to dst. src holds rows rows of
// rowBytes bytes each, heads heads of rows/heads rows; within a head, GGUF
// row 2i+j is Hugging Face row j*D/2+i. Rows move whole, so this works on
// quantized rows too.
func UnpermuteRows(dst, src []byte, rows, rowBytes, heads int) error {
	if heads <= 0 || rows%heads != 0 || (rows/heads)%2 != 0 {
		return fmt.Errorf("gguf: cannot un-permute %d rows into %d heads of an even number of rows", rows, heads)
	}
	if len(src) != rows*rowBytes || len(dst) != len(src) {
		return fmt.Errorf("gguf: un-permute: %d rows of %d bytes, got %d -> %d bytes", rows, rowBytes, len(src), len(dst))
	}
	d := rows / heads
	for h := 0; h < heads; h++ {
		for i := 0; i < d/2; i++ {
			for j := 0; j < 2; j++ {
				from, to := h*d+2*i+j, h*d+j*d/2+i
				copy(dst[to*rowBytes:(to+1)*rowBytes], src[from*rowBytes:(from+1)*rowBytes])
			}
		}
	}
	return nil
}
