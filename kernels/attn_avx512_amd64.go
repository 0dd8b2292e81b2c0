//go:build amd64 && !purego

package kernels

//go:noescape
func wsumF32AVX512(out, v, p *float32, n, hd int)

//go:noescape
func wsumF16AVX512(out *float32, v *uint16, p *float32, n, hd int)

func wsumF32Z(out, v, p []float32) {
	hd, n := len(out), len(p)
	if hd == 0 {
		return
	}
	if n == 0 {
		clear(out)
		return
	}
	_ = v[n*hd-1]
	wsumF32AVX512(&out[0], &v[0], &p[0], n, hd)
}

func wsumF16Z(out []float32, v []uint16, p []float32) {
	hd, n := len(out), len(p)
	if hd == 0 {
		return
	}
	if n == 0 {
		clear(out)
		return
	}
	_ = v[n*hd-1]
	wsumF16AVX512(&out[0], &v[0], &p[0], n, hd)
}
