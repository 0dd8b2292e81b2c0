package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/server"
)

// TestBenchServeURL drives our own server, started in the test, through
// the --url client: every request must be counted with exactly --gen tokens.
func TestBenchServeURL(t *testing.T) {
	m, err := cellm.Open(micro(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv, err := server.New(server.Config{Parallel: 2, MaxQueue: 4, MaxTokens: 64, Context: 64}, server.Model{Name: "micro", Model: m})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer func() {
		hs.Close()
		srv.Shutdown(context.Background())
	}()

	load := serveLoad{URL: hs.URL + "/v1/completions", Prompt: 5, Gen: 7, Rounds: 2, Stagger: time.Millisecond}
	if err := discoverModel(hs.Client(), hs.URL+"/", &load); err == nil || !strings.Contains(err.Error(), "--vocab") {
		t.Fatalf("no n_vocab from /v1/models: got %v, want an error naming --vocab", err)
	}
	load.Vocab = m.Vocab()
	if load.Model != "micro" {
		t.Fatalf("model %q from /v1/models, want micro", load.Model)
	}
	r, err := load.level(hs.Client(), rand.New(rand.NewPCG(1, 2)), 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 4 || r.Tokens != 4*7 || len(r.TTFTs) != 4 || r.TTFT(0.5) <= 0 || r.Aggregate() <= 0 {
		t.Errorf("got %d requests, %d tokens, TTFTs %v, want 4 requests of 7 tokens", r.Requests, r.Tokens, r.TTFTs)
	}
	// The window is empty when the second client started after the first
	// one's last reply (a busy machine); TestAllActive checks its arithmetic.
	if !(r.ActiveWall >= 0 && r.ActiveWall <= r.Wall && r.ActiveTokens >= 0 && r.ActiveTokens <= float64(r.Tokens) &&
		(r.ActiveWall > 0 || r.ActiveTokens == 0)) {
		t.Errorf("all-active window %v of %v with %g of %d tokens", r.ActiveWall, r.Wall, r.ActiveTokens, r.Tokens)
	}

	code, stdout, stderr := cli(t, "bench-serve", "--url", hs.URL, "--vocab", fmt.Sprint(m.Vocab()), "-c", "1,2", "-p", "4", "-n", "3", "-r", "1", "--stagger", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, row := range []string{"model micro,", "| all-active tok/s |", "\n| 1 | ", " | 1 | ", "\n| 2 | ", " | 2 | "} {
		if !strings.Contains(stdout, row) {
			t.Errorf("output lacks %q:\n%s", row, stdout)
		}
	}

	// A bad model name is the server's 404, reported with its message.
	load.Model = "nope"
	if _, err := load.level(hs.Client(), rand.New(rand.NewPCG(1, 2)), 1); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown model: got %v, want the server's 404 naming the model", err)
	}
}

// TestBenchRequestStreams checks token counting and error reporting on
// canned streams: usage wins over chunk counting, chunks are counted when
// there is no usage, and HTTP and in-stream errors are reported.
func TestBenchRequestStreams(t *testing.T) {
	chunk := `data: {"choices":[{"text":"a","finish_reason":null}]}` + "\n\n"
	for _, c := range []struct {
		name, body string
		status     int
		tokens     int
		err        string
	}{
		{"usage", strings.Repeat(chunk, 2) + `data: {"choices":[{"text":"","finish_reason":"length"}],"usage":{"completion_tokens":3}}` + "\n\ndata: [DONE]\n\n", 200, 3, ""},
		{"usage in a last chunk without choices", strings.Repeat(chunk, 3) + `data: {"choices":[{"text":"","finish_reason":"length"}]}` + "\n\n" + `data: {"choices":[],"usage":{"completion_tokens":3}}` + "\n\ndata: [DONE]\n\n", 200, 3, ""},
		{"no usage", strings.Repeat(chunk, 3) + `data: {"choices":[{"text":"","finish_reason":"length"}]}` + "\n\ndata: [DONE]\n\n", 200, 3, ""},
		{"http error", `{"error":{"code":400,"message":"Prompt contains invalid tokens"}}`, 400, 0, "400 Bad Request: {\"error\":{\"code\":400,\"message\":\"Prompt contains invalid tokens\""},
		{"stream error", chunk + `data: {"error":{"message":"out of memory"}}` + "\n\n", 200, 0, "out of memory"},
		{"bad chunk", chunk + "data: {\n\n", 200, 0, "stream chunk"},
		{"empty stream", "data: [DONE]\n\n", 200, 0, "no token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				fmt.Fprint(w, c.body)
			}))
			defer hs.Close()
			rep, err := benchRequest(hs.Client(), hs.URL, "m", []int{1, 2}, 3)
			n := rep.Tokens
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, want an error containing %q", err, c.err)
				}
				return
			}
			if err != nil || n != c.tokens {
				t.Fatalf("got %d tokens, %v; want %d", n, err, c.tokens)
			}
		})
	}

	// A server that stops short (no ignore_eos) fails the level.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, chunk+`data: {"choices":[{"text":"","finish_reason":"stop"}],"usage":{"completion_tokens":1}}`+"\n\n")
	}))
	defer hs.Close()
	load := serveLoad{URL: hs.URL, Model: "m", Vocab: 10, Prompt: 2, Gen: 3, Rounds: 1}
	if _, err := load.level(hs.Client(), rand.New(rand.NewPCG(1, 2)), 1); err == nil || !strings.Contains(err.Error(), "generated 1 tokens, want 3") {
		t.Errorf("short generation: got %v", err)
	}
}

// TestDiscoverModel reads the model name and vocabulary size from a
// llama-server style /v1/models.
func TestDiscoverModel(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/models" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"object":"list","data":[{"id":"a.gguf","meta":{"n_vocab":49152}},{"id":"b","meta":{"n_vocab":7}}]}`)
	}))
	defer hs.Close()
	for _, c := range []struct {
		model, want string
		vocab       int
		err         string
	}{
		{"", "a.gguf", 49152, ""},
		{"b", "b", 7, ""},
		{"c", "", 0, "no meta.n_vocab for \"c\""},
	} {
		l := serveLoad{Model: c.model}
		err := discoverModel(hs.Client(), hs.URL, &l)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("model %q: got %v, want error %q", c.model, err, c.err)
			}
			continue
		}
		if err != nil || l.Model != c.want || l.Vocab != c.vocab {
			t.Errorf("model %q: got %q vocab %d, %v; want %q vocab %d", c.model, l.Model, l.Vocab, err, c.want, c.vocab)
		}
	}
}

// TestAllActive checks the all-active window on hand-made replies: it runs
// from the last client's first start to the first client's last end, counts
// the chunks inside it (scaled by tokens per chunk) and is empty when the
// clients never overlap.
func TestAllActive(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		ts := make([]time.Time, len(ms))
		for i, m := range ms {
			ts[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return ts
	}
	reply := func(start, end int, tokens int, chunks ...int) benchReply {
		return benchReply{Start: at(start)[0], End: at(end)[0], Tokens: tokens, Chunks: at(chunks...)}
	}
	// Two clients of two rounds: client 0 runs 0..100 ms, client 1 10..150 ms.
	replies := []benchReply{
		reply(0, 40, 3, 5, 20, 35), reply(45, 100, 3, 50, 70, 95),
		reply(10, 60, 6, 15, 40, 55), reply(60, 150, 2, 110, 140), // 2 tokens a chunk, then after the window
	}
	tokens, wall := allActive(replies, 2, 2)
	// inside [10, 100] ms: 20, 35 | 50, 70, 95 | 15, 40, 55 (x2 tokens each)
	if want := 5 + 3*2.0; tokens != want || wall != 90*time.Millisecond {
		t.Errorf("got %g tokens over %v, want %g over 90ms", tokens, wall, want)
	}
	if tokens, wall := allActive([]benchReply{reply(0, 10, 1, 5), reply(20, 30, 1, 25)}, 2, 1); tokens != 0 || wall != 0 {
		t.Errorf("clients that never overlap: got %g tokens over %v, want none", tokens, wall)
	}
	if r := (serveResult{ActiveTokens: 5}); r.Active() != 0 {
		t.Errorf("Active() with no window = %g, want 0", r.Active())
	}
}
