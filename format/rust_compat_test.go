package format

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// A file laid out the way the original Rust cellm writes it: compact JSON
// with nulls for absent optional fields, Rust-only keys, no assets, an int8
// weight with its f16 .qscale.
func TestReadsRustCellm(t *testing.T) {
	header := `{"model_type":"llama","source_model_type":"llama","source_safetensors_format":null,` +
		`"text_tensor_prefix":null,"vision_tensor_prefix":null,"projector_tensor_prefix":null,` +
		`"vocab_size":4,"hidden_dim":2,"intermediate_size":4,"num_layers":1,"num_heads":1,"num_kv_heads":1,` +
		`"head_dim":null,"rms_norm_eps":1e-05,"rope_theta":10000.0,"bos_token_id":1,"eos_token_id":2,` +
		`"max_position_embeddings":2048,"tie_word_embeddings":true,"source_torch_dtype":"bfloat16",` +
		`"source_architectures":["LlamaForCausalLM"],"source_quantization":{"source_format":"base","quant_scheme":"int8"},` +
		`"source_quantization_config":null,"source_text_config":null,"source_vision_config":null,` +
		`"source_projector_config":null,"quantization":"int8_symmetric_per_row",` +
		`"tensors":[{"name":"w","offset_bytes":OFF1,"nbytes":8,"shape":[4,2],"dtype":"i8"},` +
		`{"name":"w.qscale","offset_bytes":OFF2,"nbytes":8,"shape":[4],"dtype":"f16"}]}`
	// Offsets as the Rust writer computes them: after the header, 64-aligned.
	// The placeholders are padded with spaces so the header length is fixed.
	start := (10 + len(header) + 63) / 64 * 64
	put := func(h, placeholder string, v int) string {
		return strings.Replace(h, placeholder, fmt.Sprintf("%-*d", len(placeholder), v), 1)
	}
	h := put(put(header, "OFF1", start), "OFF2", start+64)
	data := make([]byte, start+128)
	copy(data, "CELLM\x01")
	binary.LittleEndian.PutUint32(data[6:], uint32(len(h)))
	copy(data[10:], h)
	copy(data[start:], []byte{1, 2, 3, 4, 0xfe, 0x81, 127, 0})
	binary.LittleEndian.PutUint16(data[start+64:], 0x3c00)
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.HeadDim != 0 || *f.Header.EOSTokenID != 2 || string(f.Header.Extra["quantization"]) != `"int8_symmetric_per_row"` {
		t.Errorf("header: %+v", f.Header)
	}
	w, _ := f.Tensor("w")
	q, err := w.I8()
	if err != nil || q[4] != -2 || q[5] != -127 {
		t.Errorf("i8: %v %v", q, err)
	}
}

// An int4 file as the Rust cellm writes it: per-row symmetric int4 stored as
// q+8 nibbles, low nibble first, with an f16 scale per row.
func TestReadsRustCellmI4(t *testing.T) {
	f, err := Parse(tensorFile(`{"name":"w","offset_bytes":512,"nbytes":4,"shape":[2,4],"dtype":"i4"},` +
		`{"name":"w.qscale","offset_bytes":576,"nbytes":4,"shape":[2],"dtype":"f16"}`))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := f.Tensor("w")
	s, _ := f.Tensor("w.qscale")
	if len(w.Bytes()) != 4 || GroupSize(w.Shape, s.Shape) != 4 {
		t.Errorf("i4: %d bytes, group %d", len(w.Bytes()), GroupSize(w.Shape, s.Shape))
	}
}
