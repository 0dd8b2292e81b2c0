package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkWsumQ8 times the int8 weighted sums of one KV head (3 KV heads
// per block, blocks of 16, head size 64) over ctx positions in cache, for
// g query heads of softmax weights, per backend.
func BenchmarkWsumQ8(b *testing.B) {
	const kv, hd, bt = 3, 64, 16
	r := rand.New(rand.NewPCG(83, 84))
	for _, ctx := range []int{128, 640} {
		nb := ctx / bt
		v, vs := make([][]int8, nb), make([][]float32, nb)
		for i := range nb {
			v[i] = make([]int8, kv*bt*hd)
			for j := range v[i] {
				v[i][j] = int8(r.IntN(255) - 127)
			}
			vs[i] = randVec(r, kv*bt, 0.01)
			for j, s := range vs[i] {
				vs[i][j] = max(s, -s)
			}
		}
		for _, g := range []int{1, 3, 4} {
			p := randVec(r, g*ctx, 4)
			for h := range g {
				softmaxGeneric(p[h*ctx : (h+1)*ctx])
			}
			out := make([]float32, g*hd)
			for _, be := range backends {
				gk := be.group
				if gk == nil {
					gk = groupGeneric
				}
				b.Run(fmt.Sprintf("ctx=%d/g=%d/%s", ctx, g, be.name), func(b *testing.B) {
					b.SetBytes(int64(ctx * (hd + 4)))
					for b.Loop() {
						gk.wsumQ8(out, v, vs, bt, 0, ctx, bt*hd, p, g, hd)
					}
				})
			}
		}
	}
}
