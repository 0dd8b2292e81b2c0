package onnx

import (
	"encoding/binary"
	"math"
)

// pb is a minimal protobuf encoder for building test models.
type pb []byte

func (b pb) varint(v uint64) pb  { return binary.AppendUvarint(b, v) }
func (b pb) tag(num, typ int) pb { return b.varint(uint64(num<<3 | typ)) }
func (b pb) vfield(num int, v int64) pb {
	return b.tag(num, wireVarint).varint(uint64(v))
}
func (b pb) bfield(num int, v []byte) pb {
	return append(b.tag(num, wireBytes).varint(uint64(len(v))), v...)
}
func (b pb) sfield(num int, s string) pb { return b.bfield(num, []byte(s)) }

// tensorProto builds a TensorProto; extra appends data fields.
func tensorProto(name string, dtype int, dims []int64, extra func(pb) pb) pb {
	var t pb
	for _, d := range dims {
		t = t.vfield(1, d)
	}
	t = t.vfield(2, int64(dtype)).sfield(8, name)
	if extra != nil {
		t = extra(t)
	}
	return t
}

func rawData(data []byte) func(pb) pb { return func(b pb) pb { return b.bfield(9, data) } }

// nodeProto builds a NodeProto; attrs are encoded AttributeProtos.
func nodeProto(name, op string, inputs, outputs []string, attrs ...pb) pb {
	var n pb
	for _, in := range inputs {
		n = n.sfield(1, in)
	}
	for _, out := range outputs {
		n = n.sfield(2, out)
	}
	n = n.sfield(3, name).sfield(4, op)
	for _, a := range attrs {
		n = n.bfield(5, a)
	}
	return n
}

func intAttr(name string, v int64) pb { return pb{}.sfield(1, name).vfield(3, v).vfield(20, 2) }

// modelProto wraps nodes and initializers in a graph and a model.
func modelProto(nodes, inits []pb) []byte {
	var g pb
	for _, n := range nodes {
		g = g.bfield(1, n)
	}
	g = g.sfield(2, "test")
	for _, t := range inits {
		g = g.bfield(5, t)
	}
	return pb{}.vfield(1, 8).sfield(2, "test").bfield(7, g)
}

func f32bytes(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}
