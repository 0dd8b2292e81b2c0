package convert

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/randmodel"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

var (
	randOnce sync.Once
	randDir  string
	randErr  error
)

// TestMain removes the random model BenchmarkConvert writes.
func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

// BenchmarkConvert converts a random-weight SmolLM2-135M (bf16 safetensors,
// 270 MB) and reports output MB/s.
func BenchmarkConvert(b *testing.B) {
	randOnce.Do(func() {
		randDir, randErr = os.MkdirTemp("", "cellm-bench-*")
		if randErr == nil {
			randErr = randmodel.Write(randDir, "smollm2-135m", 1, "")
		}
	})
	if randErr != nil {
		b.Fatal(randErr)
	}
	for _, c := range []struct {
		name string
		opt  Options
	}{
		{"bf16-copy", Options{DType: format.BF16}},
		{"f16", Options{DType: format.F16}},
		{"int8", Options{DType: format.F16, QuantizeInt8: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "m.cellm")
			var bytes int64
			for b.Loop() {
				sum, err := Convert(randDir, out, c.opt)
				if err != nil {
					b.Fatal(err)
				}
				bytes = sum.OutputBytes
			}
			b.SetBytes(bytes)
		})
	}
}
