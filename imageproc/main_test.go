package imageproc

import (
	"flag"
	"os"
	"testing"
)

// TestMain caps the fuzzing engine's minimisation of each new input at 5 s
// unless -fuzzminimizetime is given: its O(n²) pass over a 1 KiB image
// otherwise stops all fuzzing for the default 60 s at every new input.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "test.fuzzminimizetime" {
			set = true
		}
	})
	if !set {
		if err := flag.Set("test.fuzzminimizetime", "5s"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
