package llama

import (
	"math"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/kernels"
)

// bf16Prefill loads model converted with opt and turns on UseBF16Prefill
// (for f16 weights too if halfToo).
func bf16Prefill(t *testing.T, model string, opt convert.Options, halfToo bool) *Model {
	t.Helper()
	m := loadModel(t, model, opt)
	m.UseBF16Prefill(true, halfToo)
	if on, h := m.BF16Prefill(); !on || h != halfToo {
		t.Fatalf("BF16Prefill() = %v, %v after UseBF16Prefill(true, %v)", on, h, halfToo)
	}
	return m
}

// TestBF16PrefillPerplexity scores pretrained-micro's eval text (windows of
// 256 tokens: every projection takes the bf16 path) with bf16 activations
// against the same weights with f32 activations, and against the int8 gap.
func TestBF16PrefillPerplexity(t *testing.T) {
	if testing.Short() {
		t.Skip("scores the eval text four times")
	}
	ids := readEvalIDs(t)
	nll := func(m *Model) float64 {
		got, _, err := Perplexity(m, ids, 256, nil)
		if err != nil || math.IsNaN(got) || math.IsInf(got, 0) {
			t.Fatalf("perplexity: %v, %v", got, err)
		}
		return got
	}
	bf16, f16 := convert.Options{DType: format.BF16}, convert.Options{DType: format.F16}
	base := nll(loadModel(t, "pretrained-micro", bf16))
	int8 := nll(loadModel(t, "pretrained-micro", convert.Options{DType: format.BF16, QuantizeInt8: true}))
	act := nll(bf16Prefill(t, "pretrained-micro", bf16, false))
	// The fixture's weights are bf16, so its f16 file holds bf16 values:
	// by default it takes the bf16 path too (as with halfToo), with the
	// bf16 file's results up to the other kernels' summation order
	// (measured 4e-8).
	exact := loadModel(t, "pretrained-micro", f16)
	exact.UseBF16Prefill(true, false)
	auto := nll(exact)
	exact.UseBF16Prefill(true, true)
	if forced := nll(exact); auto != forced || !(math.Abs(auto-act) <= 1e-6) {
		t.Errorf("f16 file of bf16 values: NLL %.9f by default, %.9f with halfToo, want both equal and within 1e-6 of the bf16 file's %.9f", auto, forced, act)
	}
	// Fill the 3 mantissa bits f16 has beyond bf16 with noise to measure
	// what rounding genuine f16 weights costs; by default they keep f32
	// activations.
	mh := loadModel(t, "pretrained-micro", f16)
	fillF16Bits(mh)
	if mh.UseBF16Prefill(true, false); mh.bf16PrefillF16 {
		t.Error("f16 weights with full mantissas take the bf16 path by default")
	}
	mh.UseBF16Prefill(false, false)
	halfF32 := nll(mh)
	mh.UseBF16Prefill(true, true)
	half := nll(mh)
	t.Logf("mean NLL: f32 activations %.6f, int8 weights %+.2e, bf16 activations %+.2e; full-precision f16 weights: f32 activations %.6f, rounded to bf16 with bf16 activations %+.2e",
		base, int8-base, act-base, halfF32, half-halfF32)
	// Measured (AVX512_BF16): +4.6e-6 and -1.5e-5, against the int8 gap
	// of +2.9e-4 (int8 weights and activations).
	if !kernels.HasBF16Dot() {
		if act != base || half != halfF32 {
			t.Errorf("without bf16 dot products the NLL moved: %.6f vs %.6f, %.6f vs %.6f", act, base, half, halfF32)
		}
		return
	}
	if act == base {
		t.Errorf("bf16 activations gave exactly the f32 NLL %.6f: the bf16 path did not run", base)
	}
	if d := math.Abs(act - base); !(d <= 2e-5) {
		t.Errorf("bf16 activations move the mean NLL by %.3g, want at most 2e-5", d)
	}
	if d := math.Abs(half - halfF32); !(d <= 5e-5) {
		t.Errorf("f16 weights rounded to bf16 move the mean NLL by %.3g, want at most 5e-5", d)
	}
}

// TestParityBF16Prefill checks bf16 prefill on the parity fixtures (their
// 40- and 160-token sequences take the bf16 path) against the references
// with the reduced-precision rule, and against the same file with f32
// activations position by position, with int8 weights' figures (TestInt8)
// as the bar. Measured (AVX512_BF16): logits within 0.17-0.27 of the
// references (random weights: nearly flat logits of a few units), greedy
// steps' top logits within 0.19; against f32 activations top-1 agreement
// 0.990-1.0 and min cosine 0.99985, where int8 weights have 0.93-0.96 and
// 0.9977.
func TestParityBF16Prefill(t *testing.T) {
	for _, model := range parityModels {
		t.Run(model, func(t *testing.T) {
			ref := readReference(t, model)
			m := bf16Prefill(t, model, convert.Options{DType: format.BF16}, false)
			got := checkParity(t, m, model, tolerances{logits: 0.4, reduced: true}, false)
			mf := loadModel(t, model, convert.Options{DType: format.BF16})
			agree, total, minCos := agreement(t, mf, m, ref.Sequences)
			mq := loadModel(t, model, convert.Options{DType: format.BF16, QuantizeInt8: true})
			qAgree, _, qCos := agreement(t, mf, mq, ref.Sequences)
			frac, qFrac := float64(agree)/float64(total), float64(qAgree)/float64(total)
			t.Logf("bf16 prefill: logits max diff %.2e, greedy top %.2e over %d steps; vs f32 activations: top-1 agreement %.4f, min cosine %.6f (int8: %.4f, %.6f)",
				got.logits, got.greedyTop, got.greedySteps, frac, minCos, qFrac, qCos)
			if !(frac >= 0.97) || !(minCos >= 0.9995) {
				t.Errorf("agreement %.4f (want >= 0.97), min cosine %.6f (want >= 0.9995)", frac, minCos)
			}
		})
	}
}

// fillF16Bits gives every f16 projection weight of m pseudo-random values in
// the 3 low mantissa bits that bf16 lacks (on copies: the file stays as is).
func fillF16Bits(m *Model) {
	h := uint32(12345)
	fill := func(w *kernels.Matrix) {
		if w.Type != kernels.F16 {
			panic("fillF16Bits: not f16")
		}
		c := make([]uint16, len(w.Half))
		for i, v := range w.Half {
			h ^= h << 13
			h ^= h >> 17
			h ^= h << 5
			if v&0x7c00 != 0x7c00 && half.F16ToF32(v) != 0 {
				v = v&^7 | uint16(h&7)
			}
			c[i] = v
		}
		w.Half = c
	}
	for i := range m.layers {
		ly := &m.layers[i]
		for _, w := range []*kernels.Matrix{&ly.q, &ly.k, &ly.v, &ly.o, &ly.gate, &ly.up, &ly.down} {
			fill(w)
		}
	}
}

// TestHalvesAreBF16 checks the f16 -> bf16 exactness test against the
// conversions over every f16 pattern but NaNs, alone and in runs of 4 and 5
// values and at the end of a run of 20 (the word loop and its tail).
func TestHalvesAreBF16(t *testing.T) {
	exact := func(h uint16) bool {
		f := half.F16ToF32(h)
		return half.BF16ToF32(half.F32ToBF16(f)) == f
	}
	for v := range 1 << 16 {
		h := uint16(v)
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN
		}
		want := exact(h)
		if got := halvesAreBF16([]uint16{h}); got != want {
			t.Fatalf("%#04x (%g): %v, want %v", h, half.F16ToF32(h), got, want)
		}
		long := make([]uint16, 20)
		long[15], long[19] = h, h
		for _, run := range [][]uint16{{0x3c00, h, 0, 0x3c00}, {0x3c00, 0, 0, 0x3c00, h}, long} {
			if got := halvesAreBF16(run); got != want {
				t.Fatalf("%#04x in %#04x: %v, want %v", h, run, got, want)
			}
		}
	}
	if !halvesAreBF16(nil) {
		t.Error("no value: want true")
	}
}

// BenchmarkHalvesAreBF16 scans 16M f16 values that are all bf16 (the
// scan UseBF16Prefill makes of an f16 model at open).
func BenchmarkHalvesAreBF16(b *testing.B) {
	h := make([]uint16, 1<<24)
	for i := range h {
		h[i] = uint16(i*8) & 0x7bf8
	}
	b.SetBytes(int64(2 * len(h)))
	for b.Loop() {
		if !halvesAreBF16(h) {
			b.Fatal("not bf16")
		}
	}
}
