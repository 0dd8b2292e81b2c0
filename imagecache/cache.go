// Package imagecache keeps the image features a vision tower computed, so
// that a second request about the same image skips preprocessing and
// encoding. Entries are keyed by a hash of the image's bytes and of the
// processor settings that shaped its tiles, bounded in bytes and evicted
// least recently used. A Cache is safe for concurrent use; the SDK's Model
// owns one, and a server can share it across sessions of the same model.
package imagecache

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"sync"

	"github.com/cellm-ai/cellm-go/imageproc"
)

// Key identifies one image under one set of processor settings.
type Key [sha256.Size]byte

// KeyOf returns the key of an encoded image (the file's bytes) processed with
// cfg, split or not, with at most maxTiles tiles (0: no cap). Every Config
// field is hashed, so the same image under other settings (another longest
// edge, tile cap, normalization) has another key.
func KeyOf(data []byte, cfg imageproc.Config, split bool, maxTiles int) Key {
	h := sha256.New()
	var b []byte
	flags := []bool{cfg.DoConvertRGB, cfg.DoResize, cfg.DoImageSplitting, cfg.DoRescale, cfg.DoNormalize, cfg.DoPad, split}
	for _, f := range flags {
		if f {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	for _, v := range []int{cfg.LongestEdge, cfg.TileSize, int(cfg.Resample), cfg.ImageSeqLen, maxTiles, len(data)} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	for _, v := range append(append([]float64{cfg.RescaleFactor}, cfg.ImageMean[:]...), cfg.ImageStd[:]...) {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	h.Write(b)
	h.Write(data)
	var k Key
	h.Sum(k[:0])
	return k
}

// Entry is the cached result for one image.
type Entry struct {
	// Grid is the image's tile grid (for the prompt's image tokens).
	Grid imageproc.Grid
	// Tiles is the number of tiles the image became.
	Tiles int
	// Features are the connector outputs of the image's tiles, Tiles ×
	// tokens per tile × text hidden size. They are shared: never modify them.
	Features []float32
}

// size is the memory an entry accounts for.
func (e Entry) size() int64 { return int64(len(e.Features))*4 + entryOverhead }

// entryOverhead is what an entry costs besides its features (key, list
// element, map slot), so that a cache of tiny entries stays bounded too.
const entryOverhead = 128

// Cache is a byte-bounded LRU cache of image features.
type Cache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	order    *list.List // of *item, most recently used first
	items    map[Key]*list.Element
	hits     int64
	misses   int64
}

type item struct {
	key   Key
	entry Entry
}

// New returns a cache holding at most maxBytes of entries (features at 4
// bytes per value plus a small per-entry overhead). maxBytes <= 0 gives a
// cache that keeps nothing.
func New(maxBytes int64) *Cache {
	return &Cache{maxBytes: maxBytes, order: list.New(), items: map[Key]*list.Element{}}
}

// Get returns the entry of k and marks it most recently used.
func (c *Cache) Get(k Key) (Entry, bool) {
	if c == nil {
		return Entry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		c.misses++
		return Entry{}, false
	}
	c.hits++
	c.order.MoveToFront(el)
	return el.Value.(*item).entry, true
}

// Put stores e under k (replacing an entry of the same key) and evicts the
// least recently used entries beyond the byte bound. An entry larger than
// the whole bound is not stored. The cache keeps e.Features: the caller must
// not modify them afterwards.
func (c *Cache) Put(k Key, e Entry) {
	if c == nil || e.size() > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.remove(el)
	}
	c.items[k] = c.order.PushFront(&item{key: k, entry: e})
	c.bytes += e.size()
	for c.bytes > c.maxBytes {
		c.remove(c.order.Back())
	}
}

func (c *Cache) remove(el *list.Element) {
	it := c.order.Remove(el).(*item)
	delete(c.items, it.key)
	c.bytes -= it.entry.size()
}

// Stats are a cache's counters.
type Stats struct {
	Entries      int
	Bytes        int64 // accounted size of the entries
	MaxBytes     int64
	Hits, Misses int64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Entries: len(c.items), Bytes: c.bytes, MaxBytes: c.maxBytes, Hits: c.hits, Misses: c.misses}
}
