package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// RepoInfo is a revision's listing from the model info API.
type RepoInfo struct {
	ID       string    `json:"id"`
	SHA      string    `json:"sha"`
	Siblings []Sibling `json:"siblings"`
}

// Sibling is one file of a revision.
type Sibling struct {
	RFilename string   `json:"rfilename"`
	Size      int64    `json:"size"`
	BlobID    string   `json:"blobId"`
	LFS       *LFSInfo `json:"lfs,omitempty"`
}

// LFSInfo describes a file stored in Git LFS.
type LFSInfo struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// FileInfo is what a HEAD request on a file tells.
type FileInfo struct {
	Commit string // X-Repo-Commit
	ETag   string // X-Linked-Etag (LFS sha256), else ETag (git blob id), unquoted
	Size   int64  // X-Linked-Size, else Content-Length
}

// maxInfoBytes caps the model info response.
const maxInfoBytes = 32 << 20

// infoURL is the model info API address of a revision.
func (c *Client) infoURL(repo, rev string) string {
	return c.Endpoint + "/api/models/" + repo + "/revision/" + url.PathEscape(rev) + "?blobs=true"
}

// ResolveURL is the download address of a file at a revision.
func (c *Client) ResolveURL(repo, rev, file string) string {
	parts := strings.Split(file, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return c.Endpoint + "/" + repo + "/resolve/" + url.PathEscape(rev) + "/" + strings.Join(parts, "/")
}

// newRequest builds a request carrying the token and user agent.
func (c *Client) newRequest(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	ua := c.UserAgent
	if ua == "" {
		ua = "cellm-go"
	}
	req.Header.Set("User-Agent", ua)
	return req, nil
}

// do sends req, turning transport failures into ErrNetwork errors that say
// what to do.
func (c *Client) do(hc *http.Client, req *http.Request) (*http.Response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, ctxErr)
		}
		return nil, fmt.Errorf("%w: %s %s: %v; check the network connection and HF_ENDPOINT, "+
			"or set HF_HUB_OFFLINE=1 to use only the cache in %s", ErrNetwork, req.Method, req.URL, err, c.CacheDir)
	}
	return resp, nil
}

// statusError explains a failed response, with sentinels for access and not found.
func (c *Client) statusError(req *http.Request, resp *http.Response, repo string) error {
	code, msg := resp.Header.Get("X-Error-Code"), resp.Header.Get("X-Error-Message")
	detail := ""
	if code != "" || msg != "" {
		detail = " (" + strings.TrimSpace(code+" "+msg) + ")"
	}
	where := fmt.Sprintf("%s %s: HTTP %d%s", req.Method, req.URL, resp.StatusCode, detail)
	page := c.Endpoint + "/" + repo
	switch {
	case resp.StatusCode == http.StatusUnauthorized && c.Token == "":
		return fmt.Errorf("%w: %s: %s is gated, private or does not exist: if it exists, request access at %s "+
			"and set HF_TOKEN to a token of an account that has it", ErrAccess, where, repo, page)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s: the token in HF_TOKEN has no access to %s: request access at %s "+
			"(gated models need the license accepted) or use another token", ErrAccess, where, repo, page)
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %s: check the model name and revision", ErrNotFound, where)
	}
	return fmt.Errorf("%s", where)
}

// retryable reports whether a failed response may succeed if asked again.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// ModelInfo lists a revision of repo (a branch, tag or commit).
func (c *Client) ModelInfo(ctx context.Context, repo, rev string) (*RepoInfo, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	if err := CheckRevision(rev); err != nil {
		return nil, err
	}
	if c.Offline {
		return nil, fmt.Errorf("%w: listing %s@%s needs the network (HF_HUB_OFFLINE is set)", ErrOffline, repo, rev)
	}
	req, err := c.newRequest(ctx, http.MethodGet, c.infoURL(repo, rev))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(c.httpClient(), req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.statusError(req, resp, repo)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxInfoBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: reading the response: %v", ErrNetwork, req.URL, err)
	}
	if len(body) > maxInfoBytes {
		return nil, fmt.Errorf("GET %s: response larger than %d bytes", req.URL, maxInfoBytes)
	}
	info, err := ParseInfo(body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", req.URL, err)
	}
	return info, nil
}

// ParseInfo decodes and checks a model info response: the commit must be a
// 40-digit hex id, file names clean relative paths, sizes non-negative.
func ParseInfo(body []byte) (*RepoInfo, error) {
	var info RepoInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("not a model listing: %w", err)
	}
	if !commitID.MatchString(info.SHA) {
		return nil, fmt.Errorf("commit %q is not a 40-digit hex id", info.SHA)
	}
	seen := make(map[string]bool, len(info.Siblings))
	for _, s := range info.Siblings {
		if err := checkFileName(s.RFilename); err != nil {
			return nil, err
		}
		if seen[s.RFilename] {
			return nil, fmt.Errorf("file %q listed twice", s.RFilename)
		}
		seen[s.RFilename] = true
		if s.Size < 0 || s.LFS != nil && s.LFS.Size < 0 {
			return nil, fmt.Errorf("file %q: negative size", s.RFilename)
		}
	}
	return &info, nil
}

// FileInfo asks for a file's commit, ETag and size with a HEAD request,
// following redirects on the hub itself but not to the CDN, whose headers
// describe the CDN's copy.
func (c *Client) FileInfo(ctx context.Context, repo, rev, file string) (*FileInfo, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	if c.Offline {
		return nil, fmt.Errorf("%w: HEAD %s needs the network", ErrOffline, c.ResolveURL(repo, rev, file))
	}
	req, err := c.newRequest(ctx, http.MethodHead, c.ResolveURL(repo, rev, file))
	if err != nil {
		return nil, err
	}
	hc := c.httpClient()
	hc.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 || r.URL.Host != via[0].URL.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := c.do(hc, req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return nil, c.statusError(req, resp, repo)
	}
	fi := &FileInfo{Commit: resp.Header.Get("X-Repo-Commit")}
	fi.ETag = unquoteETag(resp.Header.Get("X-Linked-Etag"))
	if fi.ETag == "" {
		fi.ETag = unquoteETag(resp.Header.Get("ETag"))
	}
	size := resp.Header.Get("X-Linked-Size")
	if size == "" {
		size = resp.Header.Get("Content-Length")
	}
	if fi.Size, err = strconv.ParseInt(size, 10, 64); err != nil || fi.Size < 0 {
		return nil, fmt.Errorf("HEAD %s: no valid X-Linked-Size or Content-Length (%q)", req.URL, size)
	}
	if !hexID.MatchString(fi.ETag) {
		return nil, fmt.Errorf("HEAD %s: ETag %q is neither a sha256 nor a git blob id", req.URL, fi.ETag)
	}
	if fi.Commit != "" && !commitID.MatchString(fi.Commit) {
		return nil, fmt.Errorf("HEAD %s: X-Repo-Commit %q is not a 40-digit hex id", req.URL, fi.Commit)
	}
	return fi, nil
}

// unquoteETag strips a weak marker and quotes: W/"abc" -> abc.
func unquoteETag(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	return strings.Trim(s, `"`)
}

var (
	errShortBody = errors.New("connection closed before the end of the file")
	errStalled   = errors.New("no data received for a while")
)
