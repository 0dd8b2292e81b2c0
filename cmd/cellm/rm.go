package main

import (
	"context"
	"fmt"
	"os"

	"github.com/cellm-ai/cellm-go/store"
)

func init() {
	register("rm", "remove models from the model store (the Hugging Face cache is kept)", false, runRm)
}

func runRm(args []string) error {
	fs := newFlags("rm", "ORG/NAME[@REVISION][:VARIANT] ...")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errUsage
	}
	s, err := openStore()
	if err != nil {
		return err
	}
	for _, name := range pos {
		ref, err := store.ParseRef(name)
		if err != nil {
			return err
		}
		gone, err := s.Remove(context.Background(), ref)
		if err != nil {
			return err
		}
		for _, e := range gone {
			fmt.Fprintf(os.Stderr, "removed %s (%s)\n", e.Ref(), e.Path)
		}
	}
	return nil
}
