// Package generate runs the token generation loop of a decoder
// (models.Decoder): one batched prefill of the prompt (token ids or precomputed input embeddings),
// then token-by-token decoding with a sampler, until an end-of-sequence id,
// the token budget, the context limit, cancellation or the caller says stop.
//
// Stop strings are matched on decoded text, which this package does not
// see: the caller's onToken callback decodes the tokens, watches for its stop
// strings and returns false to end generation (Result.Stop is then
// StopCallback).
package generate

import (
	"context"
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models"
	"github.com/cellm-ai/cellm-go/sample"
)

// Options control one generation.
type Options struct {
	// MaxNewTokens caps the generated tokens; 0 means no cap other than
	// the context limit.
	MaxNewTokens int
	// MinNewTokens suppresses the end-of-sequence ids until this many
	// tokens were generated (as transformers' min_new_tokens).
	MinNewTokens int
	// EOS lists the end-of-sequence ids; nil uses the model's.
	EOS []int
	// IgnoreEOS keeps generating through end-of-sequence ids.
	IgnoreEOS bool
	// Sampling selects greedy decoding (the zero value) or sampling.
	Sampling sample.Options
	// MaxContext is the KV cache capacity in positions (prompt plus
	// generated tokens). 0 picks len(prompt)+MaxNewTokens, or the model's
	// max_position_embeddings (2048 if unknown) when MaxNewTokens is 0.
	MaxContext int
	// KVType is the storage of the KV cache (kvcache.F32, the zero value,
	// F16 or Q8).
	KVType kvcache.DType
	// KVF16 stores the KV cache in f16 (as KVType kvcache.F16).
	KVF16 bool
}

// StopReason tells why generation ended.
type StopReason int

// Reasons for stopping.
const (
	StopEOS       StopReason = iota + 1 // an end-of-sequence id was generated
	StopMaxTokens                       // MaxNewTokens reached
	StopContext                         // the context limit (MaxContext) was reached
	StopCanceled                        // the context was canceled
	StopCallback                        // onToken returned false (for example a stop string matched)
)

// String returns a short name for the reason.
func (r StopReason) String() string {
	switch r {
	case StopEOS:
		return "eos"
	case StopMaxTokens:
		return "max_tokens"
	case StopContext:
		return "context_full"
	case StopCanceled:
		return "canceled"
	case StopCallback:
		return "stopped_by_caller"
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// Result describes a finished generation.
type Result struct {
	// Tokens are the generated ids, including a terminating EOS id.
	Tokens []int
	// Stop is why generation ended.
	Stop StopReason
	// PromptTokens is the number of prompt positions prefilled.
	PromptTokens int
	// Prefill is the time of the batched prompt pass; TimeToFirstToken
	// adds sampling the first token; Decode covers every later token.
	Prefill, TimeToFirstToken, Decode time.Duration
	// DecodeSteps is the number of single-token forward passes.
	DecodeSteps int
}

// PrefillTokensPerSec returns the prompt processing speed.
func (r *Result) PrefillTokensPerSec() float64 { return rate(r.PromptTokens, r.Prefill) }

// DecodeTokensPerSec returns the decoding speed (tokens after the first).
func (r *Result) DecodeTokensPerSec() float64 { return rate(r.DecodeSteps, r.Decode) }

func rate(n int, d time.Duration) float64 {
	if n == 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Generate prefills prompt and decodes new tokens. onToken (may be nil)
// receives each generated token as soon as it is chosen, except a
// terminating end-of-sequence id; returning false stops generation. The
// returned error is non-nil only for invalid arguments; stopping for any
// reason (including cancellation) is reported in Result.Stop. The KV cache
// is a private engine session sized for the context limit; to keep a cache
// across turns, use an engine.Session with Decode.
func Generate(ctx context.Context, m models.Decoder, prompt []int, opts Options, onToken func(id int) bool) (Result, error) {
	if len(prompt) == 0 {
		return Result{}, fmt.Errorf("generate: empty prompt")
	}
	return run(ctx, m, prompt, nil, prompt, opts, onToken)
}

// GenerateFromEmbeddings is Generate for a prompt given as input embeddings
// x (n rows of the model's hidden size), as a vision-language model builds
// by splicing image features into token embeddings. history, if not nil,
// holds the prompt's token ids for the repetition penalty.
func GenerateFromEmbeddings(ctx context.Context, m models.Decoder, x []float32, n int, history []int, opts Options, onToken func(id int) bool) (Result, error) {
	if n <= 0 {
		return Result{}, fmt.Errorf("generate: empty prompt")
	}
	if h := m.Spec().Hidden; len(x) != n*h {
		return Result{}, fmt.Errorf("generate: %d embedding values for %d rows of %d", len(x), n, h)
	}
	ids := history
	if len(ids) != n {
		ids = make([]int, n) // placeholders: the positions come from x
		for i := range ids {
			ids[i] = -1
		}
	}
	return run(ctx, m, ids, x, history, opts, onToken)
}

// Tokens is Generate as an iterator over (token, error) pairs: a failure
// before the first token is yielded once as (-1, err). Breaking out of the
// loop stops generation.
func Tokens(ctx context.Context, m models.Decoder, prompt []int, opts Options) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		stopped := false
		_, err := Generate(ctx, m, prompt, opts, func(id int) bool {
			if !yield(id, nil) {
				stopped = true
				return false
			}
			return true
		})
		if err != nil && !stopped {
			yield(-1, err)
		}
	}
}

// Sequence is a decoder holding the state of one sequence: what the decode
// loop drives. An engine.Session is one; an ONNX Runtime decoder is another.
type Sequence interface {
	// Append feeds one token at the next position and writes its logits.
	Append(id int, logits []float32) error
	// Len is the number of positions so far; Cap the most the sequence holds.
	Len() int
	Cap() int
}

func run(ctx context.Context, m models.Decoder, ids []int, x []float32, history []int, opts Options, onToken func(int) bool) (Result, error) {
	if opts.MaxNewTokens < 0 || opts.MinNewTokens < 0 || opts.MaxContext < 0 {
		return Result{}, fmt.Errorf("generate: negative MaxNewTokens, MinNewTokens or MaxContext")
	}
	spec := m.Spec()
	n := len(ids)
	capacity := opts.MaxContext
	if capacity == 0 {
		if opts.MaxNewTokens > 0 {
			capacity = n + opts.MaxNewTokens
		} else if capacity = spec.MaxPositions; capacity <= 0 {
			capacity = 2048
		}
	}
	if n > capacity {
		return Result{}, fmt.Errorf("generate: the prompt's %d tokens exceed the context limit of %d", n, capacity)
	}
	if opts.EOS == nil {
		opts.EOS = spec.EOS
	}
	smp, err := newSampler(spec.Vocab, opts)
	if err != nil {
		return Result{}, err
	}
	kv := opts.KVType
	if opts.KVF16 {
		kv = kvcache.F16
	}
	e, err := engine.New(m, engine.Options{KVType: kv, MaxContext: capacity, KVBudgetBytes: KVBytes(spec, kv, capacity)})
	if err != nil {
		return Result{}, fmt.Errorf("generate: %w", err)
	}
	s := e.NewSession()
	defer s.Close()
	if err := s.Reserve(capacity); err != nil { // the whole cache now: decoding then never allocates
		return Result{}, fmt.Errorf("generate: %w", err)
	}
	logits := make([]float32, spec.Vocab)
	start := time.Now()
	if _, err := s.Prefill(ids, x, logits); err != nil {
		return Result{}, fmt.Errorf("generate: %w", err)
	}
	res := Result{PromptTokens: n, Prefill: time.Since(start)}
	err = decode(ctx, s, smp, logits, history, opts, onToken, start, &res)
	return res, err
}

// KVBytes returns the pool budget that holds positions of one sequence
// (whole blocks of kvcache.DefaultBlockTokens).
func KVBytes(spec models.Spec, dt kvcache.DType, positions int) int64 {
	bt := int64(kvcache.DefaultBlockTokens)
	blocks := (int64(positions) + bt - 1) / bt
	return blocks * bt * kvcache.BytesPerToken(dt, spec.Layers, spec.KVHeads, spec.HeadDim)
}

// Decode continues a prefilled sequence: logits are those of its last
// prompt position, history the prompt ids (for the repetition penalty), vocab
// the logits length. Result.Prefill and PromptTokens are the caller's.
func Decode(ctx context.Context, seq Sequence, logits []float32, history []int, opts Options, onToken func(id int) bool) (Result, error) {
	if opts.MaxNewTokens < 0 || opts.MinNewTokens < 0 {
		return Result{}, fmt.Errorf("generate: negative MaxNewTokens or MinNewTokens")
	}
	smp, err := newSampler(len(logits), opts)
	if err != nil {
		return Result{}, err
	}
	res := Result{PromptTokens: seq.Len()}
	err = decode(ctx, seq, smp, logits, history, opts, onToken, time.Now(), &res)
	return res, err
}

func newSampler(vocab int, opts Options) (*sample.Sampler, error) {
	for _, id := range opts.EOS {
		if id < 0 || id >= vocab {
			return nil, fmt.Errorf("generate: EOS id %d is outside the vocabulary [0, %d)", id, vocab)
		}
	}
	return sample.New(vocab, opts.Sampling)
}

// decode is the sampling loop shared by every Sequence.
func decode(ctx context.Context, seq Sequence, smp *sample.Sampler, logits []float32, history []int, opts Options,
	onToken func(int) bool, start time.Time, res *Result) error {
	eos := opts.EOS
	budget := seq.Cap() - seq.Len() + 1 // tokens that can be generated within the context
	if opts.MaxNewTokens > 0 {
		budget = min(budget, opts.MaxNewTokens)
	}
	res.Tokens = make([]int, 0, max(budget, 0))
	hist := make([]int, 0, len(history)+max(budget, 0))
	hist = append(hist, history...)
	var decodeStart time.Time
	for {
		if ctx.Err() != nil {
			res.Stop = StopCanceled
			break
		}
		if !opts.IgnoreEOS && len(res.Tokens) < opts.MinNewTokens {
			for _, id := range eos {
				logits[id] = float32(math.Inf(-1))
			}
		}
		id := smp.Sample(logits, hist)
		if len(res.Tokens) == 0 {
			res.TimeToFirstToken = time.Since(start)
			decodeStart = time.Now()
		}
		res.Tokens = append(res.Tokens, id)
		hist = append(hist, id)
		if !opts.IgnoreEOS && contains(eos, id) {
			res.Stop = StopEOS
			break
		}
		if onToken != nil && !onToken(id) {
			res.Stop = StopCallback
			break
		}
		if opts.MaxNewTokens > 0 && len(res.Tokens) >= opts.MaxNewTokens {
			res.Stop = StopMaxTokens
			break
		}
		if seq.Len() >= seq.Cap() {
			res.Stop = StopContext
			break
		}
		if err := seq.Append(id, logits); err != nil {
			return err
		}
		res.DecodeSteps++
	}
	if !decodeStart.IsZero() {
		res.Decode = time.Since(decodeStart)
	}
	return nil
}

func contains(ids []int, id int) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}
