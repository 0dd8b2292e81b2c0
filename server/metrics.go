package server

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// metrics are the server's counters, written in the Prometheus text
// exposition format by hand (a few counters, gauges and two histograms do
// not justify prometheus/client_golang's dependency tree).
type metrics struct {
	mu       sync.Mutex
	requests map[string]int64 // by "endpoint|status"

	promptTokens atomic.Int64
	genTokens    atomic.Int64
	ttft         *histogram
	itl          *histogram
	step         *histogram // engine.Step of a batch
	post         *histogram // the scheduler's work between steps: picks, emits
}

func newMetrics() *metrics {
	return &metrics{
		requests: map[string]int64{},
		ttft:     newHistogram(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
		itl:      newHistogram(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
		step:     newHistogram(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
		post:     newHistogram(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025),
	}
}

func (m *metrics) request(endpoint string, status int) {
	m.mu.Lock()
	m.requests[fmt.Sprintf("%s|%d", endpoint, status)]++
	m.mu.Unlock()
}

// histogram is a cumulative Prometheus histogram of seconds.
type histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []int64 // per bucket, the last one +Inf
	sum    float64
	n      int64
}

func newHistogram(bounds ...float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]int64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.n++
	h.mu.Unlock()
}

func (h *histogram) write(w io.Writer, name, help string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var c int64
	for i, b := range h.bounds {
		c += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", name, b, c)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, h.n, name, h.sum, name, h.n)
}

// kvStats is what /metrics reports of one model's KV cache pool.
type kvStats struct {
	model            string
	used, free, held int
}

// write prints every metric in the text exposition format.
func (m *metrics) write(w io.Writer, queued, active int, kv []kvStats) {
	m.mu.Lock()
	keys := make([]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprint(w, "# HELP cellm_requests_total HTTP requests by endpoint and status code.\n# TYPE cellm_requests_total counter\n")
	for _, k := range keys {
		var ep string
		var code int
		for i := len(k) - 1; i >= 0; i-- {
			if k[i] == '|' {
				ep = k[:i]
				fmt.Sscan(k[i+1:], &code)
				break
			}
		}
		fmt.Fprintf(w, "cellm_requests_total{endpoint=%q,code=\"%d\"} %d\n", ep, code, m.requests[k])
	}
	m.mu.Unlock()
	counter := func(name, help string, v int64, typ string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, typ, name, v)
	}
	counter("cellm_prompt_tokens_total", "Prompt tokens computed (prefix-cache hits excluded).", m.promptTokens.Load(), "counter")
	counter("cellm_generated_tokens_total", "Tokens generated.", m.genTokens.Load(), "counter")
	counter("cellm_queue_depth", "Requests waiting for a slot.", int64(queued), "gauge")
	counter("cellm_active_sequences", "Sequences being prefilled or decoded.", int64(active), "gauge")
	fmt.Fprint(w, "# HELP cellm_kv_blocks KV cache blocks by model and state (used by sequences, cached prefixes, free).\n# TYPE cellm_kv_blocks gauge\n")
	for _, s := range kv {
		fmt.Fprintf(w, "cellm_kv_blocks{model=%q,state=\"used\"} %d\n", s.model, s.used)
		fmt.Fprintf(w, "cellm_kv_blocks{model=%q,state=\"cached\"} %d\n", s.model, s.held)
		fmt.Fprintf(w, "cellm_kv_blocks{model=%q,state=\"free\"} %d\n", s.model, s.free)
	}
	m.ttft.write(w, "cellm_time_to_first_token_seconds", "Time from request arrival to its first generated token.")
	m.itl.write(w, "cellm_inter_token_latency_seconds", "Time between consecutive generated tokens of a sequence.")
	m.step.write(w, "cellm_step_seconds", "Time of one batched forward pass (decode tokens and prompt chunks of all running sequences).")
	m.post.write(w, "cellm_step_post_seconds", "Scheduler time after each forward pass: sampling, logprobs, detokenizing, sending the tokens.")
}
