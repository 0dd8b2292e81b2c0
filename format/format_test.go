package format

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func intp(v int) *int { return &v }

func sampleWriter(t testing.TB) *Writer {
	t.Helper()
	w := NewWriter(Header{ModelType: "llama", VocabSize: 8, HiddenDim: 4, NumLayers: 1, NumHeads: 1,
		NumKVHeads: 1, RMSNormEps: 1e-5, RopeTheta: 10000, BOSTokenID: intp(1), EOSTokenID: intp(2),
		Extra: map[string]json.RawMessage{"future_key": json.RawMessage(`{"a":[1,2]}`)}})
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	f32 := make([]byte, 8*4*4)
	for i := range f32 {
		f32[i] = byte(i)
	}
	must(w.AddTensorBytes("embed", F32, []int{8, 4}, f32))
	must(w.AddTensorBytes("q", I8, []int{2, 3}, []byte{1, 2, 3, 0xff, 0x80, 7}))
	must(w.AddTensorBytes("q.qscale", F16, []int{2}, []byte{0, 0x3c, 0, 0x40}))
	must(w.AddAsset("tokenizer.json", []byte(`{"model":{}}`)))
	return w
}

func TestRoundTrip(t *testing.T) {
	data, err := sampleWriter(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.ModelType != "llama" || *f.Header.EOSTokenID != 2 || len(f.Header.Tensors) != 3 {
		t.Fatalf("header: %+v", f.Header)
	}
	if string(f.Header.Extra["future_key"]) != `{"a":[1,2]}` {
		t.Errorf("unknown key not preserved: %v", f.Header.Extra)
	}
	e, err := f.Tensor("embed")
	if err != nil {
		t.Fatal(err)
	}
	if e.OffsetBytes%Alignment != 0 || len(e.Data) != 128 || e.Data[5] != 5 {
		t.Errorf("embed: %+v", e.TensorInfo)
	}
	v, err := e.F32()
	if err != nil || len(v) != 32 {
		t.Fatal(err)
	}
	q, _ := f.Tensor("q")
	qi, _ := q.I8()
	if qi[3] != -1 || qi[4] != -128 {
		t.Errorf("i8 view: %v", qi)
	}
	if a, ok := f.Asset("tokenizer.json"); !ok || string(a) != `{"model":{}}` {
		t.Errorf("asset: %q", a)
	}
	if _, err := f.Tensor("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing tensor: %v", err)
	}
	// Rewriting keeps unknown keys.
	js, _ := json.Marshal(f.Header)
	if !bytes.Contains(js, []byte(`"future_key":{"a":[1,2]}`)) {
		t.Errorf("rewrite lost future_key: %s", js)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.cellm")
	w := sampleWriter(t)
	if err := w.WriteFile(path, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// A failing tensor leaves nothing behind, not even a temp file.
	bad := NewWriter(Header{ModelType: "llama"})
	bad.AddTensor("x", F32, []int{4}, func(w io.Writer) error { _, err := w.Write(make([]byte, 3)); return err })
	out := filepath.Join(dir, "bad.cellm")
	if err := bad.WriteFile(out, nil); err == nil || !strings.Contains(err.Error(), `tensor "x": wrote 3 bytes, want 16`) {
		t.Fatalf("short tensor: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("leftovers after failed write: %v", entries)
	}
}

// Cancelling the context mid-write and a failing Verify both leave the
// target untouched and no temporary file behind.
func TestWriteFileContextCancelAndVerify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.cellm")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := NewWriter(Header{ModelType: "llama"})
	w.AddTensor("a", F32, []int{4}, func(w io.Writer) error { _, err := w.Write(make([]byte, 16)); return err })
	w.AddTensor("b", F32, []int{1 << 20}, func(w io.Writer) error {
		cancel() // as a signal arriving during the conversion
		_, err := w.Write(make([]byte, 4<<20))
		return err
	})
	if err := w.WriteFileContext(ctx, path, WriteOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v", err)
	}
	errBad := errors.New("would not run")
	var verified string
	err := sampleWriter(t).WriteFileContext(context.Background(), path, WriteOptions{Verify: func(tmp string) error {
		verified = tmp
		if _, err := Open(tmp); err != nil {
			return err
		}
		return errBad
	}})
	if !errors.Is(err, errBad) || verified == "" || verified == path {
		t.Errorf("verify: err %v, verified %q", err, verified)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("leftovers: %v", entries)
	}
	if data, _ := os.ReadFile(path); string(data) != "old" {
		t.Errorf("target overwritten: %q", data)
	}
}

// rawFile builds a file from a header JSON text and a data region.
func rawFile(header string, dataLen int) []byte {
	var b bytes.Buffer
	b.WriteString(Magic)
	b.WriteByte(Version)
	binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	b.WriteString(header)
	for b.Len()%64 != 0 {
		b.WriteByte(0)
	}
	b.Write(make([]byte, dataLen))
	return b.Bytes()
}

const cfg = `"model_type":"llama","vocab_size":1,"hidden_dim":1,"intermediate_size":1,"num_layers":1,"num_heads":1,"num_kv_heads":1,"rms_norm_eps":1e-5,"rope_theta":1e4`

func TestMalformed(t *testing.T) {
	good := rawFile(`{`+cfg+`,"tensors":[{"name":"a","dtype":"f32","shape":[2],"offset_bytes":256,"nbytes":8}]}`, 256)
	if _, err := Parse(good); err != nil {
		t.Fatalf("good file rejected: %v", err)
	}
	trunc := good[:260]
	badMagic := append([]byte("CELLX"), good[5:]...)
	badVersion := append([]byte(nil), good...)
	badVersion[5] = 2
	hugeHeader := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(hugeHeader[6:], 0xffffffff)
	longHeader := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(longHeader[6:], uint32(len(good)))
	tensor := func(entries string) []byte {
		return rawFile(`{`+cfg+`,"tensors":[`+entries+`]}`, 1024)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "file too short"},
		{"truncated", trunc, `tensor "a": bytes [256, 264) run past the end`},
		{"bad magic", badMagic, "bad magic"},
		{"bad version", badVersion, "unsupported version 2"},
		{"absurd header length", hugeHeader, "exceeds the limit"},
		{"header past end", longHeader, "runs past the end of the file"},
		{"bad json", rawFile(`{"model_type":`, 0), "header JSON"},
		{"not utf8", rawFile("{\"model_type\":\"\xff\"}", 0), "not valid UTF-8"},
		{"unknown dtype", tensor(`{"name":"a","dtype":"f64","shape":[2],"offset_bytes":512,"nbytes":16}`), `tensor "a": unknown dtype "f64"`},
		{"nbytes mismatch", tensor(`{"name":"a","dtype":"f32","shape":[3],"offset_bytes":512,"nbytes":8}`), "nbytes 8 does not match shape [3]"},
		{"shape overflow", tensor(`{"name":"a","dtype":"f32","shape":[4294967296,4294967296],"offset_bytes":512,"nbytes":8}`), "overflows"},
		{"shape overflow by size", tensor(`{"name":"a","dtype":"f32","shape":[4611686018427387904],"offset_bytes":512,"nbytes":8}`), "overflows"},
		{"negative dim", tensor(`{"name":"a","dtype":"f32","shape":[-1],"offset_bytes":512,"nbytes":8}`), "negative dimension"},
		{"unaligned", tensor(`{"name":"a","dtype":"f32","shape":[2],"offset_bytes":516,"nbytes":8}`), "not 64-byte aligned"},
		{"in header", tensor(`{"name":"a","dtype":"f32","shape":[2],"offset_bytes":0,"nbytes":8}`), "inside the header"},
		{"overlap", tensor(`{"name":"a","dtype":"f32","shape":[32],"offset_bytes":512,"nbytes":128},{"name":"b","dtype":"f32","shape":[2],"offset_bytes":576,"nbytes":8}`), `tensor "b" overlaps tensor "a"`},
		{"duplicate", tensor(`{"name":"a","dtype":"f32","shape":[2],"offset_bytes":512,"nbytes":8},{"name":"a","dtype":"f32","shape":[2],"offset_bytes":576,"nbytes":8}`), `tensor "a" appears twice`},
		{"missing qscale", tensor(`{"name":"w","dtype":"i8","shape":[2,2],"offset_bytes":512,"nbytes":4}`), `i8 tensor "w" has no scale tensor "w.qscale"`},
		{"short qscale", tensor(`{"name":"w","dtype":"i8","shape":[2,2],"offset_bytes":512,"nbytes":4},{"name":"w.qscale","dtype":"f16","shape":[1],"offset_bytes":576,"nbytes":2}`), `shape [1] does not fit`},
		{"qscale dtype", tensor(`{"name":"w","dtype":"i8","shape":[2,2],"offset_bytes":512,"nbytes":4},{"name":"w.qscale","dtype":"f32","shape":[2],"offset_bytes":576,"nbytes":8}`), `dtype f32, want f16`},
		{"i4 nbytes", tensor(`{"name":"w","dtype":"i4","shape":[2,3],"offset_bytes":512,"nbytes":3},{"name":"w.qscale","dtype":"f16","shape":[2],"offset_bytes":576,"nbytes":4}`), "nbytes 3 does not match shape [2 3] of i4 (4 bytes)"},
		{"i4 missing qscale", tensor(`{"name":"w","dtype":"i4","shape":[2,4],"offset_bytes":512,"nbytes":4}`), `i4 tensor "w" has no scale tensor`},
		{"group not dividing", tensor(`{"name":"w","dtype":"i8","shape":[2,6],"offset_bytes":512,"nbytes":12},{"name":"w.qscale","dtype":"f16","shape":[2,4],"offset_bytes":576,"nbytes":16}`), "groups dividing 6"},
		{"i4 scale", tensor(`{"name":"w","dtype":"i8","shape":[2,2],"offset_bytes":512,"nbytes":4},{"name":"w.qscale","dtype":"i4","shape":[2],"offset_bytes":576,"nbytes":1}`), `dtype i4, want f16`},
		{"asset past end", rawFile(`{`+cfg+`,"tensors":[],"assets":[{"name":"t","offset_bytes":256,"nbytes":1000}]}`, 64), `asset "t": bytes`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.data)
			if err == nil {
				t.Fatalf("accepted")
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("error %v does not wrap ErrFormat", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	cases := []struct {
		d     DType
		shape []int
		want  int64
	}{
		{F32, []int{3, 5}, 60}, {F16, []int{7}, 14}, {I8, []int{2, 3}, 6}, {I4, []int{4, 6}, 12},
		{I4, []int{2, 3}, 4}, {I4, []int{5}, 3}, {I4, nil, 1}, {F32, []int{0, 9}, 0},
	}
	for _, c := range cases {
		got, err := c.d.ByteSize(c.shape)
		if err != nil || got != c.want {
			t.Errorf("%s %v: %d, %v; want %d", c.d, c.shape, got, err, c.want)
		}
	}
	for _, bad := range [][]int{{-1, 2}, {1 << 62, 4}, {1 << 40, 1 << 40}} {
		if _, err := I4.ByteSize(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := DType("q5").ByteSize([]int{1}); err == nil {
		t.Error("unknown dtype accepted")
	}
}

func TestGroupedScales(t *testing.T) {
	f, err := Parse(tensorFile(`{"name":"w","dtype":"i4","shape":[2,64],"offset_bytes":512,"nbytes":64},` +
		`{"name":"w.qscale","dtype":"f16","shape":[2,2],"offset_bytes":576,"nbytes":8}`))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := f.Tensor("w")
	s, _ := f.Tensor("w.qscale")
	if g := GroupSize(w.Shape, s.Shape); g != 32 {
		t.Errorf("group %d, want 32", g)
	}
	if g := GroupSize(w.Shape, []int{2}); g != 64 {
		t.Errorf("per-row group %d, want 64", g)
	}
}

func TestEOSList(t *testing.T) {
	f, err := Parse(rawFile(`{`+cfg+`,"eos_token_id":[7,8],"source_text_config":null,"tensors":[]}`, 0))
	if err != nil {
		t.Fatal(err)
	}
	if *f.Header.EOSTokenID != 7 || len(f.Header.EOSIDs()) != 2 {
		t.Errorf("eos: %v %v", *f.Header.EOSTokenID, f.Header.EOSIDs())
	}
}

func FuzzParse(f *testing.F) {
	good, _ := sampleWriter(f).Encode()
	f.Add(good)
	f.Add(rawFile(`{`+cfg+`,"tensors":[{"name":"a","dtype":"f32","shape":[2],"offset_bytes":256,"nbytes":8}]}`, 256))
	f.Add([]byte("CELLM\x01\x02\x00\x00\x00{}"))
	f.Add(tensorFile(`{"name":"w","dtype":"i4","shape":[2,64],"offset_bytes":512,"nbytes":64},` +
		`{"name":"w.qscale","dtype":"f16","shape":[2,2],"offset_bytes":576,"nbytes":8}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		for _, ti := range file.Header.Tensors {
			tn, err := file.Tensor(ti.Name)
			if err != nil || int64(len(tn.Data)) != ti.NBytes {
				t.Fatalf("tensor %q: %v", ti.Name, err)
			}
		}
		for _, n := range file.AssetNames() {
			file.Asset(n)
		}
	})
}

// tensorFile is a file with the given tensor entries and 1 KiB of data.
func tensorFile(entries string) []byte {
	return rawFile(`{`+cfg+`,"tensors":[`+entries+`]}`, 1024)
}
