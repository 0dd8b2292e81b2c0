//go:build onnxruntime

package onnxrt

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
)

// Minimal protobuf encoding, enough to write a small ONNX model.
type pb []byte

func (b pb) varint(field int, v uint64) pb {
	b = binary.AppendUvarint(b, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

func (b pb) bytes(field int, v []byte) pb {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func (b pb) str(field int, v string) pb { return b.bytes(field, []byte(v)) }

// ONNX element types.
const (
	onnxFloat16 = 10
	onnxInt64   = 7
	onnxInt32   = 6
	onnxBool    = 9
)

// valueInfo encodes a tensor ValueInfoProto; dims are numbers or names.
func valueInfo(name string, elem int, dims ...any) []byte {
	var shape pb
	for _, d := range dims {
		var dim pb
		switch d := d.(type) {
		case int:
			dim = dim.varint(1, uint64(d))
		case string:
			dim = dim.str(2, d)
		}
		shape = shape.bytes(1, dim)
	}
	tensor := pb(nil).varint(1, uint64(elem)).bytes(2, shape)
	return pb(nil).str(1, name).bytes(2, pb(nil).bytes(1, tensor))
}

func node(op string, in, out []string, intAttr string, attr int) []byte {
	var n pb
	for _, s := range in {
		n = n.str(1, s)
	}
	for _, s := range out {
		n = n.str(2, s)
	}
	n = n.str(4, op)
	if intAttr != "" {
		n = n.bytes(5, pb(nil).str(1, intAttr).varint(3, uint64(attr)).varint(20, 2))
	}
	return n
}

func int64Init(name string, vals ...int64) []byte {
	t := pb(nil).varint(1, uint64(len(vals))).varint(2, onnxInt64).str(8, name)
	var packed pb
	for _, v := range vals {
		packed = binary.AppendUvarint(packed, uint64(v))
	}
	return t.bytes(7, packed)
}

// writeToyDecoder writes a one-layer "decoder" with a float16 cache:
// present.0.key = present.0.value = concat(past, inputs_embeds) along the
// sequence, logits = inputs_embeds + sum of all cached keys. Every float
// input and output is float16; position_ids is int32; it has an (unused)
// use_cache_branch input as optimum's merged decoders do.
func writeToyDecoder(t *testing.T) string {
	var g pb
	g = g.bytes(1, node("Unsqueeze", []string{"inputs_embeds", "axes1"}, []string{"e4"}, "", 0))
	g = g.bytes(1, node("Concat", []string{"past_key_values.0.key", "e4"}, []string{"present.0.key"}, "axis", 2))
	g = g.bytes(1, node("Concat", []string{"past_key_values.0.value", "e4"}, []string{"present.0.value"}, "axis", 2))
	g = g.bytes(1, node("ReduceSum", []string{"present.0.key", "axes12"}, []string{"s"}, "keepdims", 0))
	g = g.bytes(1, node("Unsqueeze", []string{"s", "axes1"}, []string{"s3"}, "", 0))
	g = g.bytes(1, node("Add", []string{"inputs_embeds", "s3"}, []string{"logits"}, "", 0))
	g = g.str(2, "toy")
	g = g.bytes(5, int64Init("axes1", 1))
	g = g.bytes(5, int64Init("axes12", 1, 2))
	g = g.bytes(11, valueInfo("inputs_embeds", onnxFloat16, 1, "T", 4))
	g = g.bytes(11, valueInfo("attention_mask", onnxInt64, 1, "S"))
	g = g.bytes(11, valueInfo("position_ids", onnxInt32, 1, "T"))
	g = g.bytes(11, valueInfo("past_key_values.0.key", onnxFloat16, 1, 1, "P", 4))
	g = g.bytes(11, valueInfo("past_key_values.0.value", onnxFloat16, 1, 1, "P", 4))
	g = g.bytes(11, valueInfo("use_cache_branch", onnxBool, 1))
	g = g.bytes(12, valueInfo("logits", onnxFloat16, 1, "T", 4))
	g = g.bytes(12, valueInfo("present.0.key", onnxFloat16, 1, 1, "S", 4))
	g = g.bytes(12, valueInfo("present.0.value", onnxFloat16, 1, 1, "S", 4))
	model := pb(nil).varint(1, 8).bytes(7, g).bytes(8, pb(nil).str(1, "").varint(2, 13))
	path := filepath.Join(t.TempDir(), "decoder_model_merged_toy.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFloat16Decoder(t *testing.T) {
	o := testOptions(t)
	d, err := OpenDecoder(writeToyDecoder(t), o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := DecoderConfig{Layers: 1, KVHeads: 1, HeadDim: 4, Hidden: 4, Vocab: 4, KVType: "float16"}
	if got := d.Config(); got != want {
		t.Fatalf("Config() = %+v, want %+v", got, want)
	}
	// All values are exact in float16.
	steps := []struct {
		embeds []float32
		want   []float32
	}{
		{[]float32{1, 2, 3, 4, 0.5, 0.5, 0.5, 0.5}, []float32{2, 3, 4, 5}}, // sum 1.5 2.5 3.5 4.5
		{[]float32{1, 1, 1, 1}, []float32{3.5, 4.5, 5.5, 6.5}},             // sum 2.5 3.5 4.5 5.5
		{[]float32{-0.25, 0, 0.25, 8}, []float32{2, 3.5, 5, 21.5}},         // sum 2.25 3.5 4.75 13.5
		{[]float32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []float32{2.25, 3.5, 4.75, 13.5}},
	}
	for round := range 2 { // the second round checks Reset
		for i, s := range steps {
			got, err := d.Step(s.embeds, len(s.embeds)/4)
			if err != nil {
				t.Fatalf("round %d step %d: %v", round, i, err)
			}
			if !slices.Equal(got, s.want) {
				t.Fatalf("round %d step %d: logits %v, want %v", round, i, got, s.want)
			}
		}
		if d.Len() != 7 {
			t.Fatalf("Len() = %d, want 7", d.Len())
		}
		d.Reset()
	}
}

func TestFloat16Embedder(t *testing.T) {
	o := testOptions(t)
	table := []float32{0, 0.5, 1, 1.5, -2, 65504} // 3 tokens x 2, exact in float16
	var raw []byte
	for _, f := range table {
		raw = binary.LittleEndian.AppendUint16(raw, half.F32ToF16(f))
	}
	init := pb(nil).varint(1, 3).varint(1, 2).varint(2, onnxFloat16).str(8, "table").bytes(9, raw)
	var g pb
	g = g.bytes(1, node("Gather", []string{"table", "input_ids"}, []string{"inputs_embeds"}, "", 0))
	g = g.str(2, "toy").bytes(5, init)
	g = g.bytes(11, valueInfo("input_ids", onnxInt64, 1, "T"))
	g = g.bytes(12, valueInfo("inputs_embeds", onnxFloat16, 1, "T", 2))
	path := filepath.Join(t.TempDir(), "embed_tokens_toy.onnx")
	if err := os.WriteFile(path, pb(nil).varint(1, 8).bytes(7, g).bytes(8, pb(nil).str(1, "").varint(2, 13)), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := OpenEmbedder(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Hidden() != 2 {
		t.Fatalf("Hidden() = %d, want 2", e.Hidden())
	}
	got, err := e.Embed([]int64{2, 0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{-2, 65504, 0, 0.5, 1, 1.5, -2, 65504}; !slices.Equal(got, want) {
		t.Fatalf("Embed = %v, want %v", got, want)
	}
}
