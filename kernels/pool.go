package kernels

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// A job is a unit of parallel work: run processes items [lo, hi).
type job interface {
	run(lo, hi int)
}

// pool is a set of persistent worker goroutines. One parallel call at a time
// owns it (mu); the caller splits [0, n) into chunks that the caller and the
// woken workers claim with a CAS on state (see packState). Workers sleep on a
// channel between calls.
type pool struct {
	mu      sync.Mutex   // held by the goroutine running a parallel call
	threads atomic.Int32 // configured worker count, including the caller; 0: GOMAXPROCS

	wake   []chan struct{} // one per worker goroutine; grown under mu
	state  atomic.Uint64   // see packState
	done   atomic.Int32    // chunks finished in this generation
	doneCh chan struct{}   // a worker finishing the last chunk signals here
	cur    job
	jobs   jobs // storage for the job of the call holding mu
	n      int  // items
	chunk  int  // items per chunk

	panicMu  sync.Mutex
	panicked any // the first panic of a chunk in this generation, re-raised by run
}

var workers = newPool()

func newPool() *pool {
	return &pool{doneCh: make(chan struct{}, 1)}
}

// maxThreads caps SetThreads.
const maxThreads = 1024

// SetThreads sets how many goroutines (the caller included) share the work of
// one large kernel call, at most 1024. n <= 0 restores the default,
// runtime.GOMAXPROCS(0).
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

// ensureWorkers starts goroutines until k helpers exist. The caller holds mu.
func (p *pool) ensureWorkers(k int) {
	for len(p.wake) < k {
		ch := make(chan struct{}, 1)
		p.wake = append(p.wake, ch)
		go p.worker(ch)
	}
}

// worker runs chunks whenever it is woken. It never polls: a short spin was
// measured to gain nothing on this 2-vCPU machine, where the poller mostly
// steals time from the thread doing the work.
//
// A memory fault in a chunk (weights memory-mapped from a file truncated
// while in use raise SIGBUS) becomes a panic that run re-raises on the
// calling goroutine, where the caller can recover it (see
// debug.SetPanicOnFault), instead of killing the process from a worker.
func (p *pool) worker(wake chan struct{}) {
	debug.SetPanicOnFault(true)
	for range wake {
		p.help(false)
	}
}

// The pool state packs the generation, the chunk count and the next chunk to
// claim into one atomic word, so a worker woken late can never mistake an old
// job for a new one.
const (
	stateBits = 20
	stateMask = 1<<stateBits - 1
)

func packState(gen uint64, nch, next int) uint64 {
	return gen<<(2*stateBits) | uint64(nch)<<stateBits | uint64(next)
}

// help claims and runs chunks of the current generation until none are left.
// It reports whether this goroutine finished the last chunk.
func (p *pool) help(caller bool) (last bool) {
	for {
		s := p.state.Load()
		nch, next := int(s>>stateBits&stateMask), int(s&stateMask)
		if next >= nch {
			return last
		}
		if !p.state.CompareAndSwap(s, s+1) {
			continue
		}
		// The claimed chunk belongs to the current generation: its caller
		// waits for it, so the job fields cannot change until it is done.
		lo := next * p.chunk
		hi := min(lo+p.chunk, p.n)
		p.runChunk(lo, hi)
		if int(p.done.Add(1)) == nch {
			if !caller {
				p.doneCh <- struct{}{}
			}
			last = true
		}
	}
}

// runChunk runs one chunk of the current job; a panic is recorded for run
// to re-raise, so the chunk still counts as done and no goroutine waits
// forever.
func (p *pool) runChunk(lo, hi int) {
	defer func() {
		if r := recover(); r != nil {
			p.panicMu.Lock()
			if p.panicked == nil {
				p.panicked = r
			}
			p.panicMu.Unlock()
		}
	}()
	p.cur.run(lo, hi)
}

// acquire claims the pool for one parallel call. It fails when only one
// thread is configured or another call holds the pool; the caller then runs
// its job on its own goroutine.
func (p *pool) acquire() bool {
	return p.numThreads() > 1 && p.mu.TryLock()
}

// release gives the pool back after acquire.
func (p *pool) release() { p.mu.Unlock() }

// run executes j over [0, n) in chunks of at least grain items on the calling
// goroutine and up to Threads()-1 workers, and returns when all are done.
// The caller must hold the pool (acquire). j should point into p.jobs so that
// publishing it does not allocate. If a chunk panics, run waits for the other
// chunks, releases the pool and re-panics with that value on the caller's
// goroutine.
func (p *pool) run(j job, n, grain int) {
	t := p.numThreads()
	grain = max(grain, 1)
	if t <= 1 || n < 2*grain {
		j.run(0, n)
		return
	}
	// About 4 chunks per thread balances load when a vCPU is descheduled.
	nch := min(4*t, n/grain, stateMask)
	chunk := (n + nch - 1) / nch
	nch = (n + chunk - 1) / chunk
	helpers := min(t-1, nch-1)
	p.ensureWorkers(helpers)

	// Publish the job, then open the generation (chunk index 0).
	p.cur, p.n, p.chunk = j, n, chunk
	p.done.Store(0)
	gen := p.state.Load()>>(2*stateBits) + 1
	p.state.Store(packState(gen, nch, 0))
	for _, w := range p.wake[:helpers] {
		select {
		case w <- struct{}{}:
		default: // a wake-up is already pending; it will see this job
		}
	}
	if !p.help(true) {
		<-p.doneCh // a worker finishes the last chunk and signals
	}
	// Close the generation so late wake-ups find nothing to do.
	p.state.Store(packState(gen, 0, 0))
	p.cur = nil
	p.panicMu.Lock()
	r := p.panicked
	p.panicked = nil
	p.panicMu.Unlock()
	if r != nil {
		// Every chunk is done: give the pool back (the caller's release is
		// skipped by the panic) and re-raise on the calling goroutine.
		p.release()
		panic(r)
	}
}
