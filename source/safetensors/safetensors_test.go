package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/source"
)

func TestOpenFixture(t *testing.T) {
	set, err := OpenDir(testutil.Fixture(t, "llama-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	e, ok := set.Lookup("model.embed_tokens.weight")
	if !ok || e.DType != source.BF16 || e.Shape[0] != 49152 || e.Shape[1] != 64 {
		t.Fatalf("embed_tokens: %+v", e)
	}
	if _, ok := set.Lookup("lm_head.weight"); ok {
		t.Error("tied checkpoint has lm_head.weight")
	}
	if len(set.Tensors) != 1+2*9+1 {
		t.Errorf("%d tensors", len(set.Tensors))
	}
}

func TestOpenSharded(t *testing.T) {
	set, err := OpenDir(testutil.Fixture(t, "llama3-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if _, ok := set.Lookup("model.norm.weight"); !ok {
		t.Fatal("model.norm.weight missing")
	}
	if len(set.Tensors) != 20 {
		t.Errorf("%d tensors", len(set.Tensors))
	}
}

func TestShardIndexMismatch(t *testing.T) {
	dir := t.TempDir()
	x := source.Tensor{Name: "x", DType: source.F32, Shape: []int{1}, Data: make([]byte, 4)}
	if err := WriteFile(filepath.Join(dir, "a.safetensors"), []source.Tensor{x}, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"weight_map":{"x":"a.safetensors","y":"a.safetensors"}}`), 0o644)
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), `tensor "y" listed for a.safetensors is missing`) {
		t.Fatalf("missing tensor: %v", err)
	}
}

func TestWriteRoundTrip(t *testing.T) {
	in := []source.Tensor{
		{Name: "b", DType: source.BF16, Shape: []int{2, 2}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{Name: "a", DType: source.I64, Shape: []int{1}, Data: []byte{9, 0, 0, 0, 0, 0, 0, 0}},
		{Name: "s", DType: source.F32, Shape: []int{}, Data: []byte{0, 0, 0x80, 0x3f}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, in, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	got, meta, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != "pt" || len(got) != 3 {
		t.Fatalf("meta %v, %d tensors", meta, len(got))
	}
	for _, g := range got {
		for _, w := range in {
			if g.Name == w.Name && (!bytes.Equal(g.Data, w.Data) || g.DType != w.DType) {
				t.Errorf("%s: %v != %v", g.Name, g.Data, w.Data)
			}
		}
	}
}

func raw(header string, data int) []byte {
	b := make([]byte, 8, 8+len(header)+data)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, data)...)
}

func TestMalformed(t *testing.T) {
	huge := raw("{}", 0)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"short", []byte{1, 2}, "file too short"},
		{"huge header", huge, "exceeds the limit"},
		{"header past end", raw("{}", 0)[:9], "runs past the end"},
		{"bad json", raw(`{"a":`, 0), "header JSON"},
		{"bad dtype", raw(`{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, 1), `tensor "a": unsupported dtype "F8_E4M3"`},
		{"size mismatch", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 8), `tensor "a": data_offsets [0, 4] do not hold shape [2]`},
		{"past end", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "run past the end of the data"},
		{"overflow", raw(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8), "overflows"},
		{"overlap", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlaps"},
		{"unknown field", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, 4), `tensor "a"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Parse(c.data)
			if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	Write(&buf, []source.Tensor{{Name: "a", DType: source.F16, Shape: []int{2, 1}, Data: make([]byte, 4)}}, map[string]string{"k": "v"})
	f.Add(buf.Bytes())
	f.Add(raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		tensors, _, err := Parse(data)
		if err != nil {
			return
		}
		for _, tn := range tensors {
			if len(tn.Data) != tn.NumElements()*tn.DType.Size() {
				t.Fatalf("tensor %q: %d bytes for %v", tn.Name, len(tn.Data), tn.Shape)
			}
		}
	})
}
