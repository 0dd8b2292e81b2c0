package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
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
	"github.com/cellm-ai/cellm-go/kvcache"
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
	kvType := fs.String("kv-type", "f16", "in-process server's KV cache type: f16 (serve's default), f32 or q8")
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
	kv, err := kvcache.ParseDType(*kvType)
	if err != nil {
		return fmt.Errorf("--kv-type %q: want f16, f32 or q8", *kvType)
	}
	load := serveLoad{Levels: levels, Prompt: *promptLen, Gen: *gen, Rounds: *rounds, Stagger: *stagger}
	most := slices.Max(levels)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: most}}
	if *url != "" {
		if *random != "" {
			return fmt.Errorf("give --url or --random, not both")
		}
		kvSet := false
		fs.Visit(func(f *flag.Flag) { kvSet = kvSet || f.Name == "kv-type" })
		if kvSet {
			return fmt.Errorf("--kv-type is for the in-process server: give it to the server --url runs")
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
		Context: *promptLen + *gen + 16, MaxTokens: *gen, KVType: kv}, server.Model{Name: "bench", Model: m})
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
	fmt.Printf("model %s, step %d tokens, KV %s, %d threads, ", path, *stepTokens, kv, *threads)
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
	// ActiveTokens are the tokens that arrived while every client was
	// active: from the last client's first request to the first client's
	// end (ActiveWall long, 0 if no such time).
	ActiveTokens float64
	ActiveWall   time.Duration
}

// Aggregate is the generated tokens per second of wall time over all
// streams, ramp-up (the staggered starts) and ramp-down (the clients that
// finish early) included.
func (r serveResult) Aggregate() float64 { return float64(r.Tokens) / r.Wall.Seconds() }

// Active is the generated tokens per second while all clients were
// active, or 0 if they never were all at once.
func (r serveResult) Active() float64 {
	if r.ActiveWall <= 0 {
		return 0
	}
	return r.ActiveTokens / r.ActiveWall.Seconds()
}

// TTFT returns the q-quantile (0..1) of the times to first token.
func (r serveResult) TTFT(q float64) time.Duration {
	return r.TTFTs[min(len(r.TTFTs)-1, int(q*float64(len(r.TTFTs))))]
}

// run drives the load level by level and prints a markdown table row per level.
func (l serveLoad) run(w io.Writer, client *http.Client) error {
	fmt.Fprintf(w, "prompt %d tokens, %d generated, %d rounds per client, clients %v apart (%s)\n\n",
		l.Prompt, l.Gen, l.Rounds, l.Stagger, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(w, "| streams | aggregate tok/s | per-stream tok/s | TTFT p50 | TTFT p99 | requests | all-active tok/s | all-active time |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range l.Levels {
		r, err := l.level(client, rng, c)
		if err != nil {
			return err
		}
		agg := r.Aggregate()
		active := "-"
		if r.Active() > 0 {
			active = fmt.Sprintf("%.1f", r.Active())
		}
		fmt.Fprintf(w, "| %d | %.1f | %.1f | %.0f ms | %.0f ms | %d | %s | %.0f%% of %.2f s |\n", c, agg, agg/float64(c),
			float64(r.TTFT(0.5).Microseconds())/1e3, float64(r.TTFT(0.99).Microseconds())/1e3, r.Requests,
			active, 100*r.ActiveWall.Seconds()/r.Wall.Seconds(), r.Wall.Seconds())
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
	replies := make([]benchReply, len(prompts))
	start := time.Now()
	var wg sync.WaitGroup
	for i := range c {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * l.Stagger)
			for r := range l.Rounds {
				rep, err := benchRequest(client, l.URL, l.Model, prompts[i*l.Rounds+r], l.Gen)
				if err == nil && rep.Tokens != l.Gen {
					err = fmt.Errorf("%s generated %d tokens, want %d (is ignore_eos supported?)", l.URL, rep.Tokens, l.Gen)
				}
				replies[i*l.Rounds+r] = rep
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				res.TTFTs = append(res.TTFTs, rep.TTFT)
				res.Tokens += rep.Tokens
				res.Requests++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Wall = time.Since(start)
	if firstErr != nil {
		return res, firstErr
	}
	slices.Sort(res.TTFTs)
	res.ActiveTokens, res.ActiveWall = allActive(replies, c, l.Rounds)
	return res, nil
}

// allActive returns the tokens that arrived while all c clients were
// active, and that time: from the start of the last client's first
// request to the end of the first client's last one. replies holds each
// client's rounds requests in order. A reply whose tokens came in fewer
// chunks (several tokens per chunk) counts its chunks in proportion.
func allActive(replies []benchReply, c, rounds int) (float64, time.Duration) {
	var from, to time.Time
	for i := range c {
		first, last := replies[i*rounds], replies[(i+1)*rounds-1]
		if i == 0 || first.Start.After(from) {
			from = first.Start
		}
		if i == 0 || last.End.Before(to) {
			to = last.End
		}
	}
	if !to.After(from) {
		return 0, 0
	}
	var tokens float64
	for _, r := range replies {
		in := 0
		for _, t := range r.Chunks {
			if !t.Before(from) && !t.After(to) {
				in++
			}
		}
		if in > 0 {
			tokens += float64(in) * float64(r.Tokens) / float64(len(r.Chunks))
		}
	}
	return tokens, to.Sub(from)
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

// benchReply is what benchRequest measured of one streamed completion.
type benchReply struct {
	Start, End time.Time     // request sent, stream ended
	TTFT       time.Duration // time to the first chunk carrying a token
	Tokens     int           // tokens generated
	Chunks     []time.Time   // arrival of each chunk carrying a token
}

// benchRequest streams one completion and returns its times and the
// number of tokens generated: the stream's usage.completion_tokens when the
// server sends it (stream_options.include_usage), else the number of
// chunks carrying text before the finish reason (one token each, as cellm
// serve and llama-server send them). It asks for the chosen tokens'
// logprobs so that every token gets a chunk of its own, even one whose
// text is held back (part of a UTF-8 character or of a stop string).
func benchRequest(client *http.Client, url, model string, prompt []int, gen int) (benchReply, error) {
	body, _ := json.Marshal(map[string]any{"model": model, "prompt": prompt, "max_tokens": gen,
		"temperature": 0, "ignore_eos": true, "stream": true, "logprobs": 0, "stream_options": map[string]bool{"include_usage": true}})
	rep := benchReply{Start: time.Now(), Chunks: make([]time.Time, 0, gen)}
	resp, err := client.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return rep, fmt.Errorf("%w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("POST %s: %s", url, errorBody(resp))
	}
	usage := -1
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
			return rep, fmt.Errorf("%s: stream chunk: %w", url, err)
		}
		if c.Error != nil {
			return rep, fmt.Errorf("%s: %s", url, c.Error.Message)
		}
		if len(c.Choices) > 0 && c.Choices[0].FinishReason == nil {
			now := time.Now()
			if len(rep.Chunks) == 0 {
				rep.TTFT = now.Sub(rep.Start)
			}
			rep.Chunks = append(rep.Chunks, now)
		}
		if c.Usage != nil {
			usage = c.Usage.CompletionTokens
		}
	}
	rep.End = time.Now()
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("%s: %w", url, err)
	}
	if len(rep.Chunks) == 0 {
		return rep, fmt.Errorf("%s: stream ended with no token", url)
	}
	rep.Tokens = len(rep.Chunks)
	if usage >= 0 {
		rep.Tokens = usage
	}
	return rep, nil
}
