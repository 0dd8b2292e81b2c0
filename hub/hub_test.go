package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellm-ai/cellm-go/internal/fakehub"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/source"
	"github.com/cellm-ai/cellm-go/source/safetensors"
)

const repo = "cellm-test/llama-tiny"

// setup serves testdata/llama-tiny as repo's main branch.
func setup(t *testing.T) (*fakehub.Server, *Client, map[string][]byte) {
	t.Helper()
	files := fakehub.ReadDir(t, testutil.Fixture(t, "llama-tiny"))
	srv := fakehub.New(t)
	srv.Add(repo, "main", files)
	return srv, &Client{Endpoint: srv.Hub.URL, CacheDir: t.TempDir()}, files
}

func pull(t *testing.T, c *Client, rev string) (*Plan, string) {
	t.Helper()
	p, err := c.Plan(context.Background(), repo, rev, "")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := c.Fetch(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, dir
}

// checkSnapshot compares every planned file of the snapshot with want.
func checkSnapshot(t *testing.T, p *Plan, dir string, want map[string][]byte) {
	t.Helper()
	for _, f := range p.Files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[f.Name]) {
			t.Errorf("%s: content differs", f.Name)
		}
	}
}

func TestPullLayout(t *testing.T) {
	srv, c, files := setup(t)
	c.Token = "secret" // sent to the hub, never to the CDN
	var mu sync.Mutex
	last := map[string]int64{}
	p, err := c.Plan(context.Background(), repo, "main", "")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := c.Fetch(context.Background(), p, func(file string, done, size int64) {
		mu.Lock()
		last[file] = done
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range p.Files {
		names = append(names, f.Name)
		if last[f.Name] != f.Size {
			t.Errorf("%s: progress ended at %d of %d", f.Name, last[f.Name], f.Size)
		}
	}
	if want := []string{"config.json", "generation_config.json", "model.safetensors"}; !slices.Equal(names, want) {
		t.Errorf("planned %v, want %v (no pytorch_model.bin, no reference/)", names, want)
	}
	if p.Source != "safetensors" {
		t.Errorf("source %s", p.Source)
	}
	checkSnapshot(t, p, dir, files)
	if dir != filepath.Join(c.CacheDir, "models--cellm-test--llama-tiny", "snapshots", p.Commit) {
		t.Errorf("snapshot at %s", dir)
	}
	sum := sha256.Sum256(files["model.safetensors"])
	target, err := os.Readlink(filepath.Join(dir, "model.safetensors"))
	if want := filepath.Join("..", "..", "blobs", hex.EncodeToString(sum[:])); err != nil || target != want {
		t.Errorf("model.safetensors links to %q (%v), want %q", target, err, want)
	}
	ref, err := os.ReadFile(filepath.Join(c.RepoDir(repo), "refs", "main"))
	if err != nil || string(ref) != p.Commit {
		t.Errorf("refs/main = %q (%v), want %s", ref, err, p.Commit)
	}
	for _, r := range srv.Requests() {
		if r.Server == "cdn" && r.Auth != "" {
			t.Errorf("token sent to the CDN: %+v", r)
		}
		if r.Server == "hub" && r.Auth != "Bearer secret" {
			t.Errorf("no token sent to the hub: %+v", r)
		}
	}
	if n := srv.Downloads(); n != 3 {
		t.Errorf("%d downloads, want 3", n)
	}
	// A second pull finds everything cached.
	p2, _ := pull(t, c, "main")
	if n, _ := p2.Missing(); n != 0 {
		t.Errorf("%d files missing after a pull", n)
	}
	if n := srv.Downloads(); n != 3 {
		t.Errorf("%d downloads after a second pull, want 3", n)
	}
}

func TestResumeAfterCut(t *testing.T) {
	srv, c, files := setup(t)
	srv.CutNext("model.safetensors", 1<<20)
	p, dir := pull(t, c, "main")
	checkSnapshot(t, p, dir, files)
	var ranges []string
	for _, r := range srv.Requests() {
		if r.Range != "" {
			ranges = append(ranges, r.Range)
		}
	}
	if !slices.Contains(ranges, "bytes=1048576-") {
		t.Errorf("ranges asked %v, want bytes=1048576-", ranges)
	}
	if m, _ := filepath.Glob(filepath.Join(c.RepoDir(repo), "blobs", "*.incomplete")); len(m) != 0 {
		t.Errorf("left %v", m)
	}
}

// An .incomplete file left by an earlier process (or huggingface_hub) is resumed.
func TestResumeIncompleteFile(t *testing.T) {
	srv, c, files := setup(t)
	data := files["model.safetensors"]
	sum := sha256.Sum256(data)
	blobs := filepath.Join(c.RepoDir(repo), "blobs")
	os.MkdirAll(blobs, 0o755)
	os.WriteFile(filepath.Join(blobs, hex.EncodeToString(sum[:])+".incomplete"), data[:12345], 0o644)
	p, dir := pull(t, c, "main")
	checkSnapshot(t, p, dir, files)
	found := false
	for _, r := range srv.Requests() {
		found = found || r.Range == "bytes=12345-"
	}
	if !found {
		t.Errorf("no request for bytes=12345-: %+v", srv.Requests())
	}
}

func TestChecksumMismatch(t *testing.T) {
	for _, name := range []string{"model.safetensors", "config.json"} { // sha256 (LFS) and git blob id
		t.Run(name, func(t *testing.T) {
			srv, c, _ := setup(t)
			srv.Corrupt(name)
			p, err := c.Plan(context.Background(), repo, "main", "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Fetch(context.Background(), p, nil)
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), name) {
				t.Fatalf("got %v, want a checksum error naming %s", err, name)
			}
			if m, _ := filepath.Glob(filepath.Join(c.RepoDir(repo), "blobs", "*")); len(m) > 2 {
				t.Errorf("blobs after a refused file: %v", m)
			}
			if _, err := os.Stat(filepath.Join(c.SnapshotDir(repo, p.Commit), name)); err == nil {
				t.Errorf("%s linked into the snapshot", name)
			}
			for _, f := range p.Files {
				if _, err := os.Stat(c.blobPath(repo, f.ETag) + ".incomplete"); f.Name == name && err == nil {
					t.Errorf("the refused download of %s was kept", name)
				}
			}
		})
	}
}

func TestGated(t *testing.T) {
	srv, c, files := setup(t)
	srv.Gate(repo, "good")
	p, err := c.Plan(context.Background(), repo, "main", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(context.Background(), p, nil)
	if !errors.Is(err, ErrAccess) || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "HF_TOKEN") ||
		!strings.Contains(err.Error(), srv.Hub.URL+"/"+repo) {
		t.Errorf("without a token: %v", err)
	}
	c.Token = "bad"
	_, err = c.Fetch(context.Background(), p, nil)
	if !errors.Is(err, ErrAccess) || !strings.Contains(err.Error(), "HTTP 403") || !strings.Contains(err.Error(), "no access") {
		t.Errorf("with a bad token: %v", err)
	}
	c.Token = "good"
	p, dir := pull(t, c, "main")
	checkSnapshot(t, p, dir, files)
}

func TestRevisionPin(t *testing.T) {
	srv, c, files := setup(t)
	old := srv.Add(repo, "v1", map[string][]byte{"config.json": files["config.json"],
		"model.safetensors": files["model.safetensors"], "generation_config.json": []byte(`{"eos_token_id": 7}`)})
	p, dir := pull(t, c, "v1")
	if p.Commit != old {
		t.Fatalf("v1 resolved to %s, want %s", p.Commit, old)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "generation_config.json"))
	if string(b) != `{"eos_token_id": 7}` {
		t.Errorf("v1 generation_config.json = %s", b)
	}
	if ref, _ := os.ReadFile(filepath.Join(c.RepoDir(repo), "refs", "v1")); string(ref) != old {
		t.Errorf("refs/v1 = %q", ref)
	}
	// By commit id: no ref written, same snapshot.
	p2, dir2 := pull(t, c, old)
	if p2.Commit != old || dir2 != dir {
		t.Errorf("by commit: %s %s", p2.Commit, dir2)
	}
	if _, err := c.Plan(context.Background(), repo, "nope", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown revision: %v", err)
	}
	if _, err := c.Plan(context.Background(), repo, "../../etc", ""); err == nil {
		t.Error("a revision escaping refs/ was accepted")
	}
}

// A cache laid out by huggingface_hub is used as is: nothing is downloaded.
func TestSharedCache(t *testing.T) {
	srv, c, files := setup(t)
	p, err := c.Plan(context.Background(), repo, "main", "")
	if err != nil {
		t.Fatal(err)
	}
	// Lay the files out as Python would.
	for name, data := range files {
		etag := ""
		for _, f := range p.Files {
			if f.Name == name {
				etag = f.ETag
			}
		}
		if etag == "" {
			continue
		}
		blob := filepath.Join(c.RepoDir(repo), "blobs", etag)
		os.MkdirAll(filepath.Dir(blob), 0o755)
		os.WriteFile(blob, data, 0o644)
		link := filepath.Join(c.SnapshotDir(repo, p.Commit), name)
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink(filepath.Join("..", "..", "blobs", etag), link); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(c.RepoDir(repo), "refs"), 0o755)
	os.WriteFile(filepath.Join(c.RepoDir(repo), "refs", "main"), []byte(p.Commit), 0o644)

	p, dir := pull(t, c, "main")
	if n, _ := p.Missing(); n != 0 {
		t.Errorf("%d files missing", n)
	}
	checkSnapshot(t, p, dir, files)
	if n := srv.Downloads(); n != 0 {
		t.Errorf("%d downloads from a full cache", n)
	}
}

func TestConcurrentPulls(t *testing.T) {
	srv, c, files := setup(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c2 := *c
			p, err := c2.Plan(context.Background(), repo, "main", "")
			if err == nil {
				var dir string
				if dir, err = c2.Fetch(context.Background(), p, nil); err == nil {
					checkSnapshot(t, p, dir, files)
				}
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := srv.Downloads(); n != 3 {
		t.Errorf("%d downloads for 3 files", n)
	}
}

func TestOffline(t *testing.T) {
	srv, c, files := setup(t)
	pull(t, c, "main")
	srv.Hub.Close()
	off := *c
	off.Offline = true
	p, err := off.Plan(context.Background(), repo, "main", "")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := off.Fetch(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, p, dir, files)
	if _, err := off.Plan(context.Background(), "cellm-test/other", "main", ""); !errors.Is(err, ErrOffline) ||
		!strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Errorf("uncached model offline: %v", err)
	}
	// Online, an unreachable hub falls back to the cached snapshot...
	if p, err := c.Plan(context.Background(), repo, "main", ""); err != nil || !p.Offline {
		t.Errorf("unreachable hub, cached model: %+v, %v", p, err)
	}
	// ...and without one, the error names the URL and the way out.
	_, err = c.Plan(context.Background(), "cellm-test/other", "main", "")
	if !errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), srv.Hub.URL+"/api/models/cellm-test/other") ||
		!strings.Contains(err.Error(), "HF_HUB_OFFLINE=1") {
		t.Errorf("unreachable hub: %v", err)
	}
}

// A half-written blob left in the cache is never part of an offline snapshot.
func TestOfflineIgnoresIncomplete(t *testing.T) {
	_, c, files := setup(t)
	p, _ := pull(t, c, "main")
	var weights File
	for _, f := range p.Files {
		if f.Name == "model.safetensors" {
			weights = f
		}
	}
	blob := c.blobPath(repo, weights.ETag)
	os.Rename(blob, blob+".incomplete")
	os.Truncate(blob+".incomplete", 100)
	off := *c
	off.Offline = true
	if _, err := off.Plan(context.Background(), repo, "main", ""); !errors.Is(err, ErrOffline) {
		t.Errorf("offline plan over a half-written blob: %v", err)
	}
	_ = files
}

func TestHead(t *testing.T) {
	_, c, files := setup(t)
	p, _ := pull(t, c, "main")
	for _, f := range p.Files {
		fi, err := c.FileInfo(context.Background(), repo, "main", f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Commit != p.Commit || fi.ETag != f.ETag || fi.Size != int64(len(files[f.Name])) {
			t.Errorf("%s: HEAD says %+v, listing %+v", f.Name, fi, f)
		}
	}
}

// A listing without blob data (no ?blobs=true support) is completed by HEAD requests.
func TestListingWithoutBlobs(t *testing.T) {
	srv, c, files := setup(t)
	srv.ListWithoutBlobs()
	p, dir := pull(t, c, "main")
	checkSnapshot(t, p, dir, files)
	heads := 0
	for _, r := range srv.Requests() {
		if r.Method == "HEAD" {
			heads++
		}
	}
	if heads != len(p.Files) {
		t.Errorf("%d HEAD requests for %d files", heads, len(p.Files))
	}
}

// A sharded safetensors checkpoint: the index is read, every shard fetched.
func TestShardedCheckpoint(t *testing.T) {
	set, err := safetensors.Open(testutil.Fixture(t, "llama-tiny", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	files := fakehub.ReadDir(t, testutil.Fixture(t, "llama-tiny"))
	delete(files, "model.safetensors")
	half := len(set.Tensors) / 2
	weightMap := map[string]string{}
	for i, part := range [][]source.Tensor{set.Tensors[:half], set.Tensors[half:]} {
		name := fmt.Sprintf("model-%05d-of-00002.safetensors", i+1)
		var buf bytes.Buffer
		if err := safetensors.Write(&buf, part, nil); err != nil {
			t.Fatal(err)
		}
		files[name] = buf.Bytes()
		for _, tn := range part {
			weightMap[tn.Name] = name
		}
	}
	files[safetensors.IndexFile], _ = json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	srv := fakehub.New(t)
	srv.Add(repo, "refs/pr/1", files)
	c := &Client{Endpoint: srv.Hub.URL, CacheDir: t.TempDir()}
	p, dir := pull(t, c, "refs/pr/1")
	var names []string
	for _, f := range p.Files {
		names = append(names, f.Name)
	}
	want := []string{"config.json", "generation_config.json", safetensors.IndexFile,
		"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
	if !slices.Equal(names, want) {
		t.Errorf("planned %v, want %v", names, want)
	}
	checkSnapshot(t, p, dir, files)
	if ref, _ := os.ReadFile(filepath.Join(c.RepoDir(repo), "refs", "refs", "pr", "1")); string(ref) != p.Commit {
		t.Errorf("refs/refs/pr/1 = %q", ref)
	}
	got, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if len(got.Tensors) != len(set.Tensors) {
		t.Errorf("%d tensors from the shards, want %d", len(got.Tensors), len(set.Tensors))
	}
}

func TestFromEnv(t *testing.T) {
	home := t.TempDir()
	for k, v := range map[string]string{"HF_ENDPOINT": "http://hub.test/", "HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": "",
		"HF_TOKEN_PATH": "", "HF_HOME": home, "HF_HUB_CACHE": "", "HF_HUB_OFFLINE": "1"} {
		t.Setenv(k, v)
	}
	os.WriteFile(filepath.Join(home, "token"), []byte("hf_file\n"), 0o600)
	c := FromEnv()
	if c.Endpoint != "http://hub.test" || c.Token != "hf_file" || c.CacheDir != filepath.Join(home, "hub") || !c.Offline {
		t.Errorf("client %+v", c)
	}
	t.Setenv("HF_TOKEN", "hf_env")
	t.Setenv("HF_HUB_CACHE", "/cache")
	t.Setenv("HF_HUB_OFFLINE", "0")
	if c := FromEnv(); c.Token != "hf_env" || c.CacheDir != "/cache" || c.Offline {
		t.Errorf("client %+v", c)
	}
}

// A transfer that stops sending is abandoned after StallTimeout and resumed.
func TestResumeAfterStall(t *testing.T) {
	srv, c, files := setup(t)
	c.StallTimeout = 300 * time.Millisecond
	srv.StallNext("model.safetensors", 1<<20)
	p, dir := pull(t, c, "main")
	checkSnapshot(t, p, dir, files)
	found := false
	for _, r := range srv.Requests() {
		found = found || r.Range == "bytes=1048576-"
	}
	if !found {
		t.Errorf("no resumed request after the stall")
	}
}
