package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cellm-ai/cellm-go/internal/filelock"
)

// File is one file of a plan.
type File struct {
	// Name is the path in the repository.
	Name string
	// Size is the file's size in bytes.
	Size int64
	// ETag names the blob: the LFS sha256, else the git blob id.
	ETag string
	// Cached is true when the blob is already in the cache.
	Cached bool
}

// Plan is what fetching a revision's convertible files involves.
type Plan struct {
	Repo     string
	Revision string
	// Commit is the commit the revision resolved to.
	Commit string
	// Source is the checkpoint kind selected.
	Source string
	// Files are the files to have in the snapshot.
	Files []File
	// Offline is true when the plan was made from the cache alone (offline
	// mode, or the hub could not be reached).
	Offline bool
}

// Missing returns the number and total size of the files not yet cached.
func (p *Plan) Missing() (n int, bytes int64) {
	for _, f := range p.Files {
		if !f.Cached {
			n++
			bytes += f.Size
		}
	}
	return n, bytes
}

// Progress reports a file's download: done of size bytes (done starts at
// the resumed length and ends at size).
type Progress func(file string, done, size int64)

// Plan resolves revision and selects the files conversion needs (see
// Select; source "" or "auto" picks the checkpoint kind). A sharded
// checkpoint's index is downloaded to read its shard list. In offline mode
// the plan comes from the cache and fails with ErrOffline if it is incomplete;
// when the hub cannot be reached, a complete cached snapshot is used.
func (c *Client) Plan(ctx context.Context, repo, revision, source string) (*Plan, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	if err := CheckRevision(revision); err != nil {
		return nil, err
	}
	if c.Offline {
		return c.offlinePlan(repo, revision, source)
	}
	info, err := c.ModelInfo(ctx, repo, revision)
	if errors.Is(err, ErrNetwork) {
		// As huggingface_hub does: an unreachable hub falls back to a
		// complete cached snapshot of the revision.
		if p, cacheErr := c.offlinePlan(repo, revision, source); cacheErr == nil {
			return p, nil
		}
	}
	if err != nil {
		return nil, err
	}
	sibs := make(map[string]Sibling, len(info.Siblings))
	names := make([]string, 0, len(info.Siblings))
	for _, s := range info.Siblings {
		sibs[s.RFilename] = s
		names = append(names, s.RFilename)
	}
	p := &Plan{Repo: repo, Revision: revision, Commit: info.SHA}
	file := func(name string) (File, error) {
		s := sibs[name]
		f := File{Name: name, Size: s.Size, ETag: s.BlobID}
		if s.LFS != nil {
			f.Size, f.ETag = s.LFS.Size, s.LFS.SHA256
		}
		if !hexID.MatchString(f.ETag) || f.Size < 0 {
			// An older listing without blob data: ask the file itself.
			fi, err := c.FileInfo(ctx, repo, info.SHA, name)
			if err != nil {
				return File{}, err
			}
			f.Size, f.ETag = fi.Size, fi.ETag
		}
		f.Cached = c.hasBlob(repo, f.ETag, f.Size)
		return f, nil
	}
	readIndex := func(name string) ([]byte, error) {
		f, err := file(name)
		if err != nil {
			return nil, err
		}
		if err := c.fetch(ctx, p, f, nil); err != nil {
			return nil, err
		}
		return os.ReadFile(c.blobPath(repo, f.ETag))
	}
	sel, err := Select(names, source, readIndex)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: %w", repo, revision, err)
	}
	p.Source = sel.Source
	for _, name := range sel.Files() {
		f, err := file(name)
		if err != nil {
			return nil, err
		}
		p.Files = append(p.Files, f)
	}
	return p, nil
}

// offlinePlan builds a plan from a cached snapshot.
func (c *Client) offlinePlan(repo, revision, source string) (*Plan, error) {
	commit, err := c.CachedCommit(repo, revision)
	if err != nil {
		return nil, fmt.Errorf("%w (HF_HUB_OFFLINE is set: unset it to download)", err)
	}
	dir := c.SnapshotDir(repo, commit)
	names, err := snapshotFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrOffline, dir, err)
	}
	sel, err := Select(names, source, func(name string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s@%s in %s: %v (HF_HUB_OFFLINE is set: unset it to download)", ErrOffline, repo, revision, dir, err)
	}
	p := &Plan{Repo: repo, Revision: revision, Commit: commit, Source: sel.Source, Offline: true}
	for _, name := range sel.Files() {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrOffline, name, err)
		}
		p.Files = append(p.Files, File{Name: name, Size: st.Size(), Cached: true})
	}
	return p, nil
}

// Fetch downloads the plan's missing files (at most Parallel at once), links
// every file into the snapshot and records the revision's commit. It returns
// the snapshot folder. progress, if set, is called from several goroutines.
func (c *Client) Fetch(ctx context.Context, p *Plan, progress Progress) (string, error) {
	dir := c.SnapshotDir(p.Repo, p.Commit)
	if p.Offline {
		return dir, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, c.parallel())
	)
	for _, f := range p.Files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := c.fetch(ctx, p, f, progress); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return "", firstErr
	}
	if err := c.writeRef(p.Repo, p.Revision, p.Commit); err != nil {
		return "", fmt.Errorf("recording %s@%s: %w", p.Repo, p.Revision, err)
	}
	return dir, nil
}

// fetch makes one file's blob complete and links it into the snapshot.
func (c *Client) fetch(ctx context.Context, p *Plan, f File, progress Progress) error {
	report := func(done int64) {
		if progress != nil {
			progress(f.Name, done, f.Size)
		}
	}
	if !c.hasBlob(p.Repo, f.ETag, f.Size) {
		lock, err := filelock.Acquire(ctx, c.lockPath(p.Repo, f.ETag))
		if err != nil {
			return err
		}
		err = c.download(ctx, p, f, report)
		lock.Unlock()
		if err != nil {
			return err
		}
	}
	report(f.Size)
	if err := c.link(p.Repo, p.Commit, f.Name, f.ETag); err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	return nil
}

// download writes the blob through its .incomplete file, resuming what an
// earlier attempt left and retrying interruptions, then verifies it and
// renames it into place. The caller holds the blob's lock.
func (c *Client) download(ctx context.Context, p *Plan, f File, report func(int64)) error {
	blob := c.blobPath(p.Repo, f.ETag)
	if c.hasBlob(p.Repo, f.ETag, f.Size) { // another process finished it while we waited
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return err
	}
	url := c.ResolveURL(p.Repo, p.Commit, f.Name)
	var err error
	for attempt := 0; ; attempt++ {
		var again bool
		again, err = c.attempt(ctx, url, blob, f, report)
		if err == nil || !again || attempt >= c.retries() {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("downloading %s of %s@%s: %w", f.Name, p.Repo, p.Commit, err)
	}
	return nil
}

// attempt makes one request for the rest of the file. again reports whether
// a failure is worth another attempt (an interrupted or refused transfer).
func (c *Client) attempt(ctx context.Context, url, blob string, f File, report func(int64)) (again bool, err error) {
	inc := blob + ".incomplete"
	out, err := os.OpenFile(inc, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false, err
	}
	defer func() {
		if out != nil {
			out.Close()
		}
	}()
	st, err := out.Stat()
	if err != nil {
		return false, err
	}
	have := st.Size()
	if have > f.Size {
		have = 0
	}
	// A transfer that stalls is abandoned (and resumed by the next attempt).
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(c.stallTimeout(), func() { cancel(errStalled) })
	defer stall.Stop()
	req, err := c.newRequest(ctx, http.MethodGet, url)
	if err != nil {
		return false, err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := c.do(c.httpClient(), req)
	if err != nil {
		if parent.Err() == nil && context.Cause(ctx) == errStalled {
			return true, fmt.Errorf("GET %s: %w", url, errStalled)
		}
		return errors.Is(err, ErrNetwork), err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != have {
			out.Truncate(0) // not the range asked for: start over
			return true, fmt.Errorf("GET %s: Content-Range %q does not start at %d", url, resp.Header.Get("Content-Range"), have)
		}
	case resp.StatusCode == http.StatusOK:
		have = 0
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have == f.Size:
	default:
		if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			out.Truncate(0)
			return true, fmt.Errorf("GET %s: HTTP 416 for bytes=%d-", url, have)
		}
		return retryable(resp.StatusCode), c.statusError(req, resp, strings.TrimPrefix(url, c.Endpoint+"/"))
	}
	if commit := resp.Header.Get("X-Repo-Commit"); commit != "" && !strings.Contains(url, "/resolve/"+commit+"/") {
		return false, fmt.Errorf("GET %s: served commit %s, not the one asked for", url, commit)
	}
	if err := out.Truncate(have); err != nil {
		return false, err
	}
	h := newVerifier(f.ETag, f.Size)
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	if _, err := io.CopyN(h, out, have); err != nil {
		return false, fmt.Errorf("%s: rereading the partial download: %w", inc, err)
	}
	report(have)
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		w := &countWriter{done: have, report: func(done int64) {
			stall.Reset(c.stallTimeout())
			report(done)
		}}
		n, err := io.Copy(io.MultiWriter(out, h, w), io.LimitReader(resp.Body, f.Size-have+1))
		have += n
		if err != nil {
			if parent.Err() != nil {
				return false, parent.Err()
			}
			if context.Cause(ctx) == errStalled {
				err = errStalled
			}
			return true, fmt.Errorf("GET %s: %w after %d of %d bytes (kept in %s to resume)", url, err, have, f.Size, inc)
		}
	}
	if have < f.Size {
		return true, fmt.Errorf("GET %s: %w after %d of %d bytes (kept in %s to resume)", url, errShortBody, have, f.Size, inc)
	}
	if have > f.Size || !h.ok(f.Size) {
		out.Close()
		out = nil
		os.Remove(inc)
		return false, fmt.Errorf("%w: GET %s: got %s of %d bytes, want %s of %d bytes; the partial file was deleted",
			ErrChecksum, url, h.sum(), have, f.ETag, f.Size)
	}
	if err := out.Sync(); err != nil {
		return false, err
	}
	err = out.Close()
	out = nil
	if err != nil {
		return false, err
	}
	return false, os.Rename(inc, blob)
}

// contentRangeStart parses the first byte of "bytes START-END/SIZE".
func contentRangeStart(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, false
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(start, 10, 64)
	return n, err == nil
}

type countWriter struct {
	done   int64
	report func(int64)
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.done += int64(len(p))
	w.report(w.done)
	return len(p), nil
}

// verifier hashes a download as its ETag prescribes: sha256 for LFS files
// (64 hex digits), the git blob id (sha1 of "blob SIZE\x00" + content) for
// others (40 digits).
type verifier struct {
	etag string
	h    hash.Hash
	n    int64
}

func newVerifier(etag string, size int64) *verifier {
	v := &verifier{etag: etag}
	if len(etag) == 64 {
		v.h = sha256.New()
	} else {
		v.h = sha1.New()
		fmt.Fprintf(v.h, "blob %d\x00", size)
	}
	return v
}

func (v *verifier) Write(p []byte) (int, error) {
	v.n += int64(len(p))
	return v.h.Write(p)
}

// sum is the digest of what was written.
func (v *verifier) sum() string {
	return hex.EncodeToString(v.h.Sum(nil))
}

// ok reports whether the content written (size bytes) matches the ETag.
func (v *verifier) ok(size int64) bool {
	return v.n == size && v.sum() == v.etag
}
