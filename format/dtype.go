package format

import (
	"fmt"
	"math"
	"math/bits"
)

// DType is the storage type of a tensor in a .cellm file.
//
// Every dtype is a block type: BlockSize consecutive elements of the last
// dimension are stored in BlockBytes bytes. Float and i8 tensors have blocks
// of one element; i4 packs two elements per byte. Each row (run of the last
// dimension) starts on a block boundary, so a row of an odd number of i4
// values ends in half a byte of padding.
type DType string

// The element types of format v1.
const (
	F32  DType = "f32"
	F16  DType = "f16"
	BF16 DType = "bf16"
	// I8 holds symmetric int8 weights q with w = q * scale. The f16 tensor
	// "<name>.qscale" holds the scales: shape [rows] for one scale per row
	// (the original Rust cellm's layout), or [rows, cols/group] for one
	// scale per group of group consecutive columns.
	I8 DType = "i8"
	// I4 holds symmetric int4 weights, two per byte: byte i of a row holds
	// column 2i in its low nibble and column 2i+1 in its high nibble, each
	// stored as q+8 (0..15 for q in -8..7). Scales as for I8.
	I4 DType = "i4"
)

// QScaleSuffix is appended to a quantized (I8 or I4) tensor's name to name
// its scales.
const QScaleSuffix = ".qscale"

// dtypeInfo describes the block layout of one dtype.
type dtypeInfo struct {
	blockSize  int // elements per block
	blockBytes int // bytes per block
	quantized  bool
}

var dtypes = map[DType]dtypeInfo{
	F32:  {1, 4, false},
	F16:  {1, 2, false},
	BF16: {1, 2, false},
	I8:   {1, 1, true},
	I4:   {2, 1, true},
}

// BlockSize returns the number of elements one block holds (0 if d is not a
// v1 dtype).
func (d DType) BlockSize() int { return dtypes[d].blockSize }

// BlockBytes returns the size in bytes of one block (0 if d is not a v1
// dtype).
func (d DType) BlockBytes() int { return dtypes[d].blockBytes }

// Quantized reports whether d needs a sibling QScaleSuffix tensor of scales.
func (d DType) Quantized() bool { return dtypes[d].quantized }

// Valid reports whether d is a dtype of format v1.
func (d DType) Valid() bool { return d.BlockSize() != 0 }

// ByteSize returns the number of bytes a tensor of dtype d and the given
// shape occupies, or an error if d is unknown, a dimension is negative or
// the size overflows int64.
func (d DType) ByteSize(shape []int) (int64, error) {
	info, ok := dtypes[d]
	if !ok {
		return 0, fmt.Errorf("unknown dtype %q", d)
	}
	rows, last := uint64(1), uint64(1)
	for i, n := range shape {
		if n < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if i == len(shape)-1 {
			last = uint64(n)
			break
		}
		hi, lo := bits.Mul64(rows, uint64(n))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v overflows", shape)
		}
		rows = lo
	}
	bs := uint64(info.blockSize)
	blocks := last/bs + min(last%bs, 1)
	hi, rowBytes := bits.Mul64(blocks, uint64(info.blockBytes))
	if hi != 0 {
		return 0, fmt.Errorf("shape %v of %s overflows", shape, d)
	}
	hi, total := bits.Mul64(rows, rowBytes)
	if hi != 0 || total > math.MaxInt64 {
		return 0, fmt.Errorf("shape %v of %s overflows", shape, d)
	}
	return int64(total), nil
}

// ParseDType accepts a v1 dtype name, also in the spellings other tools use
// ("float16", "F16", "bfloat16", "int8", "int4", ...).
func ParseDType(s string) (DType, error) {
	switch s {
	case "f32", "F32", "float32", "fp32":
		return F32, nil
	case "f16", "F16", "float16", "fp16", "half":
		return F16, nil
	case "bf16", "BF16", "bfloat16":
		return BF16, nil
	case "i8", "I8", "int8":
		return I8, nil
	case "i4", "I4", "int4":
		return I4, nil
	}
	return "", fmt.Errorf("unknown dtype %q (want f32, f16, bf16, i8 or i4)", s)
}
