package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/hub"
	"github.com/cellm-ai/cellm-go/internal/fakehub"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// syncBuffer is a log safe for concurrent pulls.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newStore serves fixture as repo's main branch and returns an empty store pulling from it.
func newStore(t *testing.T, repo, fixture string) (*fakehub.Server, *Store, *syncBuffer) {
	t.Helper()
	srv := fakehub.New(t)
	srv.Add(repo, "main", fakehub.ReadDir(t, testutil.Fixture(t, fixture)))
	log := &syncBuffer{}
	s := &Store{Dir: t.TempDir(), Hub: &hub.Client{Endpoint: srv.Hub.URL, CacheDir: t.TempDir()}, Log: log}
	return srv, s, log
}

func generate(t *testing.T, path string) string {
	t.Helper()
	m, err := cellm.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	res, err := m.Generate(context.Background(), cellm.Request{Prompt: "A class is", MaxNewTokens: 12}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Text
}

// A hub name resolves to a pulled and converted model that generates what
// converting the same folder locally generates.
func TestResolvePullsAndGenerates(t *testing.T) {
	const repo = "cellm-test/micro"
	srv, s, log := newStore(t, repo, "pretrained-micro")
	path, err := s.Resolve(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "pulling it from "+srv.Hub.URL) {
		t.Errorf("log: %s", log.String())
	}
	local := filepath.Join(t.TempDir(), "local.cellm")
	if _, err := convert.Convert(testutil.Fixture(t, "pretrained-micro"), local, convert.Options{}); err != nil {
		t.Fatal(err)
	}
	got, want := generate(t, path), generate(t, local)
	if got != want || got == "" {
		t.Errorf("pulled model generates %q, local conversion %q", got, want)
	}
	e, err := s.Lookup(Ref{Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	if e.Path != path || e.Variant != "f16" || e.Revision != "main" || e.Source != "safetensors" || len(e.Commit) != 40 {
		t.Errorf("entry %+v", e)
	}
	st, _ := os.Stat(path)
	if e.Size != st.Size() {
		t.Errorf("manifest size %d, file %d", e.Size, st.Size())
	}
	// Stored: resolving again needs no hub.
	srv.Hub.Close()
	if again, err := s.Resolve(context.Background(), repo); err != nil || again != path {
		t.Errorf("second resolve: %q, %v", again, err)
	}
}

func TestResolvePassesPathsThrough(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	file := filepath.Join(t.TempDir(), "m.cellm")
	os.WriteFile(file, nil, 0o644)
	for _, p := range []string{file, "missing.cellm", "dir/missing.cellm", "./x", "plain"} {
		if got, err := s.Resolve(context.Background(), p); err != nil || got != p {
			t.Errorf("Resolve(%q) = %q, %v", p, got, err)
		}
	}
}

func TestPullUpdatesAndVariants(t *testing.T) {
	const repo = "cellm-test/llama-tiny"
	srv, s, log := newStore(t, repo, "llama-tiny")
	ctx := context.Background()
	e1, err := s.Pull(ctx, repo, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e2, err := s.Pull(ctx, repo, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !e2.Created.Equal(e1.Created) || !strings.Contains(log.String(), "up to date") {
		t.Errorf("second pull converted again: %s", log.String())
	}
	// main moves on: the next pull converts the new commit.
	files := fakehub.ReadDir(t, testutil.Fixture(t, "llama-tiny"))
	files["generation_config.json"] = []byte(`{"eos_token_id": 2}`)
	commit := srv.Add(repo, "main", files)
	e3, err := s.Pull(ctx, repo, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e3.Commit != commit || e3.Commit == e1.Commit {
		t.Errorf("after an update: commit %s, want %s", e3.Commit, commit)
	}
	q, err := s.Pull(ctx, repo, PullOptions{Variant: "int8"})
	if err != nil {
		t.Fatal(err)
	}
	if q.Quantization != "int8_symmetric_per_row" || q.DType != "f16" || q.Size >= e3.Size {
		t.Errorf("int8 entry %+v (f16: %d bytes)", q.Manifest, e3.Size)
	}
	f, err := os.ReadFile(q.Path)
	if err != nil || !bytes.Contains(f[:4096], []byte("int8_symmetric_per_row")) {
		t.Errorf("%s is not an int8 model (%v)", q.Path, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v, %v", list, err)
	}
	if e, _ := s.Lookup(Ref{Repo: repo}); e.Variant != "f16" {
		t.Errorf("lookup without a variant gave %s", e.Variant)
	}
	if e, _ := s.Lookup(Ref{Repo: repo, Variant: "int8"}); e == nil || e.Variant != "int8" {
		t.Errorf("lookup of int8 gave %v", e)
	}
	gone, err := s.Remove(ctx, Ref{Repo: repo, Variant: "int8"})
	if err != nil || len(gone) != 1 {
		t.Fatalf("remove int8: %v, %v", gone, err)
	}
	if _, err := os.Stat(q.Path); !os.IsNotExist(err) {
		t.Errorf("%s still there", q.Path)
	}
	if gone, err := s.Remove(ctx, Ref{Repo: repo}); err != nil || len(gone) != 1 {
		t.Fatalf("remove: %v, %v", gone, err)
	}
	if _, err := s.Remove(ctx, Ref{Repo: repo}); !errors.Is(err, ErrNotInStore) {
		t.Errorf("removing twice: %v", err)
	}
	// The Hugging Face cache is kept.
	if _, err := os.Stat(s.Hub.SnapshotDir(repo, commit)); err != nil {
		t.Error(err)
	}
}

func TestConcurrentResolve(t *testing.T) {
	const repo = "cellm-test/llama-tiny"
	srv, s, log := newStore(t, repo, "llama-tiny")
	paths := make([]string, 4)
	var wg sync.WaitGroup
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if paths[i], err = s.Resolve(context.Background(), repo+"@main:bf16"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, p := range paths {
		if p != paths[0] {
			t.Errorf("paths %v", paths)
		}
	}
	if n := strings.Count(log.String(), "converting"); n != 1 {
		t.Errorf("%d conversions:\n%s", n, log.String())
	}
	if n := srv.Downloads(); n != 3 {
		t.Errorf("%d downloads for 3 files", n)
	}
	list, _ := s.List()
	if len(list) != 1 || list[0].DType != "bf16" {
		t.Errorf("list %+v", list)
	}
}

// Offline, a model already in the Hugging Face cache (from Python, or an
// earlier pull) converts without the network; one that is not fails clearly.
func TestOfflineFromHFCache(t *testing.T) {
	const repo = "cellm-test/llama-tiny"
	srv, s, _ := newStore(t, repo, "llama-tiny")
	if _, err := s.Pull(context.Background(), repo, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.Hub.Close()
	off := &Store{Dir: t.TempDir(), Hub: &hub.Client{Endpoint: srv.Hub.URL, CacheDir: s.Hub.CacheDir, Offline: true}}
	path, err := off.Resolve(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	_, err = off.Resolve(context.Background(), "cellm-test/absent")
	if !errors.Is(err, hub.ErrOffline) || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Errorf("absent model offline: %v", err)
	}
	// Online with the hub down: a cached snapshot is used, with a note...
	log := &syncBuffer{}
	down := &Store{Dir: t.TempDir(), Hub: s.Hub, Log: log}
	if _, err := down.Resolve(context.Background(), repo); err != nil || !strings.Contains(log.String(), "unreachable") {
		t.Errorf("hub down, model cached: %v; log %s", err, log.String())
	}
	// ...and a model not cached fails with an error naming the URL.
	_, err = s.Resolve(context.Background(), "cellm-test/absent")
	if !errors.Is(err, hub.ErrNetwork) || !strings.Contains(err.Error(), srv.Hub.URL) {
		t.Errorf("absent model, hub down: %v", err)
	}
}

func TestParseRef(t *testing.T) {
	good := map[string]Ref{
		"org/name":                 {Repo: "org/name"},
		"org/name@v1.0":            {Repo: "org/name", Revision: "v1.0"},
		"org/name:int8":            {Repo: "org/name", Variant: "int8"},
		"org/na.me@refs/pr/1:bf16": {Repo: "org/na.me", Revision: "refs/pr/1", Variant: "bf16"},
	}
	for s, want := range good {
		got, err := ParseRef(s)
		if err != nil || got != want {
			t.Errorf("ParseRef(%q) = %+v, %v", s, got, err)
		}
		if got.String() != s {
			t.Errorf("%+v formats as %q", got, got.String())
		}
	}
	for _, s := range []string{"name", "org/name:q4", "org/name@", "org/../x", "/abs/path", "a/b/c", "org/name@../x", "org/name@."} {
		if _, err := ParseRef(s); err == nil {
			t.Errorf("ParseRef(%q) accepted", s)
		}
	}
}

// A model cellm does not run is refused once its config.json is read,
// before the weights are downloaded.
func TestUnsupportedRefusedEarly(t *testing.T) {
	const repo = "cellm-test/gpt2"
	srv := fakehub.New(t)
	files := fakehub.ReadDir(t, testutil.Fixture(t, "llama-tiny"))
	files["config.json"] = []byte(`{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}`)
	srv.Add(repo, "main", files)
	s := &Store{Dir: t.TempDir(), Hub: &hub.Client{Endpoint: srv.Hub.URL, CacheDir: t.TempDir()}}
	_, err := s.Pull(context.Background(), repo, PullOptions{})
	if !errors.Is(err, hf.ErrUnsupported) || !strings.Contains(err.Error(), repo) {
		t.Errorf("got %v, want an unsupported-model error naming %s", err, repo)
	}
	if n := srv.Downloads(); n != 1 {
		t.Errorf("%d downloads, want config.json alone", n)
	}
}
