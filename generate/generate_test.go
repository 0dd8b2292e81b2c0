package generate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/models/llama"
	"github.com/cellm-ai/cellm-go/sample"
)

// The llama-tiny reference: prompt "len7" and its 16 greedy tokens
// (testdata/llama-tiny/reference/reference.json, EOS disabled).
var (
	refPrompt = []int{1, 22288, 4773, 30343, 34209, 9797, 22278}
	refGreedy = []int{16177, 17684, 21819, 21819, 21819, 47535, 47535, 47535, 1075, 13484, 10323, 38090, 48719, 48719, 48719, 48719}
)

var (
	modelOnce sync.Once
	model     *llama.Model
	modelErr  error
)

// tinyModel converts and loads llama-tiny once per test binary.
func tinyModel(t testing.TB) *llama.Model {
	t.Helper()
	fixture := testutil.Fixture(t, "llama-tiny")
	modelOnce.Do(func() {
		dir, err := os.MkdirTemp("", "generate-test-")
		if err != nil {
			modelErr = err
			return
		}
		path := filepath.Join(dir, "llama-tiny.cellm")
		defer os.RemoveAll(dir) // the mapping stays valid after unlinking
		if _, modelErr = convert.Convert(fixture, path, convert.Options{DType: format.BF16}); modelErr != nil {
			return
		}
		f, err := format.Open(path)
		if err != nil {
			modelErr = err
			return
		}
		model, modelErr = llama.Load(f)
	})
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	return model
}

func TestGreedyMatchesReference(t *testing.T) {
	m := tinyModel(t)
	var streamed []int
	res, err := Generate(context.Background(), m, refPrompt, Options{MaxNewTokens: 16, IgnoreEOS: true},
		func(id int) bool { streamed = append(streamed, id); return true })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Tokens, refGreedy) || !slices.Equal(streamed, refGreedy) {
		t.Fatalf("tokens %v (streamed %v), want %v", res.Tokens, streamed, refGreedy)
	}
	if res.Stop != StopMaxTokens || res.PromptTokens != 7 || res.DecodeSteps != 15 {
		t.Errorf("stop %v, prompt %d, decode steps %d", res.Stop, res.PromptTokens, res.DecodeSteps)
	}
	if res.Prefill <= 0 || res.TimeToFirstToken < res.Prefill || res.PrefillTokensPerSec() <= 0 || res.DecodeTokensPerSec() <= 0 {
		t.Errorf("timings: %+v", res)
	}
	t.Logf("prefill %.0f tok/s, decode %.0f tok/s, TTFT %v", res.PrefillTokensPerSec(), res.DecodeTokensPerSec(), res.TimeToFirstToken)
}

func TestStops(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		opts    Options
		onToken func(int) bool
		want    []int
		stop    StopReason
	}{
		{"eos", ctx, Options{MaxNewTokens: 16, EOS: []int{21819}}, nil, refGreedy[:3], StopEOS},
		{"eos ignored", ctx, Options{MaxNewTokens: 4, EOS: []int{21819}, IgnoreEOS: true}, nil, refGreedy[:4], StopMaxTokens},
		{"model eos never hit", ctx, Options{MaxNewTokens: 5}, nil, refGreedy[:5], StopMaxTokens},
		{"context full", ctx, Options{MaxContext: 12, IgnoreEOS: true}, nil, refGreedy[:6], StopContext},
		{"context exactly", ctx, Options{MaxContext: 7, MaxNewTokens: 3}, nil, refGreedy[:1], StopContext},
		{"callback", ctx, Options{MaxNewTokens: 16}, func(id int) bool { return id != 47535 }, refGreedy[:6], StopCallback},
		{"canceled", canceled, Options{MaxNewTokens: 16}, nil, []int{}, StopCanceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Generate(tc.ctx, m, refPrompt, tc.opts, tc.onToken)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Tokens, tc.want) || res.Stop != tc.stop {
				t.Fatalf("tokens %v stop %v, want %v %v", res.Tokens, res.Stop, tc.want, tc.stop)
			}
		})
	}
}

func TestCancelMidway(t *testing.T) {
	m := tinyModel(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Generate(ctx, m, refPrompt, Options{MaxNewTokens: 16, IgnoreEOS: true}, func(id int) bool {
		cancel()
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != StopCanceled || len(res.Tokens) != 1 {
		t.Fatalf("stop %v after %d tokens, want canceled after 1", res.Stop, len(res.Tokens))
	}
}

func TestMinNewTokens(t *testing.T) {
	m := tinyModel(t)
	// With 21819 as EOS and at least 5 tokens, 21819 cannot appear in the first 5.
	res, err := Generate(context.Background(), m, refPrompt, Options{MaxNewTokens: 10, MinNewTokens: 5, EOS: []int{21819}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tokens) < 5 || slices.Contains(res.Tokens[:5], 21819) {
		t.Fatalf("tokens %v", res.Tokens)
	}
	if !slices.Equal(res.Tokens[:2], refGreedy[:2]) {
		t.Errorf("tokens before the suppressed EOS changed: %v", res.Tokens)
	}
}

func TestErrors(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"empty", func() error { _, err := Generate(ctx, m, nil, Options{}, nil); return err }, "empty prompt"},
		{"too long", func() error { _, err := Generate(ctx, m, refPrompt, Options{MaxContext: 5}, nil); return err }, "exceed the context limit of 5"},
		{"token", func() error { _, err := Generate(ctx, m, []int{1, 1 << 20}, Options{MaxNewTokens: 2}, nil); return err }, "outside the vocabulary"},
		{"eos", func() error { _, err := Generate(ctx, m, refPrompt, Options{EOS: []int{-3}}, nil); return err }, "EOS id -3"},
		{"sampling", func() error {
			_, err := Generate(ctx, m, refPrompt, Options{Sampling: sample.Options{TopP: 3}}, nil)
			return err
		}, "top-p"},
		{"negative", func() error { _, err := Generate(ctx, m, refPrompt, Options{MaxNewTokens: -1}, nil); return err }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFromEmbeddings(t *testing.T) {
	m := tinyModel(t)
	x := make([]float32, len(refPrompt)*m.Config().Hidden)
	if err := m.Embed(x, refPrompt); err != nil {
		t.Fatal(err)
	}
	res, err := GenerateFromEmbeddings(context.Background(), m, x, len(refPrompt), refPrompt, Options{MaxNewTokens: 16, IgnoreEOS: true, KVF16: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The f16 KV cache keeps the first tokens (reference margins >= 0.25).
	if !slices.Equal(res.Tokens[:3], refGreedy[:3]) {
		t.Fatalf("tokens %v, want prefix %v", res.Tokens, refGreedy[:3])
	}
}

func TestSampledDeterministic(t *testing.T) {
	m := tinyModel(t)
	opts := Options{MaxNewTokens: 12, IgnoreEOS: true,
		Sampling: sample.Options{Temperature: 1.5, TopK: 100, TopP: 0.95, RepetitionPenalty: 1.2, Seed: 11}}
	a, err := Generate(context.Background(), m, refPrompt, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(context.Background(), m, refPrompt, opts, nil)
	opts.Sampling.Seed = 12
	c, _ := Generate(context.Background(), m, refPrompt, opts, nil)
	if !slices.Equal(a.Tokens, b.Tokens) {
		t.Fatalf("same seed: %v vs %v", a.Tokens, b.Tokens)
	}
	if slices.Equal(a.Tokens, c.Tokens) {
		t.Fatalf("different seeds gave the same %v", a.Tokens)
	}
}

func TestIterator(t *testing.T) {
	m := tinyModel(t)
	var got []int
	for id, err := range Tokens(context.Background(), m, refPrompt, Options{MaxNewTokens: 16, IgnoreEOS: true}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
		if len(got) == 4 {
			break
		}
	}
	if !slices.Equal(got, refGreedy[:4]) {
		t.Fatalf("iterator gave %v", got)
	}
	for id, err := range Tokens(context.Background(), m, nil, Options{}) {
		if err == nil || id != -1 {
			t.Fatalf("empty prompt yielded %d, %v", id, err)
		}
	}
}

// TestNoAllocsPerToken checks that generating more tokens does not allocate
// more: a call's allocations do not grow with its length.
func TestNoAllocsPerToken(t *testing.T) {
	m := tinyModel(t)
	for _, so := range []sample.Options{{}, {Temperature: 0.8, TopK: 40, TopP: 0.9, RepetitionPenalty: 1.1}} {
		allocs := func(n int) float64 {
			return testing.AllocsPerRun(3, func() {
				opts := Options{MaxNewTokens: n, MaxContext: 64, IgnoreEOS: true, Sampling: so}
				if _, err := Generate(context.Background(), m, refPrompt, opts, nil); err != nil {
					t.Fatal(err)
				}
			})
		}
		if short, long := allocs(4), allocs(40); long != short {
			t.Errorf("%+v: %v allocations for 4 tokens, %v for 40", so, short, long)
		}
	}
}

// BenchmarkDecodeTiny measures one decode step (forward pass of one token
// plus greedy sampling) on the llama-tiny fixture; it reports 0 allocs/op.
func BenchmarkDecodeTiny(b *testing.B) {
	m := tinyModel(b)
	s := m.NewState(256)
	smp, err := sample.New(m.Config().Vocab, sample.Options{})
	if err != nil {
		b.Fatal(err)
	}
	logits := make([]float32, m.Config().Vocab)
	tok := []int{0}
	prefill := func() {
		s.Reset()
		if err := m.Forward(s, refPrompt, logits, false); err != nil {
			b.Fatal(err)
		}
	}
	prefill()
	b.ReportAllocs()
	for b.Loop() {
		if s.Pos() == s.MaxSeq() {
			b.StopTimer()
			prefill()
			b.StartTimer()
		}
		tok[0] = smp.Sample(logits, nil)
		if err := m.Forward(s, tok, logits, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}

func ExampleGenerate() {
	dir, _ := os.MkdirTemp("", "generate-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.cellm")
	if _, err := convert.Convert("../testdata/llama-tiny", path, convert.Options{DType: format.BF16}); err != nil {
		fmt.Println(err)
		return
	}
	f, err := format.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	m, err := llama.Load(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	prompt := []int{1, 22288, 4773, 30343, 34209, 9797, 22278}
	res, err := Generate(context.Background(), m, prompt, Options{MaxNewTokens: 5}, func(id int) bool {
		fmt.Print(id, " ")
		return true
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("|", res.Stop)
	// Output: 16177 17684 21819 21819 21819 | max_tokens
}
