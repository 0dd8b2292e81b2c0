// Package onnx reads the weights of ONNX models (*.onnx, with external data
// files) into a source.Set named like the Hugging Face PyTorch checkpoint the
// model was exported from.
//
// The ModelProto is decoded by a small protobuf reader over the
// memory-mapped file; raw_data initializers alias the map (zero-copy), typed
// ones (float_data, int32_data, int64_data, ...) and external data are read as
// the format prescribes. Exporters rename weights that feed a MatMul to
// "onnx::MatMul_NNN" and store them transposed ([in, out]); the reader follows
// the graph to recover the PyTorch name from the consuming node's scope
// ("/model/layers.0/self_attn/q_proj/MatMul" -> "model.layers.0.self_attn.q_proj.weight")
// and transposes them back to [out, in]. Initializers that reach their
// consumer through a Cast (a bfloat16 weight cast to float32) take the Cast
// output's name and keep their stored type.
//
// OpenDir understands the official SmolVLM layout (vision_encoder.onnx,
// embed_tokens.onnx, decoder_model_merged.onnx, possibly in an onnx/
// subfolder) and merges the files into one Set.
package onnx

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cellm-ai/cellm-go/internal/mmap"
	"github.com/cellm-ai/cellm-go/source"
)

// Options tune how node scopes become checkpoint names.
type Options struct {
	// Prefixes maps the first component of a node scope ("connector" in
	// "/connector/modality_projection/proj/MatMul") to the prefix of the
	// checkpoint names below it ("model."). It overrides prefixes learned from
	// the initializers that kept their names; scopes with neither get none.
	Prefixes map[string]string
}

// smolVLMFiles are the files of the official SmolVLM ONNX layout, with the
// name prefixes their graphs cannot reveal.
var smolVLMFiles = []struct {
	name string
	opt  Options
}{
	{"vision_encoder.onnx", Options{Prefixes: map[string]string{"connector": "model."}}},
	{"embed_tokens.onnx", Options{}},
	{"decoder_model_merged.onnx", Options{}},
}

// OpenDir opens the ONNX weights of a folder (or of its onnx/ subfolder): the
// SmolVLM files merged into one Set when present, else model.onnx, else the
// only *.onnx file.
func OpenDir(dir string) (*source.Set, error) {
	if st, err := os.Stat(filepath.Join(dir, "onnx")); err == nil && st.IsDir() {
		if m, _ := filepath.Glob(filepath.Join(dir, "*.onnx")); len(m) == 0 {
			dir = filepath.Join(dir, "onnx")
		}
	}
	var (
		all     []source.Tensor
		closers []func() error
	)
	fail := func(err error) (*source.Set, error) {
		for _, c := range closers {
			c()
		}
		return nil, err
	}
	for _, f := range smolVLMFiles {
		p := filepath.Join(dir, f.name)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		ts, closer, err := load(p, f.opt)
		if err != nil {
			return fail(err)
		}
		all = append(all, ts...)
		closers = append(closers, closer)
	}
	if len(closers) > 0 {
		set, err := source.NewSet(all, closers...)
		if err != nil {
			return fail(fmt.Errorf("onnx: %s: %w", dir, err))
		}
		return set, nil
	}
	if p := filepath.Join(dir, "model.onnx"); fileExists(p) {
		return Open(p)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	switch len(m) {
	case 0:
		return nil, fmt.Errorf("onnx: %s: no .onnx file", dir)
	case 1:
		return Open(m[0])
	}
	return nil, fmt.Errorf("onnx: %s: several .onnx files (%s), open one with Open", dir, strings.Join(m, ", "))
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Open reads the initializers of one .onnx file with default Options.
func Open(path string) (*source.Set, error) { return OpenWith(path, Options{}) }

// OpenWith reads the initializers of one .onnx file.
func OpenWith(path string, opt Options) (*source.Set, error) {
	ts, closer, err := load(path, opt)
	if err != nil {
		return nil, err
	}
	set, err := source.NewSet(ts, closer)
	if err != nil {
		closer()
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return set, nil
}

// load maps path (and its external data files) and returns the named tensors.
func load(path string, opt Options) ([]source.Tensor, func() error, error) {
	f, err := mmap.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("onnx: %w", err)
	}
	ext := &externalFiles{dir: filepath.Dir(path), files: map[string]*mmap.File{}}
	closeAll := func() error {
		err := ext.close()
		if e := f.Close(); e != nil && err == nil {
			err = e
		}
		return err
	}
	m, err := ParseModel(f.Bytes())
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	ts, err := m.Tensors(opt, ext.read)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return ts, closeAll, nil
}

// externalFiles maps the external data files of one model on demand.
type externalFiles struct {
	dir   string
	files map[string]*mmap.File
}

func (e *externalFiles) read(location string, offset, length int64) ([]byte, error) {
	if location == "" || filepath.IsAbs(location) || strings.Contains(location, "..") || strings.ContainsAny(location, "\\:") {
		return nil, fmt.Errorf("external data location %q must be a plain relative path", location)
	}
	f := e.files[location]
	if f == nil {
		var err error
		if f, err = mmap.Open(filepath.Join(e.dir, filepath.FromSlash(location))); err != nil {
			return nil, err
		}
		e.files[location] = f
	}
	b := f.Bytes()
	if offset < 0 || offset > int64(len(b)) || length < 0 || length > int64(len(b))-offset {
		return nil, fmt.Errorf("external data %s: offset %d length %d outside the %d-byte file", location, offset, length, len(b))
	}
	return b[offset : offset+length : offset+length], nil
}

func (e *externalFiles) close() error {
	var first error
	for _, f := range e.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	e.files = nil
	return first
}

// ExternalReader returns length bytes at offset of an external data file
// named relative to the model.
type ExternalReader func(location string, offset, length int64) ([]byte, error)

// use is one consumer of a value: node index and input position.
type use struct{ node, input int }

// Tensors returns the graph's initializers named as in the PyTorch checkpoint
// (see the package documentation). ext resolves external data; it may be nil
// when the model has none.
func (m *Model) Tensors(opt Options, ext ExternalReader) ([]source.Tensor, error) {
	g := &m.Graph
	uses := map[string][]use{}
	producer := map[string]int{}
	for i, n := range g.Nodes {
		for j, in := range n.Inputs {
			uses[in] = append(uses[in], use{i, j})
		}
		for _, out := range n.Outputs {
			producer[out] = i
		}
	}
	type resolved struct {
		init      *Initializer
		name      string // effective name (after Casts)
		consumers []use
	}
	rs := make([]resolved, len(g.Initializers))
	for i := range g.Initializers {
		in := &g.Initializers[i]
		r := resolved{init: in, name: in.Name, consumers: uses[in.Name]}
		// Follow a chain of single Cast consumers: the weight is stored in a
		// narrower type and cast for the computation.
		for hops := 0; hops < 4 && len(r.consumers) == 1; hops++ {
			n := &g.Nodes[r.consumers[0].node]
			if n.OpType != "Cast" || len(n.Outputs) != 1 {
				break
			}
			r.name = n.Outputs[0]
			r.consumers = uses[r.name]
		}
		rs[i] = r
	}
	// Learn the name prefix of each scope root from initializers that kept a
	// checkpoint name: "model.vision_model.encoder.layers.0.mlp.fc1.bias" used
	// by "/encoder/layers.0/mlp/fc1/Add" gives "encoder" -> "model.vision_model.".
	learned := map[string]string{}
	for _, r := range rs {
		if !isCheckpointName(r.name) {
			continue
		}
		module := r.name[:max(strings.LastIndexByte(r.name, '.'), 0)]
		for _, u := range r.consumers {
			scope := nodeScope(g.Nodes[u.node].Name)
			if scope == "" {
				continue
			}
			root, _, _ := strings.Cut(scope, ".")
			if _, ok := learned[root]; ok {
				continue
			}
			if module == scope {
				learned[root] = ""
			} else if strings.HasSuffix(module, "."+scope) {
				learned[root] = strings.TrimSuffix(module, scope)
			}
		}
	}
	prefix := func(scope string) string {
		root, _, _ := strings.Cut(scope, ".")
		if p, ok := opt.Prefixes[root]; ok {
			return p
		}
		return learned[root]
	}
	var out []source.Tensor
	for _, r := range rs {
		in := r.init
		t, err := in.Tensor(ext)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", in.Name, err)
		}
		if isCheckpointName(r.name) {
			t.Name = r.name
			out = append(out, t)
			continue
		}
		// A renamed weight: name it after the scope of the node using it.
		names := map[string]bool{}
		for _, u := range r.consumers {
			n := &g.Nodes[u.node]
			suffix, needT := paramRole(n, u.input, len(t.Shape))
			scope := nodeScope(n.Name)
			if suffix == "" || scope == "" {
				continue
			}
			name := prefix(scope) + scope + suffix
			if names[name] {
				continue
			}
			names[name] = true
			x := t
			x.Name = name
			if needT {
				x.Shape, x.Data = transpose(t.Data, t.Shape, t.DType.Size())
			}
			out = append(out, x)
		}
		if len(names) == 0 { // not a weight we can name (a shape constant, ...): keep its ONNX name
			t.Name = r.name
			out = append(out, t)
		}
	}
	return out, nil
}

// isCheckpointName reports whether an initializer name looks like a PyTorch
// parameter path rather than an exporter-made name.
func isCheckpointName(s string) bool {
	return s != "" && !strings.HasPrefix(s, "onnx::") && !strings.ContainsAny(s, "/:") &&
		strings.Contains(s, ".") && !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".")
}

// nodeScope turns a node name "/model/layers.0/self_attn/q_proj/MatMul" into
// the module path "model.layers.0.self_attn.q_proj" ("" when there is none).
func nodeScope(name string) string {
	if !strings.HasPrefix(name, "/") {
		return ""
	}
	parts := strings.Split(name[1:], "/")
	if len(parts) < 2 {
		return ""
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" {
			return ""
		}
	}
	return strings.Join(parts[:len(parts)-1], ".")
}

// paramRole says which parameter of its module an input of node n is, and
// whether the stored tensor is the transpose of the PyTorch one.
func paramRole(n *Node, input, ndim int) (suffix string, transpose bool) {
	switch n.OpType {
	case "MatMul":
		if input == 1 && ndim == 2 {
			return ".weight", true // x @ W^T exported as x @ (W^T stored)
		}
	case "Gemm":
		transB := int64(0)
		if a, ok := n.Attr("transB"); ok {
			transB = a.I
		}
		switch {
		case input == 1 && ndim == 2:
			return ".weight", transB == 0
		case input == 2:
			return ".bias", false
		}
	case "Conv", "ConvTranspose", "LayerNormalization", "InstanceNormalization":
		switch input {
		case 1:
			return ".weight", false
		case 2:
			return ".bias", false
		}
	case "Gather":
		if input == 0 && ndim == 2 {
			return ".weight", false // embedding table
		}
	}
	return "", false
}

// transpose returns the transpose of a [r, c] matrix of es-byte elements.
func transpose(data []byte, shape []int, es int) ([]int, []byte) {
	out := make([]byte, len(data))
	source.Transpose2D(out, data, shape[0], shape[1], es)
	return []int{shape[1], shape[0]}, out
}

// Tensor returns the initializer's data as a C-contiguous little-endian
// tensor named like the initializer. raw_data and packed float/double data
// alias the model file.
func (t *Initializer) Tensor(ext ExternalReader) (source.Tensor, error) {
	dt, ok := dtypeOf[t.DataType]
	if !ok {
		return source.Tensor{}, fmt.Errorf("unsupported data type %d", t.DataType)
	}
	shape := make([]int, len(t.Dims))
	n := 1
	for i, d := range t.Dims {
		if d < 0 || d > math.MaxInt32*int64(1<<20) {
			return source.Tensor{}, fmt.Errorf("dims[%d] = %d", i, d)
		}
		shape[i] = int(d)
	}
	for _, d := range shape {
		if d == 0 {
			n = 0
			break
		}
		if n > math.MaxInt/16/d {
			return source.Tensor{}, fmt.Errorf("dims %v overflow", t.Dims)
		}
		n *= d
	}
	size := n * dt.Size()
	out := source.Tensor{Name: t.Name, DType: dt, Shape: shape}
	var err error
	switch {
	case t.External:
		length := t.Length
		if length < 0 {
			length = int64(size)
		}
		if length != int64(size) {
			return out, fmt.Errorf("external data length %d, dims need %d bytes", length, size)
		}
		if ext == nil {
			return out, fmt.Errorf("external data %q without a resolver", t.Location)
		}
		out.Data, err = ext(t.Location, t.Offset, length)
		if err != nil {
			return out, err
		}
	case t.hasRaw:
		if len(t.RawData) != size {
			return out, fmt.Errorf("raw_data holds %d bytes, dims %v of %s need %d", len(t.RawData), t.Dims, dt, size)
		}
		out.Data = t.RawData
	case t.typed == 4 || t.typed == 10:
		b := t.floatData
		want := 4
		if t.typed == 10 {
			b, want = t.dblData, 8
		}
		if dt.Size() != want || (dt != source.F32 && dt != source.F64) {
			return out, fmt.Errorf("field %d cannot hold %s data", t.typed, dt)
		}
		if len(b) != size {
			return out, fmt.Errorf("typed data holds %d bytes, dims need %d", len(b), size)
		}
		out.Data = b
	case t.typed == 5 || t.typed == 7:
		if (t.typed == 7) != (dt == source.I64) || dt == source.F32 || dt == source.F64 {
			return out, fmt.Errorf("field %d cannot hold %s data", t.typed, dt)
		}
		if t.varintCnt != n {
			return out, fmt.Errorf("typed data holds %d values, dims need %d", t.varintCnt, n)
		}
		out.Data = make([]byte, size)
		w := &wire{b: t.varints}
		es := dt.Size()
		for i := 0; i < n; i++ {
			v, err := w.varint()
			if err != nil {
				return out, err
			}
			for k := 0; k < es; k++ {
				out.Data[i*es+k] = byte(v >> (8 * k))
			}
		}
	case n == 0:
		out.Data = []byte{}
	default:
		return out, fmt.Errorf("no data")
	}
	return out, nil
}
