package weights

import (
	"errors"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/kernels"
)

func file(t *testing.T) *format.File {
	t.Helper()
	w := format.NewWriter(format.Header{ModelType: "llama"})
	w.AddTensorBytes("f32", format.F32, []int{2, 2}, make([]byte, 16))
	w.AddTensorBytes("bf16", format.BF16, []int{1, 2}, []byte{0x80, 0x3f, 0x00, 0x40})
	w.AddTensorBytes("q", format.I8, []int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	w.AddTensorBytes("q.qscale", format.F16, []int{2}, []byte{0x00, 0x3c, 0x00, 0x40})
	// int4, 2 x 64, groups of 32: codes -8, 7 (bytes 0x f0) everywhere,
	// scales 1, 2 / 0.5, 4.
	w.AddTensorBytes("q4", format.I4, []int{2, 64}, bytesOf(64, 0xf0))
	w.AddTensorBytes("q4.qscale", format.F16, []int{2, 2}, []byte{0x00, 0x3c, 0x00, 0x40, 0x00, 0x38, 0x00, 0x44})
	// int4 viewed per row by the Rust cellm's layout.
	w.AddTensorBytes("r4", format.I4, []int{1, 4}, []byte{0x9f, 0x08})
	w.AddTensorBytes("r4.qscale", format.F16, []int{1}, []byte{0x00, 0x3c})
	data, err := w.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := format.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoader(t *testing.T) {
	l := Loader{F: file(t)}
	m, err := l.Matrix("q", 2, 3)
	if err != nil || m.Type != kernels.Q8 || m.Scale[1] != 2 || m.Q8[5] != 6 {
		t.Fatalf("q8: %+v %v", m, err)
	}
	q4, err := l.Matrix("q4", 2, 64)
	if err != nil || q4.Type != kernels.Q4 || q4.Group != 32 {
		t.Fatalf("q4: %+v %v", q4, err)
	}
	row := make([]float32, 64)
	q4.Row(row, 1)
	if row[0] != -4 || row[1] != 3.5 || row[32] != -32 || row[63] != 28 {
		t.Errorf("q4 row 1: %v", row)
	}
	r4, err := l.Matrix("r4", 1, 4)
	if err != nil || r4.Group != 4 {
		t.Fatalf("r4: %+v %v", r4, err)
	}
	r4.Row(row[:4], 0)
	if row[0] != 7 || row[1] != 1 || row[2] != 0 || row[3] != -8 {
		t.Errorf("r4: %v, want [7 1 0 -8]", row[:4])
	}
	v, err := l.Floats("bf16", 1, 2)
	if err != nil || v[0] != 1 || v[1] != 2 {
		t.Fatalf("bf16: %v %v", v, err)
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{func() error { _, err := l.Matrix("missing", 1, 1); return err }(), `tensor "missing" is missing`},
		{func() error { _, err := l.Matrix("f32", 4, 1); return err }(), `tensor "f32" has shape [2 2], want [4 1]`},
		{func() error { _, err := l.Floats("q", 2, 3); return err }(), `tensor "q" has dtype i8`},
	} {
		if c.err == nil || !errors.Is(c.err, ErrWeights) || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v, want %q", c.err, c.want)
		}
	}
}

func bytesOf(n int, b byte) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
