package llama

import (
	"encoding/json"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
)

// FuzzConfigFromHeader: any header JSON gives a config or an error, never a
// panic, and an accepted config has its architecture options in range.
func FuzzConfigFromHeader(f *testing.F) {
	for _, s := range []string{
		`{"model_type":"llama","vocab_size":10,"hidden_dim":8,"intermediate_size":16,"num_layers":2,"num_heads":2,"num_kv_heads":1,"rms_norm_eps":1e-6,"tensors":[]}`,
		`{"model_type":"qwen2","vocab_size":10,"hidden_dim":8,"intermediate_size":16,"num_layers":2,"num_heads":2,"num_kv_heads":1,"rms_norm_eps":1e-6,"attention_bias":true,"tensors":[]}`,
		`{"model_type":"gemma3_text","vocab_size":10,"hidden_dim":8,"intermediate_size":16,"num_layers":3,"num_heads":2,"num_kv_heads":1,"head_dim":4,"rms_norm_eps":1e-6,"rope_theta":1e6,
		  "hidden_act":"gelu_pytorch_tanh","qk_norm":true,"norm_weight_offset":1,"sandwich_norms":true,"embedding_scale":2.8,"query_pre_attn_scalar":4,
		  "sliding_window":4,"layer_types":["sliding_attention","sliding_attention","full_attention"],"rope_local_base_freq":10000,"tensors":[]}`,
		`{"model_type":"gemma3_text","vocab_size":10,"hidden_dim":8,"intermediate_size":16,"num_layers":1,"num_heads":2,"num_kv_heads":1,"sliding_window":-1,"layer_types":["x"],"tensors":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h format.Header
		if json.Unmarshal(data, &h) != nil {
			return
		}
		c, err := configFromHeader(&h)
		if err != nil {
			return
		}
		if c.Sliding != nil && (len(c.Sliding) != c.Layers || c.SlidingWindow <= 0 || !(c.RopeLocalTheta > 1)) {
			t.Fatalf("accepted sliding config %+v", c)
		}
		if !(c.AttnScale > 0) || !(c.EmbeddingScale >= 0) {
			t.Fatalf("accepted scales %v %v", c.AttnScale, c.EmbeddingScale)
		}
	})
}
