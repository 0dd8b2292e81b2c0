package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	b := &Bar{w: &buf, label: "x", enabled: true, unit: Bytes}
	b.Update(50, 100)
	b.Update(100, 100)
	b.Done()
	if !strings.Contains(buf.String(), "100.0%") || !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("bar output %q", buf.String())
	}
	var quiet bytes.Buffer
	q := &Bar{w: &quiet}
	q.Update(1, 2)
	q.Done()
	if quiet.Len() != 0 {
		t.Error("disabled bar wrote output")
	}
}

func TestGroup(t *testing.T) {
	var buf bytes.Buffer
	g := &Group{w: &buf, enabled: true, label: "total", total: 300, items: map[string]*groupItem{}}
	g.Update("a.json", 0, 100)
	g.Update("b.safetensors", 50, 200)
	g.Update("a.json", 100, 100)
	g.Update("b.safetensors", 200, 200)
	g.Done()
	out := buf.String()
	if !strings.Contains(out, "  a.json 100 B\n") || !strings.Contains(out, "  b.safetensors 200 B\n") {
		t.Errorf("finished items missing: %q", out)
	}
	last := out[strings.LastIndex(out, "\x1b["):]
	if !strings.Contains(last, "100.0% 300 B/300 B") {
		t.Errorf("final block %q", last)
	}
	var quiet bytes.Buffer
	q := &Group{w: &quiet, items: map[string]*groupItem{}}
	q.Update("a", 1, 2)
	q.Done()
	if quiet.Len() != 0 {
		t.Errorf("a group off a terminal wrote %q", quiet.String())
	}
}

// /dev/null is a character device but not a terminal; a pipe is neither.
func TestIsTerminalNotDevNullOrPipe(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Skip(err)
	}
	defer null.Close()
	if IsTerminal(null) {
		t.Errorf("%s counts as a terminal", os.DevNull)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(r) || IsTerminal(w) {
		t.Error("a pipe counts as a terminal")
	}
}
