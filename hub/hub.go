// Package hub downloads models from the Hugging Face hub into the hub's own
// cache layout, so that files are shared with Python tools (transformers,
// huggingface_hub) that downloaded them already, and the reverse.
//
// The HTTP API it speaks (the one huggingface_hub uses):
//
//   - GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true lists a
//     revision: "sha" (the commit) and "siblings", each with "rfilename",
//     "size", "blobId" (the git blob id) and, for files stored in LFS,
//     "lfs": {"sha256", "size"}.
//   - HEAD/GET {endpoint}/{repo}/resolve/{revision}/{file} serves a file. The
//     response carries X-Repo-Commit (the commit the revision resolved to) and
//     the file's ETag: the git blob id for small files, or, for LFS files,
//     X-Linked-Etag (the sha256) and X-Linked-Size on a 302 redirect to a CDN.
//     GET honours Range requests (206 Partial Content), which resumes
//     interrupted downloads.
//   - Gated and private repositories answer 401 without a token and 403 with
//     a token lacking access, with X-Error-Code / X-Error-Message headers;
//     HF_TOKEN is sent as "Authorization: Bearer" to the endpoint only (never
//     to the CDN a redirect leads to).
//
// The cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub):
//
//	models--{org}--{name}/blobs/{etag}             file contents, named by LFS sha256 or git blob id
//	models--{org}--{name}/blobs/{etag}.incomplete  a download in progress (resumed, never used)
//	models--{org}--{name}/snapshots/{commit}/{file} relative symlinks to the blobs
//	models--{org}--{name}/refs/{revision}          the commit the revision last resolved to
//	.locks/models--{org}--{name}/{etag}.lock       the flock held while a blob is written
//
// Every blob is checked against its size and its sha256 (LFS) or git blob id
// before it is renamed into place, so a half-written or corrupted file is
// never used.
package hub

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultEndpoint is the hub's address unless HF_ENDPOINT says otherwise.
const DefaultEndpoint = "https://huggingface.co"

// Sentinel errors, for errors.Is.
var (
	// ErrAccess: the hub refused access (HTTP 401/403): a gated or private
	// repository, or a token without access to it.
	ErrAccess = errors.New("access refused")
	// ErrNotFound: no such repository, revision or file (HTTP 404).
	ErrNotFound = errors.New("not found on the hub")
	// ErrChecksum: a download's size or hash differs from what the hub announced.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrOffline: offline mode, and the cache lacks what was asked for.
	ErrOffline = errors.New("not in the cache (offline mode)")
	// ErrNetwork: the hub could not be reached.
	ErrNetwork = errors.New("network error")
	// ErrNoCheckpoint: the repository has no weights cellm can convert.
	ErrNoCheckpoint = errors.New("no checkpoint cellm can read")
)

// Client talks to a hub and keeps its cache. The zero value is not usable:
// start from FromEnv or fill Endpoint and CacheDir.
type Client struct {
	// Endpoint is the hub's base URL, without a trailing slash.
	Endpoint string
	// Token, if set, is sent as a bearer token (gated and private repositories).
	Token string
	// CacheDir is the hub cache folder (holding models--org--name folders).
	CacheDir string
	// Offline uses the cache only and never touches the network.
	Offline bool
	// HTTP is the client used for requests (default: one with connection and
	// response-header timeouts but no overall limit, for large files).
	HTTP *http.Client
	// Parallel bounds simultaneous file downloads (default 3).
	Parallel int
	// Retries is how many times an interrupted download is resumed (default 4).
	Retries int
	// StallTimeout abandons (and resumes) a transfer that receives nothing
	// for this long (default 60s).
	StallTimeout time.Duration
	// UserAgent is sent with every request.
	UserAgent string
}

// FromEnv returns a client configured like huggingface_hub: HF_ENDPOINT,
// HF_TOKEN (else the token file "hf auth login" writes: $HF_TOKEN_PATH, else
// $HF_HOME/token, else ~/.cache/huggingface/token), HF_HUB_CACHE / HF_HOME
// and HF_HUB_OFFLINE.
func FromEnv() *Client {
	c := &Client{Endpoint: DefaultEndpoint, CacheDir: DefaultCacheDir()}
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		c.Endpoint = strings.TrimRight(e, "/")
	}
	c.Token = os.Getenv("HF_TOKEN")
	if c.Token == "" {
		c.Token = os.Getenv("HUGGING_FACE_HUB_TOKEN")
	}
	if c.Token == "" {
		if b, err := os.ReadFile(tokenPath()); err == nil {
			c.Token = strings.TrimSpace(string(b))
		}
	}
	c.Offline = envTrue(os.Getenv("HF_HUB_OFFLINE"))
	return c
}

// DefaultCacheDir is $HF_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
func DefaultCacheDir() string {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "huggingface", "hub")
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// tokenPath is where huggingface_hub keeps the token of "hf auth login".
func tokenPath() string {
	if p := os.Getenv("HF_TOKEN_PATH"); p != "" {
		return p
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "token")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "token")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "huggingface", "token")
}

func envTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// httpClient returns the HTTP client, which drops the token when a redirect
// leaves the endpoint's host (the hub sends LFS files to a CDN).
func (c *Client) httpClient() *http.Client {
	base := c.HTTP
	if base == nil {
		base = defaultHTTP
	}
	hc := *base
	next := base.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != via[0].URL.Host {
			req.Header.Del("Authorization")
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &hc
}

var defaultHTTP = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   30 * time.Second,
	ResponseHeaderTimeout: 60 * time.Second,
	IdleConnTimeout:       90 * time.Second,
	ForceAttemptHTTP2:     true,
}}

func (c *Client) parallel() int {
	if c.Parallel > 0 {
		return c.Parallel
	}
	return 3
}

func (c *Client) stallTimeout() time.Duration {
	if c.StallTimeout > 0 {
		return c.StallTimeout
	}
	return 60 * time.Second
}

func (c *Client) retries() int {
	if c.Retries > 0 {
		return c.Retries
	}
	return 4
}

var (
	repoPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)
	hexID    = regexp.MustCompile(`^[0-9a-f]{40}$|^[0-9a-f]{64}$`)
	commitID = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ValidRepo reports whether repo is a hub model name "org/name".
func ValidRepo(repo string) bool {
	org, name, ok := strings.Cut(repo, "/")
	return ok && repoPart.MatchString(org) && repoPart.MatchString(name) &&
		!strings.Contains(repo, "..") && !strings.HasSuffix(name, ".git")
}

// checkRepo returns an error naming repo unless it is "org/name".
func checkRepo(repo string) error {
	if !ValidRepo(repo) {
		return fmt.Errorf("%q is not a hub model name (want org/name)", repo)
	}
	return nil
}

// CheckRevision returns an error unless rev is a usable revision (branch, tag
// or commit): non-empty, at most 256 bytes, relative, no backslash, NUL or
// line break, and no empty, "." or ".." path element, so it cannot escape the
// cache's refs folder or the model store.
func CheckRevision(rev string) error {
	if rev == "" || len(rev) > 256 || strings.HasPrefix(rev, "/") || strings.ContainsAny(rev, "\\\x00\n\r") {
		return fmt.Errorf("revision %q is not valid", rev)
	}
	for _, part := range strings.Split(rev, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("revision %q is not valid", rev)
		}
	}
	return nil
}

// checkFileName rejects repository file names that are not clean relative
// paths: the hub's listing is untrusted input and names become cache paths.
func checkFileName(name string) error {
	if name == "" || len(name) > 1024 || strings.ContainsAny(name, "\\\x00") || strings.HasPrefix(name, "/") {
		return fmt.Errorf("file name %q is not valid", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("file name %q is not valid", name)
		}
	}
	return nil
}
