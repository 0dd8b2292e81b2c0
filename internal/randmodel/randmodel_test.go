package randmodel

import (
	"testing"

	"github.com/cellm-ai/cellm-go/hf"
)

// The shapes must add up to the published parameter counts.
func TestParameterCounts(t *testing.T) {
	want := map[string]int{"smollm2-135m": 134515008, "smollm2-360m": 361821120,
		"qwen2.5-0.5b": 494032768, "gemma-3-1b": 999885952, "qwen3-0.6b": 596049920}
	for _, name := range Names() {
		data, err := configs.ReadFile(Models[name].Config)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := hf.ParseConfig(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n := 0
		for _, s := range Specs(cfg) {
			p := 1
			for _, d := range s.Shape {
				p *= d
			}
			n += p
		}
		t.Logf("%s: %d parameters", name, n)
		if w, ok := want[name]; ok && n != w {
			t.Errorf("%s: %d parameters, want %d", name, n, w)
		}
		if (name == "smolvlm-256m" || name == "smolvlm2-256m") && (n < 250e6 || n > 260e6) {
			t.Errorf("smolvlm-256m: %d parameters", n)
		}
	}
}
