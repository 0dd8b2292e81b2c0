package flax

import "testing"

// BenchmarkTransposeKernel measures the [in, out] -> [out, in] transpose of a
// 2048x2048 bf16 Dense kernel.
func BenchmarkTransposeKernel(b *testing.B) {
	const n = 2048
	data := make([]byte, 2*n*n)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		permute(data, []int{n, n}, []int{1, 0}, 2)
	}
}

// BenchmarkParse measures decoding a file of 64 1 MiB arrays (aliased, no copy).
func BenchmarkParse(b *testing.B) {
	root := tree{}
	for i := 0; i < 64; i++ {
		root[string(rune('a'+i%26))+string(rune('a'+i/26))] = tree{"bias": ndarrayExt([]int{1 << 18}, "float32", make([]byte, 1<<20))}
	}
	var e enc
	e.tree(root)
	data := e.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
