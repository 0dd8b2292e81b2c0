package hub

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/cellm-ai/cellm-go/internal/atomicfile"
)

// RepoDir is repo's folder in the cache: models--org--name.
func (c *Client) RepoDir(repo string) string {
	return filepath.Join(c.CacheDir, "models--"+strings.ReplaceAll(repo, "/", "--"))
}

// SnapshotDir is the folder holding a commit's files.
func (c *Client) SnapshotDir(repo, commit string) string {
	return filepath.Join(c.RepoDir(repo), "snapshots", commit)
}

func (c *Client) blobPath(repo, etag string) string {
	return filepath.Join(c.RepoDir(repo), "blobs", etag)
}

func (c *Client) lockPath(repo, etag string) string {
	return filepath.Join(c.CacheDir, ".locks", filepath.Base(c.RepoDir(repo)), etag+".lock")
}

func (c *Client) refPath(repo, rev string) string {
	return filepath.Join(c.RepoDir(repo), "refs", filepath.FromSlash(rev))
}

// hasBlob reports whether the blob is complete: blobs are only renamed into
// place once verified, so the right size is enough.
func (c *Client) hasBlob(repo, etag string, size int64) bool {
	st, err := os.Stat(c.blobPath(repo, etag))
	return err == nil && st.Mode().IsRegular() && st.Size() == size
}

// CachedCommit returns the commit rev resolves to in the cache: refs/{rev},
// or rev itself when it is a commit with a snapshot.
func (c *Client) CachedCommit(repo, rev string) (string, error) {
	if err := checkRepo(repo); err != nil {
		return "", err
	}
	if err := CheckRevision(rev); err != nil {
		return "", err
	}
	if commitID.MatchString(rev) {
		if st, err := os.Stat(c.SnapshotDir(repo, rev)); err == nil && st.IsDir() {
			return rev, nil
		}
	}
	b, err := os.ReadFile(c.refPath(repo, rev))
	if err != nil {
		return "", fmt.Errorf("%w: %s@%s has no snapshot in %s", ErrOffline, repo, rev, c.CacheDir)
	}
	commit := strings.TrimSpace(string(b))
	if !commitID.MatchString(commit) {
		return "", fmt.Errorf("%s: %q is not a commit id", c.refPath(repo, rev), commit)
	}
	return commit, nil
}

// writeRef records that rev resolved to commit (atomically).
func (c *Client) writeRef(repo, rev, commit string) error {
	if rev == commit {
		return nil
	}
	path := c.refPath(repo, rev)
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == commit {
		return nil
	}
	return atomicfile.WriteFile(path, []byte(commit))
}

// link makes snapshots/{commit}/{file} point at the blob: a relative symlink,
// as huggingface_hub makes, else a hard link, else a copy (file systems
// without links). It replaces the entry atomically.
func (c *Client) link(repo, commit, file, etag string) error {
	dst := filepath.Join(c.SnapshotDir(repo, commit), filepath.FromSlash(file))
	blob := c.blobPath(repo, etag)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(dst), blob)
	if err != nil {
		return err
	}
	if target, err := os.Readlink(dst); err == nil && target == rel {
		return nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d-%d", dst, os.Getpid(), tmpSeq.Add(1))
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		if err := os.Link(blob, tmp); err != nil {
			if err := copyFile(blob, tmp); err != nil {
				return fmt.Errorf("linking %s to %s: %w", dst, blob, err)
			}
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// snapshotFiles lists the complete files of a snapshot (links whose blob exists).
func snapshotFiles(dir string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
			return nil // dangling link or temporary entry
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if strings.Contains(filepath.Base(rel), ".tmp-") {
			return nil
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	return names, err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

// tmpSeq numbers temporary links so that concurrent linkers never share one.
var tmpSeq atomic.Int64
