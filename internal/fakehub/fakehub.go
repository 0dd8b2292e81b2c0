// Package fakehub is an in-process Hugging Face hub for tests: it serves
// repositories (folders of files) through the hub's API paths and headers,
// with LFS files redirected to a separate CDN server, Range requests, gated
// repositories and injected faults (a cut connection, a corrupted body).
package fakehub

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one request a server received.
type Request struct {
	Server string // "hub" or "cdn"
	Method string
	Path   string // unescaped path
	Range  string
	Auth   string // the Authorization header
}

// Server is a fake hub and its CDN.
type Server struct {
	// Hub is the hub; its URL is what HF_ENDPOINT would be.
	Hub *httptest.Server
	// CDN serves LFS files the hub redirects to.
	CDN *httptest.Server

	mu       sync.Mutex
	repos    map[string]*repo
	requests []Request
	cuts     map[string]int64 // file name -> bytes served before the next GET is cut
	stalls   map[string]int64 // file name -> bytes served before the next GET stalls
	corrupt  map[string]bool
	served   int
	noBlobs  bool
}

type repo struct {
	token   string // non-empty: gated, files need this bearer token
	refs    map[string]string
	commits map[string]map[string]*file
}

type file struct {
	data   []byte
	blobID string // git blob sha1
	sha256 string // set for LFS files
}

// New starts a hub and a CDN, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{repos: map[string]*repo{}, cuts: map[string]int64{}, stalls: map[string]int64{}, corrupt: map[string]bool{}}
	s.Hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.CDN = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	t.Cleanup(func() {
		s.Hub.Close()
		s.CDN.Close()
	})
	return s
}

// ReadDir reads every file under dir, keyed by slash-separated relative path.
func ReadDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// isLFS says which files the fake stores in LFS: weights and anything large.
func isLFS(name string, size int) bool {
	for _, ext := range []string{".safetensors", ".bin", ".msgpack", ".onnx", ".onnx_data", ".pt", ".pth"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return size > 10<<20
}

// Add publishes files as a new commit of repo and points rev at it; it
// returns the commit id.
func (s *Server) Add(repoName, rev string, files map[string][]byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoName]
	if r == nil {
		r = &repo{refs: map[string]string{}, commits: map[string]map[string]*file{}}
		s.repos[repoName] = r
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	ch := sha1.New()
	fmt.Fprintf(ch, "%s\x00%d\x00", repoName, len(r.commits))
	fs := map[string]*file{}
	for _, n := range names {
		data := files[n]
		g := sha1.New()
		fmt.Fprintf(g, "blob %d\x00", len(data))
		g.Write(data)
		f := &file{data: data, blobID: hex.EncodeToString(g.Sum(nil))}
		if isLFS(n, len(data)) {
			sum := sha256.Sum256(data)
			f.sha256 = hex.EncodeToString(sum[:])
		}
		fs[n] = f
		fmt.Fprintf(ch, "%s %s\n", n, f.blobID)
	}
	commit := hex.EncodeToString(ch.Sum(nil))
	r.commits[commit] = fs
	r.refs[rev] = commit
	return commit
}

// Gate makes repo gated: its files need "Authorization: Bearer token".
func (s *Server) Gate(repoName, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[repoName].token = token
}

// CutNext makes the next GET of file end after n bytes, the connection
// closed mid-body.
func (s *Server) CutNext(name string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cuts[name] = n
}

// StallNext makes the next GET of file stop sending after n bytes and hold
// the connection open until the client gives up.
func (s *Server) StallNext(name string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalls[name] = n
}

// Corrupt makes every GET of file serve it with its first byte changed.
func (s *Server) Corrupt(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt[name] = true
}

// ListWithoutBlobs makes the listing omit sizes and blob ids, as the hub does
// without ?blobs=true: clients must HEAD each file.
func (s *Server) ListWithoutBlobs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noBlobs = true
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Downloads counts the GET requests that served file content.
func (s *Server) Downloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

func (s *Server) log(server string, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Server: server, Method: r.Method, Path: r.URL.Path,
		Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization")})
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	http.Error(w, msg, status)
}

// lookup finds a repo's commit for a revision (a ref or a commit id).
func (s *Server) lookup(w http.ResponseWriter, repoName, rev string) (*repo, string, map[string]*file) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoName]
	if r == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository Not Found for url")
		return nil, "", nil
	}
	commit := rev
	if c, ok := r.refs[rev]; ok {
		commit = c
	}
	files := r.commits[commit]
	if files == nil {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return nil, "", nil
	}
	return r, commit, files
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	s.log("hub", r)
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, seg := range segs {
		segs[i], _ = url.PathUnescape(seg)
	}
	switch {
	case len(segs) == 6 && segs[0] == "api" && segs[1] == "models" && segs[4] == "revision" && r.Method == http.MethodGet:
		s.serveInfo(w, segs[2]+"/"+segs[3], segs[5])
	case len(segs) >= 5 && segs[2] == "resolve" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.serveResolve(w, r, segs[0]+"/"+segs[1], segs[3], strings.Join(segs[4:], "/"))
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) serveInfo(w http.ResponseWriter, repoName, rev string) {
	_, commit, files := s.lookup(w, repoName, rev)
	if files == nil {
		return
	}
	type lfs struct {
		SHA256      string `json:"sha256"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	}
	type sibling struct {
		RFilename string `json:"rfilename"`
		Size      int    `json:"size,omitempty"`
		BlobID    string `json:"blobId,omitempty"`
		LFS       *lfs   `json:"lfs,omitempty"`
	}
	s.mu.Lock()
	noBlobs := s.noBlobs
	s.mu.Unlock()
	var sibs []sibling
	for name, f := range files {
		sib := sibling{RFilename: name, Size: len(f.data), BlobID: f.blobID}
		if noBlobs {
			sib = sibling{RFilename: name}
		} else if f.sha256 != "" {
			sib.LFS = &lfs{SHA256: f.sha256, Size: len(f.data), PointerSize: 134}
		}
		sibs = append(sibs, sib)
	}
	sort.Slice(sibs, func(i, j int) bool { return sibs[i].RFilename < sibs[j].RFilename })
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": repoName, "modelId": repoName, "sha": commit, "siblings": sibs})
}

func (s *Server) serveResolve(w http.ResponseWriter, r *http.Request, repoName, rev, name string) {
	rp, commit, files := s.lookup(w, repoName, rev)
	if files == nil {
		return
	}
	if rp.token != "" {
		switch r.Header.Get("Authorization") {
		case "Bearer " + rp.token:
		case "":
			hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+repoName+" is restricted. You must have access to it and be authenticated to access it.")
			return
		default:
			hubError(w, http.StatusForbidden, "GatedRepo", "Access to model "+repoName+" is restricted and you are not in the authorized list.")
			return
		}
	}
	f := files[name]
	if f == nil {
		hubError(w, http.StatusNotFound, "EntryNotFound", name+" does not exist on \""+rev+"\"")
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if f.sha256 != "" {
		w.Header().Set("X-Linked-Etag", `"`+f.sha256+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.data)))
		w.Header().Set("ETag", `"`+f.blobID+`"`)
		http.Redirect(w, r, s.CDN.URL+"/"+f.sha256+"/"+url.PathEscape(name), http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+f.blobID+`"`)
	s.serveContent(w, r, name, f.data)
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	s.log("cdn", r)
	sha, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	s.mu.Lock()
	var data []byte
	for _, rp := range s.repos {
		for _, files := range rp.commits {
			for _, f := range files {
				if f.sha256 == sha {
					data = f.data
				}
			}
		}
	}
	s.mu.Unlock()
	if data == nil {
		http.NotFound(w, r)
		return
	}
	s.serveContent(w, r, name, data)
}

// serveContent serves data with Range support, applying injected faults.
func (s *Server) serveContent(w http.ResponseWriter, r *http.Request, name string, data []byte) {
	s.mu.Lock()
	if r.Method == http.MethodGet {
		s.served++
	}
	cut, isCut := s.cuts[name]
	stall, isStall := s.stalls[name]
	if r.Method == http.MethodGet {
		delete(s.cuts, name)
		delete(s.stalls, name)
	}
	if s.corrupt[name] && len(data) > 0 {
		data = append([]byte(nil), data...)
		data[0] ^= 0xff
	}
	s.mu.Unlock()
	if r.Method == http.MethodGet {
		switch {
		case isCut:
			w = &cutWriter{ResponseWriter: w, left: cut}
		case isStall:
			w = &cutWriter{ResponseWriter: w, left: stall, wait: r.Context().Done()}
		}
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

// cutWriter writes left bytes of the body, then waits for wait to close (a
// stall; nil: no wait) and drops the connection.
type cutWriter struct {
	http.ResponseWriter
	left int64
	wait <-chan struct{}
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) >= c.left {
		c.ResponseWriter.Write(p[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		if c.wait != nil {
			<-c.wait
		}
		panic(http.ErrAbortHandler)
	}
	c.left -= int64(len(p))
	return c.ResponseWriter.Write(p)
}
