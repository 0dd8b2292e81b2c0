package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// attentionRef is non-causal attention in float64: out[t, h] = softmax over
// the n positions of scale·q·k, times v (k, v as [kv][stride][hd]).
func attentionRef(q, k, v []float32, nTok, nHeads, nKV, hd, n, stride int, scale float32) []float64 {
	out := make([]float64, nTok*nHeads*hd)
	s := make([]float64, n)
	for t := range nTok {
		for h := range nHeads {
			kv := h / (nHeads / nKV)
			qr := q[(t*nHeads+h)*hd : (t*nHeads+h+1)*hd]
			m := math.Inf(-1)
			for p := range n {
				var d float64
				for c, x := range qr {
					d += float64(x) * float64(k[(kv*stride+p)*hd+c])
				}
				s[p] = d * float64(scale)
				m = max(m, s[p])
			}
			var z float64
			for p := range n {
				s[p] = math.Exp(s[p] - m)
				z += s[p]
			}
			o := out[(t*nHeads+h)*hd : (t*nHeads+h+1)*hd]
			for p := range n {
				for c := range o {
					o[c] += s[p] / z * float64(v[(kv*stride+p)*hd+c])
				}
			}
		}
	}
	return out
}

// TestAttentionBF16 compares AttentionBF16 with float64 attention on every
// backend, over shapes with partial query blocks, odd and partial key
// blocks, grouped heads and a stride past n. The error is measured relative
// to the largest |v| (outputs are convex combinations of values).
func TestAttentionBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, be := range backends {
		old := active
		active = be
		for _, s := range []struct{ nTok, nHeads, nKV, hd, n, stride int }{
			{12, 1, 1, 32, 32, 32}, {37, 2, 2, 64, 37, 40}, {50, 4, 2, 64, 101, 101}, {13, 3, 1, 32, 7, 9}, {5, 2, 2, 64, 20, 20}, {30, 2, 2, 48, 30, 30}, {16, 2, 2, 16, 16, 16}, {20, 2, 1, 7, 19, 21},
		} {
			name := fmt.Sprintf("%s/%+v", be.name, s)
			q := randVec(r, s.nTok*s.nHeads*s.hd, 1)
			k := randVec(r, s.nKV*s.stride*s.hd, 1)
			v := randVec(r, s.nKV*s.stride*s.hd, 1)
			out := make([]float32, len(q))
			for i := range out {
				out[i] = float32(math.NaN()) // every output must be written
			}
			scale := float32(1 / math.Sqrt(float64(s.hd)))
			AttentionBF16(out, q, k, v, s.nTok, s.nHeads, s.nKV, s.hd, s.n, s.stride, scale)
			want := attentionRef(q, k, v, s.nTok, s.nHeads, s.nKV, s.hd, s.n, s.stride, scale)
			var vmax, worst float64
			for _, x := range v {
				vmax = max(vmax, math.Abs(float64(x)))
			}
			for i, w := range want {
				g := float64(out[i])
				if math.IsNaN(g) || math.IsInf(g, 0) {
					t.Fatalf("%s: out[%d] = %v", name, i, g)
				}
				worst = max(worst, numcheck.Diff(g, w)/vmax)
			}
			bf16 := hasBF16Dot(be) && s.nTok >= bf16MR
			// Measured at most 3.5e-3 of max |v| with bf16 inputs, 1.8e-7 in f32.
			limit := 5e-7
			if bf16 {
				limit = 8e-3
			}
			if !(worst <= limit) {
				t.Errorf("%s: worst error %.3g of max |v| (bf16 %v)", name, worst, bf16)
			}
			t.Logf("%s: worst error %.3g of max |v| (bf16 %v)", name, worst, bf16)
		}
		active = old
	}
}

// TestSoftmaxBF16 checks the fused soft-max (scaling and rounding in one
// pass) against Softmax then toBF16 on every backend, bit for bit, for
// lengths with and without a tail.
func TestSoftmaxBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, be := range backends {
		for _, n := range []int{1, 31, 32, 100, 1024} {
			row := randVec(r, n, 8)
			want := make([]uint16, n)
			ref := append([]float32(nil), row...)
			be.softmax(ref)
			toBF16(be, want, ref)
			got := make([]uint16, n)
			softmaxBF16(be, got, append([]float32(nil), row...))
			if !slices.Equal(got, want) {
				t.Errorf("%s n %d: fused soft-max differs from Softmax then toBF16", be.name, n)
			}
		}
	}
}

// TestAttentionBF16Tokens checks that token-major keys and values give
// AttentionBF16's bits on the same data laid out head-major, on every
// backend (the fallback copies them for AttentionBatch).
func TestAttentionBF16Tokens(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for _, be := range backends {
		old := active
		active = be
		for _, s := range [][5]int{{24, 12, 12, 64, 100}, {37, 2, 2, 64, 37}, {50, 4, 2, 32, 101}, {5, 2, 1, 7, 9}} {
			nTok, nHeads, nKV, hd, n := s[0], s[1], s[2], s[3], s[4]
			q := randVec(r, nTok*nHeads*hd, 1)
			k := randVec(r, nKV*n*hd, 1)
			v := randVec(r, nKV*n*hd, 1)
			kt, vt := make([]float32, len(k)), make([]float32, len(v))
			for h := range nKV {
				for p := range n {
					copy(kt[(p*nKV+h)*hd:(p*nKV+h+1)*hd], k[(h*n+p)*hd:(h*n+p+1)*hd])
					copy(vt[(p*nKV+h)*hd:(p*nKV+h+1)*hd], v[(h*n+p)*hd:(h*n+p+1)*hd])
				}
			}
			want, got := make([]float32, len(q)), make([]float32, len(q))
			AttentionBF16(want, q, k, v, nTok, nHeads, nKV, hd, n, n, 0.125)
			AttentionBF16Tokens(got, q, kt, vt, nTok, nHeads, nKV, hd, n, 0.125)
			if !slices.Equal(got, want) {
				t.Errorf("%s %v: token-major keys and values differ from head-major", be.name, s)
			}
		}
		active = old
	}
}
