package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/cellm-ai/cellm-go/backend/onnxrt"
	"github.com/cellm-ai/cellm-go/kernels"
)

func init() {
	register("version", "print the version, Go version, kernel backend and build settings", false, runVersion)
}

func runVersion(args []string) error {
	fs := newFlags("version", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	printVersion(os.Stdout)
	return nil
}

func printVersion(w io.Writer) {
	version, tags, revision := "(unknown)", "(none)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "-tags":
				tags = s.Value
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					revision += " (modified)"
				}
			}
		}
	}
	fmt.Fprintf(w, "cellm %s\n", version)
	if revision != "" {
		fmt.Fprintf(w, "commit      %s\n", revision)
	}
	fmt.Fprintf(w, "go          %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "kernels     %s\n", kernels.Implementation())
	fmt.Fprintf(w, "build tags  %s\n", tags)
	onnx := "not built in (build with -tags onnxruntime)"
	if onnxrt.Available {
		onnx = "built in"
	}
	fmt.Fprintf(w, "onnxruntime %s\n", onnx)
}
