package hub

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/source/flax"
	"github.com/cellm-ai/cellm-go/source/pytorch"
	"github.com/cellm-ai/cellm-go/source/safetensors"
)

// Sources are the checkpoint kinds Select knows, in the order it prefers
// them (the order convert's auto-detection uses).
var Sources = []string{"safetensors", "pytorch", "flax", "onnx"}

// maxIndexBytes caps a sharded checkpoint's index file.
const maxIndexBytes = 64 << 20

// Selection is the files conversion needs from a repository.
type Selection struct {
	// Source is the checkpoint kind chosen.
	Source string
	// Assets are config, tokenizer, template and processor files.
	Assets []string
	// Index is the sharded checkpoint's index file, if any.
	Index string
	// Weights are the checkpoint files (shards listed by the index included).
	Weights []string
}

// Files is every selected file, assets first.
func (s *Selection) Files() []string {
	out := append([]string(nil), s.Assets...)
	if s.Index != "" {
		out = append(out, s.Index)
	}
	return append(out, s.Weights...)
}

// Select picks what converting the repository needs among its files: the
// runtime assets (hf.Assets) and one checkpoint, safetensors first, then
// PyTorch, Flax and ONNX (or only the kind source names, unless it is "" or
// "auto"). readIndex returns the content of a sharded checkpoint's index,
// whose weight_map names the shards.
func Select(files []string, source string, readIndex func(name string) ([]byte, error)) (*Selection, error) {
	have := make(map[string]bool, len(files))
	for _, f := range files {
		have[f] = true
	}
	if !have["config.json"] {
		return nil, fmt.Errorf("%w: no config.json", ErrNoCheckpoint)
	}
	sel := &Selection{}
	for _, a := range hf.Assets {
		if have[a] {
			sel.Assets = append(sel.Assets, a)
		}
	}
	kinds := Sources
	if source != "" && source != "auto" {
		found := false
		for _, k := range Sources {
			found = found || k == source
		}
		if !found {
			return nil, fmt.Errorf("source %q: unknown (available: %s)", source, strings.Join(Sources, ", "))
		}
		kinds = []string{source}
	}
	for _, kind := range kinds {
		index, weights := pick(kind, files, have)
		if index == "" && len(weights) == 0 {
			continue
		}
		if index != "" {
			b, err := readIndex(index)
			if err != nil {
				return nil, err
			}
			if weights, err = shards(index, b, have); err != nil {
				return nil, err
			}
		}
		sel.Source, sel.Index, sel.Weights = kind, index, weights
		return sel, nil
	}
	return nil, fmt.Errorf("%w: looked for %s weights", ErrNoCheckpoint, strings.Join(kinds, ", "))
}

// pick returns the index or the weight files of one checkpoint kind.
func pick(kind string, files []string, have map[string]bool) (index string, weights []string) {
	root := func(exts ...string) []string {
		var out []string
		for _, f := range files {
			if strings.Contains(f, "/") {
				continue
			}
			for _, e := range exts {
				if strings.HasSuffix(f, e) {
					out = append(out, f)
				}
			}
		}
		sort.Strings(out)
		return out
	}
	switch kind {
	case "safetensors":
		if have[safetensors.IndexFile] {
			return safetensors.IndexFile, nil
		}
		if have["model.safetensors"] {
			return "", []string{"model.safetensors"}
		}
		return "", root(".safetensors")
	case "pytorch":
		if have[pytorch.WeightsName] {
			return "", []string{pytorch.WeightsName}
		}
		if have[pytorch.IndexName] {
			return pytorch.IndexName, nil
		}
		var cands []string
		for _, f := range root(".pt", ".pth", ".bin") {
			if !trainingFiles[f] {
				cands = append(cands, f)
			}
		}
		if len(cands) == 1 {
			return "", cands
		}
	case "flax":
		if have[flax.WeightsName] {
			return "", []string{flax.WeightsName}
		}
		if have[flax.IndexName] {
			return flax.IndexName, nil
		}
	case "onnx":
		return "", onnxFiles(files, have)
	}
	return "", nil
}

// trainingFiles are pickles kept beside the weights that are not weights.
var trainingFiles = map[string]bool{"training_args.bin": true, "optimizer.pt": true, "scheduler.pt": true,
	"scaler.pt": true, "rng_state.pth": true}

// onnxFiles mirrors the onnx reader: the SmolVLM export's files (at the root,
// else in onnx/), else model.onnx, else the only .onnx file, each with its
// external data files.
func onnxFiles(files []string, have map[string]bool) []string {
	for _, dir := range []string{"", "onnx/"} {
		var graphs, all []string
		for _, f := range files {
			if strings.HasSuffix(f, ".onnx") && strings.TrimPrefix(path.Dir(f)+"/", "./") == dir {
				all = append(all, f)
			}
		}
		for _, n := range []string{"vision_encoder.onnx", "embed_tokens.onnx", "decoder_model_merged.onnx"} {
			if have[dir+n] {
				graphs = append(graphs, dir+n)
			}
		}
		if len(graphs) == 0 && have[dir+"model.onnx"] {
			graphs = []string{dir + "model.onnx"}
		}
		if len(graphs) == 0 && len(all) == 1 {
			graphs = all
		}
		if len(graphs) == 0 {
			continue
		}
		out := append([]string(nil), graphs...)
		for _, g := range graphs {
			for _, f := range files {
				if strings.HasPrefix(f, g+"_data") || strings.HasPrefix(f, g+".data") {
					out = append(out, f)
				}
			}
		}
		return out
	}
	return nil
}

// shards reads an index's weight_map and returns its shard files, which must
// all be in the repository.
func shards(index string, b []byte, have map[string]bool) ([]string, error) {
	if len(b) > maxIndexBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", index, maxIndexBytes)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", index, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range idx.WeightMap {
		name := path.Join(path.Dir(index), f)
		if seen[name] {
			continue
		}
		if err := checkFileName(name); err != nil || !have[name] {
			return nil, fmt.Errorf("%s: shard %q is not in the repository", index, f)
		}
		seen[name] = true
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty weight_map", index)
	}
	sort.Strings(out)
	return out, nil
}
