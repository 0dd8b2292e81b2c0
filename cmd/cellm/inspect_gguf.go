package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/internal/progress"
	"github.com/cellm-ai/cellm-go/source/gguf"
)

// ggufTensorJSON is one tensor of `inspect --json` on a GGUF file.
type ggufTensorJSON struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Dims   []int  `json:"ne"`
	Offset int64  `json:"offset_bytes"`
	NBytes int    `json:"nbytes"`
}

// inspectGGUF prints a GGUF file's header, metadata and tensor table.
// Arrays longer than 8 elements are shown by their first elements and length.
func inspectGGUF(w io.Writer, path string, f *gguf.File, size int64, asJSON bool, maxRows int) error {
	skipped, convErr := convert.CheckGGUF(f)
	if asJSON {
		meta := map[string]any{}
		for _, kv := range f.KVs {
			meta[kv.Key] = kvJSON(kv)
		}
		tensors := make([]ggufTensorJSON, len(f.Tensors))
		for i, t := range f.Tensors {
			tensors[i] = ggufTensorJSON{t.Name, t.Type.String(), t.Dims, t.Offset, len(t.Data)}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		v := map[string]any{"file": path, "format": "gguf", "valid": true, "size": size,
			"version": f.Version, "alignment": f.Alignment, "tensor_data_offset": f.DataOffset,
			"metadata": meta, "tensors": tensors, "converts": convErr == nil}
		if convErr != nil {
			v["error"] = convErr.Error()
		}
		if len(skipped) > 0 {
			v["notes"] = skipped
		}
		return enc.Encode(v)
	}
	fmt.Fprintf(w, "%s: %s, GGUF v%d, alignment %d, tensor data at %d\n\nmetadata:\n", path, progress.Bytes(size),
		f.Version, f.Alignment, f.DataOffset)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range f.KVs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", kv.Key, kvType(kv), kvText(kv))
	}
	tw.Flush()
	fmt.Fprintf(w, "\ntensors (%d):\n", len(f.Tensors))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  name\ttype\tshape (row-major)\tbytes")
	count, bytes := map[string]int{}, map[string]int64{}
	for i, t := range f.Tensors {
		count[t.Type.String()]++
		bytes[t.Type.String()] += int64(len(t.Data))
		if maxRows > 0 && i >= maxRows {
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\t%v\t%d\n", t.Name, t.Type, t.Shape(), len(t.Data))
	}
	tw.Flush()
	if maxRows > 0 && len(f.Tensors) > maxRows {
		fmt.Fprintf(w, "  ... %d more (--tensors 0 lists all)\n", len(f.Tensors)-maxRows)
	}
	types := make([]string, 0, len(count))
	for t := range count {
		types = append(types, t)
	}
	sort.Strings(types)
	fmt.Fprintln(w, "\nby type:")
	for _, t := range types {
		fmt.Fprintf(w, "  %-6s %4d tensors  %s\n", t, count[t], progress.Bytes(bytes[t]))
	}
	if convErr != nil {
		fmt.Fprintf(w, "\nconverts: no (%v)\n", convErr)
		return nil
	}
	fmt.Fprintln(w, "\nconverts: yes (cellm convert --input FILE.gguf)")
	for _, s := range skipped {
		fmt.Fprintf(w, "  leaves out %s\n", s)
	}
	return nil
}

func kvType(kv gguf.KV) string {
	if kv.Type == gguf.TypeArray {
		return fmt.Sprintf("%s[%s]", kv.Type, kv.ElemType)
	}
	return kv.Type.String()
}

// kvJSON returns a JSON-friendly value: arrays of more than 8 elements as
// their length and first 8 elements.
func kvJSON(kv gguf.KV) any {
	if kv.Type != gguf.TypeArray {
		return kv.Value
	}
	n, first := arrayHead(kv.Value, 8)
	if n <= 8 {
		return kv.Value
	}
	return map[string]any{"length": n, "first": first}
}

// arrayHead returns the length of a metadata array and its first k elements.
func arrayHead(v any, k int) (int, []any) {
	var out []any
	var n int
	add := func(i int, x any) {
		if i < k {
			out = append(out, x)
		}
	}
	switch s := v.(type) {
	case []string:
		n = len(s)
		for i, x := range s {
			add(i, x)
		}
	case []int32:
		n = len(s)
		for i, x := range s {
			add(i, x)
		}
	case []float32:
		n = len(s)
		for i, x := range s {
			add(i, x)
		}
	default:
		b, _ := json.Marshal(v)
		var all []any
		json.Unmarshal(b, &all)
		n = len(all)
		out = all[:min(k, n)]
	}
	return n, out
}

// kvText renders a value on one line, long strings and arrays shortened.
func kvText(kv gguf.KV) string {
	if kv.Type == gguf.TypeArray {
		n, first := arrayHead(kv.Value, 6)
		b, _ := json.Marshal(first)
		s := string(b)
		if n > len(first) {
			s = strings.TrimSuffix(s, "]") + ", ...]"
		}
		return fmt.Sprintf("%d elements %s", n, shorten(s, 100))
	}
	if s, ok := kv.Value.(string); ok {
		b, _ := json.Marshal(s)
		return shorten(string(b), 100)
	}
	return fmt.Sprint(kv.Value)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%d bytes)", len(s))
}
