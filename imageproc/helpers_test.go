package imageproc

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// testdataPath returns the path of a file in imageproc/testdata.
func testdataPath(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(testutil.RepoRoot(t), "imageproc", "testdata", name)
}

// readTestdata reads a testdata file, gunzipping names ending in .gz.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(testdataPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Ext(name) == ".gz" {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return data
}

// loadRGB reads a raw H×W×3 testdata dump.
func loadRGB(t testing.TB, name string, w, h int) *RGB {
	t.Helper()
	pix := readTestdata(t, name)
	if len(pix) != w*h*3 {
		t.Fatalf("%s: %d bytes, want %d", name, len(pix), w*h*3)
	}
	return &RGB{W: w, H: h, Pix: pix}
}

// diffStats returns the maximum and mean absolute difference of two byte
// slices and the number of differing bytes. A length mismatch counts every
// unmatched byte as differing by 256, more than any real difference, so
// that no bound on the results can pass it.
func diffStats(a, b []uint8) (maxDiff int, mean float64, differ int) {
	sum := 0
	n := max(len(a), len(b))
	for i := range n {
		d := 256
		if i < len(a) && i < len(b) {
			d = int(a[i]) - int(b[i])
			if d < 0 {
				d = -d
			}
		}
		if d != 0 {
			differ++
		}
		sum += d
		maxDiff = max(maxDiff, d)
	}
	if n > 0 {
		mean = float64(sum) / float64(n)
	}
	return maxDiff, mean, differ
}
