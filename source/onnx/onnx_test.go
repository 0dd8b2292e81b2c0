package onnx

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/source"
)

type manifestEntry struct {
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	SHA256 string `json:"sha256"`
}

func loadManifest(t *testing.T) map[string]manifestEntry {
	t.Helper()
	raw, err := os.ReadFile("testdata/smolvlm_safetensors_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]manifestEntry
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	return man
}

// asBF16 returns the bf16 bytes of a tensor: as stored for BF16, and for F32
// the high halves, failing if any float32 is not an exact bf16 upcast.
func asBF16(t *testing.T, x *source.Tensor) []byte {
	t.Helper()
	switch x.DType {
	case source.BF16:
		return x.Data
	case source.F32:
		out := make([]byte, len(x.Data)/2)
		for i := 0; i < len(x.Data); i += 4 {
			v := binary.LittleEndian.Uint32(x.Data[i:])
			if v&0xffff != 0 {
				t.Errorf("%s: element %d (0x%08x) is not an exact bf16 upcast", x.Name, i/4, v)
				return nil
			}
			binary.LittleEndian.PutUint16(out[i/2:], uint16(v>>16))
		}
		return out
	}
	t.Fatalf("%s: unexpected dtype %s", x.Name, x.DType)
	return nil
}

// TestSmolVLMParity opens the official-layout folder (vision encoder, token
// embedding and decoder) and compares every tensor with the safetensors
// checkpoint, via its manifest.
func TestSmolVLMParity(t *testing.T) {
	man := loadManifest(t)
	set, err := OpenDir("../../testdata/smolvlm-tiny/onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if len(set.Tensors) != len(man) {
		t.Errorf("%d tensors, want %d", len(set.Tensors), len(man))
	}
	for _, x := range set.Tensors {
		if _, ok := man[x.Name]; !ok {
			t.Errorf("unexpected tensor %s %s %v", x.Name, x.DType, x.Shape)
		}
	}
	for name, m := range man {
		x, ok := set.Lookup(name)
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if !slices.Equal(x.Shape, m.Shape) {
			t.Errorf("%s: shape %v, want %v", name, x.Shape, m.Shape)
			continue
		}
		sum := sha256.Sum256(asBF16(t, x))
		if hex.EncodeToString(sum[:]) != m.SHA256 {
			t.Errorf("%s (%s): data differs from the safetensors tensor", name, x.DType)
		}
	}
}
