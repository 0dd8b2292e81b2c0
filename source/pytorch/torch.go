package pytorch

import (
	"errors"
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/source"
)

// storageDTypes maps torch's typed storage classes to element types.
var storageDTypes = map[string]source.DType{
	"FloatStorage":    source.F32,
	"HalfStorage":     source.F16,
	"BFloat16Storage": source.BF16,
	"DoubleStorage":   source.F64,
	"LongStorage":     source.I64,
	"IntStorage":      source.I32,
	"ShortStorage":    source.I16,
	"CharStorage":     source.I8,
	"ByteStorage":     source.U8,
	"BoolStorage":     source.Bool,
}

// storageRef is a torch storage: numel elements of dtype in data.
type storageRef struct {
	key   string
	dtype source.DType
	numel int
	data  []byte // numel*dtype.Size() bytes, set once the storage bytes are located
}

// tensorRef is a strided view of a storage, as _rebuild_tensor_v2 describes it.
type tensorRef struct {
	storage *storageRef
	offset  int
	size    []int
	stride  []int
}

// maxDims caps tensor rank.
const maxDims = 64

// storageFromPID interprets a persistent id ('storage', StorageClass, key,
// location, numel[, view_metadata]); the view form only occurs in the legacy
// format and is returned separately.
func storageFromPID(pid any) (st *storageRef, view pyTuple, err error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) < 5 || len(t) > 6 {
		return nil, nil, fmt.Errorf("persistent id: expected a 5-tuple ('storage', class, key, location, numel), got %s", typeName(pid))
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, nil, fmt.Errorf("persistent id: unknown kind (%s)", typeName(t[0]))
	}
	cls, ok := t[1].(pyGlobal)
	dt, known := storageDTypes[cls.name]
	if !ok || cls.module != "torch" || !known {
		return nil, nil, fmt.Errorf("persistent id: %s is not a torch storage class", typeName(t[1]))
	}
	var key string
	switch k := t[2].(type) {
	case string:
		key = k
	case int64:
		key = fmt.Sprint(k)
	default:
		return nil, nil, fmt.Errorf("persistent id: storage key is %s", typeName(t[2]))
	}
	n, ok := t[4].(int64)
	if !ok || n < 0 || n > math.MaxInt64/16 {
		return nil, nil, fmt.Errorf("persistent id: bad element count for storage %q", key)
	}
	if len(t) == 6 && t[5] != nil {
		if view, ok = t[5].(pyTuple); !ok || len(view) != 3 {
			return nil, nil, fmt.Errorf("persistent id: bad view metadata for storage %q", key)
		}
	}
	return &storageRef{key: key, dtype: dt, numel: int(n)}, view, nil
}

func intTuple(v any, what string) ([]int, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%s is %s, not a tuple", what, typeName(v))
	}
	if len(t) > maxDims {
		return nil, fmt.Errorf("%s has %d dimensions (max %d)", what, len(t), maxDims)
	}
	out := make([]int, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 || n > math.MaxInt32*int64(1<<20) {
			return nil, fmt.Errorf("%s[%d] is not a valid non-negative int", what, i)
		}
		out[i] = int(n)
	}
	return out, nil
}

// torchReduce gives the allowed globals their meaning.
func torchReduce(fn pyGlobal, args pyTuple) (any, error) {
	switch fn.String() {
	case "collections.OrderedDict":
		d := newDict()
		if len(args) == 1 { // OrderedDict(list of pairs)
			l, ok := args[0].(*pyList)
			if !ok {
				return nil, errors.New("argument is not a list")
			}
			for _, it := range l.items {
				p, ok := it.(pyTuple)
				if !ok || len(p) != 2 {
					return nil, errors.New("list item is not a pair")
				}
				if err := d.set(p[0], p[1]); err != nil {
					return nil, err
				}
			}
		} else if len(args) > 1 {
			return nil, fmt.Errorf("%d arguments", len(args))
		}
		return d, nil
	case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
		if len(args) < 4 || len(args) > 7 {
			return nil, fmt.Errorf("%d arguments, want 4 to 7", len(args))
		}
		st, ok := args[0].(*storageRef)
		if !ok {
			return nil, fmt.Errorf("storage argument is %s", typeName(args[0]))
		}
		off, ok := args[1].(int64)
		if !ok || off < 0 || off > math.MaxInt64/16 {
			return nil, errors.New("bad storage offset")
		}
		size, err := intTuple(args[2], "size")
		if err != nil {
			return nil, err
		}
		stride, err := intTuple(args[3], "stride")
		if err != nil {
			return nil, err
		}
		if len(size) != len(stride) {
			return nil, fmt.Errorf("size has %d dimensions but stride %d", len(size), len(stride))
		}
		return &tensorRef{storage: st, offset: int(off), size: size, stride: stride}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state])
		if len(args) < 3 || len(args) > 4 {
			return nil, fmt.Errorf("%d arguments, want 3 or 4", len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("data argument is %s", typeName(args[0]))
		}
		return t, nil
	case "torch._tensor._rebuild_from_type_v2":
		// (func, new_type, args, state): func(*args) viewed as new_type.
		if len(args) != 4 {
			return nil, fmt.Errorf("%d arguments, want 4", len(args))
		}
		f, ok := args[0].(pyGlobal)
		if !ok {
			return nil, fmt.Errorf("func argument is %s", typeName(args[0]))
		}
		switch typ := typeName(args[1]); typ {
		case "torch.Tensor", "torch.nn.parameter.Parameter":
		default:
			return nil, fmt.Errorf("tensor type %s is not supported", typ)
		}
		inner, ok := args[2].(pyTuple)
		if !ok {
			return nil, fmt.Errorf("args argument is %s", typeName(args[2]))
		}
		if f.String() == fn.String() {
			return nil, errors.New("recursive rebuild")
		}
		v, err := torchReduce(f, inner)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if _, ok := v.(*tensorRef); !ok {
			return nil, fmt.Errorf("%s did not build a tensor", f)
		}
		return v, nil
	case "torch.Size":
		if len(args) != 1 {
			return nil, fmt.Errorf("%d arguments, want 1", len(args))
		}
		if _, err := intTuple(args[0], "size"); err != nil {
			return nil, err
		}
		return args[0], nil
	}
	return nil, errors.New("cannot be called")
}

// contiguousStrides returns the C-order strides of size.
func contiguousStrides(size []int) []int {
	s := make([]int, len(size))
	acc := 1
	for i := len(size) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= size[i]
	}
	return s
}

// numElements multiplies size, failing on overflow past limit.
func numElements(size []int, limit int) (int, error) {
	n := 1
	for _, d := range size {
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range size {
		if n > limit/d {
			return 0, fmt.Errorf("shape %v has more than %d elements", size, limit)
		}
		n *= d
	}
	return n, nil
}

// materialize turns a view into a C-contiguous tensor. When the view already
// is contiguous its data aliases the storage; otherwise it is gathered into
// fresh memory, charged against *budget bytes.
func (t *tensorRef) materialize(name string, budget *int) (source.Tensor, error) {
	st := t.storage
	es := st.dtype.Size()
	out := source.Tensor{Name: name, DType: st.dtype, Shape: append([]int{}, t.size...)}
	n, err := numElements(t.size, math.MaxInt/16)
	if err != nil {
		return out, fmt.Errorf("tensor %q: %w", name, err)
	}
	if n == 0 {
		out.Data = []byte{}
		return out, nil
	}
	// The last element reached must lie inside the storage.
	last := t.offset
	for i, d := range t.size {
		if t.stride[i] > 0 && d-1 > (math.MaxInt/16-last)/t.stride[i] {
			return out, fmt.Errorf("tensor %q: strides overflow", name)
		}
		last += (d - 1) * t.stride[i]
	}
	if last >= st.numel {
		return out, fmt.Errorf("tensor %q: view (offset %d, size %v, stride %v) reaches element %d of a storage of %d",
			name, t.offset, t.size, t.stride, last, st.numel)
	}
	contiguous := true
	cs := contiguousStrides(t.size)
	for i, d := range t.size {
		if d != 1 && t.stride[i] != cs[i] {
			contiguous = false
			break
		}
	}
	if contiguous {
		out.Data = st.data[t.offset*es : (t.offset+n)*es : (t.offset+n)*es]
		return out, nil
	}
	if n*es > *budget {
		return out, fmt.Errorf("tensor %q: materializing %d bytes exceeds the limit", name, n*es)
	}
	*budget -= n * es
	dst := make([]byte, n*es)
	if len(t.size) == 2 && t.stride[0] == 1 && t.stride[1] == t.size[0] {
		// A transposed contiguous matrix (W.t()): transpose it back.
		src := st.data[t.offset*es : (t.offset+n)*es]
		source.Transpose2D(dst, src, t.size[1], t.size[0], es)
		out.Data = dst
		return out, nil
	}
	idx := make([]int, len(t.size))
	src := t.offset
	for i := 0; i < n; i++ {
		copy(dst[i*es:(i+1)*es], st.data[src*es:(src+1)*es])
		// Advance the multi-index in C order.
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			src += t.stride[d]
			if idx[d] < t.size[d] {
				break
			}
			src -= idx[d] * t.stride[d]
			idx[d] = 0
		}
	}
	out.Data = dst
	return out, nil
}
