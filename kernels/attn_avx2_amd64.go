//go:build amd64 && !purego

package kernels

//go:noescape
func wsumF32AVX2(out, v, p *float32, n, hd int)

func wsumF32Y(out, v, p []float32) {
	hd, n := len(out), len(p)
	if hd&7 != 0 || n == 0 {
		wsumF32Generic(out, v, p)
		return
	}
	_ = v[n*hd-1]
	wsumF32AVX2(&out[0], &v[0], &p[0], n, hd)
}

//go:noescape
func wsumF16AVX2(out *float32, v *uint16, p *float32, n, hd int)

func wsumF16Y(out []float32, v []uint16, p []float32) {
	hd, n := len(out), len(p)
	if hd&7 != 0 || n == 0 {
		wsumF16Generic(out, v, p)
		return
	}
	_ = v[n*hd-1]
	wsumF16AVX2(&out[0], &v[0], &p[0], n, hd)
}
