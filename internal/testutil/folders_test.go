package testutil

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestCopyFilesSkipsFolders(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "a.json"), []byte("{}"), 0o644)
	os.Mkdir(filepath.Join(src, "sub"), 0o755)
	if err := CopyFiles(src, dst); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "a.json" {
		t.Errorf("copied %v, want only a.json", entries)
	}
	if err := CopyFiles(filepath.Join(src, "missing"), dst); err == nil {
		t.Error("a missing source gave no error")
	}
}

func TestTinyVLMFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vlm")
	if err := TinyVLMFolder(RepoRoot(t), dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config.json", "tokenizer.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(data) {
			t.Errorf("%s is not JSON", name)
		}
	}
	if err := TinyVLMFolder(t.TempDir(), dir); err == nil {
		t.Error("a root without the fixture gave no error")
	}
}
