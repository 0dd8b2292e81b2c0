package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
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
	fs := newFlags("bench-serve", "(-m FILE.cellm | --random smollm2-135m [--dtype int8]) [-c 1,4,8,16] [-p 100] [-n 64] [-r 2]")
	model := fs.String("model", "", ".cellm `file`")
	alias(fs, "model", "m")
	random := fs.String("random", "", "benchmark a random-weight model at a real shape (smollm2-135m, ...)")
	dtype := fs.String("dtype", "int8", "with --random: "+dtypeHelp)
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
	kernels.SetThreads(*threads)
	path := *model
	switch {
	case path != "" && *random != "":
		return fmt.Errorf("give --model or --random, not both")
	case path == "" && *random == "":
		fs.Usage()
		return errUsage
	case path == "":
		if path, err = randomCellm(*random, *dtype); err != nil {
			return err
		}
	}
	m, err := cellm.Open(path, nil)
	if err != nil {
		return convertHint(path, err)
	}
	defer m.Close()
	most := slices.Max(levels)
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
	url := "http://" + ln.Addr().String() + "/v1/completions"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: most}}
	vocab := m.Vocab()

	fmt.Printf("model %s, prompt %d tokens, %d generated, %d rounds per client, clients %v apart, step %d tokens, %d threads (%s)\n\n",
		path, *promptLen, *gen, *rounds, *stagger, *stepTokens, *threads, time.Now().UTC().Format(time.RFC3339))
	fmt.Println("| streams | aggregate tok/s | per-stream tok/s | TTFT p50 | TTFT p99 | requests |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range levels {
		var mu sync.Mutex
		var ttfts []time.Duration
		var tokens int
		var firstErr error
		prompts := make([][]int, c**rounds)
		for i := range prompts {
			prompts[i] = make([]int, *promptLen)
			for k := range prompts[i] {
				prompts[i][k] = rng.IntN(vocab)
			}
		}
		start := time.Now()
		var wg sync.WaitGroup
		for i := range c {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i) * *stagger)
				for r := range *rounds {
					ttft, n, err := benchRequest(client, url, prompts[i**rounds+r], *gen)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					ttfts = append(ttfts, ttft)
					tokens += n
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		wall := time.Since(start)
		if firstErr != nil {
			return firstErr
		}
		slices.Sort(ttfts)
		q := func(p float64) time.Duration { return ttfts[min(len(ttfts)-1, int(p*float64(len(ttfts))))] }
		agg := float64(tokens) / wall.Seconds()
		fmt.Printf("| %d | %.1f | %.1f | %.0f ms | %.0f ms | %d |\n", c, agg, agg/float64(c),
			float64(q(0.5).Microseconds())/1e3, float64(q(0.99).Microseconds())/1e3, len(ttfts))
	}
	return nil
}

// benchRequest streams one completion and returns its time to first token
// and the number of tokens received.
func benchRequest(client *http.Client, url string, prompt []int, gen int) (time.Duration, int, error) {
	body, _ := json.Marshal(map[string]any{"model": "bench", "prompt": prompt, "max_tokens": gen,
		"temperature": 0, "ignore_eos": true, "stream": true, "logprobs": 0, "stream_options": map[string]bool{"include_usage": true}})
	start := time.Now()
	resp, err := client.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("bench-serve: status %s", resp.Status)
	}
	var ttft time.Duration
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct{ Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return 0, 0, err
		}
		if c.Error != nil {
			return 0, 0, fmt.Errorf("bench-serve: %s", c.Error.Message)
		}
		if ttft == 0 && len(c.Choices) > 0 && c.Choices[0].FinishReason == nil {
			ttft = time.Since(start)
		}
		if c.Usage != nil {
			n = c.Usage.CompletionTokens
		}
	}
	return ttft, n, sc.Err()
}
