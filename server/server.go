// Package server is cellm's HTTP server: an OpenAI-compatible API
// (/v1/chat/completions, /v1/completions, /v1/models), an Ollama API subset
// (/api/chat, /api/generate, /api/tags, /api/show), /health, Prometheus
// /metrics and an embedded chat page at /. Requests of one model are
// batched by a scheduler (continuous batching over engine.Engine.Step with
// chunked prefill, admission by KV budget, a bounded queue and prefix reuse
// across requests).
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/kvcache"
)

// Config holds the server's limits. Zero values take the defaults noted.
type Config struct {
	// Parallel is the most sequences decoded together per model (default 8).
	Parallel int
	// MaxQueue is the most requests waiting per model; beyond it requests
	// get 429 with Retry-After (default 64).
	MaxQueue int
	// StepTokens is the token budget of one batched step: decode tokens
	// first, prompt chunks with the rest (default 32, raised to Parallel).
	// Up to 32 rows every projection runs the matrix-vector kernels, whose
	// rows equal a lone sequence's exactly, so batching cannot change a
	// greedy output; above 32 the GEMM kernels prefill faster but round
	// differently, and a reply may then depend on what it was batched with.
	StepTokens int
	// Context caps the positions (prompt + generated) of one request
	// (default: the model's context length).
	Context int
	// KVBudgetBytes is each model's KV cache memory (default: Parallel
	// sequences of Context positions).
	KVBudgetBytes int64
	// KVType is the storage of keys and values: kvcache.F32 (the zero
	// value), F16 (half the memory) or Q8 (int8 rows with one scale each,
	// about a quarter).
	KVType kvcache.DType
	// KVF16 stores keys and values as f16 (as KVType kvcache.F16).
	KVF16 bool
	// MaxTokens caps the tokens generated per request (default 2048).
	MaxTokens int
	// APIKey, if set, is required as "Authorization: Bearer KEY".
	APIKey string
	// MaxBodyBytes caps a request body (default 32 MiB).
	MaxBodyBytes int64
	// MaxImageBytes caps one decoded image (default 16 MiB).
	MaxImageBytes int
	// MaxImagePixels caps one image's width x height (default 4096 x 4096).
	MaxImagePixels int
	// RequestTimeout ends a request that runs longer (default 10 minutes).
	RequestTimeout time.Duration
}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Parallel, 8)
	def(&c.MaxQueue, 64)
	def(&c.StepTokens, 32)
	def(&c.MaxTokens, 2048)
	def(&c.MaxImageBytes, 16<<20)
	def(&c.MaxImagePixels, 4096*4096)
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Minute
	}
}

// Model is one model the server offers, under Name.
type Model struct {
	Name  string
	Model *cellm.Model
	// Size is the model file's size in bytes (reported by /api/tags).
	Size int64
	// Modified is the file's modification time (reported by /api/tags).
	Modified time.Time
}

// NameFromPath is the model name a file is served under: its base name
// without the .cellm extension.
func NameFromPath(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".cellm")
}

type served struct {
	Model
	eng    *engine.Engine
	sched  *scheduler
	ctxLen int
}

// Server serves models over HTTP. Create it with New, mount Handler, and
// call Shutdown to drain.
type Server struct {
	cfg     Config
	models  []*served
	metrics *metrics
	mux     *http.ServeMux
	created time.Time

	vision   chan struct{} // one token per image request being encoded
	draining chan struct{} // closed by Shutdown: refuse new requests
	hardStop context.Context
	cancel   context.CancelFunc
	once     sync.Once
}

// New returns a server for models (at least one, names unique).
func New(cfg Config, models ...Model) (*Server, error) {
	cfg.defaults()
	if len(models) == 0 {
		return nil, fmt.Errorf("server: no model")
	}
	s := &Server{cfg: cfg, metrics: newMetrics(), created: time.Now(), draining: make(chan struct{}),
		vision: make(chan struct{}, max(1, runtime.NumCPU()/2))}
	s.hardStop, s.cancel = context.WithCancel(context.Background())
	seen := map[string]bool{}
	for _, m := range models {
		if m.Name == "" || seen[m.Name] {
			return nil, fmt.Errorf("server: model name %q empty or repeated (use an alias)", m.Name)
		}
		seen[m.Name] = true
		dec := m.Model.Decoder()
		if dec == nil {
			return nil, fmt.Errorf("server: model %s: no native decoder to batch", m.Name)
		}
		spec := dec.Spec()
		ctxLen := cfg.Context
		if ctxLen <= 0 || (spec.MaxPositions > 0 && ctxLen > spec.MaxPositions) {
			ctxLen = spec.MaxPositions
		}
		if ctxLen <= 0 {
			ctxLen = 2048
		}
		kv := cfg.KVType
		if cfg.KVF16 {
			kv = kvcache.F16
		}
		budget := cfg.KVBudgetBytes
		if budget == 0 {
			bt := int64(kvcache.DefaultBlockTokens)
			tokens := (int64(ctxLen) + bt - 1) / bt * bt
			budget = int64(cfg.Parallel) * tokens * kvcache.BytesPerToken(kv, spec.Layers, spec.KVHeads, spec.HeadDim)
		}
		eng, err := engine.New(dec, engine.Options{KVType: kv, MaxContext: ctxLen, KVBudgetBytes: budget})
		if err != nil {
			return nil, fmt.Errorf("server: model %s: %w", m.Name, err)
		}
		sv := &served{Model: m, eng: eng, ctxLen: ctxLen}
		sv.sched = newScheduler(m.Model, eng, cfg.Parallel, cfg.MaxQueue, cfg.StepTokens, s.metrics)
		s.models = append(s.models, sv)
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	api := func(pattern, endpoint string, h func(http.ResponseWriter, *http.Request) int) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			code := s.guard(w, r, endpoint, h)
			s.metrics.request(endpoint, code)
		})
	}
	api("POST /v1/chat/completions", "/v1/chat/completions", s.chatCompletions)
	api("POST /v1/completions", "/v1/completions", s.completions)
	api("GET /v1/models", "/v1/models", s.listModels)
	api("GET /v1/models/{id}", "/v1/models", s.getModel)
	api("POST /api/chat", "/api/chat", s.ollamaChat)
	api("POST /api/generate", "/api/generate", s.ollamaGenerate)
	api("GET /api/tags", "/api/tags", s.ollamaTags)
	api("POST /api/show", "/api/show", s.ollamaShow)
	api("GET /api/version", "/api/version", s.ollamaVersion)
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /metrics", s.writeMetrics)
	mux.HandleFunc("GET /{$}", s.page)
	s.mux = mux
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// handlerFunc is an API handler; it returns the HTTP status it wrote.
type handlerFunc = func(http.ResponseWriter, *http.Request) int

// guard checks the API key, the draining state and the body size before h.
func (s *Server) guard(w http.ResponseWriter, r *http.Request, endpoint string, h handlerFunc) int {
	ollama := strings.HasPrefix(endpoint, "/api/")
	if s.cfg.APIKey != "" {
		auth := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) != 1 {
			return writeError(w, ollama, &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error",
				code: "invalid_api_key", msg: "missing or wrong API key: send Authorization: Bearer KEY"})
		}
	}
	select {
	case <-s.draining:
		w.Header().Set("Connection", "close")
		return writeError(w, ollama, &apiError{status: http.StatusServiceUnavailable, typ: "server_error",
			code: "shutting_down", msg: "the server is shutting down"})
	default:
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	return h(w, r)
}

// lookup returns the served model called name ("" picks the only one).
func (s *Server) lookup(name string) (*served, *apiError) {
	if name == "" && len(s.models) == 1 {
		return s.models[0], nil
	}
	for _, m := range s.models {
		if m.Name == name || m.Name+".cellm" == name || m.Name+":latest" == name {
			return m, nil
		}
	}
	if name == "" {
		return nil, badRequest("model", "the request names no model; served: %s", s.names())
	}
	return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", param: "model", code: "model_not_found",
		msg: fmt.Sprintf("model %q is not served; served: %s", name, s.names())}
}

func (s *Server) names() string {
	var n []string
	for _, m := range s.models {
		n = append(n, m.Name)
	}
	return strings.Join(n, ", ")
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.draining:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting_down"})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

func (s *Server) writeMetrics(w http.ResponseWriter, r *http.Request) {
	var queued, active int
	var kv []kvStats
	for _, m := range s.models {
		q, a := m.sched.load()
		queued += q
		active += a
		st := m.eng.Pool().Stats()
		kv = append(kv, kvStats{model: m.Name, used: st.BlocksUsed, held: st.BlocksCached,
			free: st.BlocksTotal - st.BlocksUsed - st.BlocksCached})
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, queued, active, kv)
}

// Shutdown refuses new requests, lets the running ones finish until ctx
// ends, then cancels what is left and waits for the schedulers to stop.
// The caller shuts its http.Server down too (which waits for handlers).
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() {
		close(s.draining)
		for _, m := range s.models {
			m.sched.close()
		}
	})
	var err error
	for _, m := range s.models {
		select {
		case <-m.sched.done:
		case <-ctx.Done():
			err = ctx.Err()
			s.cancel()
			<-m.sched.done
		}
	}
	s.cancel()
	return err
}

// jobContext is the context of a request's generation: the request's,
// with the server's deadline, canceled too by a hard Shutdown.
func (s *Server) jobContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	stop := context.AfterFunc(s.hardStop, cancel)
	return ctx, func() { stop(); cancel() }
}

// errStatus maps a job's error to an API error.
func errStatus(err error) *apiError {
	switch {
	case errors.Is(err, ErrQueueFull):
		return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "queue_full",
			msg: "too many requests waiting; retry later"}
	case errors.Is(err, ErrShuttingDown):
		return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "shutting_down", msg: "the server is shutting down"}
	case errors.Is(err, ErrTooLarge), errors.Is(err, engine.ErrContext):
		return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", msg: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusGatewayTimeout, typ: "server_error", code: "timeout", msg: "the request ran past the server's deadline"}
	case errors.Is(err, context.Canceled):
		return &apiError{status: 499, typ: "server_error", code: "canceled", msg: "the request was canceled"}
	}
	return &apiError{status: http.StatusInternalServerError, typ: "server_error", msg: err.Error()}
}
