package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"

	"github.com/cellm-ai/cellm-go/hub"
	"github.com/cellm-ai/cellm-go/internal/progress"
	"github.com/cellm-ai/cellm-go/store"
)

func init() {
	register("pull", "download a model from the Hugging Face hub and convert it into the model store", false, runPull)
}

func runPull(args []string) error {
	fs := newFlags("pull", "ORG/NAME[@REVISION][:VARIANT] [--revision R] [--dtype f16|bf16|f32|int8|int8-proj] [--quantize int8|int8-proj] [flags]")
	rev := fs.String("revision", "", "branch, tag or commit to pull (default main)")
	dtype := fs.String("dtype", "", "the store's variant: "+strings.Join(store.Variants, ", ")+" (default f16; as convert's --dtype)")
	quantize := fs.String("quantize", "", "int8 or int8-proj: the same as --dtype")
	src := fs.String("source", "auto", "checkpoint kind to download: auto, "+strings.Join(hub.Sources, ", "))
	force := fs.Bool("force", false, "convert again even if the stored model is up to date")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	ref, err := store.ParseRef(pos[0])
	if err != nil {
		return err
	}
	if *rev != "" {
		if ref.Revision != "" && ref.Revision != *rev {
			return fmt.Errorf("revision %s in the name and --revision %s differ", ref.Revision, *rev)
		}
		ref.Revision = *rev
	}
	if *dtype != "" || *quantize != "" {
		v := *dtype
		if *quantize != "" {
			if *dtype != "" && *dtype != "f16" {
				return fmt.Errorf("--quantize %s with --dtype %s: int8 variants keep their other tensors in f16", *quantize, *dtype)
			}
			v = *quantize
		}
		if err := store.CheckVariant(v); err != nil {
			return err
		}
		if ref.Variant != "" && ref.Variant != v {
			return fmt.Errorf("variant %s in the name and the flags' %s differ", ref.Variant, v)
		}
		ref.Variant = v
	}
	s, err := openStore()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	e, err := s.Pull(ctx, ref.Repo, store.PullOptions{Revision: ref.Revision, Variant: ref.Variant, Source: *src, Force: *force})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s (commit %.12s, %s from %s) is %s, %s\n", e.Ref(), e.Commit, e.Variant, e.Source,
		e.Path, progress.Bytes(e.Size))
	fmt.Println(e.Path)
	return nil
}

// openStore opens the model store ($CELLM_HOME) with progress bars on a
// terminal and notes on stderr.
func openStore() (*store.Store, error) {
	s, err := store.Default()
	if err != nil {
		return nil, err
	}
	s.Log = os.Stderr
	s.Verify = func(tmp string) error { return runnable(tmp, "") }
	s.DownloadProgress = func(p *hub.Plan) hub.Progress {
		n, missing := p.Missing()
		if n == 0 {
			return nil
		}
		cached := map[string]bool{}
		for _, f := range p.Files {
			cached[f.Name] = f.Cached
		}
		g := progress.NewGroup("downloading", missing)
		return func(file string, done, size int64) {
			if !cached[file] {
				g.Update(file, done, size)
			}
		}
	}
	s.ConvertProgress = func() func(done, total int64) {
		bar := progress.New("converting")
		var once sync.Once
		return func(done, total int64) {
			bar.Update(done, total)
			if done >= total {
				once.Do(bar.Done)
			}
		}
	}()
	return s, nil
}

// resolveModel turns a --model value into a .cellm path: a file as is, a hub
// name org/name[@revision][:variant] through the model store, pulling and
// converting it on first use.
func resolveModel(model string) (string, error) {
	if model == "" {
		return "", nil
	}
	if _, err := os.Stat(model); err == nil {
		return model, nil
	}
	s, err := openStore()
	if err != nil {
		return "", err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return s.Resolve(ctx, model)
}
