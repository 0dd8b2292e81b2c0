package kernels

// Packing of the bf16 GEMM's operands with an 8x8 transpose of 32-bit
// words (transposeWords8, the f32 GEMM's SIMD transpose: a bf16 pair is
// one word): weight panels (packWBF16Fast) and X panels (packXBF16Fast)
// are rows of pairs stored column-major, which the scalar loops write one
// word at a time with a stride. Used only where the bf16 micro-kernel runs
// (hasBF16Dot), so the transpose is always the amd64 one.

// packWBF16Fast is packWBF16 for an even number of columns: the rows
// (rounded to bf16 through tmp, 32*2*kn values, if f16) are transposed 8
// at a time, 8 pairs at a time; a last group of fewer than 8 rows or pairs
// is stored one word at a time. It reports false, having done nothing,
// for an odd number of columns.
func packWBF16Fast(wp, tmp []uint16, w *Matrix, r0, rn, k0, kn int) bool {
	cols := w.Cols
	if cols%2 != 0 {
		return false
	}
	// src holds the rows' pairs k0.. at a stride of lds words.
	src, lds := words(w.Half[r0*cols+2*k0:]), cols/2
	if w.Type == F16 {
		t := tmp[:rn*2*kn]
		for j := range rn {
			row := w.Half[(r0+j)*cols+2*k0 : (r0+j)*cols+2*(k0+kn)]
			f16ToBF16(active, t[j*2*kn:(j+1)*2*kn], row)
		}
		src, lds = words(t), kn
	}
	dst := words(wp[:kn*bf16NR*2])
	kn8, rn8 := kn&^7, rn&^7
	if kn8 > 0 {
		for j := 0; j < rn8; j += 8 {
			transposeWords8(dst[j:], bf16NR, src[j*lds:], lds, kn8)
		}
	}
	for j := range bf16NR {
		switch {
		case j >= rn:
			for q := range kn {
				dst[q*bf16NR+j] = 0
			}
		case j >= rn8:
			for q, x := range src[j*lds : j*lds+kn] {
				dst[q*bf16NR+j] = x
			}
		default:
			for q := kn8; q < kn; q++ {
				dst[q*bf16NR+j] = src[j*lds+q]
			}
		}
	}
	return true
}

// packXBF16Fast stores the 12 rows of X panel p (rows p*12.., all present)
// as [kp][12][2] bf16 in dst (kp*12 words), k even: each row rounded to
// bf16 into rows (12*k values), then rows 0-7 and 4-11 transposed (rows
// 4-7 twice, identically), the pairs past a multiple of 8 one word at a
// time.
func packXBF16Fast(dst []uint32, rows []uint16, x []float32, p, k int) {
	kp := k / 2
	for i := range bf16MR {
		r := p*bf16MR + i
		toBF16(active, rows[i*k:(i+1)*k], x[r*k:(r+1)*k])
	}
	src := words(rows[:bf16MR*k])
	kp8 := kp &^ 7
	if kp8 > 0 {
		transposeWords8(dst, bf16MR, src, kp, kp8)
		transposeWords8(dst[4:], bf16MR, src[4*kp:], kp, kp8)
	}
	for i := range bf16MR {
		for q := kp8; q < kp; q++ {
			dst[q*bf16MR+i] = src[i*kp+q]
		}
	}
}
