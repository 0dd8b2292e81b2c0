package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/source"
)

// Model is the part of an ONNX ModelProto this package reads: the main
// graph's nodes and initializers.
type Model struct {
	IRVersion    int64
	ProducerName string
	Graph        Graph
}

// Graph is a GraphProto: nodes in topological order, initializers, and the
// names of the graph inputs and outputs.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []Initializer
	Inputs       []string
	Outputs      []string
}

// Node is a NodeProto.
type Node struct {
	Name       string
	OpType     string
	Domain     string
	Inputs     []string
	Outputs    []string
	Attributes []Attribute
}

// Attribute is an AttributeProto's name and scalar or list value (tensor and
// graph values are not decoded).
type Attribute struct {
	Name   string
	Type   int // AttributeProto.AttributeType: 1 FLOAT, 2 INT, 3 STRING, 6 FLOATS, 7 INTS, ...
	F      float32
	I      int64
	S      []byte
	Floats []float32
	Ints   []int64
}

// Attr returns the attribute called name.
func (n *Node) Attr(name string) (*Attribute, bool) {
	for i := range n.Attributes {
		if n.Attributes[i].Name == name {
			return &n.Attributes[i], true
		}
	}
	return nil, false
}

// ONNX TensorProto.DataType values.
const (
	TypeFloat    = 1
	TypeUint8    = 2
	TypeInt8     = 3
	TypeUint16   = 4
	TypeInt16    = 5
	TypeInt32    = 6
	TypeInt64    = 7
	TypeString   = 8
	TypeBool     = 9
	TypeFloat16  = 10
	TypeDouble   = 11
	TypeBFloat16 = 16
)

// dtypeOf maps ONNX data types to element types.
var dtypeOf = map[int32]source.DType{
	TypeFloat: source.F32, TypeUint8: source.U8, TypeInt8: source.I8, TypeInt16: source.I16,
	TypeInt32: source.I32, TypeInt64: source.I64, TypeBool: source.Bool, TypeFloat16: source.F16,
	TypeDouble: source.F64, TypeBFloat16: source.BF16,
}

// Initializer is a TensorProto. Its data is one of: RawData (little-endian,
// aliasing the file), the typed fields (decoded on demand), or external data
// (Location, Offset, Length relative to the model's folder).
type Initializer struct {
	Name     string
	DataType int32
	Dims     []int64
	RawData  []byte
	External bool
	Location string
	Offset   int64
	Length   int64 // -1: not given

	hasRaw    bool
	floatData []byte // packed little-endian float32 payloads (alias the file)
	dblData   []byte // packed little-endian float64 payloads
	varints   []byte // int32_data / int64_data packed payloads, concatenated varints
	varintCnt int
	typed     int // field number of the typed data seen (4, 5, 7, 10), 0 if none
}

// Limits on hostile input.
const (
	maxDims    = 64
	maxListLen = 1 << 16 // attribute ints/floats, tensor dims
	maxNodes   = 1 << 20 // nodes, and initializers
)

// ParseModel decodes a ModelProto. Initializer data aliases data.
func ParseModel(data []byte) (*Model, error) {
	m := &Model{}
	w := &wire{b: data}
	sawGraph := false
	for w.more() {
		num, typ, err := w.field()
		if err != nil {
			return nil, fmt.Errorf("ModelProto: %w", err)
		}
		switch {
		case num == 1 && typ == wireVarint:
			v, err := w.varint()
			if err != nil {
				return nil, fmt.Errorf("ModelProto.ir_version: %w", err)
			}
			m.IRVersion = int64(v)
		case num == 2 && typ == wireBytes:
			if m.ProducerName, err = w.str(); err != nil {
				return nil, fmt.Errorf("ModelProto.producer_name: %w", err)
			}
		case num == 7 && typ == wireBytes:
			g, err := w.sub()
			if err != nil {
				return nil, fmt.Errorf("ModelProto.graph: %w", err)
			}
			if err := parseGraph(g, &m.Graph); err != nil {
				return nil, fmt.Errorf("graph: %w", err)
			}
			sawGraph = true
		default:
			if err := w.skip(typ); err != nil {
				return nil, fmt.Errorf("ModelProto field %d: %w", num, err)
			}
		}
	}
	if !sawGraph {
		return nil, fmt.Errorf("ModelProto has no graph (not an ONNX model?)")
	}
	return m, nil
}

func parseGraph(w *wire, g *Graph) error {
	for w.more() {
		num, typ, err := w.field()
		if err != nil {
			return err
		}
		if typ != wireBytes {
			if err := w.skip(typ); err != nil {
				return fmt.Errorf("field %d: %w", num, err)
			}
			continue
		}
		switch num {
		case 1: // node
			s, err := w.sub()
			if err != nil {
				return fmt.Errorf("node: %w", err)
			}
			if len(g.Nodes) >= maxNodes {
				return fmt.Errorf("more than %d nodes", maxNodes)
			}
			n, err := parseNode(s)
			if err != nil {
				return fmt.Errorf("node %d (%q): %w", len(g.Nodes), n.Name, err)
			}
			g.Nodes = append(g.Nodes, n)
		case 2:
			if g.Name, err = w.str(); err != nil {
				return err
			}
		case 5: // initializer
			s, err := w.sub()
			if err != nil {
				return fmt.Errorf("initializer: %w", err)
			}
			if len(g.Initializers) >= maxNodes {
				return fmt.Errorf("more than %d initializers", maxNodes)
			}
			t, err := parseTensor(s)
			if err != nil {
				return fmt.Errorf("initializer %d (%q): %w", len(g.Initializers), t.Name, err)
			}
			g.Initializers = append(g.Initializers, t)
		case 11, 12: // input, output: ValueInfoProto; only the name (field 1)
			s, err := w.sub()
			if err != nil {
				return err
			}
			name, err := valueInfoName(s)
			if err != nil {
				return err
			}
			if num == 11 {
				g.Inputs = append(g.Inputs, name)
			} else {
				g.Outputs = append(g.Outputs, name)
			}
		default:
			if _, _, err := w.bytes(); err != nil {
				return fmt.Errorf("field %d: %w", num, err)
			}
		}
	}
	return nil
}

func valueInfoName(w *wire) (string, error) {
	name := ""
	for w.more() {
		num, typ, err := w.field()
		if err != nil {
			return "", err
		}
		if num == 1 && typ == wireBytes {
			if name, err = w.str(); err != nil {
				return "", err
			}
		} else if err := w.skip(typ); err != nil {
			return "", err
		}
	}
	return name, nil
}

func parseNode(w *wire) (Node, error) {
	var n Node
	for w.more() {
		num, typ, err := w.field()
		if err != nil {
			return n, err
		}
		if typ != wireBytes {
			if err := w.skip(typ); err != nil {
				return n, err
			}
			continue
		}
		switch num {
		case 1, 2, 3, 4, 7:
			s, err := w.str()
			if err != nil {
				return n, err
			}
			switch num {
			case 1:
				n.Inputs = append(n.Inputs, s)
			case 2:
				n.Outputs = append(n.Outputs, s)
			case 3:
				n.Name = s
			case 4:
				n.OpType = s
			case 7:
				n.Domain = s
			}
		case 5:
			s, err := w.sub()
			if err != nil {
				return n, err
			}
			a, err := parseAttribute(s)
			if err != nil {
				return n, fmt.Errorf("attribute %q: %w", a.Name, err)
			}
			n.Attributes = append(n.Attributes, a)
		default:
			if _, _, err := w.bytes(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func parseAttribute(w *wire) (Attribute, error) {
	var a Attribute
	for w.more() {
		num, typ, err := w.field()
		if err != nil {
			return a, err
		}
		switch {
		case num == 1 && typ == wireBytes:
			a.Name, err = w.str()
		case num == 20 && typ == wireVarint:
			var v uint64
			v, err = w.varint()
			a.Type = int(v & 0xff)
		case num == 2 && typ == wireFixed32:
			var v uint64
			v, err = w.fixed(4)
			a.F = math.Float32frombits(uint32(v))
		case num == 3 && typ == wireVarint:
			var v uint64
			v, err = w.varint()
			a.I = int64(v)
		case num == 4 && typ == wireBytes:
			a.S, _, err = w.bytes()
		case num == 8:
			a.Ints, err = w.int64s(typ, a.Ints, maxListLen)
		case num == 7 && typ == wireFixed32:
			var v uint64
			if v, err = w.fixed(4); err == nil {
				if len(a.Floats) >= maxListLen {
					return a, fmt.Errorf("more than %d floats", maxListLen)
				}
				a.Floats = append(a.Floats, math.Float32frombits(uint32(v)))
			}
		case num == 7 && typ == wireBytes:
			var b []byte
			if b, _, err = w.bytes(); err == nil {
				if len(b)%4 != 0 || len(a.Floats)+len(b)/4 > maxListLen {
					return a, fmt.Errorf("bad packed floats (%d bytes)", len(b))
				}
				for i := 0; i < len(b); i += 4 {
					a.Floats = append(a.Floats, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
				}
			}
		default:
			err = w.skip(typ)
		}
		if err != nil {
			return a, err
		}
	}
	return a, nil
}

func parseTensor(w *wire) (Initializer, error) {
	t := Initializer{Length: -1}
	setTyped := func(num int) error {
		if t.typed != 0 && t.typed != num {
			return fmt.Errorf("both fields %d and %d hold data", t.typed, num)
		}
		t.typed = num
		return nil
	}
	for w.more() {
		num, typ, err := w.field()
		if err != nil {
			return t, err
		}
		switch {
		case num == 1: // dims
			if t.Dims, err = w.int64s(typ, t.Dims, maxDims); err != nil {
				return t, fmt.Errorf("dims: %w", err)
			}
		case num == 2 && typ == wireVarint:
			v, err := w.varint()
			if err != nil {
				return t, err
			}
			t.DataType = int32(v)
		case num == 8 && typ == wireBytes:
			if t.Name, err = w.str(); err != nil {
				return t, err
			}
		case num == 9 && typ == wireBytes:
			if t.RawData, _, err = w.bytes(); err != nil {
				return t, fmt.Errorf("raw_data: %w", err)
			}
			t.hasRaw = true
		case (num == 4 || num == 10) && typ == wireBytes: // packed float_data / double_data
			b, _, err := w.bytes()
			if err != nil {
				return t, err
			}
			if err := setTyped(num); err != nil {
				return t, err
			}
			if num == 4 {
				t.floatData = appendAlias(t.floatData, b)
			} else {
				t.dblData = appendAlias(t.dblData, b)
			}
		case num == 4 && typ == wireFixed32, num == 10 && typ == wireFixed64: // unpacked
			size := 4
			if num == 10 {
				size = 8
			}
			if err := setTyped(num); err != nil {
				return t, err
			}
			start := w.pos
			if _, err := w.fixed(size); err != nil {
				return t, err
			}
			if num == 4 {
				t.floatData = appendAlias(t.floatData, w.b[start:w.pos])
			} else {
				t.dblData = appendAlias(t.dblData, w.b[start:w.pos])
			}
		case num == 5 || num == 7: // int32_data, int64_data (varints)
			if err := setTyped(num); err != nil {
				return t, err
			}
			if typ == wireVarint {
				start := w.pos
				if _, err := w.varint(); err != nil {
					return t, err
				}
				t.varints = append(t.varints, w.b[start:w.pos]...)
				t.varintCnt++
			} else if typ == wireBytes {
				b, off, err := w.bytes()
				if err != nil {
					return t, err
				}
				p := &wire{b: b, base: off}
				for p.more() {
					if _, err := p.varint(); err != nil {
						return t, err
					}
					t.varintCnt++
				}
				t.varints = appendAlias(t.varints, b)
			} else {
				return t, fmt.Errorf("wire type %d for field %d", typ, num)
			}
		case num == 13 && typ == wireBytes: // external_data
			s, err := w.sub()
			if err != nil {
				return t, err
			}
			if err := t.parseExternal(s); err != nil {
				return t, fmt.Errorf("external_data: %w", err)
			}
		case num == 14 && typ == wireVarint:
			v, err := w.varint()
			if err != nil {
				return t, err
			}
			t.External = v == 1
		case num == 6:
			return t, fmt.Errorf("string tensors are not supported")
		default:
			if err := w.skip(typ); err != nil {
				return t, err
			}
		}
	}
	return t, nil
}

// appendAlias concatenates payloads, aliasing the first one when it is alone.
func appendAlias(dst, b []byte) []byte {
	if dst == nil {
		return b
	}
	return append(dst[:len(dst):len(dst)], b...)
}

func (t *Initializer) parseExternal(w *wire) error {
	var key, val string
	for w.more() {
		num, typ, err := w.field()
		if err != nil {
			return err
		}
		switch {
		case num == 1 && typ == wireBytes:
			key, err = w.str()
		case num == 2 && typ == wireBytes:
			val, err = w.str()
		default:
			err = w.skip(typ)
		}
		if err != nil {
			return err
		}
	}
	parse := func() (int64, error) {
		var v int64
		if val == "" || len(val) > 19 {
			return 0, fmt.Errorf("bad %s %q", key, val)
		}
		for _, c := range val {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("bad %s %q", key, val)
			}
			v = v*10 + int64(c-'0')
		}
		return v, nil
	}
	var err error
	switch key {
	case "location":
		t.Location = val
	case "offset":
		t.Offset, err = parse()
	case "length":
		t.Length, err = parse()
	}
	return err
}
