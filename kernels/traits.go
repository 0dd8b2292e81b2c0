package kernels

import "fmt"

// typeTraits describes one weight type once: its storage, how to widen it
// to float32 and which kernels multiply it. Adding a weight type means one
// entry in weightTypes plus its kernels; MatVec, MatVecs, MatMul,
// Matrix.Row and Validate dispatch through this table only.
type typeTraits struct {
	name string
	// blockSize elements of a row are stored in blockBytes bytes.
	blockSize, blockBytes int
	// quantized types carry one scale per group of columns (Matrix.Scale,
	// Matrix.Group) and take activations quantized to int8 in blocks of
	// q8Block (q8Vec) for integer dot products.
	quantized bool

	// check returns an error naming the storage field that is too short
	// for m's shape (the shape itself is already checked).
	check func(m *Matrix) error
	// widen stores columns c0..c0+len(dst)-1 of row r of m as float32,
	// scales applied.
	widen func(b *backend, dst []float32, m *Matrix, r, c0 int)
	// matVec computes y[i] = row lo+i of m · x for i < len(y). For
	// quantized types q holds x quantized (if q.ok) and x == q.x.
	matVec func(b *backend, y []float32, m *Matrix, lo int, x []float32, q *q8Vec)
	// packW8, if set, packs 8 rows for the GEMM with the backend's SIMD
	// transpose (see gemmJob.packW; called only if the backend has
	// packW8); otherwise rows are widened one by one.
	packW8 func(b *backend, m *Matrix, wp []float32, nr, r, k0, n int, rowBuf []float32)
	// qgemmPrep, if set, prepares nr rows from r0 for the quantized GEMM
	// as unsigned bytes w+qgemmOffset (see qgemm.go).
	qgemmPrep   func(dst []byte, m *Matrix, r0, nr int)
	qgemmOffset int32
}

// weightTypes is the traits table, indexed by DType.
var weightTypes = [...]typeTraits{
	F32: {
		name: "f32", blockSize: 1, blockBytes: 4,
		check: func(m *Matrix) error { return checkLen("F32", len(m.F32), m.Rows*m.Cols) },
		widen: func(_ *backend, dst []float32, m *Matrix, r, c0 int) {
			off := r*m.Cols + c0
			copy(dst, m.F32[off:off+len(dst)])
		},
		matVec: func(b *backend, y []float32, m *Matrix, lo int, x []float32, _ *q8Vec) {
			c := m.Cols
			b.matVecF32(y, m.F32[lo*c:(lo+len(y))*c], x)
		},
		packW8: func(b *backend, m *Matrix, wp []float32, nr, r, k0, n int, rowBuf []float32) {
			b.packW8(m, wp, nr, r, k0, n, rowBuf)
		},
	},
	F16: {
		name: "f16", blockSize: 1, blockBytes: 2,
		check: func(m *Matrix) error { return checkLen("Half", len(m.Half), m.Rows*m.Cols) },
		widen: func(b *backend, dst []float32, m *Matrix, r, c0 int) {
			off := r*m.Cols + c0
			b.f16ToF32(dst, m.Half[off:off+len(dst)])
		},
		matVec: func(b *backend, y []float32, m *Matrix, lo int, x []float32, _ *q8Vec) {
			c := m.Cols
			b.matVecF16(y, m.Half[lo*c:(lo+len(y))*c], x)
		},
		packW8: func(b *backend, m *Matrix, wp []float32, nr, r, k0, n int, rowBuf []float32) {
			b.packW8(m, wp, nr, r, k0, n, rowBuf)
		},
	},
	BF16: {
		name: "bf16", blockSize: 1, blockBytes: 2,
		check: func(m *Matrix) error { return checkLen("Half", len(m.Half), m.Rows*m.Cols) },
		widen: func(b *backend, dst []float32, m *Matrix, r, c0 int) {
			off := r*m.Cols + c0
			b.bf16ToF32(dst, m.Half[off:off+len(dst)])
		},
		matVec: func(b *backend, y []float32, m *Matrix, lo int, x []float32, _ *q8Vec) {
			c := m.Cols
			b.matVecBF16(y, m.Half[lo*c:(lo+len(y))*c], x)
		},
		packW8: func(b *backend, m *Matrix, wp []float32, nr, r, k0, n int, rowBuf []float32) {
			b.packW8(m, wp, nr, r, k0, n, rowBuf)
		},
	},
	Q8: {
		name: "q8", blockSize: 1, blockBytes: 1, quantized: true,
		check: func(m *Matrix) error {
			if err := checkLen("Q8", len(m.Q8), m.Rows*m.Cols); err != nil {
				return err
			}
			return checkLen("Scale", len(m.Scale), m.Rows*m.groups())
		},
		widen:  widenQ8,
		packW8: packW8Widened(widenQ8),
		// int8 weights enter the quantized GEMM as w+128.
		qgemmPrep: qgemmPrepQ8, qgemmOffset: 128,
		matVec: func(b *backend, y []float32, m *Matrix, lo int, x []float32, q *q8Vec) {
			c, g := m.Cols, m.groups()
			w, s := m.Q8[lo*c:(lo+len(y))*c], m.Scale[lo*g:(lo+len(y))*g]
			if g == 1 {
				b.matVecQ8(y, w, s, q)
				return
			}
			b.matVecQ8G(y, w, s, m.group(), q)
		},
	},
	Q4: {
		name: "q4", blockSize: 2, blockBytes: 1, quantized: true,
		check: func(m *Matrix) error {
			if m.Cols%2 != 0 {
				return fmt.Errorf("q4 needs an even number of columns")
			}
			if err := checkLen("Q4", len(m.Q4), m.Rows*m.Cols/2); err != nil {
				return err
			}
			return checkLen("Scale", len(m.Scale), m.Rows*m.groups())
		},
		widen:  widenQ4,
		packW8: packW8Widened(widenQ4),
		// int4 weights enter the quantized GEMM as stored, q+8.
		qgemmPrep: qgemmPrepQ4, qgemmOffset: 8,
		matVec: func(b *backend, y []float32, m *Matrix, lo int, x []float32, q *q8Vec) {
			c, g := m.Cols, m.groups()
			w, s := m.Q4[lo*c/2:(lo+len(y))*c/2], m.Scale[lo*g:(lo+len(y))*g]
			b.matVecQ4(y, w, s, m.group(), q)
		},
	},
}

// traits returns the traits of t; Validate has checked t is known.
func (t DType) traits() *typeTraits { return &weightTypes[t] }

func (t DType) known() bool { return int(t) < len(weightTypes) && weightTypes[t].check != nil }

func checkLen(field string, got, want int) error {
	if got < want {
		return fmt.Errorf("%s has %d elements, want %d", field, got, want)
	}
	return nil
}

// widenQ8 widens columns c0.. of row r of an int8 matrix, one run of
// columns sharing a scale at a time.
func widenQ8(_ *backend, dst []float32, m *Matrix, r, c0 int) {
	g := m.group()
	q := m.Q8[r*m.Cols+c0 : r*m.Cols+c0+len(dst)]
	scale := m.Scale[r*m.groups():]
	for i := 0; i < len(q); {
		c := c0 + i
		s, end := scale[c/g], min(len(q), i+g-c%g)
		for j, v := range q[i:end] {
			dst[i+j] = float32(v) * s
		}
		i = end
	}
}

// widenQ4 widens columns c0.. of row r of an int4 matrix: byte i of a row
// holds column 2i in its low nibble, 2i+1 in its high one, each as q+8.
func widenQ4(_ *backend, dst []float32, m *Matrix, r, c0 int) {
	g := m.group()
	row := m.Q4[r*m.Cols/2 : (r+1)*m.Cols/2]
	scale := m.Scale[r*m.groups():]
	for i := 0; i < len(dst); {
		c := c0 + i
		s, end := scale[c/g], min(len(dst), i+g-c%g)
		for ; i < end; i++ {
			c := c0 + i
			dst[i] = float32(int(row[c/2]>>(4*(c&1))&15)-8) * s
		}
	}
}

// packW8Widened returns a packW8 for a quantized type: 8 rows are widened
// to float32 into rowBuf (8*n floats), then transposed.
func packW8Widened(widen func(b *backend, dst []float32, m *Matrix, r, c0 int)) func(*backend, *Matrix, []float32, int, int, int, int, []float32) {
	return func(b *backend, m *Matrix, wp []float32, nr, r, k0, n int, rowBuf []float32) {
		rowBuf = rowBuf[:8*n]
		for i := range 8 {
			widen(b, rowBuf[i*n:(i+1)*n], m, r+i, k0)
		}
		b.transpose8(wp, nr, rowBuf, n, n)
	}
}
