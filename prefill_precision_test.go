package cellm

import (
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/kernels"
)

// TestPrefillPrecision: Options.PrefillPrecision reaches the decoder
// (llama.Model.UseBF16Prefill): bf16 activations for bf16 weights by
// default, for f16 ones too with PrefillBF16, never with PrefillF32; an
// unknown value is an error.
func TestPrefillPrecision(t *testing.T) {
	for _, c := range []struct {
		p             PrefillPrecision
		on, forHalves bool
	}{
		{PrefillAuto, true, false}, {PrefillBF16, true, true}, {PrefillF32, false, false},
	} {
		m := tinyVLMConvert(t, nil, &Options{PrefillPrecision: c.p}, format.BF16)
		d, ok := m.dec.(interface{ BF16Prefill() (on, halfToo bool) })
		if !ok {
			t.Fatalf("decoder %T has no BF16Prefill", m.dec)
		}
		if on, h := d.BF16Prefill(); on != c.on || h != c.forHalves {
			t.Errorf("%v: BF16Prefill() = %v, %v, want %v, %v", c.p, on, h, c.on, c.forHalves)
		}
	}
	m := tinyVLMConvert(t, nil, nil, format.F16) // the fixture's bf16 values
	runs := m.dec.(interface{ BF16PrefillRuns() bool }).BF16PrefillRuns()
	if want := kernels.HasBF16Dot(); runs != want {
		t.Errorf("f16 file of bf16 values: BF16PrefillRuns() = %v, want %v", runs, want)
	}
	_, err := Open("unused.cellm", &Options{PrefillPrecision: PrefillF32 + 1})
	if err == nil || !strings.Contains(err.Error(), "PrefillPrecision(3)") {
		t.Errorf("unknown precision: error %v, want one naming PrefillPrecision(3)", err)
	}
}
