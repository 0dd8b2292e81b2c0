package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRowsParallel: RMSNormRows, Add and SiLUMul over sizes that split
// over the pool equal their single-row / single-thread results bit for bit.
func TestRowsParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	defer workers.threads.Store(workers.threads.Load())
	SetThreads(3)
	for _, sh := range [][2]int{{1, 8}, {7, 100}, {200, 576}, {513, 64}} {
		n, d := sh[0], sh[1]
		x, w := randVec(r, n*d, 2), randVec(r, d, 1)
		got := make([]float32, n*d)
		RMSNormRows(got, x, w, n, 1e-5)
		want := make([]float32, n*d)
		for i := range n {
			RMSNorm(want[i*d:(i+1)*d], x[i*d:(i+1)*d], w, 1e-5)
		}
		if !slices.Equal(got, want) {
			t.Errorf("RMSNormRows %dx%d differs from RMSNorm row by row", n, d)
		}
		inPlace := slices.Clone(x)
		RMSNormRows(inPlace, inPlace, w, n, 1e-5)
		if !slices.Equal(inPlace, want) {
			t.Errorf("RMSNormRows %dx%d in place differs", n, d)
		}
	}
	for _, n := range []int{100, parallelMin - 1, parallelMin, 3*parallelMin + 17} {
		a, b := randVec(r, n, 1), randVec(r, n, 1)
		got, want := make([]float32, n), make([]float32, n)
		Add(got, a, b)
		addGeneric(want, a, b)
		if !slices.Equal(got, want) {
			t.Errorf("Add n=%d differs from the serial loop", n)
		}
		SiLUMul(got, a, b)
		active.siluMul(want, a, b)
		if !slices.Equal(got, want) {
			t.Errorf("SiLUMul n=%d differs from the serial kernel", n)
		}
	}
}

// TestRoPERows: RoPERows equals RoPE row by row, with and without k, for
// few and many rows, and refuses positions past the tables.
func TestRoPERows(t *testing.T) {
	r := rand.New(rand.NewPCG(73, 74))
	defer workers.threads.Store(workers.threads.Load())
	SetThreads(3)
	const hd, qh, kh, maxPos = 64, 9, 3, 700
	cos, sin := randVec(r, maxPos*hd/2, 1), randVec(r, maxPos*hd/2, 1)
	for _, n := range []int{1, 5, 300} {
		pos := make([]int, n)
		for i := range pos {
			pos[i] = r.IntN(maxPos)
		}
		q, k := randVec(r, n*qh*hd, 1), randVec(r, n*kh*hd, 1)
		wq, wk := slices.Clone(q), slices.Clone(k)
		for i, p := range pos {
			cs, sn := cos[p*hd/2:(p+1)*hd/2], sin[p*hd/2:(p+1)*hd/2]
			RoPE(wq[i*qh*hd:(i+1)*qh*hd], qh, hd, cs, sn)
			RoPE(wk[i*kh*hd:(i+1)*kh*hd], kh, hd, cs, sn)
		}
		q2 := slices.Clone(q)
		RoPERows(q, k, pos, qh, kh, hd, cos, sin)
		RoPERows(q2, nil, pos, qh, 0, hd, cos, sin)
		if !slices.Equal(q, wq) || !slices.Equal(k, wk) || !slices.Equal(q2, wq) {
			t.Errorf("n=%d: RoPERows differs from RoPE row by row", n)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("RoPERows accepted a position past the tables")
		}
	}()
	RoPERows(make([]float32, qh*hd), nil, []int{maxPos}, qh, 0, hd, cos, sin)
}
