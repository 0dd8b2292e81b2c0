package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/server"
)

func init() {
	register("serve", "OpenAI- and Ollama-compatible HTTP server with continuous batching and a chat page", false, runServe)
}

// serveListening, if set (tests), is told the address serve listens on.
var serveListening func(addr string)

func runServe(args []string) error {
	fs := newFlags("serve", "--model A.cellm [--model B.cellm ...] [--alias NAME ...] [--host H] [--port P] [flags]")
	var models, aliases multiFlag
	fs.Var(&models, "model", ".cellm `file` or hub name org/name[@revision][:variant] to serve (repeat for several)")
	alias(fs, "model", "m")
	fs.Var(&aliases, "alias", "`name` of the model given at the same position (default: the file's base name without .cellm)")
	host := fs.String("host", "127.0.0.1", "address to listen on (loopback by default)")
	port := fs.Int("port", 8080, "TCP port")
	parallel := fs.Int("parallel", 8, "sequences decoded together per model")
	alias(fs, "parallel", "np")
	kvBudget := fs.Int("kv-budget", 0, "KV cache `MiB` per model (0: --parallel sequences of --ctx-size positions)")
	ctxSize := fs.Int("ctx-size", 0, "positions per request, prompt plus generated (0: the model's context length)")
	alias(fs, "ctx-size", "c", "ctx")
	kvType := fs.String("kv-type", "f16", "KV cache type: f16, f32 or q8 (int8 rows with one scale each; also int8, q8_0); f16, as llama-server's and ollama's default, halves f32's memory and decode attention's reads at no measurable perplexity")
	apiKey := fs.String("api-key", "", "require Authorization: Bearer `KEY` (default: $CELLM_API_KEY; none if empty)")
	maxQueue := fs.Int("max-queue", 64, "requests waiting per model before 429")
	maxTokens := fs.Int("max-tokens", 2048, "cap on generated tokens per request")
	stepTokens := fs.Int("step-tokens", 32, "tokens per batched step, decode tokens first, prompt chunks with the rest (up to 32: batching never changes greedy output; more: faster prefill)")
	timeout := fs.Duration("timeout", 10*time.Minute, "per-request deadline")
	grace := fs.Duration("shutdown-grace", 30*time.Second, "on SIGTERM/Ctrl-C, time given to running requests before they are canceled")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "worker threads")
	alias(fs, "threads", "t")
	tokPath := fs.String("tokenizer", "", "tokenizer.json `file` (default: the one embedded in each model)")
	var prefill prefillPrecisionFlag
	fs.Var(&prefill, "prefill-bf16", prefillBF16Help)
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(models) == 0 {
		stored, err := storedModels()
		if err != nil {
			return err
		}
		if len(stored) == 0 {
			fs.Usage()
			return fmt.Errorf("no --model given and the model store is empty: give --model FILE.cellm or run cellm pull ORG/NAME first")
		}
		models = stored
	}
	if len(aliases) > len(models) {
		return fmt.Errorf("%d --alias for %d --model: give at most one alias per model, in the same order", len(aliases), len(models))
	}
	if err := checkThreads("--threads (-t)", *threads); err != nil {
		return err
	}
	switch {
	case *port < 0 || *port > 65535:
		return fmt.Errorf("--port %d: want 0..65535", *port)
	case *parallel < 1 || *parallel > 256:
		return fmt.Errorf("--parallel %d: want 1..256", *parallel)
	case *kvBudget < 0, *ctxSize < 0, *maxQueue < 0, *maxTokens < 1, *stepTokens < 1, *timeout <= 0:
		return fmt.Errorf("--kv-budget, --ctx-size and --max-queue must be >= 0; --max-tokens, --step-tokens and --timeout positive")
	}
	kv, err := kvcache.ParseDType(*kvType)
	if err != nil {
		return fmt.Errorf("--kv-type %q: want f32, f16 or q8", *kvType)
	}
	if *apiKey == "" {
		*apiKey = os.Getenv("CELLM_API_KEY")
	}
	kernels.SetThreads(*threads)

	var served []server.Model
	for i, arg := range models {
		path, err := resolveModel(arg)
		if err != nil {
			return err
		}
		m, err := cellm.Open(path, &cellm.Options{TokenizerPath: *tokPath, PrefillPrecision: prefill.p})
		if err != nil {
			return convertHint(path, err)
		}
		defer m.Close()
		name := server.NameFromPath(path)
		if path != arg { // a hub name: served under that name
			name = arg
		}
		sm := server.Model{Name: name, Model: m}
		if i < len(aliases) {
			sm.Name = aliases[i]
		}
		if st, err := os.Stat(path); err == nil {
			sm.Size, sm.Modified = st.Size(), st.ModTime()
		}
		served = append(served, sm)
	}
	srv, err := server.New(server.Config{Parallel: *parallel, MaxQueue: max(*maxQueue, 1), StepTokens: *stepTokens,
		Context: *ctxSize, KVBudgetBytes: int64(*kvBudget) << 20, KVType: kv, MaxTokens: *maxTokens,
		APIKey: *apiKey, RequestTimeout: *timeout}, served...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "cellm serve: http://%s (models: ", ln.Addr())
	for i, m := range served {
		if i > 0 {
			fmt.Fprint(os.Stderr, ", ")
		}
		fmt.Fprint(os.Stderr, m.Name)
	}
	fmt.Fprintln(os.Stderr, ")")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if serveListening != nil {
		serveListening(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop()
	fmt.Fprintf(os.Stderr, "cellm serve: shutting down (in-flight requests get %v)\n", *grace)
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- hs.Shutdown(sctx) }()
	serr := srv.Shutdown(sctx)
	if err := <-done; err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(serr, context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "cellm serve: canceled the requests still running")
	}
	return nil
}

// storedModels names every model of the model store (org/name@revision:variant),
// which serve offers when no --model is given.
func storedModels() ([]string, error) {
	s, err := openStore()
	if err != nil {
		return nil, err
	}
	entries, err := s.List()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Ref().String()
	}
	return names, nil
}
