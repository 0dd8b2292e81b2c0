package pytorch

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/source"
)

// expectedTensor is one entry of testdata/expected.json (written by
// gen_fixtures.py from what torch itself holds).
type expectedTensor struct {
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	Hex   string `json:"hex"`
}

func loadExpected(t *testing.T) map[string]map[string]expectedTensor {
	t.Helper()
	raw, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var exp map[string]map[string]expectedTensor
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	return exp
}

func names(s *source.Set) []string {
	var out []string
	for _, t := range s.Tensors {
		out = append(out, t.Name)
	}
	return out
}

// TestTorchFixtures checks every tensor of every torch-written fixture against
// the bytes torch reports for it (dtypes, 0-d, empty, views, tied, Parameter,
// OrderedDict with _metadata, legacy format).
func TestTorchFixtures(t *testing.T) {
	exp := loadExpected(t)
	files := []string{"dtypes.pt", "views.pt", "tied.pt", "module.pt", "legacy.pt"}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			want, ok := exp[file]
			if !ok {
				t.Fatalf("no expectation for %s", file)
			}
			set, err := Open(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			var wantNames []string
			for n := range want {
				wantNames = append(wantNames, n)
			}
			sort.Strings(wantNames)
			if got := names(set); !slices.Equal(got, wantNames) {
				t.Fatalf("names = %v, want %v", got, wantNames)
			}
			for name, w := range want {
				got, _ := set.Lookup(name)
				if string(got.DType) != w.DType {
					t.Errorf("%s: dtype %s, want %s", name, got.DType, w.DType)
				}
				if !slices.Equal(got.Shape, w.Shape) {
					t.Errorf("%s: shape %v, want %v", name, got.Shape, w.Shape)
				}
				if h := hex.EncodeToString(got.Data); h != w.Hex {
					t.Errorf("%s: data %s, want %s", name, h, w.Hex)
				}
				if got.NumElements()*got.DType.Size() != len(got.Data) {
					t.Errorf("%s: %d bytes for shape %v", name, len(got.Data), got.Shape)
				}
			}
		})
	}
}

func sameMemory(a, b []byte) bool { return len(a) > 0 && len(b) > 0 && &a[0] == &b[0] }

// TestAliasing checks that contiguous tensors alias the file and tied tensors
// alias each other, while strided views are materialized.
func TestAliasing(t *testing.T) {
	set, err := Open("testdata/views.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	get := func(n string) []byte { x, _ := set.Lookup(n); return x.Data }
	if !sameMemory(get("base"), get("matrix")) {
		t.Error("base and matrix (same storage, contiguous) do not alias")
	}
	if off := get("offset"); &off[0] != &get("base")[5*4] {
		t.Error("offset view does not alias base[5:]")
	}
	if sameMemory(get("base"), get("transposed")) {
		t.Error("transposed view aliases its storage")
	}

	tied, err := Open("testdata/tied.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer tied.Close()
	a, _ := tied.Lookup("lm_head.weight")
	b, _ := tied.Lookup("model.embed_tokens.weight")
	if !sameMemory(a.Data, b.Data) {
		t.Error("tied tensors do not share memory")
	}
}

type manifestEntry struct {
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	SHA256 string `json:"sha256"`
}

// TestLlamaTinyParity compares transformers' pytorch_model.bin with the
// manifest of the same model's model.safetensors: every tensor bit for bit,
// plus the tied lm_head.weight sharing embed_tokens' storage.
func TestLlamaTinyParity(t *testing.T) {
	raw, err := os.ReadFile("testdata/llama-tiny/safetensors_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]manifestEntry
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	set, err := Open("../../testdata/llama-tiny/pytorch_model.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if len(set.Tensors) != len(man)+1 {
		t.Errorf("%d tensors, want %d (+ lm_head.weight)", len(set.Tensors), len(man))
	}
	for name, m := range man {
		got, ok := set.Lookup(name)
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		sum := sha256.Sum256(got.Data)
		if string(got.DType) != m.DType || !slices.Equal(got.Shape, m.Shape) || hex.EncodeToString(sum[:]) != m.SHA256 {
			t.Errorf("%s: %s %v sha %x, want %s %v %s", name, got.DType, got.Shape, sum[:4], m.DType, m.Shape, m.SHA256[:8])
		}
	}
	lm, ok := set.Lookup("lm_head.weight")
	emb, _ := set.Lookup("model.embed_tokens.weight")
	if !ok || !sameMemory(lm.Data, emb.Data) || len(lm.Data) != len(emb.Data) {
		t.Error("lm_head.weight is not the tied embedding")
	}
}

func TestOpenIndex(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"dtypes.pt", "tied.pt"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "shard-"+f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeIndex := func(m map[string]string) {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 1}, "weight_map": m})
		if err := os.WriteFile(filepath.Join(dir, IndexName), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeIndex(map[string]string{"f32": "shard-dtypes.pt", "param": "shard-tied.pt"})
	set, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	exp := loadExpected(t)
	if len(set.Tensors) != len(exp["dtypes.pt"])+len(exp["tied.pt"]) {
		t.Errorf("sharded set has %d tensors", len(set.Tensors))
	}
	p, _ := set.Lookup("param")
	if hex.EncodeToString(p.Data) != exp["tied.pt"]["param"].Hex {
		t.Error("param differs")
	}
	if err := set.Close(); err != nil {
		t.Error(err)
	}

	for _, tc := range []struct {
		m    map[string]string
		want string
	}{
		{map[string]string{"nope": "shard-dtypes.pt"}, `tensor "nope"`},
		{map[string]string{"f32": "../x.pt"}, "not a plain file name"},
		{map[string]string{"f32": "missing.pt"}, "missing.pt"},
		{map[string]string{}, "empty or missing weight_map"},
	} {
		writeIndex(tc.m)
		if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("index %v: error %v, want %q", tc.m, err, tc.want)
		}
	}
}

func TestOpenDirErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "no pytorch_model.bin") {
		t.Errorf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "training_args.bin"), nil, 0o644)
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "no pytorch_model.bin") {
		t.Errorf("training_args.bin only: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "a.pt"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "b.pt"), nil, 0o644)
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "several candidate") {
		t.Errorf("two files: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "a.pt")); err == nil || !strings.Contains(err.Error(), "a.pt") {
		t.Errorf("empty file: %v", err)
	}
}

// pk assembles pickle bytes from opcodes and operands.
func pk(parts ...any) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			b.WriteString(p)
		case []byte:
			b.Write(p)
		case byte:
			b.WriteByte(p)
		case int:
			b.WriteByte(byte(p))
		case rune:
			b.WriteByte(byte(p))
		}
	}
	return b.Bytes()
}

// binunicode encodes a BINUNICODE opcode.
func binunicode(s string) []byte {
	n := len(s)
	return append([]byte{'X', byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}, s...)
}

// zipped wraps a data.pkl (and data entries) in a torch-style STORED zip.
func zipped(t testing.TB, pkl []byte, entries map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	add("archive/data.pkl", pkl)
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add("archive/"+k, entries[k])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// storagePID is the persistent-id tuple of a FloatStorage with key k and n elements.
func storagePID(class, k string, n int) []byte {
	return pk('(', binunicode("storage"), "ctorch\n"+class+"\n", binunicode(k), binunicode("cpu"), 'K', n, 't', 'Q')
}

// tensorPickle is {"w": _rebuild_tensor_v2(storage, off, size, stride, False, OrderedDict())}.
func tensorPickle(storage []byte, off int, size, stride []int) []byte {
	tuple := func(xs []int) []byte {
		b := []byte{'('}
		for _, x := range xs {
			b = append(b, 'K', byte(x))
		}
		return append(b, 't')
	}
	return pk(0x80, 2, '}', binunicode("w"),
		"ctorch._utils\n_rebuild_tensor_v2\n", '(', storage, 'K', off, tuple(size), tuple(stride),
		0x89, "ccollections\nOrderedDict\n", ')', 'R', 't', 'R', 's', '.')
}

func TestMalformed(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	okPickle := tensorPickle(storagePID("FloatStorage", "0", 6), 0, []int{2, 3}, []int{3, 1})
	// Sanity: the builder makes a valid file.
	if ts, err := Parse(zipped(t, okPickle, map[string][]byte{"data/0": f32(6)})); err != nil || len(ts) != 1 || !slices.Equal(ts[0].Shape, []int{2, 3}) {
		t.Fatalf("valid hand-made pickle: %v %v", ts, err)
	}
	huge := []byte{0xff, 0xff, 0xff, 0x7f}
	tests := []struct {
		name    string
		pkl     []byte
		entries map[string][]byte
		want    string
	}{
		{"os.system via GLOBAL", pk(0x80, 2, "cos\nsystem\n", binunicode("echo pwned"), 0x85, 'R', '.'), nil, "forbidden global os.system"},
		{"posix.system", pk(0x80, 2, "cposix\nsystem\n", binunicode("id"), 0x85, 'R', '.'), nil, "forbidden global posix.system"},
		{"builtins.eval via STACK_GLOBAL", pk(0x80, 4, 0x8c, 8, "builtins", 0x8c, 4, "eval", 0x93, binunicode("1"), 0x85, 'R', '.'), nil, "forbidden global builtins.eval"},
		{"subprocess.Popen", pk(0x80, 2, "csubprocess\nPopen\n", '(', binunicode("sh"), 'l', 0x85, 'R', '.'), nil, "forbidden global subprocess.Popen"},
		{"torch.load is not allowed", pk(0x80, 2, "ctorch\nload\n", '.'), nil, "forbidden global torch.load"},
		{"huge BINBYTES", pk(0x80, 2, 'B', huge, '.'), nil, "exceeds"},
		{"huge BINBYTES8", pk(0x80, 2, 0x8e, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, '.'), nil, "exceeds"},
		{"huge BINUNICODE", pk(0x80, 2, 'X', huge, "abc", '.'), nil, "exceeds"},
		{"huge LONG4", pk(0x80, 2, 0x8b, []byte{0, 0, 0, 1}, '.'), nil, "exceeds"},
		{"long LONG1", pk(0x80, 2, 0x8a, 9, make([]byte, 9), '.'), nil, "too large"},
		{"truncated", okPickle[:len(okPickle)/2], nil, "truncated"},
		{"no STOP", okPickle[:len(okPickle)-1], map[string][]byte{"data/0": f32(6)}, "no STOP"},
		{"undefined memo", pk(0x80, 2, 'h', 7, '.'), nil, "memo index 7"},
		{"stack underflow", pk(0x80, 2, 'R', '.'), nil, "underflow"},
		{"unknown opcode", pk(0x80, 2, 0xff, '.'), nil, "opcode 0xff"},
		{"not a dict", pk(0x80, 2, 'K', 1, '.'), nil, "not a dict"},
		{"no tensors", pk(0x80, 2, '}', '.'), nil, "no tensors"},
		{"cyclic dict", pk(0x80, 2, '}', 'q', 0, binunicode("self"), 'h', 0, 's', '.'), nil, "reached twice"},
		{"missing storage entry", okPickle, nil, `no entry archive/data/0`},
		{"short storage entry", okPickle, map[string][]byte{"data/0": f32(5)}, "need 24"},
		{"view beyond storage", tensorPickle(storagePID("FloatStorage", "0", 6), 1, []int{2, 3}, []int{3, 1}),
			map[string][]byte{"data/0": f32(6)}, "reaches element 6"},
		{"not a storage class", pk(0x80, 2, '(', binunicode("storage"), "ccollections\nOrderedDict\n", binunicode("0"), binunicode("cpu"), 'K', 1, 't', 'Q', '.'), nil, "not a torch storage class"},
		{"rank mismatch", tensorPickle(storagePID("FloatStorage", "0", 6), 0, []int{2, 3}, []int{1}),
			map[string][]byte{"data/0": f32(6)}, "stride 1"},
		{"REDUCE on storage class", pk(0x80, 2, "ctorch\nFloatStorage\n", ')', 'R', '.'), nil, "cannot be called"},
		{"stack cap", append(bytes.Repeat([]byte{'N'}, maxStack+1), '.'), nil, "stack exceeds"},
		{"container cap", append([]byte{']'}, bytes.Repeat(append(append([]byte{'('}, bytes.Repeat([]byte{'N'}, maxStack-2)...), 'e'), maxItems/maxStack+1)...), nil, "containers exceed"},
		{"BUILD on tensor", pk(0x80, 2, "ctorch\nSize\n", '(', 'K', 1, 't', 0x85, 'R', '}', 'b', '.'), nil, "BUILD on tuple"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(zipped(t, tc.pkl, tc.entries))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseNotTorch(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a torch.save file"},
		{"text", []byte("hello"), "not a torch.save file"},
		{"zip without data.pkl", func() []byte {
			var b bytes.Buffer
			zw := zip.NewWriter(&b)
			w, _ := zw.Create("x.txt")
			w.Write([]byte("x"))
			zw.Close()
			return b.Bytes()
		}(), "no <archive>/data.pkl"},
		{"legacy truncated", legacyMagic, "legacy format, protocol version: truncated"},
	} {
		if _, err := Parse(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRebuildFromTypeV2(t *testing.T) {
	// torch._tensor._rebuild_from_type_v2(_rebuild_tensor_v2, torch.nn.parameter.Parameter, (args), state)
	pkl := pk(0x80, 2, '}', binunicode("p"),
		"ctorch._tensor\n_rebuild_from_type_v2\n", '(',
		"ctorch._utils\n_rebuild_tensor_v2\n", "ctorch.nn.parameter\nParameter\n",
		'(', storagePID("HalfStorage", "k", 4), 'K', 1, '(', 'K', 3, 't', '(', 'K', 1, 't', 0x89, 'N', 't',
		'}', 't', 'R', 's', '.')
	data := []byte{1, 0, 2, 0, 3, 0, 4, 0}
	ts, err := Parse(zipped(t, pkl, map[string][]byte{"data/k": data}))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].Name != "p" || ts[0].DType != source.F16 || !bytes.Equal(ts[0].Data, data[2:]) {
		t.Fatalf("got %+v", ts)
	}
}

func TestBigEndianZip(t *testing.T) {
	pkl := tensorPickle(storagePID("IntStorage", "0", 2), 0, []int{2}, []int{1})
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range []struct {
		name string
		b    []byte
	}{{"a/data.pkl", pkl}, {"a/byteorder", []byte("big")}, {"a/data/0", []byte{0, 0, 1, 2, 0, 0, 0, 3}}} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		w.Write(e.b)
	}
	zw.Close()
	ts, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{2, 1, 0, 0, 3, 0, 0, 0}; !bytes.Equal(ts[0].Data, want) {
		t.Fatalf("data %v, want %v", ts[0].Data, want)
	}
}

// FuzzUnpickle runs arbitrary bytes through the restricted VM and the state
// dict walker, with every persistent id resolved to a small zero storage.
func FuzzUnpickle(f *testing.F) {
	for _, name := range []string{"dtypes.pt", "views.pt", "tied.pt", "module.pt"} {
		zr, err := zip.OpenReader(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range zr.File {
			if strings.HasSuffix(e.Name, "data.pkl") {
				rc, _ := e.Open()
				var b bytes.Buffer
				b.ReadFrom(rc)
				rc.Close()
				f.Add(b.Bytes())
			}
		}
		zr.Close()
	}
	f.Add(tensorPickle(storagePID("FloatStorage", "0", 6), 0, []int{2, 3}, []int{1, 2}))
	f.Add(pk(0x80, 2, "cos\nsystem\n", binunicode("echo"), 0x85, 'R', '.'))
	f.Add(pk(0x80, 2, 'B', []byte{0xff, 0xff, 0xff, 0x7f}, '.'))
	f.Fuzz(func(t *testing.T, data []byte) {
		u := &unpickler{data: data, reduce: torchReduce}
		u.persistentLoad = func(pid any) (any, error) {
			st, _, err := storageFromPID(pid)
			if err != nil {
				return nil, err
			}
			if st.numel > 1<<16 {
				st.numel = 1 << 16
			}
			st.data = make([]byte, st.numel*st.dtype.Size())
			return st, nil
		}
		root, err := u.run()
		if err != nil {
			return
		}
		ts, err := collect(root, 1<<22)
		if err != nil {
			return
		}
		for _, x := range ts {
			if x.NumElements()*x.DType.Size() != len(x.Data) {
				t.Fatalf("%s: %d bytes for shape %v", x.Name, len(x.Data), x.Shape)
			}
		}
	})
}
