package kernels

import "github.com/cellm-ai/cellm-go/internal/half"

// dotGeneric returns sum a[i]*b[i] over len(a), with four partial sums.
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		aa := (*[4]float32)(a[i : i+4])
		bb := (*[4]float32)(b[i : i+4])
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpyGeneric computes y += alpha*x over len(x).
func axpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func f16ToF32Generic(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = half.F16ToF32(h)
	}
}

func bf16ToF32Generic(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = half.BF16ToF32(h)
	}
}

func f32ToF16Generic(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = half.F32ToF16(f)
	}
}

func wsumF32Generic(out, v, p []float32) {
	hd := len(out)
	clear(out)
	for t, pt := range p {
		axpyGeneric(pt, v[t*hd:(t+1)*hd], out)
	}
}

func wsumF16Generic(out []float32, v []uint16, p []float32) {
	hd := len(out)
	clear(out)
	for t, pt := range p {
		row := v[t*hd : (t+1)*hd]
		for d, h := range row {
			out[d] += pt * half.F16ToF32(h)
		}
	}
}
