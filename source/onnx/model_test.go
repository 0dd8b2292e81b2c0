package onnx

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/source"
)

func tensorsOf(t *testing.T, data []byte, opt Options, ext ExternalReader) *source.Set {
	t.Helper()
	m, err := ParseModel(data)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := m.Tensors(opt, ext)
	if err != nil {
		t.Fatal(err)
	}
	set, err := source.NewSet(ts)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestTypedData(t *testing.T) {
	packedF := func(b pb) pb { return b.bfield(4, f32bytes(1.5, -2)) }
	unpackedF := func(b pb) pb {
		for _, v := range []float32{3, 4, 5} {
			b = b.tag(4, wireFixed32)
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		return b
	}
	// int32_data carries float16/bfloat16 bit patterns and small ints.
	halfBits := func(b pb) pb { return b.vfield(5, 0x3c00).vfield(5, 0xc000) }
	negInt8 := func(b pb) pb { var p pb; p = p.varint(uint64(0xffffffffffffff80)).varint(127); return b.bfield(5, p) }
	int64s := func(b pb) pb { return b.vfield(7, -1).vfield(7, 1<<40) }
	doubles := func(b pb) pb { return b.bfield(10, binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.25))) }
	bools := func(b pb) pb { return b.vfield(5, 1).vfield(5, 0).vfield(5, 1) }
	data := modelProto(nil, []pb{
		tensorProto("a.packed", TypeFloat, []int64{2}, packedF),
		tensorProto("a.unpacked", TypeFloat, []int64{3}, unpackedF),
		tensorProto("a.f16", TypeFloat16, []int64{2}, halfBits),
		tensorProto("a.bf16", TypeBFloat16, []int64{1, 2}, halfBits),
		tensorProto("a.i8", TypeInt8, []int64{2}, negInt8),
		tensorProto("a.i64", TypeInt64, []int64{2}, int64s),
		tensorProto("a.f64", TypeDouble, nil, doubles),
		tensorProto("a.bool", TypeBool, []int64{3}, bools),
		tensorProto("a.raw", TypeInt32, []int64{2}, rawData([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})),
		tensorProto("a.empty", TypeFloat, []int64{0, 5}, nil),
	})
	set := tensorsOf(t, data, Options{}, nil)
	tests := []struct {
		name  string
		dtype source.DType
		shape []int
		data  []byte
	}{
		{"a.packed", source.F32, []int{2}, f32bytes(1.5, -2)},
		{"a.unpacked", source.F32, []int{3}, f32bytes(3, 4, 5)},
		{"a.f16", source.F16, []int{2}, []byte{0x00, 0x3c, 0x00, 0xc0}},
		{"a.bf16", source.BF16, []int{1, 2}, []byte{0x00, 0x3c, 0x00, 0xc0}},
		{"a.i8", source.I8, []int{2}, []byte{0x80, 0x7f}},
		{"a.i64", source.I64, []int{2}, append(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), binary.LittleEndian.AppendUint64(nil, 1<<40)...)},
		{"a.f64", source.F64, []int{}, binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.25))},
		{"a.bool", source.Bool, []int{3}, []byte{1, 0, 1}},
		{"a.raw", source.I32, []int{2}, []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
		{"a.empty", source.F32, []int{0, 5}, []byte{}},
	}
	for _, tc := range tests {
		x, ok := set.Lookup(tc.name)
		if !ok {
			t.Errorf("missing %s", tc.name)
			continue
		}
		if x.DType != tc.dtype || !slices.Equal(x.Shape, tc.shape) || !bytes.Equal(x.Data, tc.data) {
			t.Errorf("%s: got %s %v %x, want %s %v %x", tc.name, x.DType, x.Shape, x.Data, tc.dtype, tc.shape, tc.data)
		}
	}
	// Raw data aliases the model bytes.
	raw, _ := set.Lookup("a.raw")
	if i := bytes.Index(data, raw.Data); i < 0 || &data[i] != &raw.Data[0] {
		t.Error("raw_data was copied")
	}
}

// TestGraphNaming covers the renaming rules on a small exporter-style graph:
// MatMul weights transposed back, Gemm with and without transB, a bf16
// weight behind a Cast, prefixes learned from named initializers, a weight
// shared by two modules, and an unnamed constant.
func TestGraphNaming(t *testing.T) {
	w := f32bytes(1, 2, 3, 4, 5, 6) // [2, 3] as stored
	wT := f32bytes(1, 4, 2, 5, 3, 6)
	bf := []byte{1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0}
	bfT := []byte{1, 0, 4, 0, 2, 0, 5, 0, 3, 0, 6, 0}
	nodes := []pb{
		nodeProto("/encoder/layer.0/q/MatMul", "MatMul", []string{"x", "onnx::MatMul_7"}, []string{"q"}),
		nodeProto("/encoder/layer.0/q/Add", "Add", []string{"q", "model.enc.encoder.layer.0.q.bias"}, []string{"q2"}),
		nodeProto("/proj/Gemm", "Gemm", []string{"q2", "onnx::Gemm_8", "onnx::Gemm_9"}, []string{"p"}, intAttr("transB", 1)),
		nodeProto("/proj2/Gemm", "Gemm", []string{"p", "onnx::Gemm_10"}, []string{"p2"}),
		nodeProto("w_to_float", "Cast", []string{"onnx::MatMul_11_bf16"}, []string{"onnx::MatMul_11"}, intAttr("to", 1)),
		nodeProto("/lm_head/MatMul", "MatMul", []string{"p2", "onnx::MatMul_11"}, []string{"y"}),
		nodeProto("/encoder/layer.1/q/MatMul", "MatMul", []string{"y", "onnx::MatMul_12"}, []string{"z1"}),
		nodeProto("/encoder/layer.2/q/MatMul", "MatMul", []string{"z1", "onnx::MatMul_12"}, []string{"z2"}),
		nodeProto("/Reshape", "Reshape", []string{"z2", "onnx::Reshape_13"}, []string{"out"}),
	}
	inits := []pb{
		tensorProto("onnx::MatMul_7", TypeFloat, []int64{2, 3}, rawData(w)),
		tensorProto("model.enc.encoder.layer.0.q.bias", TypeFloat, []int64{3}, rawData(f32bytes(7, 8, 9))),
		tensorProto("onnx::Gemm_8", TypeFloat, []int64{2, 3}, rawData(w)),
		tensorProto("onnx::Gemm_9", TypeFloat, []int64{2}, rawData(f32bytes(1, 1))),
		tensorProto("onnx::Gemm_10", TypeFloat, []int64{2, 3}, rawData(w)),
		tensorProto("onnx::MatMul_11_bf16", TypeBFloat16, []int64{2, 3}, rawData(bf)),
		tensorProto("onnx::MatMul_12", TypeFloat, []int64{2, 3}, rawData(w)),
		tensorProto("onnx::Reshape_13", TypeInt64, []int64{1}, rawData(make([]byte, 8))),
	}
	set := tensorsOf(t, modelProto(nodes, inits), Options{Prefixes: map[string]string{"proj2": "head."}}, nil)
	want := []struct {
		name  string
		dtype source.DType
		shape []int
		data  []byte
	}{
		{"head.proj2.weight", source.F32, []int{3, 2}, wT},
		{"lm_head.weight", source.BF16, []int{3, 2}, bfT},
		{"model.enc.encoder.layer.0.q.bias", source.F32, []int{3}, f32bytes(7, 8, 9)},
		{"model.enc.encoder.layer.0.q.weight", source.F32, []int{3, 2}, wT},
		{"model.enc.encoder.layer.1.q.weight", source.F32, []int{3, 2}, wT},
		{"model.enc.encoder.layer.2.q.weight", source.F32, []int{3, 2}, wT},
		{"onnx::Reshape_13", source.I64, []int{1}, make([]byte, 8)},
		{"proj.bias", source.F32, []int{2}, f32bytes(1, 1)},
		{"proj.weight", source.F32, []int{2, 3}, w},
	}
	var names []string
	for _, x := range set.Tensors {
		names = append(names, x.Name)
	}
	if len(names) != len(want) {
		t.Fatalf("names %v", names)
	}
	for i, w := range want {
		x := set.Tensors[i]
		if x.Name != w.name || x.DType != w.dtype || !slices.Equal(x.Shape, w.shape) || !bytes.Equal(x.Data, w.data) {
			t.Errorf("tensor %d: got %s %s %v %x, want %s %s %v %x", i, x.Name, x.DType, x.Shape, x.Data, w.name, w.dtype, w.shape, w.data)
		}
	}
}

func TestExternalData(t *testing.T) {
	dir := t.TempDir()
	blob := append(make([]byte, 16), f32bytes(1, 2, 3, 4)...)
	if err := os.WriteFile(filepath.Join(dir, "model.onnx_data"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	ext := func(loc, off, length string) func(pb) pb {
		return func(b pb) pb {
			for _, kv := range [][2]string{{"location", loc}, {"offset", off}, {"length", length}} {
				if kv[1] != "" {
					b = b.bfield(13, pb{}.sfield(1, kv[0]).sfield(2, kv[1]))
				}
			}
			return b.vfield(14, 1)
		}
	}
	write := func(extra func(pb) pb) {
		m := modelProto(nil, []pb{tensorProto("x.weight", TypeFloat, []int64{2, 2}, extra)})
		if err := os.WriteFile(filepath.Join(dir, "model.onnx"), m, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(ext("model.onnx_data", "16", "16"))
	set, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := set.Lookup("x.weight")
	if !bytes.Equal(x.Data, f32bytes(1, 2, 3, 4)) {
		t.Errorf("external data %x", x.Data)
	}
	if err := set.Close(); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		extra func(pb) pb
		want  string
	}{
		{ext("model.onnx_data", "16", ""), ""}, // length from dims
		{ext("../model.onnx_data", "0", "16"), "plain relative path"},
		{ext("/etc/passwd", "0", "16"), "plain relative path"},
		{ext("model.onnx_data", "24", "16"), "outside the 32-byte file"},
		{ext("model.onnx_data", "0", "12"), "length 12, dims need 16"},
		{ext("model.onnx_data", "-1", "16"), `bad offset "-1"`},
		{ext("missing.bin", "0", "16"), "missing.bin"},
	} {
		write(tc.extra)
		set, err := Open(filepath.Join(dir, "model.onnx"))
		if tc.want == "" {
			if err != nil {
				t.Error(err)
			} else {
				set.Close()
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestMalformed(t *testing.T) {
	good := modelProto(nil, []pb{tensorProto("a.b", TypeFloat, []int64{1}, rawData(f32bytes(1)))})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no graph"},
		{"truncated", good[:len(good)-3], "exceeds"},
		{"huge length", pb{}.tag(7, wireBytes).varint(1 << 62), "exceeds"},
		{"bad varint", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "overflows"},
		{"group", pb{}.tag(3, wireStart), "unsupported wire type 3"},
		{"field zero", []byte{0x00}, "invalid field number 0"},
		{"raw size", modelProto(nil, []pb{tensorProto("a.b", TypeFloat, []int64{3}, rawData(f32bytes(1)))}), "raw_data holds 4 bytes"},
		{"string tensor", modelProto(nil, []pb{tensorProto("a.b", TypeString, []int64{1}, func(b pb) pb { return b.sfield(6, "x") })}), "string tensors"},
		{"unsupported type", modelProto(nil, []pb{tensorProto("a.b", 14, []int64{1}, rawData(make([]byte, 8)))}), "unsupported data type 14"},
		{"dims overflow", modelProto(nil, []pb{tensorProto("a.b", TypeFloat, []int64{1 << 40, 1 << 40, 1 << 40}, rawData(nil))}), "overflow"},
		{"negative dim", modelProto(nil, []pb{tensorProto("a.b", TypeFloat, []int64{-1}, rawData(nil))}), "dims[0]"},
		{"too many dims", modelProto(nil, []pb{tensorProto("a.b", TypeFloat, make([]int64, 65), nil)}), "more than 64"},
		{"count mismatch", modelProto(nil, []pb{tensorProto("a.b", TypeInt64, []int64{3}, func(b pb) pb { return b.vfield(7, 1) })}), "holds 1 values"},
		{"mixed fields", modelProto(nil, []pb{tensorProto("a.b", TypeFloat, []int64{2}, func(b pb) pb { return b.vfield(5, 1).vfield(7, 1) })}), "both fields"},
		{"float field for ints", modelProto(nil, []pb{tensorProto("a.b", TypeInt32, []int64{1}, func(b pb) pb { return b.bfield(4, f32bytes(1)) })}), "cannot hold I32"},
		{"no data", modelProto(nil, []pb{tensorProto("a.b", TypeFloat, []int64{1}, nil)}), "no data"},
		{"external without resolver", modelProto(nil, []pb{tensorProto("a.b", TypeFloat, []int64{1}, func(b pb) pb { return b.vfield(14, 1) })}), "without a resolver"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseModel(tc.data)
			if err == nil {
				_, err = m.Tensors(Options{}, nil)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNodeScope(t *testing.T) {
	for in, want := range map[string]string{
		"/model/layers.0/self_attn/q_proj/MatMul": "model.layers.0.self_attn.q_proj",
		"/lm_head/MatMul":                         "lm_head",
		"/MatMul":                                 "",
		"MatMul_3":                                "",
		"//x/MatMul":                              "",
		"/a/b/":                                   "a.b",
		"onnx::MatMul_898":                        "",
	} {
		if got := nodeScope(in); got != want {
			t.Errorf("nodeScope(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseModel(f *testing.F) {
	f.Add(modelProto(
		[]pb{nodeProto("/a/MatMul", "MatMul", []string{"x", "onnx::MatMul_1"}, []string{"y"}, intAttr("k", 1))},
		[]pb{tensorProto("onnx::MatMul_1", TypeFloat, []int64{2, 2}, rawData(f32bytes(1, 2, 3, 4))),
			tensorProto("b.c", TypeInt64, []int64{2}, func(b pb) pb { return b.vfield(7, 5).vfield(7, -5) })}))
	if b, err := os.ReadFile("../../testdata/smolvlm-tiny/onnx/vision_encoder.onnx"); err == nil {
		f.Add(b[:4096])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseModel(data)
		if err != nil {
			return
		}
		ts, err := m.Tensors(Options{}, nil)
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
