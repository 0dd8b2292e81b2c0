package format

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
)

// BenchmarkOpen opens (maps and validates) a 500 MB file with 300 tensors.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.cellm")
	w := NewWriter(Header{ModelType: "llama"})
	zeros := make([]byte, 1<<20)
	for i := range 300 {
		n := 500 << 20 / 300 / 2
		w.AddTensor(fmt.Sprintf("model.layers.%d.weight", i), F16, []int{n}, func(out io.Writer) error {
			for left := 2 * n; left > 0; left -= len(zeros) {
				if _, err := out.Write(zeros[:min(left, len(zeros))]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := w.WriteFile(path, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
