package testutil

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CopyFiles copies the regular files directly inside src (not its folders)
// into dst, which must exist.
func CopyFiles(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// TinyVLMFolder fills dir (created if needed) with the files of the
// testdata/smolvlm-tiny fixture and SmolVLM's genuine tokenizer.json,
// unpacked from tokenizer/testdata: a folder convert turns into a small
// vision-language model. root is the repository root (see RepoRoot).
func TinyVLMFolder(root, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := CopyFiles(filepath.Join(root, "testdata", "smolvlm-tiny"), dir); err != nil {
		return err
	}
	tokPath := filepath.Join(root, "tokenizer", "testdata", "SmolVLM-256M-Instruct.tokenizer.json.gz")
	f, err := os.Open(tokPath)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", tokPath, err)
	}
	tok, err := io.ReadAll(zr)
	if err != nil {
		return fmt.Errorf("%s: %w", tokPath, err)
	}
	return os.WriteFile(filepath.Join(dir, "tokenizer.json"), tok, 0o644)
}
