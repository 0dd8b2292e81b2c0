package hf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// FuzzParseConfig feeds arbitrary bytes to ParseConfig: it must return an
// error or a config whose sizes are usable (the checks ParseConfig promises),
// never panic. The seeds are the repository's model configs.
func FuzzParseConfig(f *testing.F) {
	root := testutil.RepoRoot(f)
	for _, dir := range []string{"llama-tiny", "llama3-tiny", "pretrained-micro", "smolvlm-tiny"} {
		data, err := os.ReadFile(filepath.Join(root, "testdata", dir, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"model_type":"llama","eos_token_id":null,"bos_token_id":[],"num_key_value_heads":0}`))
	f.Add([]byte(`{"model_type":"idefics3","text_config":{},"vision_config":null}`))
	f.Add([]byte(`{"model_type":"llama","head_dim":-2,"rope_scaling":{"rope_type":"llama3"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		x := c.Text
		for name, v := range map[string]int{"vocab_size": x.VocabSize, "hidden_size": x.HiddenSize,
			"intermediate_size": x.IntermediateSize, "num_hidden_layers": x.NumHiddenLayers,
			"num_attention_heads": x.NumAttentionHeads, "num_key_value_heads": x.NumKeyValueHeads} {
			if v <= 0 || v > 1<<24 {
				t.Fatalf("accepted %s = %d", name, v)
			}
		}
		if x.NumAttentionHeads%x.NumKeyValueHeads != 0 || x.HeadDim <= 0 || x.HeadDim%2 != 0 {
			t.Fatalf("accepted heads %d/%d, head_dim %d", x.NumAttentionHeads, x.NumKeyValueHeads, x.HeadDim)
		}
		if c.Multimodal {
			v := c.Vision
			if v.PatchSize <= 0 || v.ImageSize%v.PatchSize != 0 || v.PatchesPerSide() <= 0 || v.HiddenSize%v.NumAttentionHeads != 0 {
				t.Fatalf("accepted vision config %+v", v)
			}
		}
		_ = c.ResolvedText()
		_ = c.ResolvedVision()
	})
}
