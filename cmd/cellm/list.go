package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/cellm-ai/cellm-go/internal/progress"
)

func init() {
	register("list", "list the models of the model store", false, runList)
}

func runList(args []string) error {
	fs := newFlags("list", "[--json]")
	asJSON := fs.Bool("json", false, "print the manifests as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := openStore()
	if err != nil {
		return err
	}
	entries, err := s.List()
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(os.Stderr, "no models in %s (cellm pull ORG/NAME adds one)\n", s.Dir)
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tREVISION\tDTYPE\tSIZE\tMODIFIED\tCOMMIT")
	for _, e := range entries {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%.12s\n", e.Repo, e.Revision, e.Variant, progress.Bytes(e.Size),
			e.Created.Local().Format("2006-01-02 15:04"), e.Commit)
	}
	return w.Flush()
}
