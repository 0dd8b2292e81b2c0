package main

import (
	"bytes"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// A non-square tile grid round-trips: --dump-pixel-values output fed back
// with --pixel-values (grid from the sidecar, or given with --pixel-grid)
// gives the same image features as the image itself; without any grid the
// features can still be dumped. The features must be identical (the same
// tiles through the same encoder).
func TestVLMInferPixelGridRoundTrip(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "vlm.cellm")
	var stderr bytes.Buffer
	if code := run([]string{"convert", "--input", testutil.Fixture(t, "smolvlm-tiny"), "--output", model, "--dtype", "f32"}, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	// 120x60: longest edge 128 -> 128x64 -> a 1x2 grid of 64x64 tiles + global.
	img := image.NewRGBA(image.Rect(0, 0, 120, 60))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7 / 3)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	imgPath := filepath.Join(dir, "wide.png")
	if err := os.WriteFile(imgPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pixels := filepath.Join(dir, "pixels.f32")
	// The fixture has no tokenizer: the prompt ids fail after the dump.
	run([]string{"vlm-infer", "--model", model, "--image", imgPath, "--split-image", "--dump-pixel-values", pixels}, &stderr)
	side, err := os.ReadFile(pixels + ".json")
	if err != nil {
		t.Fatalf("no sidecar: %v (%s)", err, stderr.String())
	}
	if !strings.Contains(string(side), `"pixel_grid":"1x2"`) || !strings.Contains(string(side), `"shape":[3,3,64,64]`) {
		t.Fatalf("sidecar %s, want shape [3,3,64,64] and grid 1x2", side)
	}
	features := func(name string, args ...string) []float32 {
		t.Helper()
		out := filepath.Join(dir, name)
		stderr.Reset()
		run(append([]string{"vlm-infer", "--model", model, "--dump-image-features", out}, args...), &stderr)
		if _, err := os.Stat(out); err != nil {
			t.Fatalf("%s: no features written: %s", name, stderr.String())
		}
		return readF32(t, out)
	}
	want := features("from_image.f32", "--image", imgPath, "--split-image")
	if len(want) == 0 {
		t.Fatal("no features")
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"sidecar", []string{"--pixel-values", pixels}},
		{"flags", []string{"--pixel-values", pixels, "--pixel-shape", "3,3,64,64", "--pixel-grid", "1x2"}},
	} {
		numcheck.Close(t, tc.name+": features against the image's", features(tc.name+".f32", tc.args...), want, numcheck.Tol{})
	}
	// No grid at all (sidecar gone): features only.
	if err := os.Remove(pixels + ".json"); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"vlm-infer", "--model", model, "--pixel-values", pixels, "--pixel-shape", "3,3,64,64",
		"--dump-image-features", filepath.Join(dir, "nogrid.f32")}, &stderr); code != 0 {
		t.Errorf("features without a grid: exit %d: %s", code, stderr.String())
	}
	numcheck.Close(t, "features without a grid", readF32(t, filepath.Join(dir, "nogrid.f32")), want, numcheck.Tol{})
	// Generating needs the grid; a wrong one is refused.
	for _, args := range [][]string{
		{"--pixel-shape", "3,3,64,64", "--prompt", "hi"},
		{"--pixel-shape", "3,3,64,64", "--pixel-grid", "2x2", "--prompt", "hi"},
		{"--pixel-shape", "3,3,64,64", "--pixel-grid", "1by2", "--prompt", "hi"},
	} {
		stderr.Reset()
		if code := run(append([]string{"vlm-infer", "--model", model, "--pixel-values", pixels}, args...), &stderr); code == 0 ||
			!strings.Contains(stderr.String(), "pixel-grid") {
			t.Errorf("%v: exit %d, stderr %q; want a --pixel-grid error", args, code, stderr.String())
		}
	}
}

// --image-max-tiles and --image-longest-edge change the tiles as
// documented: the 120x60 image is 1x2 tiles + global at the processor's
// longest edge (128), one tile under a cap of 2 or at a longest edge of 64.
func TestVLMInferImageMaxTiles(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "vlm.cellm")
	var stderr bytes.Buffer
	if code := run([]string{"convert", "--input", testutil.Fixture(t, "smolvlm-tiny"), "--output", model, "--dtype", "f32"}, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 120, 60))); err != nil {
		t.Fatal(err)
	}
	imgPath := filepath.Join(dir, "wide.png")
	if err := os.WriteFile(imgPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags []string
		shape string
	}{
		{nil, `"shape":[3,3,64,64]`},
		{[]string{"--image-max-tiles", "3"}, `"shape":[3,3,64,64]`},
		{[]string{"--image-max-tiles", "2"}, `"shape":[1,3,64,64]`},
		{[]string{"--image-longest-edge", "64"}, `"shape":[1,3,64,64]`},
	} {
		pixels := filepath.Join(dir, "pixels.f32")
		os.Remove(pixels + ".json")
		stderr.Reset()
		run(append([]string{"vlm-infer", "--model", model, "--image", imgPath, "--split-image", "--dump-pixel-values", pixels}, c.flags...), &stderr)
		side, err := os.ReadFile(pixels + ".json")
		if err != nil {
			t.Fatalf("%v: no sidecar: %v (%s)", c.flags, err, stderr.String())
		}
		if !strings.Contains(string(side), c.shape) {
			t.Errorf("%v: sidecar %s, want %s", c.flags, side, c.shape)
		}
	}
	if code := run([]string{"vlm-infer", "--model", model, "--image", imgPath, "-p", "x", "--image-max-tiles", "-1"}, &stderr); code == 0 {
		t.Error("a negative --image-max-tiles was accepted")
	}
}

// TestPrefillPrecisionFlag: --prefill-bf16 absent is auto, given alone or
// =true PrefillBF16, =false PrefillF32.
func TestPrefillPrecisionFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want cellm.PrefillPrecision
		str  string
	}{
		{nil, cellm.PrefillAuto, "auto"},
		{[]string{"--prefill-bf16"}, cellm.PrefillBF16, "true"},
		{[]string{"--prefill-bf16=true"}, cellm.PrefillBF16, "true"},
		{[]string{"--prefill-bf16=false"}, cellm.PrefillF32, "false"},
	} {
		var f prefillPrecisionFlag
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.Var(&f, "prefill-bf16", "")
		if err := fs.Parse(c.args); err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if f.p != c.want || f.String() != c.str {
			t.Errorf("%q: %v (%q), want %v (%q)", c.args, f.p, f.String(), c.want, c.str)
		}
	}
}
