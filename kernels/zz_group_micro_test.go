package kernels

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkZZGroupMicro(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const g, hd, c = 3, 64, 16
	q := randVec(r, g*hd, 1)
	k := randVec(r, c*hd, 1)
	k16 := make([]uint16, len(k))
	F32ToF16(k16, k)
	s := make([]float32, g*c)
	out := make([]float32, g*hd)
	gk := active.group
	b.Run("scores16", func(b *testing.B) {
		for b.Loop() {
			gk.scoresF16(s, c, k16, nil, q, c, g, hd)
		}
	})
	b.Run("scores32", func(b *testing.B) {
		for b.Loop() {
			gk.scoresF32(s, c, k, nil, q, c, g, hd)
		}
	})
	b.Run("wsum16", func(b *testing.B) {
		for b.Loop() {
			gk.wsumF16(out, k16, nil, s, c, c, g, hd)
		}
	})
	b.Run("wsum32", func(b *testing.B) {
		for b.Loop() {
			gk.wsumF32(out, k, nil, s, c, c, g, hd)
		}
	})
	b.Run("old-scores16x3", func(b *testing.B) {
		for b.Loop() {
			for h := range g {
				active.matVecF16(s[h*c:(h+1)*c], k16, q[h*hd:(h+1)*hd])
			}
		}
	})
	b.Run("old-wsum16x3", func(b *testing.B) {
		for b.Loop() {
			for h := range g {
				active.wsumF16(out[h*hd:(h+1)*hd], k16, s[h*c:(h+1)*c])
			}
		}
	})
}
