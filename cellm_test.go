package cellm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/sample"
)

var (
	microOnce sync.Once
	microPath string
	microErr  error
)

// TestMain keeps the converted models of the tests and examples in a
// temporary directory removed at exit.
func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

// micro returns the shipped English model converted to int8 .cellm.
func micro(t testing.TB) *Model {
	t.Helper()
	microOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cellm-sdk-*")
		if err != nil {
			microErr = err
			return
		}
		microPath = filepath.Join(dir, "micro.cellm")
		_, microErr = convert.Convert(filepath.Join("testdata", "pretrained-micro"), microPath,
			convert.Options{DType: format.F16, QuantizeInt8: true})
	})
	if microErr != nil {
		t.Fatal(microErr)
	}
	m, err := Open(microPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestGenerateGreedyDeterministic(t *testing.T) {
	m := micro(t)
	req := Request{Prompt: "The Python tutorial", MaxNewTokens: 12}
	var streamed strings.Builder
	a, err := m.Generate(context.Background(), req, func(tk Token) bool { streamed.WriteString(tk.Text); return true })
	if err != nil {
		t.Fatal(err)
	}
	if a.StopReason != "max_tokens" || len(a.Tokens) != 12 || a.Text == "" {
		t.Fatalf("result %+v", a)
	}
	if streamed.String() != a.Text {
		t.Errorf("streamed %q, result %q", streamed.String(), a.Text)
	}
	b, _ := m.Generate(context.Background(), req, nil)
	if a.Text != b.Text {
		t.Errorf("greedy not deterministic: %q vs %q", a.Text, b.Text)
	}
	dec, _ := m.Tokenizer().Decode(a.Tokens, true)
	if dec != a.Text {
		t.Errorf("text %q, decoded tokens %q", a.Text, dec)
	}
}

func TestSeededSampling(t *testing.T) {
	m := micro(t)
	req := Request{Prompt: "Classes", MaxNewTokens: 16, Sampling: sample.Options{Temperature: 0.9, TopK: 40, TopP: 0.95, Seed: 7}}
	a, err := m.Generate(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Generate(context.Background(), req, nil)
	if a.Text != b.Text {
		t.Errorf("same seed, different text: %q vs %q", a.Text, b.Text)
	}
}

func TestStopStringAndIterator(t *testing.T) {
	m := micro(t)
	full, _ := m.Generate(context.Background(), Request{Prompt: "The Python tutorial", MaxNewTokens: 20}, nil)
	words := strings.Fields(full.Text)
	if len(words) < 3 {
		t.Skipf("too little text to pick a stop string: %q", full.Text)
	}
	stop := words[2]
	res, err := m.Generate(context.Background(), Request{Prompt: "The Python tutorial", MaxNewTokens: 20, Stop: []string{stop}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := full.Text[:strings.Index(full.Text, stop)]
	if res.StopReason != "stop_string" || res.Text != want {
		t.Errorf("stop %q: got %q (%s), want %q", stop, res.Text, res.StopReason, want)
	}
	n := 0
	for tk, err := range m.Tokens(context.Background(), Request{Prompt: "Hello", MaxNewTokens: 10}) {
		if err != nil {
			t.Fatal(err)
		}
		_ = tk
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("iterator yielded %d", n)
	}
}

func TestConcurrentGenerations(t *testing.T) {
	m := micro(t)
	want, _ := m.Generate(context.Background(), Request{Prompt: "A module is", MaxNewTokens: 8}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			got, err := m.Generate(context.Background(), Request{Prompt: "A module is", MaxNewTokens: 8}, nil)
			if err == nil && got.Text != want.Text {
				err = errors.New("concurrent generation differs: " + got.Text)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestChatAndErrors(t *testing.T) {
	m := micro(t)
	if !m.HasChatTemplate() {
		t.Fatal("no chat template loaded from tokenizer_config.json")
	}
	res, err := m.Generate(context.Background(), Request{Prompt: "hi", Chat: true, System: "Be brief.", MaxNewTokens: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prompt, _ := m.Tokenizer().Decode(res.PromptIDs, false)
	if !strings.Contains(prompt, "<|im_start|>system\nBe brief.<|im_end|>") || !strings.HasSuffix(prompt, "<|im_start|>assistant\n") {
		t.Errorf("chat prompt %q", prompt)
	}
	plain, err := m.Generate(context.Background(), Request{Messages: []chat.Message{{Role: "user", Content: "x"}}, ChatFormat: "plain", MaxNewTokens: 1}, nil)
	if err != nil || len(plain.PromptIDs) == 0 {
		t.Errorf("plain chat: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Generate(ctx, Request{Prompt: "x", MaxNewTokens: 5}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	for _, c := range []struct {
		req  Request
		want string
	}{
		{Request{}, "empty prompt"},
		{Request{InputIDs: []int{1 << 30}}, "outside the vocabulary"},
		{Request{Prompt: "a", Images: [][]byte{{1}}}, "text-only model"},
		{Request{Prompt: strings.Repeat("word ", 600)}, "context limit"},
		{Request{Prompt: "a", Chat: true, ChatFormat: "yaml"}, "chat format"},
	} {
		if _, err := m.Generate(context.Background(), c.req, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.req.ChatFormat, err, c.want)
		}
	}
}

// An unreadable file is named once in Open's error.
func TestOpenErrorNamesFileOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.cellm")
	os.WriteFile(path, []byte("CELLM\x01junk"), 0o644)
	_, err := Open(path, nil)
	if err == nil || strings.Count(err.Error(), path) != 1 {
		t.Errorf("error %v", err)
	}
}

// Request.KVType selects the KV cache storage: on the shipped model the
// greedy tokens of every type equal f32's (measured: identical); a session
// keeps a cache per type; bad names and contradictions are errors.
func TestRequestKVType(t *testing.T) {
	m := micro(t)
	ctx := context.Background()
	base := Request{Prompt: "The Python tutorial", MaxNewTokens: 16, IgnoreEOS: true}
	want, err := m.Generate(ctx, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewSession()
	defer s.Close()
	for _, kv := range []string{"f16", "q8", "int8"} {
		req := base
		req.KVType = kv
		got, err := m.Generate(ctx, req, nil)
		if err != nil || !slices.Equal(got.Tokens, want.Tokens) {
			t.Errorf("KVType %s: %v, %v; want the f32 cache's tokens %v", kv, got.Tokens, err, want.Tokens)
		}
		if got, err := s.Generate(ctx, req, nil); err != nil || !slices.Equal(got.Tokens, want.Tokens) {
			t.Errorf("session, KVType %s: %v, %v", kv, got.Tokens, err)
		}
	}
	for _, req := range []Request{{Prompt: "x", KVType: "q4"}, {Prompt: "x", KVType: "q8", KVF16: true}} {
		if _, err := m.Generate(ctx, req, nil); err == nil || !strings.Contains(err.Error(), "KV") {
			t.Errorf("KVType %q KVF16 %v: err %v, want a KV type error", req.KVType, req.KVF16, err)
		}
	}
}
