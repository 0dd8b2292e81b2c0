// Package pytorch reads PyTorch checkpoints (torch.save files such as
// pytorch_model.bin, sharded pytorch_model.bin.index.json folders, *.pt) into
// a source.Set without running Python and without executing anything the
// file names.
//
// The pickle inside is interpreted by a small restricted VM: the only globals
// it accepts are collections.OrderedDict, torch's tensor/parameter rebuild
// functions, torch.Size and the typed torch storages; anything else (os.system,
// builtins.eval, ...) is an error that names it. Both the zip format (torch >=
// 1.6) and the legacy format (_use_new_zipfile_serialization=False) are read.
// Tensors whose stored layout is C-contiguous alias the memory-mapped file;
// strided views (transposes, slices) are materialized. Tensors that share a
// storage (tied weights) each appear under their own name.
package pytorch

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cellm-ai/cellm-go/internal/mmap"
	"github.com/cellm-ai/cellm-go/source"
)

// Canonical file names in a Hugging Face model folder.
const (
	WeightsName = "pytorch_model.bin"
	IndexName   = "pytorch_model.bin.index.json"
)

// OpenDir opens the PyTorch weights of a model folder: pytorch_model.bin, or
// the shards listed by pytorch_model.bin.index.json, or else a single *.pt,
// *.pth or *.bin file.
func OpenDir(dir string) (*source.Set, error) {
	if p := filepath.Join(dir, WeightsName); fileExists(p) {
		return Open(p)
	}
	if p := filepath.Join(dir, IndexName); fileExists(p) {
		return OpenIndex(p)
	}
	var cands []string
	for _, pat := range []string{"*.pt", "*.pth", "*.bin"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, c := range m {
			if !notWeights[filepath.Base(c)] {
				cands = append(cands, c)
			}
		}
	}
	switch len(cands) {
	case 0:
		return nil, fmt.Errorf("pytorch: %s: no %s, %s, *.pt, *.pth or *.bin", dir, WeightsName, IndexName)
	case 1:
		return Open(cands[0])
	}
	return nil, fmt.Errorf("pytorch: %s: several candidate checkpoints (%s), open one with Open", dir, strings.Join(cands, ", "))
}

// notWeights are pickles that training checkpoints keep beside the weights.
var notWeights = map[string]bool{
	"training_args.bin": true, "optimizer.pt": true, "scheduler.pt": true,
	"scaler.pt": true, "rng_state.pth": true,
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// OpenIndex opens a sharded checkpoint from its index JSON
// ({"weight_map": {tensor name: shard file}}); the shards are resolved
// relative to the index's folder. Every tensor the map names must be found in
// its shard.
func OpenIndex(indexPath string) (*source.Set, error) {
	set, err := source.OpenSharded(indexPath, load, true)
	if err != nil {
		return nil, fmt.Errorf("pytorch: %w", err)
	}
	return set, nil
}

// Open reads one torch.save file (zip or legacy format).
func Open(path string) (*source.Set, error) {
	ts, closer, err := load(path)
	if err != nil {
		return nil, err
	}
	set, err := source.NewSet(ts, closer)
	if err != nil {
		closer()
		return nil, fmt.Errorf("pytorch: %s: %w", path, err)
	}
	return set, nil
}

func load(path string) ([]source.Tensor, func() error, error) {
	f, err := mmap.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("pytorch: %w", err)
	}
	ts, err := Parse(f.Bytes())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("pytorch: %s: %w", path, err)
	}
	return ts, f.Close, nil
}

// legacyMagic starts every legacy-format file: PROTO 2, LONG1 of the magic
// number 0x1950a86a20f9469cfc6c, STOP.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e}

// Parse decodes a whole torch.save file held in memory. Contiguous tensors
// alias data, which must stay valid and unchanged while they are used.
func Parse(data []byte) ([]source.Tensor, error) {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")), bytes.HasPrefix(data, []byte("PK\x05\x06")):
		return parseZip(data)
	case bytes.HasPrefix(data, legacyMagic):
		return parseLegacy(data)
	case len(data) > 262 && string(data[257:262]) == "ustar":
		return nil, errors.New("tar-based torch.save format (torch < 0.4) is not supported")
	}
	return nil, errors.New("not a torch.save file (neither a zip archive nor the legacy pickle format)")
}

// budget caps the bytes materialized for non-contiguous views: a view can
// never hold more elements than its storage unless it repeats them (stride 0),
// so twice the input plus slack is generous for real files.
func budget(data []byte) int { return 2*len(data) + 64<<20 }

func parseZip(data []byte) ([]source.Tensor, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	var pkl *zip.File
	for _, f := range zr.File {
		if f.Name == "data.pkl" || strings.HasSuffix(f.Name, "/data.pkl") && strings.Count(f.Name, "/") == 1 {
			if pkl != nil {
				return nil, fmt.Errorf("zip: two data.pkl entries (%s, %s)", pkl.Name, f.Name)
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, errors.New("zip: no <archive>/data.pkl entry (not a torch.save archive)")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, prefix) {
			entries[strings.TrimPrefix(f.Name, prefix)] = f
		}
	}
	bigEndian := false
	if bo := entries["byteorder"]; bo != nil {
		b, err := entryBytes(data, bo, 16)
		if err != nil {
			return nil, err
		}
		switch string(bytes.TrimSpace(b)) {
		case "little":
		case "big":
			bigEndian = true
		default:
			return nil, fmt.Errorf("zip: %s: unknown byte order %q", bo.Name, b)
		}
	}
	pickle, err := entryBytes(data, pkl, len(data))
	if err != nil {
		return nil, err
	}
	storages := map[string]*storageRef{}
	u := &unpickler{data: pickle, reduce: torchReduce}
	u.persistentLoad = func(pid any) (any, error) {
		st, view, err := storageFromPID(pid)
		if err != nil {
			return nil, err
		}
		if view != nil {
			return nil, errors.New("persistent id: storage views occur only in the legacy format")
		}
		if prev := storages[st.key]; prev != nil {
			if prev.dtype != st.dtype {
				return nil, fmt.Errorf("storage %q used as both %s and %s", st.key, prev.dtype, st.dtype)
			}
			return prev, nil
		}
		e := entries["data/"+st.key]
		if e == nil {
			return nil, fmt.Errorf("storage %q: no entry %sdata/%s", st.key, prefix, st.key)
		}
		want := st.numel * st.dtype.Size()
		if e.UncompressedSize64 < uint64(want) {
			return nil, fmt.Errorf("storage %q: entry %s holds %d bytes, need %d", st.key, e.Name, e.UncompressedSize64, want)
		}
		b, err := entryBytes(data, e, want)
		if err != nil {
			return nil, err
		}
		st.data = b[:want:want]
		if bigEndian {
			st.data = swapped(st.data, st.dtype.Size())
		}
		storages[st.key] = st
		return st, nil
	}
	root, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	return collect(root, budget(data))
}

// entryBytes returns the contents of a zip entry: a slice of data when it is
// stored uncompressed (zero-copy), else decompressed, at most limit bytes.
func entryBytes(data []byte, f *zip.File, limit int) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("zip: entry %s is %d bytes (max %d)", f.Name, f.UncompressedSize64, limit)
	}
	n := int(f.UncompressedSize64)
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("zip: entry %s: %w", f.Name, err)
		}
		if off < 0 || uint64(off)+f.CompressedSize64 > uint64(len(data)) || f.CompressedSize64 != f.UncompressedSize64 {
			return nil, fmt.Errorf("zip: entry %s lies outside the file", f.Name)
		}
		return data[off : off+int64(n) : off+int64(n)], nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("zip: entry %s: %w", f.Name, err)
	}
	defer rc.Close()
	out := make([]byte, n)
	if _, err := io.ReadFull(rc, out); err != nil {
		return nil, fmt.Errorf("zip: entry %s: %w", f.Name, err)
	}
	return out, nil
}

// swapped returns a byte-swapped copy of data with elements of size es.
func swapped(data []byte, es int) []byte {
	out := make([]byte, len(data))
	for i := 0; i+es <= len(data); i += es {
		for j := 0; j < es; j++ {
			out[i+j] = data[i+es-1-j]
		}
	}
	return out
}

// parseLegacy reads the pre-1.6 format: pickles of the magic number, the
// protocol version and system info, then the object pickle, then a pickle of
// the storage keys in file order, then for each key an int64 element count and
// the raw little-endian elements.
func parseLegacy(data []byte) ([]source.Tensor, error) {
	pos := len(legacyMagic)
	next := func(what string, persistent func(any) (any, error)) (any, error) {
		u := &unpickler{data: data, pos: pos, reduce: torchReduce, persistentLoad: persistent}
		v, err := u.run()
		if err != nil {
			return nil, fmt.Errorf("legacy format, %s: %w", what, err)
		}
		pos = u.pos
		return v, nil
	}
	proto, err := next("protocol version", nil)
	if err != nil {
		return nil, err
	}
	if proto != int64(1001) {
		return nil, fmt.Errorf("legacy format: unsupported protocol version (%s)", typeName(proto))
	}
	info, err := next("system info", nil)
	if err != nil {
		return nil, err
	}
	if d, ok := info.(*pyDict); ok {
		if i, ok := d.index["little_endian"]; ok && d.vals[i] != true {
			return nil, errors.New("legacy format: big-endian files are not supported")
		}
	}
	storages := map[string]*storageRef{}
	type viewOf struct {
		root   *storageRef
		offset int
		view   *storageRef
	}
	var views []viewOf
	root, err := next("object", func(pid any) (any, error) {
		st, view, err := storageFromPID(pid)
		if err != nil {
			return nil, err
		}
		rootSt := storages[st.key]
		if rootSt == nil {
			rootSt = st
			storages[st.key] = st
		} else if rootSt.dtype != st.dtype {
			return nil, fmt.Errorf("storage %q used as both %s and %s", st.key, rootSt.dtype, st.dtype)
		}
		if view == nil {
			return rootSt, nil
		}
		key, ok1 := view[0].(string)
		off, ok2 := view[1].(int64)
		n, ok3 := view[2].(int64)
		if !ok1 || !ok2 || !ok3 || off < 0 || n < 0 || off > 1<<50 || n > 1<<50 {
			return nil, fmt.Errorf("storage %q: bad view metadata", st.key)
		}
		v := &storageRef{key: key, dtype: st.dtype, numel: int(n)}
		views = append(views, viewOf{rootSt, int(off), v})
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	keysV, err := next("storage keys", nil)
	if err != nil {
		return nil, err
	}
	keys, ok := keysV.(*pyList)
	if !ok {
		return nil, fmt.Errorf("legacy format: storage keys are %s, not a list", typeName(keysV))
	}
	for _, k := range keys.items {
		key, _ := k.(string)
		st := storages[key]
		if st == nil {
			return nil, fmt.Errorf("legacy format: storage key %q was not referenced", key)
		}
		if st.data != nil {
			return nil, fmt.Errorf("legacy format: storage %q stored twice", key)
		}
		if len(data)-pos < 8 {
			return nil, fmt.Errorf("legacy format: storage %q: truncated", key)
		}
		n := leUint64(data[pos:])
		pos += 8
		es := uint64(st.dtype.Size())
		if n > uint64(len(data)-pos)/es {
			return nil, fmt.Errorf("legacy format: storage %q: %d elements exceed the file", key, n)
		}
		if int(n) < st.numel {
			return nil, fmt.Errorf("legacy format: storage %q holds %d elements, need %d", key, n, st.numel)
		}
		nb := int(n * es)
		st.data = data[pos : pos+st.numel*int(es) : pos+st.numel*int(es)]
		pos += nb
	}
	for _, v := range views {
		if v.root.data == nil {
			return nil, fmt.Errorf("legacy format: storage %q has no data", v.root.key)
		}
		es := v.root.dtype.Size()
		if v.offset+v.view.numel > v.root.numel {
			return nil, fmt.Errorf("legacy format: storage view %q exceeds storage %q", v.view.key, v.root.key)
		}
		v.view.data = v.root.data[v.offset*es : (v.offset+v.view.numel)*es]
	}
	for key, st := range storages {
		if st.data == nil {
			return nil, fmt.Errorf("legacy format: storage %q has no data", key)
		}
	}
	return collect(root, budget(data))
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// maxDepth bounds nested dicts (a hostile pickle can build a cycle).
const maxDepth = 16

// collect walks the unpickled object: a dict of tensors, possibly nested
// (names joined with '.'). Non-tensor leaves such as an epoch counter are
// skipped; a file without any tensor is an error.
func collect(root any, budget int) ([]source.Tensor, error) {
	d, ok := root.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("top-level object is %s, not a dict of tensors", typeName(root))
	}
	var out []source.Tensor
	seen := map[*pyDict]bool{}
	var walk func(d *pyDict, prefix string, depth int) error
	walk = func(d *pyDict, prefix string, depth int) error {
		if depth > maxDepth {
			return fmt.Errorf("dicts nested deeper than %d at %q", maxDepth, prefix)
		}
		if seen[d] {
			return fmt.Errorf("dict at %q is reached twice", prefix)
		}
		seen[d] = true
		for i, k := range d.keys {
			key, ok := k.(string)
			if !ok {
				if n, isInt := k.(int64); isInt {
					key = fmt.Sprint(n)
				} else {
					return fmt.Errorf("key of type %s under %q", typeName(k), prefix)
				}
			}
			name := prefix + key
			switch v := d.vals[i].(type) {
			case *tensorRef:
				if v.storage.data == nil {
					return fmt.Errorf("tensor %q: storage %q has no data", name, v.storage.key)
				}
				t, err := v.materialize(name, &budget)
				if err != nil {
					return err
				}
				out = append(out, t)
			case *pyDict:
				if err := walk(v, name+".", depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(d, "", 0); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no tensors found")
	}
	return out, nil
}
