package hf

import (
	"os"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// FuzzParseConfig: any config.json text parses or errors, never panics, and
// a parsed config satisfies the invariants the converter relies on.
func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"llama-tiny", "llama3-tiny", "smolvlm-tiny", "pretrained-micro"} {
		if data, err := os.ReadFile(testutil.Fixture(f, name, "config.json")); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"model_type":"idefics3","text_config":{},"vision_config":{"patch_size":0}}`))
	f.Add([]byte(`{"model_type":"llama","eos_token_id":[1,2,1e9],"rope_scaling":{"type":"llama3"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		x := c.Text
		if x.VocabSize <= 0 || x.HeadDim <= 0 || x.NumAttentionHeads%x.NumKeyValueHeads != 0 {
			t.Fatalf("accepted inconsistent sizes %+v", x)
		}
		if CheckTokenIDs("eos_token_id", x.EOSTokenIDs, x.VocabSize) != nil {
			t.Fatalf("accepted eos %v for vocab %d", x.EOSTokenIDs, x.VocabSize)
		}
		if c.Multimodal && (c.ScaleFactor <= 0 || c.Vision.PatchesPerSide()%c.ScaleFactor != 0) {
			t.Fatalf("accepted scale_factor %d", c.ScaleFactor)
		}
	})
}
