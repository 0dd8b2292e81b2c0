// Package onnxrt runs the official SmolVLM ONNX exports (the onnx/ folder of a
// Hugging Face SmolVLM repository) through ONNX Runtime.
//
// A SmolVLM export is split in three graphs, each wrapped here:
//
//   - [VisionEncoder] (vision_encoder*.onnx): pixel_values f32 [B, N, 3, H, W]
//     and pixel_attention_mask bool [B, N, H, W] → image_features
//     [real images, tokens per image, hidden]. Images whose pixels are all 0
//     are padding and produce no rows.
//   - [Embedder] (embed_tokens*.onnx): input_ids int64 [1, T] → inputs_embeds
//     f32 [1, T, hidden].
//   - [Decoder] (decoder_model_merged*.onnx): one graph with a key/value
//     cache. It keeps the cache between calls to [Decoder.Step]; the attention
//     mask covers the whole history and the position ids count from 0, as in
//     transformers' generate.
//
// A greedy decode is: features from the vision encoder, embeddings of the
// prompt, idefics3.Splice to put the feature rows at the <image> tokens, one Step with the whole prompt (prefill), then one Step per new
// token with that token's embedding.
//
// ONNX Runtime is a C library, loaded at run time from a shared library
// ([Options.LibraryPath] or the CELLM_ONNXRUNTIME_LIB environment variable).
// The binding (github.com/yalue/onnxruntime_go, cgo) is only compiled with
// the build tag onnxruntime; without it every constructor returns
// [ErrNotAvailable]. scripts/get-onnxruntime.sh downloads a matching library.
package onnxrt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// EnvLibrary is the environment variable naming the ONNX Runtime shared
// library when [Options.LibraryPath] is empty.
const EnvLibrary = "CELLM_ONNXRUNTIME_LIB"

// MinRuntimeVersion is the oldest ONNX Runtime release the binding works
// with: it asks the library for C API version 25, which ONNX Runtime 1.25
// introduced. scripts/get-onnxruntime.sh fetches 1.25.1.
const MinRuntimeVersion = "1.25"

// ErrNotAvailable is returned by every constructor when the package was built
// without the onnxruntime build tag.
var ErrNotAvailable = errors.New(`onnx backend not available: rebuild with -tags onnxruntime (see README "ONNX Runtime")`)

// Options configures how ONNX Runtime is loaded and how sessions run.
type Options struct {
	// LibraryPath is the ONNX Runtime shared library (libonnxruntime.so,
	// .dylib or onnxruntime.dll). Empty means the CELLM_ONNXRUNTIME_LIB
	// environment variable. The first session loads the library for the
	// whole process; later sessions must name the same file.
	LibraryPath string
	// Threads is the number of intra-op threads per session; 0 lets ONNX
	// Runtime choose (one per physical core).
	Threads int
}

// libraryPath resolves the shared library from the options or environment.
func (o Options) libraryPath() (string, error) {
	p := o.LibraryPath
	if p == "" {
		p = os.Getenv(EnvLibrary)
	}
	if p == "" {
		return "", fmt.Errorf("onnxrt: no ONNX Runtime library: set Options.LibraryPath or %s to libonnxruntime (version >= %s; scripts/get-onnxruntime.sh downloads one)", EnvLibrary, MinRuntimeVersion)
	}
	return p, nil
}

// DecoderConfig describes a decoder graph, read from its input metadata.
type DecoderConfig struct {
	Layers  int    // number of past_key_values.{i} pairs
	KVHeads int    // key/value heads (dimension 1 of the past tensors)
	HeadDim int    // dimension 3 of the past tensors
	Hidden  int    // embedding width of inputs_embeds; 0 if dynamic
	Vocab   int    // logits width; 0 if dynamic and no step has run
	KVType  string // element type of the cache: "float32" or "float16"
}

// Official file stems of a SmolVLM onnx/ folder.
const (
	visionStem  = "vision_encoder"
	embedStem   = "embed_tokens"
	decoderStem = "decoder_model_merged"
)

// FindFiles returns the vision encoder, token embedder and decoder files of
// one variant in an exported SmolVLM folder. dir is the onnx/ folder or the
// model folder holding it. variant is the file-name suffix used by the
// official exports ("fp16", "int8", "q4", "q4f16", "quantized", "uint8",
// "bnb4", ...); "" or "fp32" means the unsuffixed float32 files. The error
// names the missing files and lists the variants that are complete.
func FindFiles(dir, variant string) (vision, embed, decoder string, err error) {
	suffix, err := variantSuffix(variant)
	if err != nil {
		return "", "", "", err
	}
	if !exists(filepath.Join(dir, embedStem+suffix+".onnx")) && isDir(filepath.Join(dir, "onnx")) {
		dir = filepath.Join(dir, "onnx")
	}
	paths := make([]string, 3)
	var missing []string
	for i, stem := range []string{visionStem, embedStem, decoderStem} {
		paths[i] = filepath.Join(dir, stem+suffix+".onnx")
		if !exists(paths[i]) {
			missing = append(missing, filepath.Base(paths[i]))
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("onnxrt: %s: missing %s for variant %q", dir, strings.Join(missing, ", "), variantName(variant))
		if v := Variants(dir); len(v) > 0 {
			msg += "; complete variants: " + strings.Join(v, ", ")
		}
		return "", "", "", errors.New(msg)
	}
	return paths[0], paths[1], paths[2], nil
}

// Variants lists the variants for which dir holds all three SmolVLM files,
// sorted, with "fp32" for the unsuffixed files.
func Variants(dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, decoderStem+"*.onnx"))
	var out []string
	for _, n := range names {
		suffix := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), decoderStem), ".onnx")
		if suffix != "" && (suffix[0] != '_' || !validVariant(suffix[1:])) {
			continue
		}
		if exists(filepath.Join(dir, visionStem+suffix+".onnx")) && exists(filepath.Join(dir, embedStem+suffix+".onnx")) {
			out = append(out, variantName(strings.TrimPrefix(suffix, "_")))
		}
	}
	slices.Sort(out)
	return out
}

func variantName(v string) string {
	if v == "" {
		return "fp32"
	}
	return v
}

// variantSuffix maps a variant to the file-name suffix, rejecting names that
// could escape the folder.
func variantSuffix(variant string) (string, error) {
	switch variant {
	case "", "fp32":
		return "", nil
	}
	if !validVariant(variant) {
		return "", fmt.Errorf("onnxrt: invalid variant %q: want letters, digits or '_' (e.g. fp16, q4, int8)", variant)
	}
	return "_" + variant, nil
}

func validVariant(v string) bool {
	if v == "" || len(v) > 32 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func exists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
