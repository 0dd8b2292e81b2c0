package kernels

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// A job is a unit of parallel work: run processes items [lo, hi).
type job interface {
	run(lo, hi int)
}

// pool is a set of persistent worker goroutines shared by every caller.
// Each parallel call takes a task (acquire), publishes its job in it and
// splits [0, n) into chunks that the caller and the workers claim with a
// CAS on the task's state (see packState). Concurrent calls each get their
// own task. A worker finds work by scanning every task's state without a
// lock (tasks are few: as many as calls ever ran at once), so a worker that
// runs out of chunks of one call helps any other call in progress, and a
// call's start and end take no lock while its workers are awake. Workers
// poll for a new job for spinFor after their last chunk, then sleep on a
// channel until a caller wakes them.
type pool struct {
	threads atomic.Int32 // configured thread count, including the caller; 0: GOMAXPROCS

	mu   sync.Mutex
	idle []*worker // sleeping workers
	free []*task   // tasks to reuse, so that calls do not allocate

	// all holds every task made (copy-on-write under mu); workers scan it
	// for chunks to claim.
	all atomic.Pointer[[]*task]
	// sleeping mirrors len(idle), and started counts the worker goroutines
	// started (changed under mu), for callers to read without mu: a call
	// takes mu only to wake or start workers.
	sleeping, started atomic.Int32
	// posted counts published jobs; a worker polling for work (see work)
	// watches it.
	posted atomic.Uint64
}

// spinFor bounds how long a goroutine polls before it sleeps: a worker
// that ran out of chunks, for the next job, and a caller that finished its
// chunks, for the last chunk of a worker. A decode step issues parallel
// calls a few microseconds apart, and waking a sleeping goroutine costs
// about as long as a small call, so a short poll keeps both threads busy;
// the bound keeps an idle or oversubscribed machine from losing more than
// spinFor of CPU time per call.
//
// Measured on 2 shared vCPUs (SmolLM2-135M int8 decode, 2 threads, 20 µs
// against none, alternated): 209-235 against 162-206 tok/s quiet, and
// 144-150 against 135-144 tok/s beside a CPU-bound neighbour.
const spinFor = 20 * time.Microsecond

// chunksPerThread is how many chunks a parallel call is split into per
// thread: several let a thread take over part of a descheduled one's share.
const chunksPerThread = 4

// decodeChunksPerThread is chunksPerThread for a decode step's short calls
// (the matrix-vector and few-row quantized products and decode attention),
// where fewer claims and shorter tails win. SmolLM2-135M int8, 2 threads, q8
// KV, 2 against 4 chunks for every call, 5 alternated quiet pairs: decode
// B=1 +4-7%, B=8 +4-11%, B=16 +2-3% (beside a CPU-bound neighbour B=8 +4%,
// B=16 +10-16%), but pp512 prefill -8-10%, hence two constants.
const decodeChunksPerThread = 2

// poll calls done until it reports true or spinFor has passed, and returns
// its last result.
func poll(done func() bool) bool {
	start := time.Now()
	for i := 0; ; i++ {
		if done() {
			return true
		}
		if i&63 == 63 && time.Since(start) > spinFor {
			return false
		}
	}
}

// worker is one worker goroutine; it sleeps receiving on wake.
type worker struct{ wake chan *task }

// task is one parallel call in progress: the job and its chunk counters.
type task struct {
	p      *pool
	state  atomic.Uint64 // see packState
	done   atomic.Int32  // chunks finished in this generation
	sig    atomic.Int32  // the hand-off of a worker's last chunk to the caller (sigDone, sigParked)
	doneCh chan struct{} // a worker finishing the last chunk wakes a parked caller here
	cur    job
	n      int // items
	chunk  int // items per chunk
	jobs   jobs

	panicMu  sync.Mutex
	panicked any // the first panic of a chunk in this generation, re-raised by run
}

// The values of task.sig, 0 at the start of each generation: a worker that
// finishes the last chunk swaps in sigDone, and a caller about to sleep
// waiting for it swaps 0 for sigParked; whichever comes second learns
// that the other came first, so the channel is used only when the caller
// really sleeps.
const (
	sigDone   = 1
	sigParked = 2
)

var workers = newPool()

func newPool() *pool { return &pool{} }

// maxThreads caps SetThreads.
const maxThreads = 1024

// SetThreads sets how many goroutines (the caller included) share the work of
// one large kernel call, at most 1024. n <= 0 restores the default,
// runtime.GOMAXPROCS(0). SetThreads(1) runs every call on its caller's
// goroutine alone.
func SetThreads(n int) {
	workers.threads.Store(int32(min(max(n, 0), maxThreads)))
}

// Threads returns the number of goroutines that share a large kernel call:
// the value given to SetThreads, or runtime.GOMAXPROCS(0) by default.
func Threads() int { return workers.numThreads() }

func (p *pool) numThreads() int {
	if n := p.threads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// acquire returns a task for one parallel call, or nil when only one thread
// is configured (the caller then runs its job alone). Concurrent callers get
// distinct tasks. Give it back with release.
func (p *pool) acquire() *task {
	if p.numThreads() <= 1 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		t := p.free[n-1]
		p.free = p.free[:n-1]
		return t
	}
	t := &task{p: p, doneCh: make(chan struct{}, 1)}
	var all []*task
	if old := p.all.Load(); old != nil {
		all = *old
	}
	all = append(all[:len(all):len(all)], t) // a new array: workers may be reading the old one
	p.all.Store(&all)
	return t
}

// release gives back a task from acquire.
func (p *pool) release(t *task) {
	p.mu.Lock()
	p.free = append(p.free, t)
	p.mu.Unlock()
}

// The task state packs the generation, the chunk count and the next chunk
// to claim into one atomic word, so a worker arriving late can never mistake
// an old job for a new one.
const (
	stateBits = 20
	stateMask = 1<<stateBits - 1
)

func packState(gen uint64, nch, next int) uint64 {
	return gen<<(2*stateBits) | uint64(nch)<<stateBits | uint64(next)
}

// pending reports whether t has chunks left to claim.
func (t *task) pending() bool {
	s := t.state.Load()
	return int(s&stateMask) < int(s>>stateBits&stateMask)
}

// help claims and runs chunks of t's current generation until none are
// left. It reports whether this goroutine finished the last chunk.
func (t *task) help(caller bool) (last bool) {
	for {
		s := t.state.Load()
		nch, next := int(s>>stateBits&stateMask), int(s&stateMask)
		if next >= nch {
			return last
		}
		if !t.state.CompareAndSwap(s, s+1) {
			continue
		}
		// The claimed chunk belongs to the current generation: its caller
		// waits for it, so the job fields cannot change until it is done.
		lo := next * t.chunk
		hi := min(lo+t.chunk, t.n)
		t.runChunk(lo, hi)
		if int(t.done.Add(1)) == nch {
			if !caller && t.sig.Swap(sigDone) == sigParked {
				t.doneCh <- struct{}{}
			}
			last = true
		}
	}
}

// runChunk runs one chunk of the current job; a panic is recorded for run
// to re-raise, so the chunk still counts as done and no goroutine waits
// forever.
func (t *task) runChunk(lo, hi int) {
	defer func() {
		if r := recover(); r != nil {
			t.panicMu.Lock()
			if t.panicked == nil {
				t.panicked = r
			}
			t.panicMu.Unlock()
		}
	}()
	t.cur.run(lo, hi)
}

// run executes j over [0, n) in chunks of at least grain items on the calling
// goroutine and up to Threads()-1 idle workers, and returns when all are
// done. j should point into t.jobs so that publishing it does not allocate.
// A task runs one job at a time; one acquire may run several in sequence.
// If a chunk panics, run waits for the other chunks, releases the task and
// re-panics with that value on the caller's goroutine.
func (t *task) run(j job, n, grain int) { t.runChunks(j, n, grain, chunksPerThread) }

// runDecode is run for the short calls of a decode step (one new position
// per sequence): fewer chunks per thread (decodeChunksPerThread).
func (t *task) runDecode(j job, n, grain int) { t.runChunks(j, n, grain, decodeChunksPerThread) }

// runChunks is run with perThread chunks per thread.
func (t *task) runChunks(j job, n, grain, perThread int) {
	p := t.p
	th := p.numThreads()
	grain = max(grain, 1)
	if th <= 1 || n < 2*grain {
		j.run(0, n)
		return
	}
	nch := min(perThread*th, n/grain, stateMask)
	chunk := (n + nch - 1) / nch
	nch = (n + chunk - 1) / chunk

	// Publish the job, then open the generation (chunk index 0).
	t.cur, t.n, t.chunk = j, n, chunk
	t.done.Store(0)
	t.sig.Store(0)
	gen := t.state.Load()>>(2*stateBits) + 1
	t.state.Store(packState(gen, nch, 0))
	p.posted.Add(1)
	// A worker going to sleep counts itself in sleeping before it looks
	// for work a last time (see sleep): it sees this job, or this call sees
	// it sleeping.
	if p.sleeping.Load() > 0 || int(p.started.Load()) < th-1 {
		p.wake(t, th, nch)
	}

	if !t.help(true) {
		// A worker finishes the last chunk; poll a little first so that
		// the caller rarely sleeps.
		if !poll(func() bool { return t.sig.Load() == sigDone }) && t.sig.CompareAndSwap(0, sigParked) {
			<-t.doneCh
		}
	}
	// Close the generation so late workers find nothing to do.
	t.state.Store(packState(gen, 0, 0))
	t.cur = nil
	t.panicMu.Lock()
	r := t.panicked
	t.panicked = nil
	t.panicMu.Unlock()
	if r != nil {
		// Every chunk is done: give the task back (the caller's release is
		// skipped by the panic) and re-raise on the calling goroutine.
		t.jobs = jobs{}
		p.release(t)
		panic(r)
	}
}

// wake starts the missing workers (up to th-1) and wakes sleeping ones
// for t's nch chunks.
func (p *pool) wake(t *task, th, nch int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for int(p.started.Load()) < th-1 {
		w := &worker{wake: make(chan *task, 1)}
		p.started.Add(1)
		p.idle = append(p.idle, w)
		p.sleeping.Add(1)
		go p.work(w)
	}
	k := min(th-1, nch-1, len(p.idle))
	wake := p.idle[len(p.idle)-k:]
	p.idle = p.idle[:len(p.idle)-k]
	p.sleeping.Add(int32(-k))
	for _, w := range wake {
		w.wake <- t // idle, so its buffer is empty
	}
	clear(wake)
}

// work is a worker goroutine: it runs chunks of the task it is woken with,
// then of any other task with chunks left, polls up to spinFor after its
// last chunk for a new job (see poll), then sleeps again until a caller
// wakes it.
//
// A memory fault in a chunk (weights memory-mapped from a file truncated
// while in use raise SIGBUS) becomes a panic that run re-raises on the
// calling goroutine, where the caller can recover it (see
// debug.SetPanicOnFault), instead of killing the process from a worker.
func (p *pool) work(w *worker) {
	debug.SetPanicOnFault(true)
	for t := range w.wake {
		for t != nil {
			t.help(false)
			if t = p.next(); t != nil {
				continue
			}
			// Jobs whose chunks the caller claimed before this worker
			// came keep it polling until spinFor passes without work.
			seen := p.posted.Load()
			poll(func() bool {
				if s := p.posted.Load(); s != seen {
					seen = s
					t = p.next()
				}
				return t != nil
			})
			if t == nil {
				t = p.sleep(w)
			}
		}
	}
}

// sleep puts w in the idle list, then looks for work a last time: a job
// published before it counted as sleeping is returned (with w out of the
// list again); nil means w waits for a caller's wake.
func (p *pool) sleep(w *worker) *task {
	p.mu.Lock()
	p.idle = append(p.idle, w)
	p.sleeping.Add(1)
	p.mu.Unlock()
	t := p.next()
	if t == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, v := range p.idle {
		if v == w {
			last := len(p.idle) - 1
			p.idle[i] = p.idle[last]
			p.idle[last] = nil
			p.idle = p.idle[:last]
			p.sleeping.Add(-1)
			return t
		}
	}
	return nil // a caller took w from the list and is waking it
}

// next returns a task with chunks left, or nil.
func (p *pool) next() *task {
	all := p.all.Load()
	if all == nil {
		return nil
	}
	for _, t := range *all {
		if t.pending() {
			return t
		}
	}
	return nil
}
