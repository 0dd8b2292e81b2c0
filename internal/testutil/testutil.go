// Package testutil locates the repository's shared test fixtures.
package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod, found by walking up from the
// working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Fixture returns the path of testdata/<elem...> at the repository root.
func Fixture(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{RepoRoot(t), "testdata"}, elem...)...)
}

// Main runs a package's tests with TMPDIR pointing at a fresh directory and
// removes it afterwards, so the temporary files of examples, benchmarks and
// fixtures shared by several tests never outlive the test binary. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cellm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testutil.Main:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv("TMPDIR", dir); err != nil {
		fmt.Fprintln(os.Stderr, "testutil.Main:", err)
		return 1
	}
	return m.Run()
}
