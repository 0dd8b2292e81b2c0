package gguf

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reference is a trimmed tensors.json of the GGUF fixtures (see testdata/README.md).
type reference struct {
	Header struct {
		Version          uint32 `json:"version"`
		TensorCount      int    `json:"tensor_count"`
		KVCount          int    `json:"kv_count"`
		Alignment        int    `json:"alignment"`
		TensorDataOffset int64  `json:"tensor_data_offset"`
	} `json:"header"`
	NHead   int         `json:"n_head"`
	NHeadKV int         `json:"n_head_kv"`
	Tensors []refTensor `json:"tensors"`
}

type refTensor struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	NE            []int  `json:"ne"`
	DataOffset    int64  `json:"data_offset"`
	NBytes        int    `json:"n_bytes"`
	SHA256Raw     string `json:"sha256_raw"`
	SHA256Dequant string `json:"sha256_dequant_f32le"`
	SHA256HF      string `json:"sha256_hf_f32le"`
	ToHF          string `json:"to_hf"`
	BlobOffset    int    `json:"blob_offset"`
}

var fixtures = []string{"kquant-tiny.quantize-Q4_K_M", "qwen2-tiny.convert-q8_0", "qwen2-tiny.quantize-Q4_0"}

func readRef(t *testing.T, name string) *reference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func f32le(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// checkTensor dequantizes data and compares it (and its un-permuted
// Hugging Face layout, where the reference has one) with gguf-py's hashes.
func checkTensor(t *testing.T, rt refTensor, typ Type, data []byte, nHead, nHeadKV int) {
	t.Helper()
	if typ.String() != rt.Type {
		t.Fatalf("%s: type %s, reference %s", rt.Name, typ, rt.Type)
	}
	if got := sha(data); got != rt.SHA256Raw {
		t.Fatalf("%s: raw bytes differ from the reference", rt.Name)
	}
	n := 1
	for _, d := range rt.NE {
		n *= d
	}
	out := make([]float32, n)
	if err := Dequantize(out, typ, data); err != nil {
		t.Fatalf("%s: %v", rt.Name, err)
	}
	for i, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("%s: element %d is %v", rt.Name, i, v)
		}
	}
	if got := sha(f32le(out)); got != rt.SHA256Dequant {
		t.Errorf("%s (%s): dequantized values differ from gguf-py's", rt.Name, rt.Type)
	}
	if rt.ToHF == "none" || rt.ToHF == "" {
		return
	}
	heads := nHead
	if strings.Contains(rt.Name, "attn_k") {
		heads = nHeadKV
	}
	if rt.ToHF != "unpermute(n_head="+itoa(heads)+")" {
		t.Fatalf("%s: reference says %s, expected %d heads", rt.Name, rt.ToHF, heads)
	}
	rows := n / rt.NE[0]
	hf := make([]byte, len(data))
	if err := UnpermuteRows(hf, data, rows, len(data)/rows, heads); err != nil {
		t.Fatal(err)
	}
	if err := Dequantize(out, typ, hf); err != nil {
		t.Fatal(err)
	}
	if got := sha(f32le(out)); got != rt.SHA256HF {
		t.Errorf("%s: un-permuted tensor differs from the Hugging Face layout", rt.Name)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestFixtures parses llama.cpp-made files and checks every tensor, bit for
// bit, against gguf-py's dequantizer.
func TestFixtures(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			ref := readRef(t, name)
			f, err := Open(filepath.Join("testdata", name+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h := ref.Header
			if f.Version != h.Version || len(f.Tensors) != h.TensorCount || len(f.KVs) != h.KVCount ||
				f.Alignment != h.Alignment || f.DataOffset != h.TensorDataOffset {
				t.Fatalf("header: version %d tensors %d kvs %d align %d data %d, reference %+v",
					f.Version, len(f.Tensors), len(f.KVs), f.Alignment, f.DataOffset, h)
			}
			if len(ref.Tensors) != len(f.Tensors) {
				t.Fatalf("%d tensors, reference %d", len(f.Tensors), len(ref.Tensors))
			}
			for i, rt := range ref.Tensors {
				tn := &f.Tensors[i]
				if tn.Name != rt.Name || tn.Offset != h.TensorDataOffset+rt.DataOffset || len(tn.Data) != rt.NBytes {
					t.Fatalf("tensor %d: %s at %d (%d bytes), reference %s at +%d (%d)", i, tn.Name, tn.Offset,
						len(tn.Data), rt.Name, rt.DataOffset, rt.NBytes)
				}
				if len(tn.Dims) != len(rt.NE) {
					t.Fatalf("%s: dims %v, reference %v", tn.Name, tn.Dims, rt.NE)
				}
				for d := range tn.Dims {
					if tn.Dims[d] != rt.NE[d] {
						t.Fatalf("%s: dims %v, reference %v", tn.Name, tn.Dims, rt.NE)
					}
				}
				checkTensor(t, rt, tn.Type, tn.Data, ref.NHead, ref.NHeadKV)
			}
		})
	}
}

// TestQ5_0 checks Q5_0 (and one Q8_0) tensors cut from llama-tiny's Q4_K_M
// file, which is too large to ship whole.
func TestQ5_0(t *testing.T) {
	blob, err := os.ReadFile(filepath.Join("testdata", "llama-tiny.quantize-Q4_K_M.tensors.bin"))
	if err != nil {
		t.Fatal(err)
	}
	ref := readRef(t, "llama-tiny.quantize-Q4_K_M.tensors")
	seen := map[string]bool{}
	for _, rt := range ref.Tensors {
		typ := map[string]Type{"Q5_0": Q5_0, "Q8_0": Q8_0}[rt.Type]
		checkTensor(t, rt, typ, blob[rt.BlobOffset:rt.BlobOffset+rt.NBytes], ref.NHead, ref.NHeadKV)
		seen[rt.Type] = true
	}
	if !seen["Q5_0"] {
		t.Fatal("no Q5_0 tensor checked")
	}
}

// TestMetadata checks typed accessors on a fixture's key/values.
func TestMetadata(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "qwen2-tiny.convert-q8_0.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if s, ok, err := f.String("general.architecture"); s != "qwen2" || !ok || err != nil {
		t.Errorf("general.architecture = %q %v %v", s, ok, err)
	}
	if n, _, err := f.Int("qwen2.feed_forward_length"); n != 176 || err != nil {
		t.Errorf("feed_forward_length = %d %v", n, err)
	}
	if v, _, err := f.Float("qwen2.attention.layer_norm_rms_epsilon"); float32(v) != float32(1e-6) || err != nil {
		t.Errorf("rms eps = %v %v", v, err)
	}
	if _, _, err := f.Int("general.architecture"); !errors.Is(err, ErrFormat) {
		t.Errorf("Int of a string: %v", err)
	}
	kv, _ := f.Lookup("tokenizer.ggml.tokens")
	if toks, ok := kv.Value.([]string); !ok || len(toks) != 8192 || toks[0] != "!" || toks[8191] != "[PAD8191]" {
		t.Errorf("tokens: %T", kv.Value)
	}
	kv, _ = f.Lookup("tokenizer.ggml.token_type")
	if tt, ok := kv.Value.([]int32); !ok || len(tt) != 8192 || tt[8191] != 5 {
		t.Errorf("token_type: %T", kv.Value)
	}
}

// TestSmallTypes checks the quantized types no fixture holds (Q4_1, Q5_1,
// Q8_1, Q5_K) on hand-built blocks against the formulas written out.
func TestSmallTypes(t *testing.T) {
	const d, m = 0x3c00, 0xbc00 // 1.0, -1.0 as f16
	q41 := []byte{0, 0x3c, 0, 0xbc}
	for i := 0; i < 16; i++ {
		q41 = append(q41, byte(i|(15-i)<<4))
	}
	out := make([]float32, 32)
	if err := Dequantize(out, Q4_1, q41); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 16; i++ {
		if out[i] != float32(i)-1 || out[i+16] != float32(15-i)-1 {
			t.Fatalf("Q4_1 element %d: %v %v", i, out[i], out[i+16])
		}
	}
	q51 := []byte{0, 0x3c, 0, 0xbc, 0x01, 0, 0x01, 0x80}
	for i := 0; i < 16; i++ {
		q51 = append(q51, byte(i|(15-i)<<4))
	}
	if err := Dequantize(out, Q5_1, q51); err != nil {
		t.Fatal(err)
	}
	// qh bits 0, 16 and 31 set: element 0 gets +16, element 16 and 31 too.
	if out[0] != 15 || out[1] != 0 || out[16] != 15+16-1 || out[31] != 0+16-1 {
		t.Fatalf("Q5_1: %v", out)
	}
	q81 := []byte{0, 0x40, 0, 0} // d = 2
	for i := 0; i < 32; i++ {
		q81 = append(q81, byte(int8(i-16)))
	}
	if err := Dequantize(out, Q8_1, q81); err != nil {
		t.Fatal(err)
	}
	for i := range out {
		if out[i] != 2*float32(i-16) {
			t.Fatalf("Q8_1 element %d: %v", i, out[i])
		}
	}
	// Q5_K: d = 1, dmin = 1, scales 1..8 and mins 0..7 (6-bit packing),
	// value bits: nibble = i%16, fifth bit set for sub-block j when i == j.
	blk := make([]byte, 176)
	binary.LittleEndian.PutUint16(blk[0:], d)
	binary.LittleEndian.PutUint16(blk[2:], d)
	sc, mn := [8]byte{1, 2, 3, 4, 60, 61, 62, 63}, [8]byte{0, 1, 2, 3, 33, 34, 35, 36}
	for j := 0; j < 4; j++ {
		blk[4+j] = sc[j] | (sc[j+4]>>4)<<6
		blk[8+j] = mn[j] | (mn[j+4]>>4)<<6
		blk[12+j] = sc[j+4]&15 | (mn[j+4]&15)<<4
	}
	for i := 0; i < 32; i++ {
		blk[16+i] = 1 << uint(i%8)
	}
	for i := 0; i < 128; i++ {
		blk[48+i] = byte(i%16 | (15-i%16)<<4)
	}
	out = make([]float32, 256)
	if err := Dequantize(out, Q5_K, blk); err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 8; j++ {
		for i := 0; i < 32; i++ {
			q := (i % 16)
			if j%2 == 1 {
				q = 15 - i%16
			}
			if i%8 == j {
				q += 16
			}
			want := float32(sc[j])*float32(q) - float32(mn[j])
			if out[32*j+i] != want {
				t.Fatalf("Q5_K sub-block %d element %d: %v, want %v", j, i, out[32*j+i], want)
			}
		}
	}
	_ = m
}

func TestDequantizeErrors(t *testing.T) {
	if err := Dequantize(make([]float32, 32), Q8_0, make([]byte, 33)); err == nil {
		t.Error("short Q8_0 block accepted")
	}
	if err := Dequantize(make([]float32, 31), Q8_0, make([]byte, 34)); err == nil {
		t.Error("partial Q8_0 block accepted")
	}
	if err := Dequantize(make([]float32, 256), Q8_K, make([]byte, Q8_K.BlockBytes())); err == nil {
		t.Error("Q8_K claimed")
	}
	if err := UnpermuteRows(make([]byte, 6), make([]byte, 6), 3, 2, 2); err == nil {
		t.Error("odd head split accepted")
	}
}

// build writes a minimal GGUF v3 file: the given key/values (already
// encoded) and one F32 tensor of dims.
func build(kvs [][]byte, dims []uint64, typ uint32, offset uint64, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(Magic)
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	w(uint32(3))
	w(uint64(1))
	w(uint64(len(kvs)))
	for _, kv := range kvs {
		b.Write(kv)
	}
	str := func(s string) { w(uint64(len(s))); b.WriteString(s) }
	str("w")
	w(uint32(len(dims)))
	for _, d := range dims {
		w(d)
	}
	w(typ)
	w(offset)
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	b.Write(data)
	return b.Bytes()
}

func kvString(key, val string) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(key)))
	b.WriteString(key)
	binary.Write(&b, binary.LittleEndian, uint32(TypeString))
	binary.Write(&b, binary.LittleEndian, uint64(len(val)))
	b.WriteString(val)
	return b.Bytes()
}

func TestMalformed(t *testing.T) {
	good := build([][]byte{kvString("general.architecture", "llama")}, []uint64{4, 2}, 0, 0, make([]byte, 32))
	if f, err := Parse(good); err != nil || len(f.Tensors) != 1 || f.Tensors[0].NumElements() != 8 {
		t.Fatalf("minimal file: %v", err)
	}
	hugeLen := append([]byte(nil), good...)
	binary.LittleEndian.PutUint64(hugeLen[24:], 1<<62) // key length
	cases := map[string][]byte{
		"empty":           nil,
		"magic":           []byte("GGUX\x03\x00\x00\x00"),
		"version 1":       append([]byte("GGUF\x01\x00\x00\x00"), make([]byte, 16)...),
		"big-endian":      append([]byte("GGUF\x00\x00\x00\x03"), make([]byte, 16)...),
		"truncated":       good[:len(good)-1],
		"huge key length": hugeLen,
		"tensor past end": build(nil, []uint64{4, 2}, 0, 32, make([]byte, 32)),
		"misaligned":      build(nil, []uint64{4, 2}, 0, 4, make([]byte, 64)),
		"zero dim":        build(nil, []uint64{4, 0}, 0, 0, make([]byte, 32)),
		"unknown type":    build(nil, []uint64{4, 2}, 99, 0, make([]byte, 32)),
		"partial block":   build(nil, []uint64{16, 2}, uint32(Q8_0), 0, make([]byte, 68)),
		"dim overflow":    build(nil, []uint64{1 << 40, 1 << 40}, 0, 0, nil),
		"count too large": append([]byte("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\x00\x00"), make([]byte, 8)...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(data); !errors.Is(err, ErrFormat) {
				t.Fatalf("got %v, want ErrFormat", err)
			}
		})
	}
}

// FuzzParse feeds arbitrary bytes to Parse and dequantizes what it accepts.
func FuzzParse(f *testing.F) {
	f.Add(build([][]byte{kvString("general.architecture", "llama")}, []uint64{4, 2}, 0, 0, make([]byte, 32)))
	f.Add(build(nil, []uint64{32}, uint32(Q8_0), 0, make([]byte, 34)))
	if b, err := os.ReadFile(filepath.Join("testdata", "kquant-tiny.quantize-Q4_K_M.gguf")); err == nil {
		f.Add(b[:8192]) // header and part of the vocabulary
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error without ErrFormat: %v", err)
			}
			return
		}
		if tk, err := g.ReadTokenizer(); err == nil {
			tk.HFTokenizerJSON()
			tk.HFTokenizerConfigJSON()
		}
		for _, tn := range g.Tensors {
			if tn.Type.Dequantizable() && tn.NumElements() <= 1<<16 {
				if err := Dequantize(make([]float32, tn.NumElements()), tn.Type, tn.Data); err != nil {
					t.Fatalf("%s: %v", tn.Name, err)
				}
			}
		}
	})
}

// TestSplitLossless rewrites every Q8_0 and Q4_0 tensor of the fixtures as
// grouped int8 / int4 with f16 scales and checks that q * scale reproduces
// gguf-py's dequantization bit for bit, -8 codes of Q4_0 included.
func TestSplitLossless(t *testing.T) {
	seen := map[Type]int{}
	minus8 := 0
	for _, name := range fixtures {
		ref := readRef(t, name)
		f, err := Open(filepath.Join("testdata", name+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		for i, tn := range f.Tensors {
			if tn.Type != Q8_0 && tn.Type != Q4_0 {
				continue
			}
			n := tn.NumElements()
			scales := make([]byte, n/32*2)
			out := make([]float32, n)
			if tn.Type == Q8_0 {
				q := make([]byte, n)
				if err := SplitQ8_0(q, scales, tn.Data); err != nil {
					t.Fatal(err)
				}
				for j := range out {
					out[j] = float32(int8(q[j])) * f16(scales[2*(j/32):])
				}
			} else {
				packed := make([]byte, n/2)
				if err := SplitQ4_0(packed, scales, tn.Data); err != nil {
					t.Fatal(err)
				}
				for j := range out {
					nib := packed[j/2] >> (4 * uint(j%2)) & 15
					if nib == 0 {
						minus8++
					}
					out[j] = float32(int(nib)-8) * f16(scales[2*(j/32):])
				}
			}
			if sha(f32le(out)) != ref.Tensors[i].SHA256Dequant {
				t.Errorf("%s/%s (%s): grouped layout does not reproduce the dequantized values", name, tn.Name, tn.Type)
			}
			seen[tn.Type]++
		}
		f.Close()
	}
	if seen[Q8_0] == 0 || seen[Q4_0] == 0 || minus8 == 0 {
		t.Fatalf("checked %v, %d codes of -8", seen, minus8)
	}
	t.Logf("checked %v; %d Q4_0 values use the -8 code", seen, minus8)
	if err := SplitQ4_0(make([]byte, 16), make([]byte, 2), make([]byte, 17)); err == nil {
		t.Error("partial block accepted")
	}
}

// TestRandomBlocks dequantizes random blocks of every quantized type gguf-py
// knows (testdata/gen_random_blocks.py: random codes, random finite f16
// scales with subnormals) and compares with gguf-py's values bit for bit.
func TestRandomBlocks(t *testing.T) {
	blob, err := os.ReadFile(filepath.Join("testdata", "random_blocks.bin"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "random_blocks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Blocks []struct {
			Type          string `json:"type"`
			Offset        int    `json:"offset"`
			NBytes        int    `json:"nbytes"`
			NValues       int    `json:"n_values"`
			SHA256Dequant string `json:"sha256_dequant_f32le"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	byName := map[string]Type{}
	for typ, info := range types {
		byName[info.name] = typ
	}
	if len(ref.Blocks) != 12 {
		t.Fatalf("%d block sets", len(ref.Blocks))
	}
	for _, b := range ref.Blocks {
		typ, ok := byName[b.Type]
		if !ok || b.Offset+b.NBytes > len(blob) {
			t.Fatalf("%s: unknown type or out of range", b.Type)
		}
		out := make([]float32, b.NValues)
		if err := Dequantize(out, typ, blob[b.Offset:b.Offset+b.NBytes]); err != nil {
			t.Fatalf("%s: %v", b.Type, err)
		}
		for i, v := range out {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: element %d is %v", b.Type, i, v)
			}
		}
		if sha(f32le(out)) != b.SHA256Dequant {
			t.Errorf("%s: differs from gguf-py", b.Type)
		}
	}
}
