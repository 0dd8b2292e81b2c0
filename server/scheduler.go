package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/sample"
	"github.com/cellm-ai/cellm-go/tokenizer"
)

// Errors a job can end with (besides the engine's).
var (
	// ErrQueueFull is returned by submit when the waiting queue is full.
	ErrQueueFull = errors.New("server: queue full")
	// ErrShuttingDown is returned once the server drains.
	ErrShuttingDown = errors.New("server: shutting down")
	// ErrTooLarge says a request needs more KV cache than the whole budget.
	ErrTooLarge = errors.New("server: request needs more KV cache than the budget holds")
)

// Finish reasons, as OpenAI names them.
const (
	finishStop   = "stop"
	finishLength = "length"
)

// job is one generation request inside the scheduler.
type job struct {
	ctx       context.Context
	ids       []int     // prompt
	embeds    []float32 // nil, or len(ids) x hidden
	maxTokens int
	sampling  sample.Options
	presence  float32
	frequency float32
	stops     []string
	logprobs  int // -1: none; else the number of top alternatives
	ignoreEOS bool
	events    chan event
	enqueued  time.Time

	// scheduler state
	sess      *engine.Session
	reused    int
	pos       int // prompt positions computed
	next      int // token to feed in the next decode step
	logits    []float32
	work      []float32 // penalized logits
	smp       *sample.Sampler
	history   []int // prompt and generated ids (repetition penalty)
	counts    map[int]int
	generated int
	stream    *tokenizer.Stream
	stop      *cellm.StopMatcher
	lastToken time.Time
	picked    int           // the token pick chose in this step
	pickedLP  *tokenLogprob // its log probability (logprobs >= 0)
	lpTmp     []float32     // logprobOf's scratch (logprobs >= 0)
}

// event is what a job's handler receives: a piece of text (one token), or
// the end (done) with the finish reason and counts, or an error.
type event struct {
	id       int
	text     string
	logprob  *tokenLogprob
	done     bool
	finish   string
	err      error
	prompt   int // prompt tokens (done)
	reused   int // prompt positions reused from the prefix cache (done)
	complete int // generated tokens (done)
}

// tokenLogprob is a token's log probability and the most likely alternatives.
type tokenLogprob struct {
	id      int
	logprob float32
	top     []altLogprob
}

type altLogprob struct {
	id      int
	logprob float32
}

// scheduler batches the jobs of one model: every step feeds each decoding
// job one token and spends the rest of the step's token budget on prompt
// chunks of the jobs still prefilling (chunked prefill), so that a long
// prompt does not stall the others. Jobs join between steps when their
// whole KV need (prompt + max tokens) can be reserved and leave when done.
type scheduler struct {
	eng        *engine.Engine
	model      *cellm.Model
	eos        []int
	parallel   int
	maxQueue   int
	stepTokens int
	metrics    *metrics

	mu       sync.Mutex
	queue    []*job
	closed   bool
	wake     chan struct{}
	done     chan struct{}
	active   []*job
	ws       *engine.Workspace
	works    []engine.Work
	owners   []*job
	ready    []*job      // the jobs that got logits in this step
	pickOne  func(i int) // picks ready job i, made once (see pickAll)
	activeN  int         // len(active), readable under mu
	stepHook func()      // tests: runs before each step
}

func newScheduler(m *cellm.Model, eng *engine.Engine, parallel, maxQueue, stepTokens int, mt *metrics) *scheduler {
	s := &scheduler{eng: eng, model: m, eos: m.EOS(), parallel: parallel, maxQueue: maxQueue,
		stepTokens: max(stepTokens, parallel), metrics: mt,
		wake: make(chan struct{}, 1), done: make(chan struct{}), ws: eng.NewWorkspace()}
	go s.run()
	return s
}

// submit queues j, or refuses it when the queue is full or closed.
func (s *scheduler) submit(j *job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrShuttingDown
	}
	if len(s.queue) >= s.maxQueue {
		return ErrQueueFull
	}
	j.enqueued = time.Now()
	j.events = make(chan event, j.maxTokens+2)
	s.queue = append(s.queue, j)
	s.signal()
	return nil
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close refuses new jobs; run returns once the queue and the active jobs
// are done (cancel their contexts to hurry it).
func (s *scheduler) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.signal()
}

// full reports whether submit would refuse a job for a full queue.
func (s *scheduler) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) >= s.maxQueue
}

// load returns the queued and active job counts.
func (s *scheduler) load() (queued, active int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue), s.activeN
}

func (s *scheduler) run() {
	defer close(s.done)
	for {
		s.admit()
		if len(s.active) == 0 {
			s.mu.Lock()
			idle := len(s.queue) == 0
			closed := s.closed
			s.mu.Unlock()
			if idle && closed {
				return
			}
			if idle || len(s.active) == 0 {
				<-s.wake
				continue
			}
		}
		if s.stepHook != nil {
			s.stepHook()
		}
		s.step()
	}
}

// admit moves queued jobs to the active set while there is room: a free
// slot and KV blocks for the job's prompt and max tokens.
func (s *scheduler) admit() {
	s.mu.Lock()
	defer func() {
		s.activeN = len(s.active)
		s.mu.Unlock()
	}()
	keep := s.queue[:0]
	for _, j := range s.queue { // a client that left does not hold its place
		if err := j.ctx.Err(); err != nil {
			s.finish(j, "", err)
			continue
		}
		keep = append(keep, j)
	}
	clear(s.queue[len(keep):])
	s.queue = keep
	for len(s.queue) > 0 && len(s.active) < s.parallel {
		j := s.queue[0]
		if err := j.ctx.Err(); err != nil {
			s.pop()
			s.finish(j, "", err)
			continue
		}
		err := s.start(j)
		if errors.Is(err, kvcache.ErrBudget) {
			if len(s.active) > 0 {
				return // wait for a job to leave
			}
			err = fmt.Errorf("%w: %v", ErrTooLarge, err)
		}
		s.pop()
		if err != nil {
			s.finish(j, "", err)
			continue
		}
		s.active = append(s.active, j)
	}
}

func (s *scheduler) pop() {
	s.queue[0] = nil
	s.queue = s.queue[1:]
}

// start gives j a session holding the longest published prefix of its
// prompt and reserves the rest of its need.
func (s *scheduler) start(j *job) error {
	sess := s.eng.NewSession()
	reused, err := sess.Begin(j.ids, j.embeds != nil)
	if err == nil {
		err = sess.Reserve(len(j.ids) - reused + j.maxTokens)
	}
	if err != nil {
		sess.Close()
		return err
	}
	vocab := s.eng.Spec().Vocab
	j.sess, j.reused, j.pos = sess, reused, reused
	j.logits = make([]float32, vocab)
	if j.smp, err = sample.New(vocab, j.sampling); err != nil {
		sess.Close()
		return err
	}
	if j.sampling.RepetitionPenalty != 0 && j.sampling.RepetitionPenalty != 1 {
		j.history = slices.Clip(j.ids)
	}
	if j.presence != 0 || j.frequency != 0 {
		j.counts = map[int]int{}
		j.work = make([]float32, vocab)
	}
	if j.logprobs >= 0 {
		j.lpTmp = make([]float32, vocab)
	}
	if tok := s.model.Tokenizer(); tok != nil {
		j.stream = tok.NewStream(true)
	}
	j.stop = cellm.NewStopMatcher(j.stops)
	return nil
}

// step runs one batched forward pass and samples the jobs that got logits.
func (s *scheduler) step() {
	s.works, s.owners = s.works[:0], s.owners[:0]
	keep := s.active[:0]
	for _, j := range s.active {
		if err := j.ctx.Err(); err != nil {
			s.finish(j, "", err)
			continue
		}
		keep = append(keep, j)
	}
	clear(s.active[len(keep):])
	s.active = keep
	budget := s.stepTokens
	for _, j := range s.active {
		if j.pos == len(j.ids) {
			s.add(j, engine.Work{Session: j.sess, Tokens: []int{j.next}, Logits: j.logits})
			budget--
		}
	}
	for _, j := range s.active {
		if j.pos == len(j.ids) || budget <= 0 {
			continue
		}
		n := min(len(j.ids)-j.pos, budget)
		w := engine.Work{Session: j.sess, Tokens: j.ids[j.pos : j.pos+n]}
		if j.embeds != nil {
			h := s.eng.Spec().Hidden
			w.Embeds = j.embeds[j.pos*h : (j.pos+n)*h]
		}
		if j.pos+n == len(j.ids) {
			w.Logits = j.logits
		}
		s.add(j, w)
		budget -= n
	}
	if len(s.works) == 0 {
		return
	}
	start := time.Now()
	err := s.eng.Step(s.ws, s.works)
	now := time.Now()
	s.metrics.step.observe(now.Sub(start).Seconds())
	s.ready = s.ready[:0]
	for i, w := range s.works {
		j := s.owners[i]
		s.works[i] = engine.Work{}
		if err != nil {
			s.finish(j, "", fmt.Errorf("step: %w", err))
			continue
		}
		if j.pos < len(j.ids) {
			j.pos += len(w.Tokens)
			s.metrics.promptTokens.Add(int64(len(w.Tokens)))
			if j.pos < len(j.ids) {
				continue
			}
			if j.embeds == nil {
				j.sess.Publish()
			}
		}
		s.ready = append(s.ready, j)
	}
	s.pickAll()
	for i, j := range s.ready {
		s.emit(j, now)
		s.ready[i] = nil
	}
	s.metrics.post.observe(time.Since(now).Seconds())
	keep = s.active[:0]
	for _, j := range s.active {
		if j.sess != nil {
			keep = append(keep, j)
		}
	}
	clear(s.active[len(keep):])
	s.active = keep
}

func (s *scheduler) add(j *job, w engine.Work) {
	s.works = append(s.works, w)
	s.owners = append(s.owners, j)
}

// pickAll picks the next token of every ready job on the kernel threads,
// which idle between steps: a vocabulary-wide argmax or draw, and a
// log-sum-exp when logprobs are asked for, cost ~20-60 us a job, up to a
// tenth of a batched decode step at 8 sequences if run one after another.
// Each job's pick touches only that job's state.
func (s *scheduler) pickAll() {
	if s.pickOne == nil { // a closure made per step would be allocated per step
		s.pickOne = func(i int) { s.ready[i].pick() }
	}
	kernels.ForEach(len(s.ready), s.pickOne)
}

// pick samples j's next token from its logits (with the presence and
// frequency penalties) into j.picked, and its log probabilities into
// j.pickedLP when asked for.
func (j *job) pick() {
	logits := j.logits
	if j.counts != nil {
		copy(j.work, logits)
		for id, c := range j.counts {
			j.work[id] -= j.presence + j.frequency*float32(c)
		}
		logits = j.work
	}
	j.picked = j.smp.Sample(logits, j.history)
	j.pickedLP = nil
	if j.logprobs >= 0 {
		largest := -1 // a greedy pick on these very logits is their largest
		if o := j.smp.Options(); o.Greedy() && (o.RepetitionPenalty == 0 || o.RepetitionPenalty == 1) {
			largest = j.picked
		}
		j.pickedLP = logprobOf(logits, j.lpTmp, j.picked, largest, j.logprobs)
	}
}

// emit sends j's picked token (pick has run): metrics, end of sequence,
// repetition state, the detokenized text through the stop strings.
func (s *scheduler) emit(j *job, now time.Time) {
	id := j.picked
	ev := event{id: id, logprob: j.pickedLP}
	j.pickedLP = nil
	if j.generated == 0 {
		s.metrics.ttft.observe(now.Sub(j.enqueued).Seconds())
	} else {
		s.metrics.itl.observe(now.Sub(j.lastToken).Seconds())
	}
	j.lastToken = now
	j.generated++
	s.metrics.genTokens.Add(1)
	if !j.ignoreEOS && slices.Contains(s.eos, id) {
		s.finish(j, finishStop, nil)
		return
	}
	if j.history != nil {
		j.history = append(j.history, id)
	}
	if j.counts != nil {
		j.counts[id]++
	}
	piece := ""
	if j.stream != nil {
		var err error
		if piece, err = j.stream.Push(id); err != nil {
			s.finish(j, "", fmt.Errorf("decode token %d: %w", id, err))
			return
		}
	}
	emit, hit := j.stop.Push(piece)
	ev.text = emit
	j.events <- ev
	if hit {
		j.stop, j.stream = nil, nil // the text after a stop string is dropped
		s.finish(j, finishStop, nil)
		return
	}
	if j.generated >= j.maxTokens {
		s.finish(j, finishLength, nil)
		return
	}
	j.next = id
}

// finish ends j: its last text, the final event, its session's blocks
// back to the pool (published prefix blocks stay cached).
func (s *scheduler) finish(j *job, reason string, err error) {
	if j.sess != nil {
		if err == nil && j.embeds == nil {
			j.sess.Publish()
		}
		j.sess.Close()
		j.sess = nil
	}
	if err == nil {
		rest := ""
		if j.stop != nil {
			rest = j.stop.Flush()
		}
		if j.stream != nil {
			rest += j.stream.Flush()
		}
		if rest != "" {
			j.events <- event{id: -1, text: rest}
		}
	}
	j.events <- event{done: true, finish: reason, err: err, prompt: len(j.ids), reused: j.reused, complete: j.generated}
}

// logprobOf returns the log probability of id under logits and the top k;
// tmp (len(logits)) is scratch for logSumExp, and largest the index of a
// largest logit if known, else -1.
func logprobOf(logits, tmp []float32, id, largest, k int) *tokenLogprob {
	lse := logSumExp(logits, tmp, largest)
	lp := &tokenLogprob{id: id, logprob: float32(float64(logits[id]) - lse)}
	if k > 0 {
		top := make([]altLogprob, 0, k+1)
		for i, v := range logits {
			if len(top) == k && v <= top[k-1].logprob {
				continue
			}
			at, _ := slices.BinarySearchFunc(top, v, func(a altLogprob, v float32) int {
				if a.logprob > v {
					return -1
				}
				return 1
			})
			top = slices.Insert(top, at, altLogprob{i, v})
			if len(top) > k {
				top = top[:k]
			}
		}
		for i := range top {
			top[i].logprob = float32(float64(top[i].logprob) - lse)
		}
		lp.top = top
	}
	return lp
}

// logSumExp returns log Σ exp(v) over x (len(x) >= 1), using tmp
// (len(x)) as scratch: the kernels' SIMD softmax of a copy gives the
// largest value's probability exp(0) / Σ exp(v - max), the inverse of the
// sum. A vocabulary-sized exp per token in scalar float64 cost as much as a
// fifth of a batched decode step. at is the index of a largest value of x,
// or -1 to have it searched (the scan takes twice the softmax's time).
func logSumExp(x, tmp []float32, at int) float64 {
	if at < 0 {
		at = sample.Argmax(x) // finite unless every value is NaN
	}
	copy(tmp, x)
	kernels.Softmax(tmp)
	return float64(x[at]) - math.Log(float64(tmp[at]))
}
