// Package ggufixture makes GGUF files for tests.
//
// LlamaTinyBF16 rebuilds llama.cpp's own bf16 GGUF of the llama-tiny test
// model without shipping its 8 MB: the file's header (metadata and tensor
// infos, gzipped) is stored in testdata/gguf, and its tensor data is re-laid
// from testdata/llama-tiny/model.safetensors (q/k rows permuted as llama.cpp's
// converter does, norms widened to f32). The result is checked against the
// sha256 of the file llama.cpp wrote, so it is that file.
//
// Write and LlamaFromSafetensors write GGUF files of other fixtures in the
// same layout, for paths no llama.cpp-made fixture covers (Llama 3 rope
// scaling).
package ggufixture

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/source/safetensors"
)

// Reference is the trimmed tensors.json of a GGUF fixture.
type Reference struct {
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	NHead   int    `json:"n_head"`
	NHeadKV int    `json:"n_head_kv"`
	Header  struct {
		TensorDataOffset int64 `json:"tensor_data_offset"`
	} `json:"header"`
	Tensors []struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		NE         []int  `json:"ne"`
		DataOffset int64  `json:"data_offset"`
		NBytes     int    `json:"n_bytes"`
		HFName     string `json:"hf_name"`
		ToHF       string `json:"to_hf"`
	} `json:"tensors"`
}

var (
	once    sync.Once
	path    string
	onceErr error
)

// LlamaTinyBF16 writes llama-tiny.convert-bf16.gguf into the temporary
// directory (once per process, reused across runs) and returns its path.
// root is the repository root.
func LlamaTinyBF16(root string) (string, error) {
	once.Do(func() { path, onceErr = build(root) })
	return path, onceErr
}

func build(root string) (string, error) {
	dir := filepath.Join(root, "testdata", "gguf")
	var ref Reference
	raw, err := os.ReadFile(filepath.Join(dir, "llama-tiny.convert-bf16.json"))
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		return "", err
	}
	zf, err := os.Open(filepath.Join(dir, "llama-tiny.convert-bf16.head.gguf.gz"))
	if err != nil {
		return "", err
	}
	defer zf.Close()
	zr, err := gzip.NewReader(zf)
	if err != nil {
		return "", err
	}
	head, err := io.ReadAll(io.LimitReader(zr, ref.Header.TensorDataOffset+1))
	if err != nil {
		return "", err
	}
	if int64(len(head)) != ref.Header.TensorDataOffset || ref.Size < int64(len(head)) || ref.Size > 64<<20 {
		return "", fmt.Errorf("ggufixture: header of %d bytes, want %d", len(head), ref.Header.TensorDataOffset)
	}
	file := make([]byte, ref.Size)
	copy(file, head)
	st, err := safetensors.OpenDir(filepath.Join(root, "testdata", "llama-tiny"))
	if err != nil {
		return "", err
	}
	defer st.Close()
	for _, t := range ref.Tensors {
		src, ok := st.Lookup(t.HFName)
		if !ok || src.DType != "BF16" {
			return "", fmt.Errorf("ggufixture: %s: no bf16 %s in the safetensors", t.Name, t.HFName)
		}
		data := src.Data
		if t.ToHF != "none" {
			heads := ref.NHead
			if strings.Contains(t.Name, "attn_k") {
				heads = ref.NHeadKV
			}
			data = permute(data, len(data)/(2*t.NE[0]), 2*t.NE[0], heads)
		}
		if t.Type == "F32" {
			wide := make([]byte, 2*len(data))
			for i := 0; i < len(data)/2; i++ {
				f := half.BF16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
				binary.LittleEndian.PutUint32(wide[4*i:], math.Float32bits(f))
			}
			data = wide
		}
		if len(data) != t.NBytes {
			return "", fmt.Errorf("ggufixture: %s: %d bytes, want %d", t.Name, len(data), t.NBytes)
		}
		copy(file[ref.Header.TensorDataOffset+t.DataOffset:], data)
	}
	sum := sha256.Sum256(file)
	if hex.EncodeToString(sum[:]) != ref.SHA256 {
		return "", fmt.Errorf("ggufixture: rebuilt file does not match llama.cpp's (sha256)")
	}
	// One file per content, shared by test binaries; written atomically.
	out := filepath.Join(os.TempDir(), "cellm-ggufixture-"+ref.SHA256[:16]+".gguf")
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, file) {
		return out, nil
	}
	tmp, err := os.CreateTemp(os.TempDir(), "cellm-ggufixture-*.tmp")
	if err != nil {
		return "", err
	}
	_, werr := tmp.Write(file)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), out)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", werr
	}
	return out, nil
}

// permute applies llama.cpp's converter permutation to rows of rowBytes:
// Hugging Face row h*D + j*D/2 + i becomes row h*D + 2i + j.
func permute(src []byte, rows, rowBytes, heads int) []byte {
	dst := make([]byte, len(src))
	d := rows / heads
	for h := 0; h < heads; h++ {
		for i := 0; i < d/2; i++ {
			for j := 0; j < 2; j++ {
				from, to := h*d+j*d/2+i, h*d+2*i+j
				copy(dst[to*rowBytes:(to+1)*rowBytes], src[from*rowBytes:(from+1)*rowBytes])
			}
		}
	}
	return dst
}
