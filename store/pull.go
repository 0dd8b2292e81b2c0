package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/hub"
	"github.com/cellm-ai/cellm-go/internal/atomicfile"
	"github.com/cellm-ai/cellm-go/internal/filelock"
	"github.com/cellm-ai/cellm-go/internal/progress"
)

// PullOptions choose what Pull makes.
type PullOptions struct {
	// Revision is the branch, tag or commit (default "main").
	Revision string
	// Variant is the storage variant (default "f16"; see Variants).
	Variant string
	// Source forces a checkpoint kind (safetensors, pytorch, flax, onnx);
	// "" or "auto" takes the first the repository has.
	Source string
	// Force converts again even when the stored model is up to date.
	Force bool
}

// Pull downloads repo's checkpoint into the Hugging Face cache (only the
// files missing there) and converts it into the store, unless the stored
// model already comes from the commit the revision resolves to.
func (s *Store) Pull(ctx context.Context, repo string, opt PullOptions) (*Entry, error) {
	return s.pull(ctx, Ref{Repo: repo, Revision: opt.Revision, Variant: opt.Variant}, opt, false)
}

func (s *Store) logf(format string, args ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, format+"\n", args...)
	}
}

// pull makes the entry of ref under its lock. ifMissing returns an existing
// entry without asking the hub.
func (s *Store) pull(ctx context.Context, ref Ref, opt PullOptions, ifMissing bool) (*Entry, error) {
	if !hub.ValidRepo(ref.Repo) {
		return nil, fmt.Errorf("%q is not a hub model name (want org/name)", ref.Repo)
	}
	if ref.Revision == "" {
		ref.Revision = DefaultRevision
	}
	if ref.Variant == "" {
		ref.Variant = DefaultVariant
	}
	if err := CheckVariant(ref.Variant); err != nil {
		return nil, err
	}
	if s.Hub == nil {
		return nil, fmt.Errorf("pulling %s: the store has no hub client", ref)
	}
	base := s.entryBase(ref.Repo, ref.Revision, ref.Variant)
	lock, err := filelock.Acquire(ctx, base+".lock")
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	old, _ := readEntry(base + ".json")
	if old != nil && ifMissing {
		return old, nil // made by a concurrent pull while we waited
	}
	plan, err := s.Hub.Plan(ctx, ref.Repo, ref.Revision, opt.Source)
	if err != nil {
		return nil, err
	}
	if plan.Offline && !s.Hub.Offline {
		s.logf("the hub is unreachable: using the cached snapshot of %s@%s (commit %s)", ref.Repo, ref.Revision, short(plan.Commit))
	}
	if old != nil && old.Commit == plan.Commit && !opt.Force {
		s.logf("%s is up to date (commit %s)", ref, short(plan.Commit))
		return old, nil
	}
	if n, size := plan.Missing(); n > 0 {
		s.logf("downloading %d of %d files (%s) of %s@%s (commit %s) into %s", n, len(plan.Files),
			progress.Bytes(size), ref.Repo, ref.Revision, short(plan.Commit), s.Hub.CacheDir)
	} else {
		s.logf("using %s@%s (commit %s) from %s", ref.Repo, ref.Revision, short(plan.Commit), s.Hub.CacheDir)
	}
	if err := s.checkConfig(ctx, plan); err != nil {
		return nil, err
	}
	var prog hub.Progress
	if s.DownloadProgress != nil {
		prog = s.DownloadProgress(plan)
	}
	dir, err := s.Hub.Fetch(ctx, plan, prog)
	if err != nil {
		return nil, err
	}

	s.logf("converting %s (%s) to %s", ref.Repo, plan.Source, ref.Variant)
	opts := convertOptions(ref.Variant)
	opts.Source, opts.Progress, opts.Verify = plan.Source, s.ConvertProgress, s.Verify
	tmp := base + ".tmp.cellm"
	sum, err := convert.ConvertContext(ctx, dir, tmp, opts)
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("converting %s@%s: %w", ref.Repo, ref.Revision, err)
	}
	m := Manifest{Repo: ref.Repo, Revision: ref.Revision, Commit: plan.Commit, Variant: ref.Variant,
		DType: string(opts.DType), Source: plan.Source, Size: sum.OutputBytes, Created: time.Now().UTC()}
	if opts.QuantizeInt8 {
		m.Quantization = "int8_symmetric_per_row"
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	// The old manifest goes first, so no reader pairs it with the new file.
	if err := os.Remove(base + ".json"); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if err := os.Rename(tmp, base+".cellm"); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(base+".json", append(b, '\n')); err != nil {
		return nil, fmt.Errorf("writing the manifest of %s: %w", ref, err)
	}
	return &Entry{Manifest: m, Path: base + ".cellm"}, nil
}

// Resolve turns what a --model flag holds into a .cellm path: an existing
// file is returned as is; a hub name org/name[@revision][:variant] is looked
// up in the store, and pulled and converted on first use (saying so on Log).
// Anything else is returned unchanged for the caller's open to report.
func (s *Store) Resolve(ctx context.Context, nameOrPath string) (string, error) {
	if _, err := os.Stat(nameOrPath); err == nil || strings.HasSuffix(nameOrPath, ".cellm") {
		return nameOrPath, nil
	}
	ref, err := ParseRef(nameOrPath)
	if err != nil {
		return nameOrPath, nil
	}
	if e, err := s.Lookup(ref); err == nil {
		return e.Path, nil
	}
	endpoint := "the Hugging Face cache"
	if s.Hub != nil && !s.Hub.Offline {
		endpoint = s.Hub.Endpoint
	}
	s.logf("%s is not a file nor in the model store %s: pulling it from %s", nameOrPath, s.Dir, endpoint)
	e, err := s.pull(ctx, ref, PullOptions{}, true)
	if err != nil {
		return "", fmt.Errorf("%s is not a file, and pulling it failed: %w", nameOrPath, err)
	}
	s.logf("stored %s as %s", e.Ref(), e.Path)
	return e.Path, nil
}

// checkConfig fetches config.json alone and refuses a model cellm does not
// run before its weights are downloaded.
func (s *Store) checkConfig(ctx context.Context, plan *hub.Plan) error {
	only := *plan
	only.Files = nil
	for _, f := range plan.Files {
		if f.Name == "config.json" {
			only.Files = append(only.Files, f)
		}
	}
	dir, err := s.Hub.Fetch(ctx, &only, nil)
	if err != nil {
		return err
	}
	if _, err := hf.ReadConfig(dir); err != nil {
		return fmt.Errorf("%s@%s: %w", plan.Repo, plan.Revision, err)
	}
	return nil
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
