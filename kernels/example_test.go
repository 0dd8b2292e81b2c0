package kernels_test

import (
	"fmt"

	"github.com/cellm-ai/cellm-go/kernels"
)

func ExampleMatVec() {
	w := &kernels.Matrix{Type: kernels.F32, Rows: 2, Cols: 3, F32: []float32{
		1, 2, 3,
		4, 5, 6,
	}}
	y := make([]float32, 2)
	kernels.MatVec(y, w, []float32{1, 0, -1})
	fmt.Println(y)
	// Output: [-2 -2]
}

func ExampleAttention() {
	// One head of size 2 over a cache of 2 positions (capacity 4).
	k := []float32{1, 0, 0, 1, 0, 0, 0, 0}
	v := []float32{10, 0, 0, 20, 0, 0, 0, 0}
	q := []float32{0, 0} // equal scores: the mean of the two V rows
	out := make([]float32, 2)
	kernels.Attention(out, q, k, v, 1, 1, 2, 2, 4, 1)
	fmt.Println(out)
	// Output: [5 10]
}
