package main

import (
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/fakehub"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// pull, list, infer --model ORG/NAME, inspect ORG/NAME, rm, against a fake hub.
func TestPullListInferRm(t *testing.T) {
	const repo = "cellm-test/micro"
	srv := fakehub.New(t)
	srv.Add(repo, "main", fakehub.ReadDir(t, testutil.Fixture(t, "pretrained-micro")))
	t.Setenv("HF_ENDPOINT", srv.Hub.URL)
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("CELLM_HOME", t.TempDir())

	// First use through --model pulls, converts and generates.
	code, out, stderr := cli(t, "infer", "-m", repo, "-p", "A class is", "-n", "4")
	if code != 0 || out == "" {
		t.Fatalf("infer exit %d, stdout %q: %s", code, out, stderr)
	}
	code, out, stderr = cli(t, "pull", repo, "--quantize", "int8")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "int8.cellm") {
		t.Fatalf("pull exit %d, stdout %q: %s", code, out, stderr)
	}
	code, out, stderr = cli(t, "list")
	if code != 0 || strings.Count(out, repo) != 2 || !strings.Contains(out, "int8") || !strings.Contains(out, "f16") {
		t.Errorf("list exit %d:\n%s%s", code, out, stderr)
	}
	servesStore(t, repo+"@main:int8") // serve_test.go (unix)
	code, out, stderr = cli(t, "inspect", repo+":int8")
	if code != 0 || !strings.Contains(out, "runs: yes") || !strings.Contains(out, "int8.cellm") {
		t.Errorf("inspect of a stored model: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr = cli(t, "rm", repo); code != 0 {
		t.Fatalf("rm exit %d: %s", code, stderr)
	}
	if code, out, _ = cli(t, "list"); code != 0 || out != "" {
		t.Errorf("list after rm: exit %d\n%s", code, out)
	}
	if code, _, _ = cli(t, "pull", "not a name"); code != 1 {
		t.Errorf("pull of a bad name: exit %d", code)
	}
	if code, _, stderr = cli(t, "pull", "cellm-test/absent"); code != 1 || !strings.Contains(stderr, "HTTP 404") {
		t.Errorf("pull of an absent model: exit %d, %s", code, stderr)
	}
	if code, _, stderr = cli(t, "pull", repo, "--dtype", "q4"); code != 1 || !strings.Contains(stderr, "variant") {
		t.Errorf("pull --dtype q4: exit %d, %s", code, stderr)
	}
}
