package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// gate blocks the scheduler before its steps until opened.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate() *gate  { return &gate{ch: make(chan struct{})} }
func (g *gate) wait() { <-g.ch }
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoad runs 32 concurrent streaming clients with mixed prompt lengths
// against 8 slots and a queue of 16: 8 requests get 429, a quarter of the
// others disconnect mid-stream, every other stream is well formed and
// equal to the single-sequence greedy generation; afterwards no
// goroutine, queued job or KV block is left.
func TestLoad(t *testing.T) {
	const clients, maxTokens = 32, 24
	s, hs := testServer(t, Config{Parallel: 8, MaxQueue: 16}, false)
	sched := s.models[0].sched
	g := newGate()
	sched.stepHook = g.wait
	defer g.open()

	prompts := []string{"Hi", "What is a class?", strings.Repeat("Explain the module system of Python in detail. ", 8),
		strings.Repeat("A list comprehension builds a list from an iterable. ", 20)}
	want := map[string]string{}
	for _, p := range prompts {
		want[p] = sdkGreedy(t, microPath, p, maxTokens).Text
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: tr}
	baseline := runtime.NumGoroutine()

	type outcome struct {
		status int
		text   string
		err    error
		left   bool
	}
	out := make([]outcome, clients)
	var started sync.WaitGroup
	var wg sync.WaitGroup
	started.Add(clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prompt := prompts[i%len(prompts)]
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/v1/chat/completions",
				strings.NewReader(chatBody(prompt, maxTokens, `,"stream":true`)))
			resp, err := client.Do(req)
			started.Done()
			if err != nil {
				out[i].err = err
				return
			}
			defer resp.Body.Close()
			out[i].status = resp.StatusCode
			if resp.StatusCode != 200 {
				if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
					out[i].err = fmt.Errorf("429 without Retry-After")
				}
				return
			}
			if i%4 == 3 { // disconnect after a few chunks
				buf := make([]byte, 600)
				resp.Body.Read(buf)
				cancel()
				out[i].left = true
				return
			}
			st, err := readStream(resp.Body)
			out[i].text, out[i].err = st.text, err
			if err == nil && st.finish != "length" && st.finish != "stop" {
				out[i].err = fmt.Errorf("finish_reason %q", st.finish)
			}
		}()
	}
	started.Wait() // every client has its response headers: admitted (role chunk sent) or refused
	g.open()
	wg.Wait()

	refused, completed, left := 0, 0, 0
	for i, o := range out {
		switch {
		case o.err != nil:
			t.Errorf("client %d: %v", i, o.err)
		case o.status == 429:
			refused++
		case o.status != 200:
			t.Errorf("client %d: status %d", i, o.status)
		case o.left:
			left++
		default:
			completed++
			if p := prompts[i%len(prompts)]; o.text != want[p] {
				t.Errorf("client %d (prompt %.20q): %q, alone %q", i, p, o.text, want[p])
			}
		}
	}
	t.Logf("%d completed, %d disconnected, %d refused with 429", completed, left, refused)
	if refused < 8 || completed == 0 || left == 0 {
		t.Errorf("want at least 8 refusals (8 slots + 16 queued of 32), some completions and disconnects")
	}

	tr.CloseIdleConnections()
	waitFor(t, "the scheduler to empty", func() bool { q, a := sched.load(); return q == 0 && a == 0 })
	if st := s.models[0].eng.Pool().Stats(); st.BlocksUsed != 0 {
		t.Errorf("%d KV blocks still used", st.BlocksUsed)
	}
	waitFor(t, fmt.Sprintf("goroutines back to %d", baseline), func() bool { return runtime.NumGoroutine() <= baseline })
}

func TestDisconnectCancelsWithinAStep(t *testing.T) {
	s, hs := testServer(t, Config{Parallel: 2}, false)
	sched := s.models[0].sched
	steps := make(chan struct{}, 1000)
	sched.stepHook = func() { steps <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/v1/chat/completions",
		strings.NewReader(chatBody("What is a class?", 2000, `,"stream":true,"max_tokens":500`)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 400)
	resp.Body.Read(buf)
	cancel()
	resp.Body.Close()
	waitFor(t, "the sequence to leave", func() bool { _, a := sched.load(); return a == 0 })
	if st := s.models[0].eng.Pool().Stats(); st.BlocksUsed != 0 {
		t.Errorf("%d KV blocks still used", st.BlocksUsed)
	}
	if n := len(steps); n >= 400 {
		t.Errorf("%d steps ran: the canceled request was not stopped", n)
	}
}

func TestDeadline(t *testing.T) {
	s, hs := testServer(t, Config{RequestTimeout: 50 * time.Millisecond}, false)
	s.models[0].sched.stepHook = func() { time.Sleep(5 * time.Millisecond) }
	resp, body := post(t, hs.URL+"/v1/chat/completions", chatBody("hi", 500, ""))
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "deadline") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

func TestGracefulShutdown(t *testing.T) {
	s, hs := testServer(t, Config{}, false)
	g := newGate()
	s.models[0].sched.stepHook = g.wait
	defer g.open()
	resp, err := http.Post(hs.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody("What is a class?", 8, `,"stream":true`)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	waitFor(t, "draining", func() bool {
		select {
		case <-s.draining:
			return true
		default:
			return false
		}
	})
	r2, body := post(t, hs.URL+"/v1/chat/completions", chatBody("hi", 4, ""))
	if r2.StatusCode != 503 {
		t.Errorf("new request while draining: %d %s", r2.StatusCode, body)
	}
	g.open()
	st, err := readStream(resp.Body) // the running stream finishes normally
	if err != nil || st.text != sdkGreedy(t, microPath, "What is a class?", 8).Text {
		t.Errorf("in-flight stream: %q %v", st.text, err)
	}
	if err := <-done; err != nil {
		t.Error(err)
	}

	// A shutdown whose grace ends cancels what is still running.
	s2, hs2 := testServer(t, Config{}, false)
	s2.models[0].sched.stepHook = func() { time.Sleep(2 * time.Millisecond) }
	resp3, err := http.Post(hs2.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody("hi", 2000, `,"stream":true`)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp3.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s2.Shutdown(ctx); err == nil {
		t.Error("shutdown past its grace reported no error")
	}
	if _, err := readStream(resp3.Body); err == nil || !strings.Contains(err.Error(), "error event") {
		t.Errorf("canceled stream: %v", err)
	}
}

// TestKVAdmission gives the pool room for about two requests: the others
// wait for blocks (no 429, no error) and all finish with the reply they
// get alone; a request needing more than the whole budget is a 400.
func TestKVAdmission(t *testing.T) {
	m := open(t, microPath)
	spec := m.Decoder().Spec()
	perToken := int64(2 * spec.Layers * spec.KVHeads * spec.HeadDim * 4)
	s, hs := testServer(t, Config{Parallel: 8, KVBudgetBytes: 2 * 128 * perToken}, false)
	want := sdkGreedy(t, microPath, "What is a class?", 60).Text
	var wg sync.WaitGroup
	errs := make(chan string, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := post(t, hs.URL+"/v1/chat/completions", chatBody("What is a class?", 60, ""))
			var got chatResponse
			if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil || got.Choices[0].Message.Content != want {
				errs <- fmt.Sprintf("%d %s", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	resp, body := post(t, hs.URL+"/v1/chat/completions", chatBody("What is a class?", 1000, ""))
	if resp.StatusCode != 400 || !strings.Contains(string(body), "more KV cache than the budget") {
		t.Errorf("oversized request: %d %s", resp.StatusCode, body)
	}
	if st := s.models[0].eng.Pool().Stats(); st.BlocksUsed != 0 {
		t.Errorf("%d KV blocks still used", st.BlocksUsed)
	}
}

// TestPrefixReuse: a second request sharing the first one's head computes
// only the rest, and says so in usage.
func TestPrefixReuse(t *testing.T) {
	s, hs := testServer(t, Config{}, false)
	system := strings.Repeat("You answer questions about Python. ", 6)
	body := func(q string) string {
		return fmt.Sprintf(`{"model":"micro","max_tokens":4,"temperature":0,"messages":[{"role":"system","content":%q},{"role":"user","content":%q}]}`, system, q)
	}
	post(t, hs.URL+"/v1/chat/completions", body("What is a class?"))
	before := s.metrics.promptTokens.Load()
	resp, out := post(t, hs.URL+"/v1/chat/completions", body("What is a module?"))
	var got struct {
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			Details      struct {
				Cached int `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal(out, &got) != nil {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	computed := s.metrics.promptTokens.Load() - before
	if got.Usage.Details.Cached < 32 || int64(got.Usage.PromptTokens-got.Usage.Details.Cached) != computed {
		t.Errorf("usage %+v, %d prompt tokens computed", got.Usage, computed)
	}
}
