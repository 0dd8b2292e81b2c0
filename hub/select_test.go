package hub

import (
	"errors"
	"slices"
	"testing"
)

func TestSelect(t *testing.T) {
	index := []byte(`{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
		"b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}`)
	read := func(name string) ([]byte, error) { return index, nil }
	common := []string{"config.json", "tokenizer.json", "README.md", ".gitattributes", "tokenizer_config.json"}
	cases := []struct {
		name   string
		files  []string
		source string
		kind   string
		want   []string
	}{
		{"single safetensors", []string{"model.safetensors", "pytorch_model.bin", "onnx/model.onnx"}, "", "safetensors",
			[]string{"model.safetensors"}},
		{"sharded", []string{"model.safetensors.index.json", "model-00001-of-00002.safetensors",
			"model-00002-of-00002.safetensors", "model.safetensors"}, "", "safetensors",
			[]string{"model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}},
		{"pytorch fallback", []string{"pytorch_model.bin", "training_args.bin"}, "", "pytorch", []string{"pytorch_model.bin"}},
		{"forced pytorch", []string{"model.safetensors", "pytorch_model.bin"}, "pytorch", "pytorch", []string{"pytorch_model.bin"}},
		{"flax", []string{"flax_model.msgpack"}, "auto", "flax", []string{"flax_model.msgpack"}},
		{"smolvlm onnx", []string{"onnx/vision_encoder.onnx", "onnx/vision_encoder_fp16.onnx", "onnx/embed_tokens.onnx",
			"onnx/decoder_model_merged.onnx", "onnx/decoder_model_merged.onnx_data", "onnx/decoder_model_merged_q4.onnx"}, "", "onnx",
			[]string{"onnx/vision_encoder.onnx", "onnx/embed_tokens.onnx", "onnx/decoder_model_merged.onnx",
				"onnx/decoder_model_merged.onnx_data"}},
		{"one onnx", []string{"onnx/model_quantized.onnx"}, "", "onnx", []string{"onnx/model_quantized.onnx"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := Select(append(slices.Clone(common), tc.files...), tc.source, read)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if sel.Index != "" {
				got = append(got, sel.Index)
			}
			got = append(got, sel.Weights...)
			if sel.Source != tc.kind || !slices.Equal(got, tc.want) {
				t.Errorf("got %s %v, want %s %v", sel.Source, got, tc.kind, tc.want)
			}
			if !slices.Equal(sel.Assets, []string{"config.json", "tokenizer.json", "tokenizer_config.json"}) {
				t.Errorf("assets %v", sel.Assets)
			}
		})
	}
	if _, err := Select([]string{"config.json", "README.md"}, "", read); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("no weights: %v", err)
	}
	if _, err := Select([]string{"model.safetensors"}, "", read); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("no config: %v", err)
	}
	if _, err := Select([]string{"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors"}, "", read); err == nil {
		t.Error("an index naming a missing shard was accepted")
	}
	if _, err := Select([]string{"config.json", "model.safetensors"}, "gguf", read); err == nil {
		t.Error("an unknown source was accepted")
	}
}

func TestParseInfo(t *testing.T) {
	good := `{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": "onnx/model.onnx", "size": 3}]}`
	if _, err := ParseInfo([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"sha": "main", "siblings": []}`,
		`{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": "../../x"}]}`,
		`{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": "/etc/passwd"}]}`,
		`{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": "a", "size": -1}]}`,
		`{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": "a"}, {"rfilename": "a"}]}`,
		`[`,
	} {
		if _, err := ParseInfo([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add([]byte(`{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": "model.safetensors", "size": 3, "blobId": "x", "lfs": {"sha256": "y", "size": 3}}]}`))
	f.Add([]byte(`{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": "a/../b"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseInfo(b)
		if err != nil {
			return
		}
		for _, s := range info.Siblings {
			if checkFileName(s.RFilename) != nil {
				t.Fatalf("accepted file name %q", s.RFilename)
			}
		}
	})
}

func FuzzSelectIndex(f *testing.F) {
	f.Add([]byte(`{"weight_map": {"a": "model-1.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "../x"}}`))
	f.Fuzz(func(t *testing.T, index []byte) {
		files := []string{"config.json", "model.safetensors.index.json", "model-1.safetensors", "sub/model-2.safetensors"}
		sel, err := Select(files, "", func(string) ([]byte, error) { return index, nil })
		if err != nil {
			return
		}
		for _, w := range sel.Weights {
			if !slices.Contains(files, w) {
				t.Fatalf("selected %q, not in the repository", w)
			}
		}
	})
}
