package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/server"
)

func init() {
	register("bench-serve", "serving benchmark: aggregate tok/s and time-to-first-token at several concurrent streams", false, runBenchServe)
}

func runBenchServe(args []string) error {
	fs := newFlags("bench-serve", "(-m FILE.cellm | --random smollm2-135m [--dtype int8] | --url http://HOST:PORT [--model NAME]) [-c 1,4,8,16] [-p 100] [-n 64] [-r 2]")
	model := fs.String("model", "", ".cellm `file` (with --url: the model name sent, default the first of the server's /v1/models)")
	alias(fs, "model", "m")
	random := fs.String("random", "", "benchmark a random-weight model at a real shape (smollm2-135m, ...)")
	dtype := fs.String("dtype", "int8", "with --random: "+dtypeHelp)
	url := fs.String("url", "", "drive this external OpenAI-compatible server (`base URL`, /v1/completions is appended) instead of an in-process one")
	vocab := fs.Int("vocab", 0, "with --url: vocabulary size the random prompt ids are drawn from (default: the server's /v1/models meta.n_vocab)")
	conc := fs.String("concurrency", "1,4,8,16", "comma-separated numbers of concurrent streaming clients")
	alias(fs, "concurrency", "c")
	promptLen := fs.Int("prompt", 100, "prompt tokens per request (random ids: no prefix reuse)")
	alias(fs, "prompt", "p")
	gen := fs.Int("gen", 64, "tokens generated per request (end-of-sequence ignored)")
	alias(fs, "gen", "n")
	rounds := fs.Int("rounds", 2, "requests each client sends one after another")
	alias(fs, "rounds", "r")
	stepTokens := fs.Int("step-tokens", 32, "server --step-tokens")
	stagger := fs.Duration("stagger", 100*time.Millisecond, "client i starts after i times this (0: all at once, a burst)")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "worker threads")
	alias(fs, "threads", "t")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this `file`")
	if err := parse(fs, args); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	levels, err := parseCounts("--concurrency", *conc)
	if err != nil {
		return err
	}
	if err := checkThreads("--threads (-t)", *threads); err != nil {
		return err
	}
	if *promptLen < 1 || *gen < 1 || *rounds < 1 {
		return fmt.Errorf("--prompt, --gen and --rounds must be positive")
	}
	if *vocab < 0 {
		return fmt.Errorf("--vocab must be positive")
	}
	load := serveLoad{Levels: levels, Prompt: *promptLen, Gen: *gen, Rounds: *rounds, Stagger: *stagger}
	most := slices.Max(levels)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: most}}
	if *url != "" {
		if *random != "" {
			return fmt.Errorf("give --url or --random, not both")
		}
		// A fresh connection per request: llama-server may close a
		// connection after a streamed response, and a POST sent on it as it
		// closes fails with EOF (Go retries no POST).
		client.Transport = &http.Transport{DisableKeepAlives: true}
		load.Vocab = *vocab
		load.Model = *model
		if err := discoverModel(client, *url, &load); err != nil {
			return err
		}
		load.URL = strings.TrimRight(*url, "/") + "/v1/completions"
		fmt.Printf("server %s, model %s, ", *url, load.Model)
		return load.run(os.Stdout, client)
	}
	if *vocab != 0 {
		return fmt.Errorf("--vocab is for --url: the in-process model gives its own")
	}
	kernels.SetThreads(*threads)
	path := *model
	switch {
	case path != "" && *random != "":
		return fmt.Errorf("give --model or --random, not both")
	case path == "" && *random == "":
		fs.Usage()
		return errUsage
	case path == "":
		if path, err = randomCellm(*random, *dtype, ""); err != nil {
			return err
		}
	}
	m, err := cellm.Open(path, nil)
	if err != nil {
		return convertHint(path, err)
	}
	defer m.Close()
	srv, err := server.New(server.Config{Parallel: most, MaxQueue: most, StepTokens: *stepTokens,
		Context: *promptLen + *gen + 16, MaxTokens: *gen}, server.Model{Name: "bench", Model: m})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer func() {
		hs.Close()
		srv.Shutdown(context.Background())
	}()
	load.URL = "http://" + ln.Addr().String() + "/v1/completions"
	load.Model = "bench"
	load.Vocab = m.Vocab()
	fmt.Printf("model %s, step %d tokens, %d threads, ", path, *stepTokens, *threads)
	return load.run(os.Stdout, client)
}

// serveLoad is the load bench-serve sends: at each concurrency level, that
// many streaming clients started Stagger apart, each sending Rounds
// completion requests one after another with Prompt random token ids
// (drawn from a fixed seed, so two servers get the same prompts) and Gen
// tokens to generate with end-of-sequence ignored.
type serveLoad struct {
	URL     string // the /v1/completions endpoint
	Model   string // model name sent in each request
	Vocab   int    // prompt ids are drawn from [0, Vocab)
	Levels  []int  // numbers of concurrent clients
	Prompt  int
	Gen     int
	Rounds  int
	Stagger time.Duration
}

// serveResult is the measurement of one concurrency level.
type serveResult struct {
	Streams  int
	Requests int
	Tokens   int // generated tokens counted over all requests
	Wall     time.Duration
	TTFTs    []time.Duration // sorted
}

// Aggregate is the generated tokens per second of wall time over all streams.
func (r serveResult) Aggregate() float64 { return float64(r.Tokens) / r.Wall.Seconds() }

// TTFT returns the q-quantile (0..1) of the times to first token.
func (r serveResult) TTFT(q float64) time.Duration {
	return r.TTFTs[min(len(r.TTFTs)-1, int(q*float64(len(r.TTFTs))))]
}

// run drives the load level by level and prints a markdown table row per level.
func (l serveLoad) run(w io.Writer, client *http.Client) error {
	fmt.Fprintf(w, "prompt %d tokens, %d generated, %d rounds per client, clients %v apart (%s)\n\n",
		l.Prompt, l.Gen, l.Rounds, l.Stagger, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(w, "| streams | aggregate tok/s | per-stream tok/s | TTFT p50 | TTFT p99 | requests |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range l.Levels {
		r, err := l.level(client, rng, c)
		if err != nil {
			return err
		}
		agg := r.Aggregate()
		fmt.Fprintf(w, "| %d | %.1f | %.1f | %.0f ms | %.0f ms | %d |\n", c, agg, agg/float64(c),
			float64(r.TTFT(0.5).Microseconds())/1e3, float64(r.TTFT(0.99).Microseconds())/1e3, r.Requests)
	}
	return nil
}

// level runs c concurrent clients and returns their measurement, or the
// first error a request met (every request must generate exactly Gen tokens).
func (l serveLoad) level(client *http.Client, rng *rand.Rand, c int) (serveResult, error) {
	var mu sync.Mutex
	res := serveResult{Streams: c}
	var firstErr error
	prompts := make([][]int, c*l.Rounds)
	for i := range prompts {
		prompts[i] = make([]int, l.Prompt)
		for k := range prompts[i] {
			prompts[i][k] = rng.IntN(l.Vocab)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * l.Stagger)
			for r := range l.Rounds {
				ttft, n, err := benchRequest(client, l.URL, l.Model, prompts[i*l.Rounds+r], l.Gen)
				if err == nil && n != l.Gen {
					err = fmt.Errorf("%s generated %d tokens, want %d (is ignore_eos supported?)", l.URL, n, l.Gen)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				res.TTFTs = append(res.TTFTs, ttft)
				res.Tokens += n
				res.Requests++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Wall = time.Since(start)
	if firstErr != nil {
		return res, firstErr
	}
	slices.Sort(res.TTFTs)
	return res, nil
}

// discoverModel fills in l.Model (when empty) with the first model id of
// the server's /v1/models and l.Vocab (when 0) with its meta.n_vocab, which
// llama-server reports.
func discoverModel(client *http.Client, base string, l *serveLoad) error {
	if l.Model != "" && l.Vocab > 0 {
		return nil
	}
	u := strings.TrimRight(base, "/") + "/v1/models"
	resp, err := client.Get(u)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, errorBody(resp))
	}
	type entry struct {
		ID   string `json:"id"`
		Meta *struct {
			NVocab int `json:"n_vocab"`
		} `json:"meta"`
	}
	var list struct {
		Data []entry `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&list); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	i := slices.IndexFunc(list.Data, func(d entry) bool { return l.Model == "" || d.ID == l.Model })
	if l.Model == "" {
		if i < 0 {
			return fmt.Errorf("GET %s lists no model: give --model", u)
		}
		l.Model = list.Data[i].ID
	}
	if l.Vocab == 0 {
		if i < 0 || list.Data[i].Meta == nil || list.Data[i].Meta.NVocab <= 0 {
			return fmt.Errorf("GET %s gives no meta.n_vocab for %q: give --vocab", u, l.Model)
		}
		l.Vocab = list.Data[i].Meta.NVocab
	}
	return nil
}

// errorBody returns the status and the start of an error response's body.
func errorBody(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if msg := strings.TrimSpace(string(b)); msg != "" {
		return resp.Status + ": " + msg
	}
	return resp.Status
}

// benchRequest streams one completion and returns its time to first token
// and the number of tokens generated: the stream's usage.completion_tokens
// when the server sends it (stream_options.include_usage), else the number
// of chunks carrying text before the finish reason (one token each, as
// cellm serve and llama-server send them).
func benchRequest(client *http.Client, url, model string, prompt []int, gen int) (time.Duration, int, error) {
	body, _ := json.Marshal(map[string]any{"model": model, "prompt": prompt, "max_tokens": gen,
		"temperature": 0, "ignore_eos": true, "stream": true, "logprobs": 0, "stream_options": map[string]bool{"include_usage": true}})
	start := time.Now()
	resp, err := client.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return 0, 0, fmt.Errorf("%w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("POST %s: %s", url, errorBody(resp))
	}
	var ttft time.Duration
	chunks, usage := 0, -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		data = strings.TrimSpace(data)
		if !ok || data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Text         string  `json:"text"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct{ Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return 0, 0, fmt.Errorf("%s: stream chunk: %w", url, err)
		}
		if c.Error != nil {
			return 0, 0, fmt.Errorf("%s: %s", url, c.Error.Message)
		}
		if len(c.Choices) > 0 && c.Choices[0].FinishReason == nil {
			if ttft == 0 {
				ttft = time.Since(start)
			}
			chunks++
		}
		if c.Usage != nil {
			usage = c.Usage.CompletionTokens
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", url, err)
	}
	if ttft == 0 {
		return 0, 0, fmt.Errorf("%s: stream ended with no token", url)
	}
	if usage >= 0 {
		return ttft, usage, nil
	}
	return ttft, chunks, nil
}
