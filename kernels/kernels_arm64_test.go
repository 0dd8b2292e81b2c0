//go:build arm64 && !purego

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"golang.org/x/sys/cpu"
)

// neonGroupedKernels lists the grouped NEON kernels this CPU runs: the
// SMULL/SADALP ones always, the SDOT ones if it has the dot product
// extension. Testing both here (not only the best backend) covers the
// plain path on CPUs, such as qemu's default one, that have SDOT.
func neonGroupedKernels(t *testing.T) []struct {
	name string
	q8   func(y []float32, w []int8, scale []float32, group int, q *q8Vec)
	q4   func(y []float32, w []byte, scale []float32, group int, q *q8Vec)
} {
	ks := []struct {
		name string
		q8   func(y []float32, w []int8, scale []float32, group int, q *q8Vec)
		q4   func(y []float32, w []byte, scale []float32, group int, q *q8Vec)
	}{{"smull", matVecQ8GNMul, matVecQ4NMul}}
	if cpu.ARM64.HasASIMDDP {
		ks = append(ks, ks[0])
		ks[1].name, ks[1].q8, ks[1].q4 = "sdot", matVecQ8GNDot, matVecQ4NDot
	} else {
		t.Log("CPU lacks SDOT: only the SMULL kernels are tested")
	}
	return ks
}

// fillQ8Vec sets q to the given int8 activations with one scale per block,
// as quantizeActivations would (the float values are not read).
func fillQ8Vec(q *q8Vec, act []int8, blockScale func(b int) float32) {
	q.x = make([]float32, len(act))
	q.q = act
	q.ls = make([]float32, len(act)/4)
	for l := range q.ls {
		q.ls[l] = blockScale(l * 4 / q8Block)
	}
	q.ok = true
	q.laneSums()
	q.nibbleOrder()
}

// TestGroupedNEONMatchGeneric checks the grouped int8 and int4 NEON
// kernels, SDOT and SMULL alike, against the pure-Go ones: every row count
// from 1 to 9 (the four-row and one-row loops), groups of one block to a
// whole row, random codes and the extreme ones (int8 -128 and int4 -8 times
// activations of ±127, where int16 products sum closest to overflow).
func TestGroupedNEONMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, k := range neonGroupedKernels(t) {
		for _, s := range []struct{ cols, group int }{{32, 32}, {64, 32}, {128, 64}, {96, 96}, {576, 64}, {256, 128}, {1024, 256}} {
			for rows := 1; rows <= 9; rows++ {
				for _, extreme := range []bool{false, true} {
					name := fmt.Sprintf("%s/%dx%d-g%d/extreme=%v", k.name, rows, s.cols, s.group, extreme)
					groups := s.cols / s.group
					act := make([]int8, s.cols)
					w8 := make([]int8, rows*s.cols)
					w4 := make([]byte, rows*s.cols/2)
					scale := make([]float32, rows*groups)
					for i := range act {
						if extreme {
							act[i] = -127
							if i%3 == 0 {
								act[i] = 127
							}
						} else {
							act[i] = int8(r.IntN(255) - 127)
						}
					}
					for i := range w8 {
						if extreme {
							w8[i] = -128
						} else {
							w8[i] = int8(r.IntN(256) - 128)
						}
					}
					for i := range w4 {
						if !extreme { // extreme: code 0, i.e. -8, in both nibbles
							w4[i] = byte(r.IntN(256))
						}
					}
					for i := range scale {
						scale[i] = float32(r.Float64()*0.02 + 0.001)
					}
					var q q8Vec
					fillQ8Vec(&q, act, func(b int) float32 { return float32(b%5+1) * 0.01 })
					got, want := make([]float32, rows), make([]float32, rows)
					k.q8(got, w8, scale, s.group, &q)
					matVecQ8GGeneric(want, w8, scale, s.group, &q)
					checkRowsClose(t, name+"/q8", got, want, w8Mag(w8, act, scale, s.cols, s.group, q.ls))
					k.q4(got, w4, scale, s.group, &q)
					matVecQ4Generic(want, w4, scale, s.group, &q)
					checkRowsClose(t, name+"/q4", got, want, w4Mag(w4, act, scale, s.cols, s.group, q.ls))
				}
			}
		}
	}
}

// w8Mag returns per row sum |w*scale*q*ls|, the magnitude rounding errors
// are relative to.
func w8Mag(w []int8, act []int8, scale []float32, cols, group int, ls []float32) []float64 {
	mag := make([]float64, len(w)/cols)
	for r := range mag {
		for c := range cols {
			mag[r] += math.Abs(float64(w[r*cols+c]) * float64(scale[r*(cols/group)+c/group]) * float64(act[c]) * float64(ls[c/4]))
		}
	}
	return mag
}

func w4Mag(w []byte, act []int8, scale []float32, cols, group int, ls []float32) []float64 {
	w8 := make([]int8, len(w)*2)
	for i := range w8 {
		w8[i] = int8(w[i/2]>>(4*(i%2))&15) - 8
	}
	return w8Mag(w8, act, scale, cols, group, ls)
}

// checkRowsClose fails on NaN, Inf, a length mismatch or a difference beyond
// float32 rounding of the sums: 1e-6 of the magnitude (measured up to
// 7.5e-8 on these cases).
func checkRowsClose(t *testing.T, name string, got, want []float32, mag []float64) {
	t.Helper()
	if _, err := numcheck.Compare(got, want, numcheck.Tol{Rel: 1e-6, Scale: mag}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestGroupedNEONZeroAllocs checks the NEON grouped kernels allocate
// nothing per call.
func TestGroupedNEONZeroAllocs(t *testing.T) {
	const rows, cols, group = 37, 576, 64
	var q q8Vec
	fillQ8Vec(&q, make([]int8, cols), func(int) float32 { return 1 })
	y := make([]float32, rows)
	w8, w4 := make([]int8, rows*cols), make([]byte, rows*cols/2)
	scale := make([]float32, rows*cols/group)
	for _, k := range neonGroupedKernels(t) {
		if a := testing.AllocsPerRun(20, func() { k.q8(y, w8, scale, group, &q) }); a != 0 {
			t.Errorf("%s q8: %v allocs per call", k.name, a)
		}
		if a := testing.AllocsPerRun(20, func() { k.q4(y, w4, scale, group, &q) }); a != 0 {
			t.Errorf("%s q4: %v allocs per call", k.name, a)
		}
	}
}

// TestGroupedNEONParallel checks MatVec split across workers (chunks of
// rows starting anywhere, four-row and one-row loops mixed) on each NEON
// backend against the pure-Go one.
func TestGroupedNEONParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	SetThreads(2)
	defer SetThreads(0)
	const rows, cols = 603, 576
	for _, dt := range []DType{Q8, Q4} {
		m, ref := randGrouped(r, dt, rows, cols, 64)
		x := randVec(r, cols, 1)
		_, mag := refMatVec(ref, rows, cols, x)
		want := make([]float32, rows)
		matVec(generic, want, m, x)
		for _, b := range backends[1:] {
			got := make([]float32, rows)
			matVec(b, got, m, x)
			if _, err := numcheck.Compare(got, want, numcheck.Tol{Rel: 1e-6, Scale: mag}); err != nil {
				t.Errorf("%s %s: %v", b.name, dt, err)
			}
		}
	}
}
