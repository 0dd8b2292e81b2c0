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
