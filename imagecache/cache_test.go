package imagecache

import (
	"testing"

	"github.com/cellm-ai/cellm-go/imageproc"
)

func entry(n int) Entry { return Entry{Tiles: 1, Features: make([]float32, n)} }

func TestKeyOf(t *testing.T) {
	cfg := imageproc.DefaultConfig()
	a := KeyOf([]byte("image"), cfg, true, 0)
	if a != KeyOf([]byte("image"), cfg, true, 0) {
		t.Fatal("same image and settings, different keys")
	}
	other := cfg
	other.LongestEdge = cfg.TileSize
	mean := cfg
	mean.ImageMean[2] = 0.4
	for name, k := range map[string]Key{
		"bytes":        KeyOf([]byte("imagf"), cfg, true, 0),
		"split":        KeyOf([]byte("image"), cfg, false, 0),
		"longest edge": KeyOf([]byte("image"), other, true, 0),
		"image mean":   KeyOf([]byte("image"), mean, true, 0),
		"tile cap":     KeyOf([]byte("image"), cfg, true, 5),
	} {
		if k == a {
			t.Errorf("a different %s gives the same key", name)
		}
	}
}

func TestLRUBound(t *testing.T) {
	per := entry(100).size()
	c := New(3 * per)
	keys := []Key{{1}, {2}, {3}, {4}}
	for _, k := range keys[:3] {
		c.Put(k, entry(100))
	}
	if _, ok := c.Get(keys[0]); !ok { // 1 becomes the most recent
		t.Fatal("entry 1 missing")
	}
	c.Put(keys[3], entry(100)) // evicts 2, the least recently used
	if _, ok := c.Get(keys[1]); ok {
		t.Error("entry 2 should have been evicted")
	}
	for _, k := range []Key{keys[0], keys[2], keys[3]} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("entry %d missing", k[0])
		}
	}
	s := c.Stats()
	if s.Entries != 3 || s.Bytes != 3*per || s.Bytes > s.MaxBytes {
		t.Errorf("stats %+v, want 3 entries of %d bytes", s, per)
	}
	if s.Hits != 4 || s.Misses != 1 {
		t.Errorf("hits %d misses %d, want 4 and 1", s.Hits, s.Misses)
	}
	c.Put(Key{5}, entry(1000)) // larger than the bound: not stored, nothing evicted
	if _, ok := c.Get(Key{5}); ok || c.Stats().Entries != 3 {
		t.Error("an entry larger than the bound was stored")
	}
	c.Put(keys[0], entry(50)) // replacing re-accounts
	if got, want := c.Stats().Bytes, 2*per+entry(50).size(); got != want {
		t.Errorf("bytes %d after replace, want %d", got, want)
	}
}

func TestGetReturnsStoredFeatures(t *testing.T) {
	c := New(1 << 20)
	e := Entry{Grid: imageproc.Grid{Rows: 2, Cols: 3}, Tiles: 7, Features: []float32{1, 2, 3}}
	c.Put(Key{9}, e)
	got, ok := c.Get(Key{9})
	if !ok || got.Grid != e.Grid || got.Tiles != 7 || &got.Features[0] != &e.Features[0] {
		t.Fatalf("got %+v, want %+v", got, e)
	}
}

func TestDisabledAndNil(t *testing.T) {
	for _, c := range []*Cache{New(0), nil} {
		c.Put(Key{1}, entry(1))
		if _, ok := c.Get(Key{1}); ok {
			t.Error("a disabled cache returned an entry")
		}
	}
}
