package gguf

import "fmt"

// Type is a ggml tensor type, as stored in a GGUF tensor info.
type Type uint32

// The ggml tensor types this package knows the block layout of.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	Q8_1 Type = 9
	Q2_K Type = 10
	Q3_K Type = 11
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	Q8_K Type = 15
	// The i-quants and ternary types: parsed, not dequantized (except
	// IQ4_NL and IQ4_XS).
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	IQ1_M   Type = 29
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	BF16    Type = 30
)

// typeInfo is the block layout of one type: blockSize elements of the first
// (fastest) dimension are stored in blockBytes bytes.
type typeInfo struct {
	name                  string
	blockSize, blockBytes int
}

// qkK is the super-block size of the K-quants.
const qkK = 256

var types = map[Type]typeInfo{
	F32:     {"F32", 1, 4},
	F16:     {"F16", 1, 2},
	Q4_0:    {"Q4_0", 32, 2 + 16},
	Q4_1:    {"Q4_1", 32, 2 + 2 + 16},
	Q5_0:    {"Q5_0", 32, 2 + 4 + 16},
	Q5_1:    {"Q5_1", 32, 2 + 2 + 4 + 16},
	Q8_0:    {"Q8_0", 32, 2 + 32},
	Q8_1:    {"Q8_1", 32, 2 + 2 + 32}, // ggml's block_q8_1: f16 d and s (older tables say f32, 40 bytes)
	Q2_K:    {"Q2_K", qkK, qkK/16 + qkK/4 + 2 + 2},
	Q3_K:    {"Q3_K", qkK, qkK/8 + qkK/4 + 12 + 2},
	Q4_K:    {"Q4_K", qkK, 2 + 2 + 12 + qkK/2},
	Q5_K:    {"Q5_K", qkK, 2 + 2 + 12 + qkK/8 + qkK/2},
	Q6_K:    {"Q6_K", qkK, qkK/2 + qkK/4 + qkK/16 + 2},
	Q8_K:    {"Q8_K", qkK, 4 + qkK + qkK/16*2},
	IQ2_XXS: {"IQ2_XXS", qkK, 2 + qkK/4},
	IQ2_XS:  {"IQ2_XS", qkK, 2 + qkK/4 + qkK/32},
	IQ3_XXS: {"IQ3_XXS", qkK, 2 + qkK/4 + qkK/8},
	IQ1_S:   {"IQ1_S", qkK, 2 + qkK/8 + qkK/16},
	IQ4_NL:  {"IQ4_NL", 32, 2 + 16},
	IQ3_S:   {"IQ3_S", qkK, 2 + qkK/4 + qkK/8 + qkK/32 + 4},
	IQ2_S:   {"IQ2_S", qkK, 2 + qkK/4 + qkK/16},
	IQ4_XS:  {"IQ4_XS", qkK, 2 + 2 + qkK/2 + qkK/64},
	IQ1_M:   {"IQ1_M", qkK, qkK/8 + qkK/16 + qkK/32},
	TQ1_0:   {"TQ1_0", qkK, 2 + 4*13},
	TQ2_0:   {"TQ2_0", qkK, 2 + 64},
	I8:      {"I8", 1, 1},
	I16:     {"I16", 1, 2},
	I32:     {"I32", 1, 4},
	I64:     {"I64", 1, 8},
	F64:     {"F64", 1, 8},
	BF16:    {"BF16", 1, 2},
}

// String returns ggml's name of the type ("Q4_K"), or "type(N)".
func (t Type) String() string {
	if info, ok := types[t]; ok {
		return info.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Known reports whether the block layout of t is known.
func (t Type) Known() bool { _, ok := types[t]; return ok }

// BlockSize returns the number of elements in one block (0 if unknown).
func (t Type) BlockSize() int { return types[t].blockSize }

// BlockBytes returns the size in bytes of one block (0 if unknown).
func (t Type) BlockBytes() int { return types[t].blockBytes }

// Quantized reports whether t is a block-quantized type.
func (t Type) Quantized() bool { return types[t].blockSize > 1 }

// Dequantizable reports whether Dequantize converts t to float32.
func (t Type) Dequantizable() bool {
	switch t {
	case F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS:
		return true
	}
	return false
}
