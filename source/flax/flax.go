// Package flax reads Flax checkpoints (flax_model.msgpack as written by
// flax.serialization / transformers' Flax models, and sharded
// flax_model.msgpack.index.json folders) into a source.Set with the tensor
// names and layouts of the equivalent Hugging Face PyTorch checkpoint.
//
// The file is a nested msgpack map; arrays are msgpack ext type 1 whose
// payload is the msgpack triple [shape, dtype name, C-order bytes]; arrays
// over 1 GiB are split into {"__msgpack_chunked_array__": true, "shape",
// "chunks"} maps. Parameter paths become PyTorch names the way transformers'
// load_flax_weights_in_pytorch_model renames them: keys joined with '.', a
// Dense "kernel" becomes "weight" transposed ([in, out] -> [out, in]; 4-D
// convolution kernels HWIO -> OIHW), "embedding" and "scale" become "weight",
// batch-norm "mean"/"var" become "running_mean"/"running_var". Tensors keep
// their stored dtype (f32, f16, bf16, ...); untransposed data aliases the
// memory-mapped file, transposed kernels are materialized.
package flax

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cellm-ai/cellm-go/internal/mmap"
	"github.com/cellm-ai/cellm-go/source"
)

// Canonical file names in a Hugging Face model folder.
const (
	WeightsName = "flax_model.msgpack"
	IndexName   = "flax_model.msgpack.index.json"
)

// Options adjusts names the way transformers does for a given PyTorch model
// class. The zero value keeps the checkpoint's own top-level structure, which
// for transformers' Flax*For* models already matches the PyTorch names.
type Options struct {
	// BaseModelPrefix is the PyTorch class's base_model_prefix ("model" for
	// Llama, "bert" for BERT). Empty: no prefix handling.
	BaseModelPrefix string
	// HeadModel says the target PyTorch names start with BaseModelPrefix (a
	// model with a head such as LlamaForCausalLM). Then a checkpoint of the
	// bare base model gets the prefix added; when HeadModel is false a
	// checkpoint that has the prefix loses it.
	HeadModel bool
}

// Open reads one flax_model.msgpack file with default Options.
func Open(path string) (*source.Set, error) { return OpenWith(path, Options{}) }

// OpenDir opens the Flax weights of a model folder (flax_model.msgpack, or the
// shards listed by flax_model.msgpack.index.json) with default Options.
func OpenDir(dir string) (*source.Set, error) { return OpenDirWith(dir, Options{}) }

// OpenWith reads one msgpack file.
func OpenWith(path string, opt Options) (*source.Set, error) {
	ts, closer, err := load(path, opt)
	if err != nil {
		return nil, err
	}
	set, err := source.NewSet(ts, closer)
	if err != nil {
		closer()
		return nil, fmt.Errorf("flax: %s: %w", path, err)
	}
	return set, nil
}

// OpenDirWith is OpenDir with Options.
func OpenDirWith(dir string, opt Options) (*source.Set, error) {
	if p := filepath.Join(dir, WeightsName); fileExists(p) {
		return OpenWith(p, opt)
	}
	p := filepath.Join(dir, IndexName)
	if !fileExists(p) {
		return nil, fmt.Errorf("flax: %s: no %s or %s", dir, WeightsName, IndexName)
	}
	set, err := source.OpenSharded(p, func(path string) ([]source.Tensor, func() error, error) {
		return load(path, opt)
	}, false)
	if err != nil {
		return nil, fmt.Errorf("flax: %w", err)
	}
	return set, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func load(path string, opt Options) ([]source.Tensor, func() error, error) {
	f, err := mmap.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("flax: %w", err)
	}
	ts, err := Parse(f.Bytes(), opt)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("flax: %s: %w", path, err)
	}
	return ts, f.Close, nil
}

// dtypes maps numpy dtype names to element types.
var dtypes = map[string]source.DType{
	"float32": source.F32, "float16": source.F16, "bfloat16": source.BF16, "float64": source.F64,
	"int64": source.I64, "int32": source.I32, "int16": source.I16, "int8": source.I8,
	"uint8": source.U8, "bool": source.Bool,
}

// Flax msgpack ext type codes.
const (
	extNDArray = 1
	extComplex = 2
	extScalar  = 3
	extTuple   = 4
)

// leaf is one array found in the tree, with its Flax path.
type leaf struct {
	path  []string
	dtype source.DType
	shape []int
	data  []byte
}

// Parse decodes a whole msgpack file held in memory. Tensors that need no
// transpose alias data.
func Parse(data []byte, opt Options) ([]source.Tensor, error) {
	root, err := decodeAll(data)
	if err != nil {
		return nil, err
	}
	if root.kind != kMap {
		return nil, fmt.Errorf("top level is a msgpack %s, not a map", root.kind)
	}
	var leaves []leaf
	if err := walk(&root, nil, &leaves); err != nil {
		return nil, err
	}
	if len(leaves) == 0 {
		return nil, errors.New("no arrays found")
	}
	// A variables dict {"params": ..., "batch_stats": ...}: drop the collection name.
	top := map[string]bool{}
	for _, l := range leaves {
		top[l.path[0]] = true
	}
	if top["params"] && len(top) <= 2 && (len(top) == 1 || top["batch_stats"]) {
		for i := range leaves {
			if len(leaves[i].path) > 1 {
				leaves[i].path = leaves[i].path[1:]
			}
		}
		top = map[string]bool{}
		for _, l := range leaves {
			top[l.path[0]] = true
		}
	}
	if p := opt.BaseModelPrefix; p != "" {
		for i := range leaves {
			switch {
			case !opt.HeadModel && top[p] && leaves[i].path[0] == p && len(leaves[i].path) > 1:
				leaves[i].path = leaves[i].path[1:]
			case opt.HeadModel && !top[p]:
				leaves[i].path = append([]string{p}, leaves[i].path...)
			}
		}
	}
	out := make([]source.Tensor, 0, len(leaves))
	for _, l := range leaves {
		name, perm := TorchName(l.path, len(l.shape))
		t := source.Tensor{Name: name, DType: l.dtype, Shape: l.shape, Data: l.data}
		if perm != nil {
			t.Shape, t.Data = permute(l.data, l.shape, perm, l.dtype.Size())
		}
		out = append(out, t)
	}
	return out, nil
}

// TorchName maps a Flax parameter path to the PyTorch parameter name, and
// the axis permutation that turns the Flax array into the PyTorch one (nil
// when the layout is the same), following transformers'
// load_flax_weights_in_pytorch_model.
func TorchName(path []string, ndim int) (string, []int) {
	p := append([]string(nil), path...)
	var perm []int
	last := p[len(p)-1]
	switch {
	case last == "kernel":
		p[len(p)-1] = "weight"
		if ndim == 4 { // conv HWIO -> OIHW
			perm = []int{3, 2, 0, 1}
		} else if ndim >= 2 { // Dense [in, out] -> [out, in] (numpy .T reverses all axes)
			perm = make([]int, ndim)
			for i := range perm {
				perm[i] = ndim - 1 - i
			}
		}
	case last == "scale" || last == "embedding":
		p[len(p)-1] = "weight"
	case strings.Contains(last, "mean"):
		p[len(p)-1] = "running_mean"
	case strings.Contains(last, "var"):
		p[len(p)-1] = "running_var"
	}
	return strings.Join(p, "."), perm
}

// walk collects the arrays of a map, depth first.
func walk(m *value, path []string, out *[]leaf) error {
	for i := 0; i+1 < len(m.items); i += 2 {
		k := &m.items[i]
		key, err := k.str()
		if err != nil {
			if k.kind != kInt {
				return fmt.Errorf("map key at offset %d under %q is a %s", k.off, strings.Join(path, "."), k.kind)
			}
			key = fmt.Sprint(k.i)
		}
		if key == "" || strings.Contains(key, ".") {
			return fmt.Errorf("map key %q at offset %d under %q cannot be part of a tensor name", key, k.off, strings.Join(path, "."))
		}
		p := append(append([]string(nil), path...), key)
		name := strings.Join(p, ".")
		v := &m.items[i+1]
		switch v.kind {
		case kMap:
			if _, chunked := v.lookup("__msgpack_chunked_array__"); chunked {
				l, err := unchunk(v, name)
				if err != nil {
					return err
				}
				l.path = p
				*out = append(*out, l)
				continue
			}
			if err := walk(v, p, out); err != nil {
				return err
			}
		case kExt:
			l, err := ndarray(v, name)
			if err != nil {
				return err
			}
			l.path = p
			*out = append(*out, l)
		case kArray:
			return fmt.Errorf("%s: msgpack array where a map or ndarray was expected", name)
		default:
			// Plain scalars (a step counter, a flag) are not tensors: skip.
		}
	}
	return nil
}

// ndarray decodes an ext value holding a Flax ndarray.
func ndarray(v *value, name string) (leaf, error) {
	switch v.ext {
	case extNDArray:
	case extComplex:
		return leaf{}, fmt.Errorf("%s: complex numbers (msgpack ext 2) are not supported", name)
	case extScalar:
		return leaf{}, fmt.Errorf("%s: numpy scalars (msgpack ext 3) are not supported", name)
	case extTuple:
		return leaf{}, fmt.Errorf("%s: tuples (msgpack ext 4) are not supported", name)
	default:
		return leaf{}, fmt.Errorf("%s: unknown msgpack ext type %d", name, v.ext)
	}
	t, err := decodeAll(v.raw)
	if err != nil {
		return leaf{}, fmt.Errorf("%s: ndarray payload: %w", name, err)
	}
	if t.kind != kArray || len(t.items) != 3 {
		return leaf{}, fmt.Errorf("%s: ndarray payload is not [shape, dtype, data]", name)
	}
	shape, err := intList(&t.items[0], name)
	if err != nil {
		return leaf{}, err
	}
	dn, err := t.items[1].str()
	if err != nil {
		return leaf{}, fmt.Errorf("%s: dtype is a msgpack %s", name, t.items[1].kind)
	}
	dt, ok := dtypes[dn]
	if !ok {
		return leaf{}, fmt.Errorf("%s: unsupported dtype %q", name, dn)
	}
	data := t.items[2].raw
	if t.items[2].kind != kBin && t.items[2].kind != kStr {
		return leaf{}, fmt.Errorf("%s: data is a msgpack %s", name, t.items[2].kind)
	}
	if n, ok := elements(shape); !ok || n*dt.Size() != len(data) {
		return leaf{}, fmt.Errorf("%s: %d data bytes do not hold shape %v of %s", name, len(data), shape, dn)
	}
	return leaf{dtype: dt, shape: shape, data: data}, nil
}

func intList(v *value, name string) ([]int, error) {
	if v.kind != kArray {
		return nil, fmt.Errorf("%s: shape is a msgpack %s", name, v.kind)
	}
	out := make([]int, len(v.items))
	for i, x := range v.items {
		if x.kind != kInt || x.i < 0 || x.i > math.MaxInt32*int64(1<<20) {
			return nil, fmt.Errorf("%s: shape[%d] is not a valid dimension", name, i)
		}
		out[i] = int(x.i)
	}
	return out, nil
}

// elements multiplies a shape, reporting overflow.
func elements(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d == 0 {
			return 0, true
		}
	}
	for _, d := range shape {
		if n > math.MaxInt/16/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// dictList reads flax's tuple-as-dict encoding {"0": a, "1": b, ...}.
func dictList(v *value, name, field string) ([]*value, error) {
	if v.kind != kMap {
		return nil, fmt.Errorf("%s: chunked array %s is a msgpack %s, not a map", name, field, v.kind)
	}
	n := len(v.items) / 2
	out := make([]*value, n)
	for i := range out {
		x, ok := v.lookup(fmt.Sprint(i))
		if !ok {
			return nil, fmt.Errorf("%s: chunked array %s lacks key %q", name, field, fmt.Sprint(i))
		}
		out[i] = x
	}
	return out, nil
}

// unchunk reassembles a {"__msgpack_chunked_array__", "shape", "chunks"} map.
func unchunk(v *value, name string) (leaf, error) {
	sv, ok1 := v.lookup("shape")
	cv, ok2 := v.lookup("chunks")
	if !ok1 || !ok2 {
		return leaf{}, fmt.Errorf("%s: chunked array without shape or chunks", name)
	}
	dims, err := dictList(sv, name, "shape")
	if err != nil {
		return leaf{}, err
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		if d.kind != kInt || d.i < 0 || d.i > math.MaxInt32*int64(1<<20) {
			return leaf{}, fmt.Errorf("%s: chunked array shape[%d] is not a valid dimension", name, i)
		}
		shape[i] = int(d.i)
	}
	chunks, err := dictList(cv, name, "chunks")
	if err != nil {
		return leaf{}, err
	}
	var (
		dt    source.DType
		parts [][]byte
		total int
	)
	for i, c := range chunks {
		if c.kind != kExt {
			return leaf{}, fmt.Errorf("%s: chunk %d is a msgpack %s", name, i, c.kind)
		}
		l, err := ndarray(c, fmt.Sprintf("%s chunk %d", name, i))
		if err != nil {
			return leaf{}, err
		}
		if len(l.shape) != 1 || (i > 0 && l.dtype != dt) {
			return leaf{}, fmt.Errorf("%s: chunk %d is not a flat %s array", name, i, dt)
		}
		dt = l.dtype
		parts = append(parts, l.data)
		total += len(l.data)
	}
	if len(chunks) == 0 {
		return leaf{}, fmt.Errorf("%s: chunked array without chunks", name)
	}
	if n, ok := elements(shape); !ok || n*dt.Size() != total {
		return leaf{}, fmt.Errorf("%s: chunks hold %d bytes, shape %v needs more or less", name, total, shape)
	}
	data := make([]byte, 0, total)
	for _, p := range parts {
		data = append(data, p...)
	}
	return leaf{dtype: dt, shape: shape, data: data}, nil
}

// permute returns the C-contiguous bytes of the array (data, shape) with its
// axes reordered: output axis i is input axis perm[i].
func permute(data []byte, shape, perm []int, es int) ([]int, []byte) {
	out := make([]int, len(perm))
	inStride := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		inStride[i] = acc
		acc *= shape[i]
	}
	stride := make([]int, len(perm))
	for i, p := range perm {
		out[i] = shape[p]
		stride[i] = inStride[p]
	}
	n := len(data) / max(es, 1)
	dst := make([]byte, len(data))
	if n == 0 {
		return out, dst
	}
	if len(out) == 2 {
		source.Transpose2D(dst, data, shape[0], shape[1], es)
		return out, dst
	}
	idx := make([]int, len(out))
	src := 0
	for i := 0; i < n; i++ {
		copy(dst[i*es:(i+1)*es], data[src*es:(src+1)*es])
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			src += stride[d]
			if idx[d] < out[d] {
				break
			}
			src -= idx[d] * stride[d]
			idx[d] = 0
		}
	}
	return out, dst
}
