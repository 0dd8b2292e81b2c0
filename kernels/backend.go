package kernels

import (
	"os"
)

// backend is one implementation of the SIMD-sensitive kernels. The generic
// backend is always available; amd64 and arm64 builds register faster ones.
type backend struct {
	name string

	dot  func(a, b []float32) float32        // len(b) >= len(a)
	axpy func(alpha float32, x, y []float32) // len(y) >= len(x)

	// matVec* compute y[i] = W[i,:]·x for i < len(y), W row-major with
	// len(x) columns.
	matVecF32  func(y, w, x []float32)
	matVecF16  func(y []float32, w []uint16, x []float32)
	matVecBF16 func(y []float32, w []uint16, x []float32)
	// matVecQ8 gets x as float (q.x) and, if quantizeQ8 is set, also
	// quantized by it in blocks of q8Block (see q8Vec).
	matVecQ8   func(y []float32, w []int8, scale []float32, q *q8Vec)
	quantizeQ8 func(q *q8Vec, x []float32)
	// matVecQ8G and matVecQ4 compute grouped int8 and int4 rows: scale has
	// len(x)/group values per row. Like matVecQ8 they use q's int8
	// activations when q.ok and the group is a multiple of q8Block.
	matVecQ8G func(y []float32, w []int8, scale []float32, group int, q *q8Vec)
	matVecQ4  func(y []float32, w []byte, scale []float32, group int, q *q8Vec)
	// layouts, if set, fills the layouts of q (quantized, q.ok) beyond q.q
	// and q.ls that this backend's kernels for weights of type t read
	// (q.lsum, q.nib or q.q4); the generic kernels read none.
	layouts func(q *q8Vec, t DType)

	f16ToF32  func(dst []float32, src []uint16) // len(dst) == len(src)
	bf16ToF32 func(dst []float32, src []uint16)
	f32ToF16  func(dst []uint16, src []float32)

	// wsum* compute out[d] = sum_t p[t] * V[t*len(out)+d] for t < len(p).
	wsumF32 func(out, v, p []float32)
	wsumF16 func(out []float32, v []uint16, p []float32)

	// quantizeQ8Row, if set, is QuantizeQ8Row (len(dst) == len(src)),
	// exact to quantizeQ8RowGeneric.
	quantizeQ8Row func(dst []int8, src []float32) float32

	// group, if set, computes decode attention a GQA group at a time (see
	// groupKernels); without it paged attention goes one head at a time.
	group *groupKernels

	add      func(dst, a, b []float32) // if set: addGeneric's results, faster
	scale    func(x []float32, s float32)
	softmax  func(x []float32) // len(x) >= 1
	siluMul  func(dst, gate, up []float32)
	geluTanh func(dst, x []float32)

	// qgemm, if set, is the micro-kernel of the quantized GEMM MatMul uses
	// for int8 and int4 weights and n >= 2 (see qgemm.go).
	qgemm qgemmKernel
	// qgemm8, if set, replaces qgemm for n <= qgSmall (see qgemm8Kernel).
	qgemm8 qgemm8Kernel
	// qgemm16, if set, replaces qgemm for raw int8 weights read once and
	// one tile of input rows (n <= qgTile; see qgemm16Kernel).
	qgemm16 qgemm16Kernel
	// gemm, if set, is the micro-kernel MatMul uses for n >= gemm.mr.
	gemm *gemmKernel
	// packW8, if set, packs 8 float weight rows for the GEMM (see
	// gemmJob.packW); transpose8 then packs 8 widened rows of other types.
	packW8     func(w *Matrix, wp []float32, nr, r, k0, n int, rowBuf []float32)
	transpose8 func(wp []float32, nr int, src []float32, lds, n int) // rows at stride lds
}

var generic = &backend{
	name:       "generic",
	dot:        dotGeneric,
	axpy:       axpyGeneric,
	matVecF32:  matVecF32Generic,
	matVecF16:  matVecF16Generic,
	matVecBF16: matVecBF16Generic,
	matVecQ8:   matVecQ8Generic,
	matVecQ8G:  matVecQ8GGeneric,
	matVecQ4:   matVecQ4Generic,
	f16ToF32:   f16ToF32Generic,
	bf16ToF32:  bf16ToF32Generic,
	f32ToF16:   f32ToF16Generic,
	wsumF32:    wsumF32Generic,
	wsumF16:    wsumF16Generic,
	group:      groupGeneric,
	scale:      scaleGeneric,
	softmax:    softmaxGeneric,
	siluMul:    siluMulGeneric,
	geluTanh:   geluTanhGeneric,
}

// backends lists the implementations this CPU can run, slowest first; the
// architecture files append to it in init.
var backends = []*backend{generic}

// active is the backend in use, chosen by selectBackend.
var active = generic

// selectBackend picks the named backend, or the fastest one if name is
// empty or not available here.
func selectBackend(name string) *backend {
	for _, b := range backends {
		if b.name == name {
			return b
		}
	}
	return backends[len(backends)-1]
}

func init() {
	registerArch()
	active = selectBackend(os.Getenv("CELLM_KERNELS"))
}

// Implementation returns the name of the kernel path in use: "generic",
// "avx2", "avx512", "neon" or "neondot".
func Implementation() string { return active.name }
