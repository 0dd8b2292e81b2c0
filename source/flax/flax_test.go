package flax

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/source"
	"github.com/cellm-ai/cellm-go/source/pytorch"
)

// enc is a minimal msgpack encoder for building test files.
type enc struct{ bytes.Buffer }

func (e *enc) head(fix, b8, b16, b32 byte, fixMax, n int) {
	switch {
	case fix != 0 && n <= fixMax:
		e.WriteByte(fix | byte(n))
	case b8 != 0 && n < 1<<8:
		e.WriteByte(b8)
		e.WriteByte(byte(n))
	case n < 1<<16:
		e.WriteByte(b16)
		e.Write(binary.BigEndian.AppendUint16(nil, uint16(n)))
	default:
		e.WriteByte(b32)
		e.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
	}
}
func (e *enc) mapHead(n int)   { e.head(0x80, 0, 0xde, 0xdf, 15, n) }
func (e *enc) arrayHead(n int) { e.head(0x90, 0, 0xdc, 0xdd, 15, n) }
func (e *enc) str(s string)    { e.head(0xa0, 0xd9, 0xda, 0xdb, 31, len(s)); e.WriteString(s) }
func (e *enc) bin(b []byte)    { e.head(0, 0xc4, 0xc5, 0xc6, 0, len(b)); e.Write(b) }
func (e *enc) uint(n int) {
	if n < 128 {
		e.WriteByte(byte(n))
		return
	}
	e.WriteByte(0xce)
	e.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
}
func (e *enc) ext(typ int8, payload []byte) {
	e.head(0, 0xc7, 0xc8, 0xc9, 0, len(payload))
	e.WriteByte(byte(typ))
	e.Write(payload)
}

// ndarray encodes a Flax ext-1 array.
func ndarrayExt(shape []int, dtype string, data []byte) []byte {
	var p enc
	p.arrayHead(3)
	p.arrayHead(len(shape))
	for _, d := range shape {
		p.uint(d)
	}
	p.str(dtype)
	p.bin(data)
	var e enc
	e.ext(1, p.Bytes())
	return e.Bytes()
}

// tree is a nested map for the encoder: values are tree or raw encoded bytes.
type tree map[string]any

func (e *enc) tree(t tree) {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.mapHead(len(keys))
	for _, k := range keys {
		e.str(k)
		switch v := t[k].(type) {
		case tree:
			e.tree(v)
		case []byte:
			e.Write(v)
		}
	}
}

func (t tree) put(path []string, v []byte) {
	for _, p := range path[:len(path)-1] {
		sub, ok := t[p].(tree)
		if !ok {
			sub = tree{}
			t[p] = sub
		}
		t = sub
	}
	t[path[len(path)-1]] = v
}

var dtypeNames = map[source.DType]string{source.F32: "float32", source.F16: "float16", source.BF16: "bfloat16"}

// transposeBytes transposes a [r, c] matrix of es-byte elements.
func transposeBytes(b []byte, r, c, es int) []byte {
	out := make([]byte, len(b))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			copy(out[(j*r+i)*es:], b[(i*c+j)*es:(i*c+j+1)*es])
		}
	}
	return out
}

// TestFromTorchFixture writes the llama-tiny fixture (read with the pytorch
// package) in the layout FlaxLlamaForCausalLM saves (Dense kernels [in, out],
// embedding named "embedding"), reads it back and compares tensor by tensor.
func TestFromTorchFixture(t *testing.T) {
	ref, err := pytorch.Open("../../testdata/llama-tiny/pytorch_model.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	root := tree{}
	for _, x := range ref.Tensors {
		path := strings.Split(x.Name, ".")
		data := x.Data
		shape := x.Shape
		switch {
		case path[len(path)-1] == "weight" && path[len(path)-2] == "embed_tokens":
			path[len(path)-1] = "embedding"
		case path[len(path)-1] == "weight" && len(shape) == 2:
			path[len(path)-1] = "kernel"
			data = transposeBytes(data, shape[0], shape[1], x.DType.Size())
			shape = []int{shape[1], shape[0]}
		}
		root.put(path, ndarrayExt(shape, dtypeNames[x.DType], data))
	}
	var e enc
	e.tree(root)
	for _, tc := range []struct {
		name   string
		file   tree
		opt    Options
		noHead bool
	}{
		{"as saved", root, Options{}, false},
		{"variables dict", tree{"params": root}, Options{}, false},
		{"base model into head model", root["model"].(tree), Options{BaseModelPrefix: "model", HeadModel: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e enc
			e.tree(tc.file)
			got, err := Parse(e.Bytes(), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			set, err := source.NewSet(got)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, want := range ref.Tensors {
				if tc.noHead && want.Name == "lm_head.weight" {
					continue
				}
				n++
				g, ok := set.Lookup(want.Name)
				if !ok {
					t.Errorf("missing %s", want.Name)
					continue
				}
				if g.DType != want.DType || !slices.Equal(g.Shape, want.Shape) || !bytes.Equal(g.Data, want.Data) {
					t.Errorf("%s: %s %v differs from %s %v", want.Name, g.DType, g.Shape, want.DType, want.Shape)
				}
			}
			if n != len(set.Tensors) {
				t.Errorf("%d tensors, want %d", len(set.Tensors), n)
			}
		})
	}
	// The base-model prefix is removed for a base PyTorch model.
	got, err := Parse(e.Bytes(), Options{BaseModelPrefix: "model"})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := source.NewSet(got)
	if _, ok := set.Lookup("layers.0.self_attn.q_proj.weight"); !ok {
		t.Error("prefix not stripped")
	}
	if _, ok := set.Lookup("lm_head.weight"); !ok {
		t.Error("lm_head renamed")
	}
}

// TestReference reads a file written by Python's msgpack + numpy the way
// flax.serialization does and compares with the names/bytes it recorded.
func TestReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
		Hex   string `json:"hex"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/reference.msgpack")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, WeightsName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if len(set.Tensors) != len(want) {
		t.Errorf("%d tensors, want %d", len(set.Tensors), len(want))
	}
	for name, w := range want {
		g, ok := set.Lookup(name)
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if string(g.DType) != w.DType || !slices.Equal(g.Shape, w.Shape) || hex.EncodeToString(g.Data) != w.Hex {
			t.Errorf("%s: got %s %v %x, want %s %v %s", name, g.DType, g.Shape, g.Data, w.DType, w.Shape, w.Hex)
		}
	}
}

func TestOpenDirSharded(t *testing.T) {
	dir := t.TempDir()
	a := tree{"a": tree{"kernel": ndarrayExt([]int{2, 3}, "float32", make([]byte, 24))}}
	b := tree{"b": tree{"scale": ndarrayExt([]int{3}, "float16", []byte{1, 2, 3, 4, 5, 6})}}
	for name, tr := range map[string]tree{"s1.msgpack": a, "s2.msgpack": b} {
		var e enc
		e.tree(tr)
		os.WriteFile(filepath.Join(dir, name), e.Bytes(), 0o644)
	}
	idx := `{"weight_map": {"a.kernel": "s1.msgpack", "b.scale": "s2.msgpack"}}`
	os.WriteFile(filepath.Join(dir, IndexName), []byte(idx), 0o644)
	set, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if got := []string{set.Tensors[0].Name, set.Tensors[1].Name}; !slices.Equal(got, []string{"a.weight", "b.weight"}) {
		t.Errorf("names %v", got)
	}
	if a, _ := set.Lookup("a.weight"); !slices.Equal(a.Shape, []int{3, 2}) {
		t.Errorf("a.weight shape %v", a.Shape)
	}
	if _, err := OpenDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no flax_model.msgpack") {
		t.Errorf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, IndexName), []byte(`{"weight_map": {"x": "../s1.msgpack"}}`), 0o644)
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "not a plain file name") {
		t.Errorf("escaping shard: %v", err)
	}
}

func TestTorchName(t *testing.T) {
	tests := []struct {
		path []string
		ndim int
		name string
		perm []int
	}{
		{[]string{"model", "layers", "0", "self_attn", "q_proj", "kernel"}, 2, "model.layers.0.self_attn.q_proj.weight", []int{1, 0}},
		{[]string{"model", "embed_tokens", "embedding"}, 2, "model.embed_tokens.weight", nil},
		{[]string{"encoder", "LayerNorm", "scale"}, 1, "encoder.LayerNorm.weight", nil},
		{[]string{"encoder", "LayerNorm", "bias"}, 1, "encoder.LayerNorm.bias", nil},
		{[]string{"model", "norm", "weight"}, 1, "model.norm.weight", nil},
		{[]string{"conv", "kernel"}, 4, "conv.weight", []int{3, 2, 0, 1}},
		{[]string{"x", "kernel"}, 3, "x.weight", []int{2, 1, 0}},
		{[]string{"x", "kernel"}, 1, "x.weight", nil},
		{[]string{"bn", "mean"}, 1, "bn.running_mean", nil},
		{[]string{"bn", "var"}, 1, "bn.running_var", nil},
	}
	for _, tc := range tests {
		name, perm := TorchName(tc.path, tc.ndim)
		if name != tc.name || !slices.Equal(perm, tc.perm) {
			t.Errorf("%v: %s %v, want %s %v", tc.path, name, perm, tc.name, tc.perm)
		}
	}
}

func TestPermute(t *testing.T) {
	// A [2, 3, 4] int8 array permuted to axes (2, 0, 1) and (1, 0) of a 2-D one.
	data := make([]byte, 24)
	for i := range data {
		data[i] = byte(i)
	}
	shape, got := permute(data, []int{2, 3, 4}, []int{2, 0, 1}, 1)
	if !slices.Equal(shape, []int{4, 2, 3}) {
		t.Fatalf("shape %v", shape)
	}
	for k := 0; k < 4; k++ {
		for i := 0; i < 2; i++ {
			for j := 0; j < 3; j++ {
				if got[k*6+i*3+j] != data[i*12+j*4+k] {
					t.Fatalf("element [%d %d %d] wrong", k, i, j)
				}
			}
		}
	}
	big := make([]byte, 2*70*45)
	for i := range big {
		big[i] = byte(i * 7)
	}
	_, got = permute(big, []int{70, 45}, []int{1, 0}, 2)
	if !bytes.Equal(got, transposeBytes(big, 70, 45, 2)) {
		t.Error("blocked 2-D transpose differs")
	}
}

func TestMalformed(t *testing.T) {
	good := ndarrayExt([]int{2}, "float32", make([]byte, 8))
	wrap := func(v []byte) []byte {
		var e enc
		e.tree(tree{"layer": tree{"bias": v}})
		return e.Bytes()
	}
	extOf := func(typ int8, payload []byte) []byte {
		var e enc
		e.ext(typ, payload)
		return e.Bytes()
	}
	var deep enc
	for i := 0; i < 100; i++ {
		deep.mapHead(1)
		deep.str("k")
	}
	deep.WriteByte(0xc0)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"not a map", []byte{0x93, 1, 2, 3}, "not a map"},
		{"truncated", wrap(good)[:20], "exceeds"},
		{"trailing", append(wrap(good), 0xc0), "trailing"},
		{"huge map32 count", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, "exceeds"},
		{"huge bin32", wrap([]byte{0xc6, 0xff, 0xff, 0xff, 0xff}), "exceeds"},
		{"huge str32", []byte{0x81, 0xdb, 0x7f, 0xff, 0xff, 0xff}, "exceeds"},
		{"invalid byte", wrap([]byte{0xc1}), "invalid byte 0xc1"},
		{"complex ext", wrap(extOf(2, []byte{0x92, 0, 0})), "layer.bias: complex"},
		{"scalar ext", wrap(extOf(3, ndarrayExt(nil, "float32", make([]byte, 4))[3:])), "numpy scalars"},
		{"unknown ext", wrap(extOf(9, []byte{0})), "unknown msgpack ext type 9"},
		{"bad dtype", wrap(ndarrayExt([]int{2}, "complex64", make([]byte, 16))), `unsupported dtype "complex64"`},
		{"short data", wrap(ndarrayExt([]int{3}, "float32", make([]byte, 8))), "8 data bytes do not hold shape [3]"},
		{"overflowing shape", wrap(ndarrayExt([]int{1 << 30, 1 << 30, 1 << 30}, "float32", nil)), "do not hold"},
		{"array leaf", wrap([]byte{0x91, 0x01}), "msgpack array"},
		{"dotted key", func() []byte { var e enc; e.tree(tree{"a.b": good}); return e.Bytes() }(), "cannot be part"},
		{"no arrays", []byte{0x80}, "no arrays"},
		{"too deep", deep.Bytes(), "nesting deeper"},
		{"too many objects", append([]byte{0xdf, 0, 0x09, 0, 0}, make([]byte, 2*0x90000)...), "more than"},
		{"duplicate", func() []byte {
			var e enc
			e.mapHead(2)
			e.str("a")
			e.Write(good)
			e.str("a")
			e.Write(good)
			return e.Bytes()
		}(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := Parse(tc.data, Options{})
			if tc.want == "" { // duplicates are caught by source.NewSet
				if err == nil {
					_, err = source.NewSet(ts)
				}
				tc.want = "duplicate"
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/reference.msgpack"); err == nil {
		f.Add(b)
	}
	var e enc
	e.tree(tree{"a": tree{"kernel": ndarrayExt([]int{2, 3}, "bfloat16", make([]byte, 12))}})
	f.Add(e.Bytes())
	f.Add([]byte{0x81, 0xa1, 'x', 0xc7, 2, 2, 0x92, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := Parse(data, Options{BaseModelPrefix: "model", HeadModel: true})
		if err != nil {
			return
		}
		for _, x := range ts {
			if x.NumElements()*x.DType.Size() != len(x.Data) {
				t.Fatalf("%s: %d bytes for %v", x.Name, len(x.Data), x.Shape)
			}
		}
	})
}
