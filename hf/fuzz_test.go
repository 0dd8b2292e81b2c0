package hf

import (
	"os"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// FuzzParseConfig: any config.json text parses or errors, never panics, and
// a parsed config satisfies the invariants the converter and runtime rely
// on; resolving it back to JSON never panics either.
func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"llama-tiny", "llama3-tiny", "smolvlm-tiny", "pretrained-micro"} {
		data, err := os.ReadFile(testutil.Fixture(f, name, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"model_type":"idefics3","text_config":{},"vision_config":{"patch_size":0}}`))
	f.Add([]byte(`{"model_type":"idefics3","text_config":{},"vision_config":null}`))
	f.Add([]byte(`{"model_type":"llama","eos_token_id":[1,2,1e9],"rope_scaling":{"type":"llama3"}}`))
	f.Add([]byte(`{"model_type":"llama","eos_token_id":null,"bos_token_id":[],"num_key_value_heads":0,"head_dim":-2}`))
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
		if CheckTokenIDs("eos_token_id", x.EOSTokenIDs, x.VocabSize) != nil {
			t.Fatalf("accepted eos %v for vocab %d", x.EOSTokenIDs, x.VocabSize)
		}
		if c.Multimodal {
			v := c.Vision
			if v.PatchSize <= 0 || v.ImageSize%v.PatchSize != 0 || v.HiddenSize%v.NumAttentionHeads != 0 {
				t.Fatalf("accepted vision config %+v", v)
			}
			if c.ScaleFactor <= 0 || v.PatchesPerSide()%c.ScaleFactor != 0 {
				t.Fatalf("accepted scale_factor %d", c.ScaleFactor)
			}
		}
		_ = c.ResolvedText()
		_ = c.ResolvedVision()
	})
}
