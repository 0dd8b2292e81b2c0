package idefics3

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/npy"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/models/siglip"
)

// Running several tiles through the vision tower as one batch
// (VisionBatch) gives the features of one tile at a time, also with
// partly padded tiles (each tile keeps its own patch mask) and a last
// batch that is not full.
func TestVisionBatch(t *testing.T) {
	for _, c := range []struct {
		dt   format.DType
		bf16 bool
	}{{format.F32, false}, {format.BF16, true}} {
		m, err := Load(openFixture(t, c.dt))
		if err != nil {
			t.Fatal(err)
		}
		m.Vision.UseBF16Activations(c.bf16)
		pixels, err := npy.ReadRawF32(filepath.Join(testutil.Fixture(t, "smolvlm-tiny", "reference"), "pixel_values_split.f32"))
		if err != nil {
			t.Fatal(err)
		}
		vc := m.Vision.Config()
		s := vc.ImageSize
		n := len(pixels) / (3 * s * s)
		masks := make([][]bool, n)
		for i := range masks {
			if i%2 == 1 {
				continue // nil: all real
			}
			masks[i] = make([]bool, s*s)
			for y := range s - 8*i {
				for x := range s - 12*(i%3) {
					masks[i][y*s+x] = true
				}
			}
		}
		m.VisionBatch = 1
		want, err := m.ImageFeatures(pixels, masks, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range []int{2, n, 2 * n} {
			m.VisionBatch = batch
			var ticks []int
			got, err := m.ImageFeatures(pixels, masks, n, &Timing{OnTile: func(done, total int) { ticks = append(ticks, done) }})
			if err != nil {
				t.Fatal(err)
			}
			// Identical at real shapes; here 16-patch tiles go through the
			// row kernel alone and the GEMM batched: 1.9e-6 measured.
			r := numcheck.Close(t, fmt.Sprintf("%v batch %d features", c.dt, batch), got, want, numcheck.Tol{Abs: 1e-5})
			t.Logf("%v (bf16 activations %v) batch %d: %v", c.dt, c.bf16, batch, r)
			if ticks[len(ticks)-1] != n || len(ticks) != (n+batch-1)/batch {
				t.Errorf("batch %d: progress %v for %d tiles", batch, ticks, n)
			}
		}
	}
}

// A tile without real pixels in a batch is an error naming it.
func TestVisionBatchErrors(t *testing.T) {
	m, err := Load(openFixture(t, format.F32))
	if err != nil {
		t.Fatal(err)
	}
	s := m.Vision.Config().ImageSize
	m.VisionBatch = 3
	masks := [][]bool{nil, make([]bool, s*s), nil}
	if _, err := m.ImageFeatures(make([]float32, 3*3*s*s), masks, 3, nil); err == nil || !strings.Contains(err.Error(), "image 1 has no real pixels") {
		t.Errorf("all-padding tile: %v", err)
	}
	masks[1] = make([]bool, 7)
	if _, err := m.ImageFeatures(make([]float32, 3*3*s*s), masks, 3, nil); err == nil || !strings.Contains(err.Error(), "image 1: pixel mask of 7") {
		t.Errorf("short mask: %v", err)
	}
	var ws siglip.Workspace
	if _, err := m.Vision.EncodeBatch(&ws, make([]float32, 3*s*s), [][]bool{nil, nil}, 1); err == nil || !strings.Contains(err.Error(), "2 pixel masks for 1 images") {
		t.Errorf("mask count: %v", err)
	}
	if _, err := m.Vision.EncodeBatch(&ws, make([]float32, 3*s*s), nil, 2); err == nil || !strings.Contains(err.Error(), "pixel values") {
		t.Errorf("pixel count: %v", err)
	}
}
