// Package store keeps converted models: the cellm model store under
// $CELLM_HOME (default: the user cache folder's cellm/), filled from the
// Hugging Face hub (package hub) and convert.
//
// Layout:
//
//	models/{org}--{name}/{revision}/{variant}.cellm   the model
//	models/{org}--{name}/{revision}/{variant}.json    its manifest, written last
//	models/{org}--{name}/{revision}/{variant}.lock    held while it is made or removed
//
// where revision is path-escaped ("refs%2Fpr%2F1") and variant names the
// storage type as convert's --dtype does: f16, bf16, f32, int8 (every matrix
// per-row int8, f16 elsewhere) or int8-proj (only the attention and MLP
// projections int8). An entry exists when its manifest does; both files are
// written through temporary files and renamed, and made under the entry's
// lock, so concurrent pulls never see or leave half a model.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/hub"
	"github.com/cellm-ai/cellm-go/internal/filelock"
)

// DefaultRevision is the revision pulled when none is named.
const DefaultRevision = "main"

// DefaultVariant is the variant pulled when none is named.
const DefaultVariant = "f16"

// ErrNotInStore: the store has no such model.
var ErrNotInStore = errors.New("not in the model store")

// Store is a model store folder and the hub it pulls from.
type Store struct {
	// Dir is the store's folder.
	Dir string
	// Hub downloads checkpoints (into the Hugging Face cache).
	Hub *hub.Client
	// Log receives one-line notes (pulling, converting); nil discards them.
	Log io.Writer
	// DownloadProgress, if set, is told of file downloads; it is given the
	// plan before the download starts.
	DownloadProgress func(p *hub.Plan) hub.Progress
	// ConvertProgress, if set, is called as the converted file is written.
	ConvertProgress func(done, total int64)
	// Verify, if set, checks the converted file before it is stored (the
	// CLI opens it with the runtime); an error stores nothing.
	Verify func(path string) error
}

// Default returns the store in $CELLM_HOME, else in the user cache folder's
// cellm/, pulling through a hub client configured from the environment.
func Default() (*Store, error) {
	dir := os.Getenv("CELLM_HOME")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("no model store folder: set CELLM_HOME (%w)", err)
		}
		dir = filepath.Join(cache, "cellm")
	}
	return &Store{Dir: dir, Hub: hub.FromEnv()}, nil
}

// Ref names a model of the store: org/name[@revision][:variant].
type Ref struct {
	Repo     string
	Revision string // "" means any (lookups) or DefaultRevision (pulls)
	Variant  string // "" means any (lookups) or DefaultVariant (pulls)
}

// String formats the reference as ParseRef reads it.
func (r Ref) String() string {
	s := r.Repo
	if r.Revision != "" {
		s += "@" + r.Revision
	}
	if r.Variant != "" {
		s += ":" + r.Variant
	}
	return s
}

// Variants are the storage variants a model can be converted to, named as
// convert's --dtype values.
var Variants = []string{"f16", "bf16", "f32", "int8", "int8-proj"}

// ParseRef reads org/name[@revision][:variant].
func ParseRef(s string) (Ref, error) {
	var r Ref
	rest := s
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		rest, r.Variant = rest[:i], rest[i+1:]
		if err := CheckVariant(r.Variant); err != nil {
			return Ref{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	if i := strings.Index(rest, "@"); i >= 0 {
		rest, r.Revision = rest[:i], rest[i+1:]
		if err := hub.CheckRevision(r.Revision); err != nil {
			return Ref{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	if !hub.ValidRepo(rest) {
		return Ref{}, fmt.Errorf("%q is not a hub model name (want org/name[@revision][:variant])", s)
	}
	r.Repo = rest
	return r, nil
}

// CheckVariant returns an error unless v is one of Variants.
func CheckVariant(v string) error {
	for _, ok := range Variants {
		if v == ok {
			return nil
		}
	}
	return fmt.Errorf("variant %q: want one of %s", v, strings.Join(Variants, ", "))
}

// convertOptions is the conversion a variant names.
func convertOptions(variant string) convert.Options {
	switch variant {
	case "int8":
		return convert.Options{DType: format.F16, QuantizeInt8: true, QuantizeEmbeddings: true}
	case "int8-proj":
		return convert.Options{DType: format.F16, QuantizeInt8: true}
	}
	return convert.Options{DType: format.DType(variant)}
}

// Manifest describes a stored model.
type Manifest struct {
	Repo     string `json:"repo"`
	Revision string `json:"revision"`
	Commit   string `json:"commit"`
	Variant  string `json:"variant"`
	DType    string `json:"dtype"`
	// Quantization is "int8_symmetric_per_row" or "".
	Quantization string    `json:"quantization,omitempty"`
	Source       string    `json:"source"` // checkpoint kind converted
	Size         int64     `json:"size"`
	Created      time.Time `json:"created"`
}

// Entry is a stored model: its manifest and file.
type Entry struct {
	Manifest
	// Path is the .cellm file.
	Path string `json:"path"`
}

// Ref is the entry's full reference.
func (e *Entry) Ref() Ref { return Ref{Repo: e.Repo, Revision: e.Revision, Variant: e.Variant} }

func (s *Store) repoDir(repo string) string {
	return filepath.Join(s.Dir, "models", strings.ReplaceAll(repo, "/", "--"))
}

// entryBase is an entry's path without extension.
func (s *Store) entryBase(repo, rev, variant string) string {
	return filepath.Join(s.repoDir(repo), url.PathEscape(rev), variant)
}

// readEntry loads the entry whose manifest is at path, checking its file.
func readEntry(path string) (*Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	e := &Entry{Manifest: m, Path: strings.TrimSuffix(path, ".json") + ".cellm"}
	st, err := os.Stat(e.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Size() != m.Size {
		return nil, fmt.Errorf("%s: %d bytes, the manifest says %d", e.Path, st.Size(), m.Size)
	}
	return e, nil
}

// List returns the stored models, sorted by name, revision and variant.
// Entries whose manifest or file is damaged are skipped.
func (s *Store) List() ([]*Entry, error) {
	paths, err := filepath.Glob(filepath.Join(s.Dir, "models", "*", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Entry
	for _, p := range paths {
		if e, err := readEntry(p); err == nil {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Repo != b.Repo {
			return a.Repo < b.Repo
		}
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		return a.Variant < b.Variant
	})
	return out, nil
}

// Find returns the stored entries ref matches (an empty revision or variant
// matches any).
func (s *Store) Find(ref Ref) ([]*Entry, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var out []*Entry
	for _, e := range all {
		if e.Repo == ref.Repo && (ref.Revision == "" || e.Revision == ref.Revision) &&
			(ref.Variant == "" || e.Variant == ref.Variant) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Lookup returns the stored model ref names: with no revision the default
// one, with no variant the default variant if stored, else the newest.
func (s *Store) Lookup(ref Ref) (*Entry, error) {
	if ref.Revision == "" {
		ref.Revision = DefaultRevision
	}
	found, err := s.Find(ref)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: %w", ref, ErrNotInStore)
	}
	best := found[0]
	for _, e := range found {
		if e.Variant == DefaultVariant {
			return e, nil
		}
		if e.Created.After(best.Created) {
			best = e
		}
	}
	return best, nil
}

// Remove deletes the stored models ref matches and returns them. The
// Hugging Face cache is left alone: other tools may share it.
func (s *Store) Remove(ctx context.Context, ref Ref) ([]*Entry, error) {
	found, err := s.Find(ref)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: %w", ref, ErrNotInStore)
	}
	for _, e := range found {
		base := strings.TrimSuffix(e.Path, ".cellm")
		lock, err := filelock.Acquire(ctx, base+".lock")
		if err != nil {
			return nil, err
		}
		// The manifest goes first: the entry disappears at once.
		err = os.Remove(base + ".json")
		if err == nil {
			err = os.Remove(e.Path)
		}
		lock.Unlock()
		if err != nil {
			return nil, fmt.Errorf("removing %s: %w", ref, err)
		}
	}
	return found, nil
}
