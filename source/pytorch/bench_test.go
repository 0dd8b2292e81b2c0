package pytorch

import (
	"testing"

	"github.com/cellm-ai/cellm-go/source"
)

func BenchmarkOpenLlamaTiny(b *testing.B) {
	for b.Loop() {
		set, err := Open("../../testdata/llama-tiny/pytorch_model.bin")
		if err != nil {
			b.Fatal(err)
		}
		set.Close()
	}
}

// BenchmarkMaterializeTransposed gathers a transposed 1024x1024 f32 view.
func BenchmarkMaterializeTransposed(b *testing.B) {
	const n = 1024
	st := &storageRef{dtype: source.F32, numel: n * n, data: make([]byte, 4*n*n)}
	v := &tensorRef{storage: st, size: []int{n, n}, stride: []int{1, n}}
	b.SetBytes(4 * n * n)
	for b.Loop() {
		budget := 1 << 30
		if _, err := v.materialize("t", &budget); err != nil {
			b.Fatal(err)
		}
	}
}
