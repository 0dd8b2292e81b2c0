package npy

import (
	"testing"

	"github.com/cellm-ai/cellm-go/internal/testutil"
)

func TestRead(t *testing.T) {
	a, err := Read(testutil.Fixture(t, "llama-tiny", "reference", "hidden_len7.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Shape) != 3 || a.Shape[0] != 4 || a.Shape[1] != 7 || a.Shape[2] != 64 {
		t.Errorf("shape %v", a.Shape)
	}
	if _, err := Parse([]byte("\x93NUMPY\x01\x00\x05\x00{'de")); err == nil {
		t.Error("truncated header accepted")
	}
}
