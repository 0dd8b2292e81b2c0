package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/fakehub"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// stdout runs fn and returns what it printed on os.Stdout.
func stdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() { os.Stdout = old }()
	fn()
	w.Close()
	os.Stdout = old
	return <-done
}

// pull, list, infer --model ORG/NAME, rm, against a fake hub.
func TestPullListInferRm(t *testing.T) {
	const repo = "cellm-test/micro"
	srv := fakehub.New(t)
	srv.Add(repo, "main", fakehub.ReadDir(t, testutil.Fixture(t, "pretrained-micro")))
	t.Setenv("HF_ENDPOINT", srv.Hub.URL)
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("CELLM_HOME", t.TempDir())

	var stderr bytes.Buffer
	// First use through --model pulls, converts and generates.
	out := stdout(t, func() {
		if code := run([]string{"infer", "--model", repo, "--prompt", "A class is", "--gen", "4"}, &stderr); code != 0 {
			t.Fatalf("infer exit %d: %s", code, stderr.String())
		}
	})
	if out == "" {
		t.Error("infer printed nothing")
	}
	out = stdout(t, func() {
		if code := run([]string{"pull", repo, "--quantize", "int8"}, &stderr); code != 0 {
			t.Fatalf("pull exit %d: %s", code, stderr.String())
		}
	})
	if !strings.HasSuffix(strings.TrimSpace(out), "int8.cellm") {
		t.Errorf("pull printed %q", out)
	}
	out = stdout(t, func() {
		if code := run([]string{"list"}, &stderr); code != 0 {
			t.Fatalf("list exit %d: %s", code, stderr.String())
		}
	})
	if strings.Count(out, repo) != 2 || !strings.Contains(out, "int8") || !strings.Contains(out, "f16") {
		t.Errorf("list:\n%s", out)
	}
	out = stdout(t, func() {
		if code := run([]string{"inspect", repo + ":int8"}, &stderr); code != 0 {
			t.Errorf("inspect of a stored model: exit %d", code)
		}
	})
	if !strings.Contains(out, "validation: OK") {
		t.Errorf("inspect:\n%s", out)
	}
	if code := run([]string{"rm", repo}, &stderr); code != 0 {
		t.Fatalf("rm exit %d: %s", code, stderr.String())
	}
	out = stdout(t, func() { run([]string{"list"}, &stderr) })
	if out != "" {
		t.Errorf("list after rm:\n%s", out)
	}
	if code := run([]string{"pull", "not a name"}, &stderr); code != 1 {
		t.Errorf("pull of a bad name: exit %d", code)
	}
	stderr.Reset()
	if code := run([]string{"pull", "cellm-test/absent"}, &stderr); code != 1 || !strings.Contains(stderr.String(), "404") {
		t.Errorf("pull of an absent model: exit %d, %s", code, stderr.String())
	}
}
