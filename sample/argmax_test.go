package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestArgmaxEqualsScan: Argmax (four lanes) returns the index of the
// one-by-one scan for every length up to 40 and 49152, with ties (the
// first wins, -0 against +0 too), NaN anywhere, all NaN and Inf.
func TestArgmaxEqualsScan(t *testing.T) {
	r := rand.New(rand.NewPCG(101, 102))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	for _, n := range append([]int{49152}, func() []int {
		var ns []int
		for n := 1; n <= 40; n++ {
			ns = append(ns, n)
		}
		return ns
	}()...) {
		for _, kind := range []string{"random", "ties", "nan", "allnan", "inf", "zeros"} {
			x := make([]float32, n)
			for i := range x {
				switch kind {
				case "ties":
					x[i] = float32(r.IntN(3))
				case "allnan":
					x[i] = nan
				case "zeros":
					x[i] = 0
					if r.IntN(2) == 0 {
						x[i] = negZero
					}
				default:
					x[i] = float32(r.NormFloat64())
				}
			}
			switch kind {
			case "nan":
				for range 1 + n/8 {
					x[r.IntN(n)] = nan
				}
			case "inf":
				x[r.IntN(n)] = inf
				x[r.IntN(n)] = inf
			}
			if got, want := Argmax(x), argmaxFrom(x, 0, 1); got != want {
				t.Fatalf("n=%d %s: Argmax = %d, scan %d", n, kind, got, want)
			}
		}
	}
}

// BenchmarkArgmax measures the greedy choice over SmolLM2's 49152 logits.
func BenchmarkArgmax(b *testing.B) {
	r := rand.New(rand.NewPCG(103, 104))
	x := make([]float32, 49152)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, impl := range []struct {
		name string
		fn   func([]float32) int
	}{{"lanes", Argmax}, {"scan", func(x []float32) int { return argmaxFrom(x, 0, 1) }}} {
		b.Run(fmt.Sprint(impl.name), func(b *testing.B) {
			for b.Loop() {
				impl.fn(x)
			}
		})
	}
}
