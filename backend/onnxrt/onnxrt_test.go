package onnxrt

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// touch creates empty files named names in dir.
func touch(t testing.TB, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindFiles(t *testing.T) {
	root := t.TempDir()
	onnx := filepath.Join(root, "onnx")
	if err := os.Mkdir(onnx, 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, onnx,
		"vision_encoder.onnx", "embed_tokens.onnx", "decoder_model_merged.onnx",
		"vision_encoder_fp16.onnx", "embed_tokens_fp16.onnx", "decoder_model_merged_fp16.onnx",
		"vision_encoder_q4.onnx", "embed_tokens_q4.onnx", // no q4 decoder
		"decoder_model_merged_bad-name.onnx")
	for _, tc := range []struct {
		dir, variant string
		suffix       string // want files with this suffix, or
		err          string // an error containing this
	}{
		{root, "", "", ""},
		{root, "fp32", "", ""},
		{onnx, "fp32", "", ""},
		{onnx, "fp16", "_fp16", ""},
		{root, "fp16", "_fp16", ""},
		{root, "q4", "", "missing decoder_model_merged_q4.onnx"},
		{root, "int8", "", "complete variants: fp16, fp32"},
		{root, "../x", "", "invalid variant"},
		{root, "a/b", "", "invalid variant"},
		{filepath.Join(root, "none"), "", "", "missing vision_encoder.onnx, embed_tokens.onnx, decoder_model_merged.onnx"},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			v, e, d, err := FindFiles(tc.dir, tc.variant)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"vision_encoder", "embed_tokens", "decoder_model_merged"}
			for i, got := range []string{v, e, d} {
				if w := filepath.Join(onnx, want[i]+tc.suffix+".onnx"); got != w {
					t.Errorf("file %d = %s, want %s", i, got, w)
				}
			}
		})
	}
	if got := Variants(onnx); !slices.Equal(got, []string{"fp16", "fp32"}) {
		t.Errorf("Variants = %v, want [fp16 fp32]", got)
	}
}

func FuzzFindFiles(f *testing.F) {
	dir := f.TempDir()
	touch(f, dir, "vision_encoder_q4.onnx", "embed_tokens_q4.onnx", "decoder_model_merged_q4.onnx")
	for _, s := range []string{"", "fp32", "q4", "fp16", "../q4", "q4/../q4", "\x00", strings.Repeat("a", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, variant string) {
		v, e, d, err := FindFiles(dir, variant)
		if err != nil {
			return
		}
		for _, p := range []string{v, e, d} {
			if filepath.Dir(p) != dir || !strings.HasSuffix(p, "_"+variant+".onnx") {
				t.Fatalf("variant %q gave %s outside %s", variant, p, dir)
			}
		}
	})
}

func ExampleFindFiles() {
	vision, embed, decoder, err := FindFiles("../../testdata/smolvlm-tiny", "fp32")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Base(vision), filepath.Base(embed), filepath.Base(decoder))
	// Output: vision_encoder.onnx embed_tokens.onnx decoder_model_merged.onnx
}
