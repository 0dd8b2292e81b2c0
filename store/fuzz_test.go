package store

import (
	"path/filepath"
	"testing"
)

// FuzzParseRef: ParseRef never panics, what it accepts formats back to a
// reference that parses to the same value, and its revision cannot lead a
// store path out of the model's folder.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"org/name", "org/name@v1.0", "org/name:int8", "org/na.me@refs/pr/1:bf16",
		"org/name@a:b:int8", "org/name@a@b", "org/../x", "org/name@../x", "org/name@", ":f16", "@", "a/b/c", "org/name@."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		again, err := ParseRef(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRef(%q) = %+v formats as %q, which parses to %+v, %v", s, r, r.String(), again, err)
		}
		st := &Store{Dir: "store"}
		repoDir := st.repoDir(r.Repo)
		if filepath.Dir(repoDir) != filepath.Join("store", "models") {
			t.Fatalf("ParseRef(%q): repo %q has the folder %s", s, r.Repo, repoDir)
		}
		rev := r.Revision
		if rev == "" {
			rev = DefaultRevision
		}
		if p := st.entryBase(r.Repo, rev, "f16"); filepath.Dir(filepath.Dir(p)) != repoDir {
			t.Fatalf("ParseRef(%q): revision %q gives the entry %s, not one folder inside %s", s, r.Revision, p, repoDir)
		}
	})
}
