package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/testutil"
)

func TestConvertInspect(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.cellm")
	var stderr bytes.Buffer
	if code := run([]string{"convert", "--input", testutil.Fixture(t, "llama-tiny"), "--output", out, "--dtype", "bf16"}, &stderr); code != 0 {
		t.Fatalf("convert exit %d: %s", code, stderr.String())
	}
	if code := run([]string{"inspect", out, "--json"}, &stderr); code != 0 {
		t.Fatalf("inspect exit %d: %s", code, stderr.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.cellm")
	os.WriteFile(bad, []byte("CELLM\x01junk"), 0o644)
	if code := run([]string{"inspect", bad}, &stderr); code != 1 {
		t.Errorf("inspect of a bad file: exit %d", code)
	}
	if code := run([]string{"convert", "--input", t.TempDir(), "--output", out}, &stderr); code != 1 || !strings.Contains(stderr.String(), "config.json") {
		t.Errorf("convert of an empty folder: exit %d, %s", code, stderr.String())
	}
	if code := run([]string{"nope"}, &stderr); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestRandomModel(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 270 MB model")
	}
	dir := t.TempDir()
	var stderr bytes.Buffer
	if code := run([]string{"make-random-model", "--model", "smollm2-135m", "--output", dir}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := filepath.Join(dir, "m.cellm")
	if code := run([]string{"convert", "--input", dir, "--output", out, "--quantize-int8-symmetric"}, &stderr); code != 0 {
		t.Fatalf("convert exit %d: %s", code, stderr.String())
	}
}
