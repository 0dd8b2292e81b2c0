//go:build onnxruntime

package onnxrt

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/cellm-ai/cellm-go/internal/half"
)

// apiVersion is the ONNX Runtime C API version the binding's headers declare
// (ORT_API_VERSION in github.com/yalue/onnxruntime_go v1.28.0).
const apiVersion = 25

// Available reports whether the package was built with ONNX Runtime support.
const Available = true

// runtimeState is the process-wide ONNX Runtime environment: the binding
// supports one loaded library per process.
var runtimeState struct {
	sync.Mutex
	path    string // library loaded, absolute
	version string
}

// load loads the ONNX Runtime library named by o once per process.
func load(o Options) error {
	p, err := o.libraryPath()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return fmt.Errorf("onnxrt: ONNX Runtime library %s: %w", p, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	rt := &runtimeState
	rt.Lock()
	defer rt.Unlock()
	if rt.path == "" && ort.IsInitialized() { // initialized by other code in this process
		rt.path, rt.version = abs, ort.GetVersion()
	}
	if rt.path == abs {
		return nil
	}
	st, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("onnxrt: ONNX Runtime library %s: %w (want ONNX Runtime >= %s; scripts/get-onnxruntime.sh downloads one)", p, err, MinRuntimeVersion)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("onnxrt: ONNX Runtime library %s is not a file (want libonnxruntime, version >= %s)", p, MinRuntimeVersion)
	}
	if err := probeLibrary(abs); err != nil {
		return err
	}
	if rt.path != "" {
		return fmt.Errorf("onnxrt: ONNX Runtime is already loaded from %s; cannot also load %s in the same process", rt.path, abs)
	}
	ort.SetSharedLibraryPath(abs)
	if err := ort.InitializeEnvironment(); err != nil {
		return fmt.Errorf("onnxrt: initializing ONNX Runtime from %s (want version >= %s): %w", abs, MinRuntimeVersion, err)
	}
	rt.path, rt.version = abs, ort.GetVersion()
	return nil
}

// RuntimeVersion loads ONNX Runtime as o says and returns its version.
func RuntimeVersion(o Options) (string, error) {
	if err := load(o); err != nil {
		return "", err
	}
	runtimeState.Lock()
	defer runtimeState.Unlock()
	return runtimeState.version, nil
}

// session is one ONNX Runtime session with its input/output metadata.
type session struct {
	path string
	s    *ort.DynamicAdvancedSession
	in   []ort.InputOutputInfo
	out  []ort.InputOutputInfo
}

// ioInfo loads the input and output metadata of the model at path.
func ioInfo(path string, o Options) (in, out []ort.InputOutputInfo, err error) {
	if err := load(o); err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("onnxrt: %w", err)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, nil, fmt.Errorf("onnxrt: %s: %w", path, err)
	}
	defer so.Destroy()
	// Only the metadata is wanted: skip graph optimizations.
	if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
		return nil, nil, fmt.Errorf("onnxrt: %s: %w", path, err)
	}
	in, out, err = ort.GetInputOutputInfoWithOptions(path, so)
	if err != nil {
		return nil, nil, fmt.Errorf("onnxrt: loading %s: %w", path, err)
	}
	return in, out, nil
}

// openSession creates a session running every input and output of the model
// at path, in the model's order.
func openSession(path string, o Options) (*session, error) {
	if o.Threads < 0 {
		return nil, fmt.Errorf("onnxrt: Options.Threads %d is negative", o.Threads)
	}
	in, out, err := ioInfo(path, o)
	if err != nil {
		return nil, err
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxrt: %s: %w", path, err)
	}
	defer so.Destroy()
	if o.Threads > 0 {
		if err := so.SetIntraOpNumThreads(o.Threads); err != nil {
			return nil, fmt.Errorf("onnxrt: %s: %w", path, err)
		}
	}
	s, err := ort.NewDynamicAdvancedSession(path, names(in), names(out), so)
	if err != nil {
		return nil, fmt.Errorf("onnxrt: loading %s: %w", path, err)
	}
	return &session{path: path, s: s, in: in, out: out}, nil
}

func (s *session) close() error {
	if s == nil || s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	return err
}

func (s *session) run(in, out []ort.Value) error {
	if s.s == nil {
		return fmt.Errorf("onnxrt: %s: session is closed", filepath.Base(s.path))
	}
	if err := s.s.Run(in, out); err != nil {
		return fmt.Errorf("onnxrt: running %s: %w", filepath.Base(s.path), err)
	}
	return nil
}

// input returns the index of the named input, or -1.
func (s *session) input(name string) int {
	for i, x := range s.in {
		if x.Name == name {
			return i
		}
	}
	return -1
}

// output returns the index of the named output, or -1.
func (s *session) output(name string) int {
	for i, x := range s.out {
		if x.Name == name {
			return i
		}
	}
	return -1
}

// errIO is an error about one input or output of the model.
func (s *session) errIO(what string, x ort.InputOutputInfo, format string, args ...any) error {
	return fmt.Errorf("onnxrt: %s: %s %q (%s %s): %s", filepath.Base(s.path), what, x.Name,
		dtypeName(x.DataType), dimsString(x.Dimensions), fmt.Sprintf(format, args...))
}

func names(xs []ort.InputOutputInfo) []string {
	n := make([]string, len(xs))
	for i, x := range xs {
		n[i] = x.Name
	}
	return n
}

// isFloat reports whether dt is a float type this package converts from and
// to float32.
func isFloat(dt ort.TensorElementDataType) bool {
	return dt == ort.TensorElementDataTypeFloat || dt == ort.TensorElementDataTypeFloat16
}

// isInt reports whether dt is an index type (int64 or int32).
func isInt(dt ort.TensorElementDataType) bool {
	return dt == ort.TensorElementDataTypeInt64 || dt == ort.TensorElementDataTypeInt32
}

// floatTensor wraps data (float32) as a tensor of type dt: shared for
// float32, converted for float16.
func floatTensor(dt ort.TensorElementDataType, shape ort.Shape, data []float32) (ort.Value, error) {
	switch dt {
	case ort.TensorElementDataTypeFloat:
		return ort.NewTensor(shape, data)
	case ort.TensorElementDataTypeFloat16:
		b := make([]byte, max(2*len(data), 2)) // the binding rejects empty buffers
		for i, f := range data {
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToF16(f))
		}
		return ort.NewCustomDataTensor(shape, b, dt)
	}
	return nil, fmt.Errorf("unsupported element type %s", dtypeName(dt))
}

// intTensor wraps data as an int64 or int32 tensor.
func intTensor(dt ort.TensorElementDataType, shape ort.Shape, data []int64) (ort.Value, error) {
	switch dt {
	case ort.TensorElementDataTypeInt64:
		return ort.NewTensor(shape, data)
	case ort.TensorElementDataTypeInt32:
		d := make([]int32, len(data))
		for i, v := range data {
			d[i] = int32(v)
		}
		return ort.NewTensor(shape, d)
	}
	return nil, fmt.Errorf("unsupported element type %s", dtypeName(dt))
}

// floatBuffer is reusable storage for a float32 or float16 tensor.
type floatBuffer struct {
	words []float32 // float16 values are packed two per word
}

// tensor returns a tensor of type dt and the given shape over the buffer,
// growing it (by half again, to amortize) when needed. The contents are
// whatever the buffer held.
func (b *floatBuffer) tensor(dt ort.TensorElementDataType, shape ort.Shape) (ort.Value, error) {
	n := int(shape.FlattenedSize())
	words := n
	if dt == ort.TensorElementDataTypeFloat16 {
		words = (n + 1) / 2
	}
	if cap(b.words) < max(words, 1) {
		b.words = make([]float32, max(words, 1), words+words/2+1)
	}
	w := b.words[:max(words, 1)]
	switch dt {
	case ort.TensorElementDataTypeFloat:
		return ort.NewTensor(shape, w[:n])
	case ort.TensorElementDataTypeFloat16:
		bytes := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), max(2*n, 2))
		return ort.NewCustomDataTensor(shape, bytes, dt)
	}
	return nil, fmt.Errorf("unsupported element type %s", dtypeName(dt))
}

// floats returns the values of a float32 or float16 tensor as float32 from
// element off on, n of them (n < 0: to the end). float32 data is shared, not
// copied.
func floats(v ort.Value, off, n int) ([]float32, error) {
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		d := t.GetData()
		if n < 0 {
			n = len(d) - off
		}
		return d[off : off+n], nil
	case *ort.CustomDataTensor:
		if ort.TensorElementDataType(t.DataType()) != ort.TensorElementDataTypeFloat16 {
			break
		}
		b := t.GetData()
		if n < 0 {
			n = int(t.GetShape().FlattenedSize()) - off
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = half.F16ToF32(binary.LittleEndian.Uint16(b[2*(off+i):]))
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor of type %s is not float32 or float16", dtypeName(ort.TensorElementDataType(v.DataType())))
}

func destroyAll(vs []ort.Value) {
	for i, v := range vs {
		if v != nil {
			v.Destroy()
			vs[i] = nil
		}
	}
}

func dtypeName(dt ort.TensorElementDataType) string {
	switch dt {
	case ort.TensorElementDataTypeFloat:
		return "float32"
	case ort.TensorElementDataTypeFloat16:
		return "float16"
	case ort.TensorElementDataTypeBFloat16:
		return "bfloat16"
	case ort.TensorElementDataTypeDouble:
		return "float64"
	case ort.TensorElementDataTypeInt64:
		return "int64"
	case ort.TensorElementDataTypeInt32:
		return "int32"
	case ort.TensorElementDataTypeInt16:
		return "int16"
	case ort.TensorElementDataTypeInt8:
		return "int8"
	case ort.TensorElementDataTypeUint8:
		return "uint8"
	case ort.TensorElementDataTypeBool:
		return "bool"
	case ort.TensorElementDataTypeString:
		return "string"
	}
	return strings.ToLower(strings.TrimPrefix(dt.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
}

// dimsString formats dimensions with "?" for dynamic ones.
func dimsString(d ort.Shape) string {
	parts := make([]string, len(d))
	for i, v := range d {
		if v < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(v)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// DescribeIO returns a listing of the inputs and outputs of the ONNX model at
// path: name, element type and dimensions ("?" for dynamic ones).
func DescribeIO(path string, o Options) (string, error) {
	in, out, err := ioInfo(path, o)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	v, _ := RuntimeVersion(o)
	fmt.Fprintf(&sb, "%s (ONNX Runtime %s)\n", filepath.Base(path), v)
	width := 0
	for _, x := range append(append([]ort.InputOutputInfo(nil), in...), out...) {
		width = max(width, len(x.Name))
	}
	for _, sec := range []struct {
		title string
		xs    []ort.InputOutputInfo
	}{{"inputs", in}, {"outputs", out}} {
		fmt.Fprintf(&sb, "%s:\n", sec.title)
		for _, x := range sec.xs {
			if x.OrtValueType != ort.ONNXTypeTensor {
				fmt.Fprintf(&sb, "  %-*s  %s\n", width, x.Name, x.OrtValueType)
				continue
			}
			fmt.Fprintf(&sb, "  %-*s  %-7s  %s\n", width, x.Name, dtypeName(x.DataType), dimsString(x.Dimensions))
		}
	}
	return sb.String(), nil
}
