package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// A job is a unit of parallel work: run processes items [lo, hi).
type job interface {
	run(lo, hi int)
}

// pool is a set of persistent worker goroutines. One parallel call at a time
// owns it (mu); the caller splits [0, n) into chunks that the caller and the
// woken workers claim with a CAS on state (generation<<32 | next chunk).
// Workers sleep on a channel between calls, never spinning.
type pool struct {
	mu      sync.Mutex   // held by the goroutine running a parallel call
	threads atomic.Int32 // configured worker count, including the caller

	wmu    sync.Mutex // guards wake (growing the worker set)
	wake   []chan struct{}
	state  atomic.Uint64 // see packState
	done   atomic.Int32  // chunks finished in this generation
	doneCh chan struct{} // a worker finishing the last chunk signals here
	cur    job
	n      int // items
	chunk  int // items per chunk
}

var workers = newPool()

func newPool() *pool {
	p := &pool{doneCh: make(chan struct{}, 1)}
	p.threads.Store(int32(runtime.GOMAXPROCS(0)))
	return p
}

// SetThreads sets how many goroutines (the caller included) share the work of
// one large kernel call. n <= 0 restores the default, runtime.GOMAXPROCS(0).
func SetThreads(n int) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	workers.threads.Store(int32(n))
}

// Threads returns the worker count set by SetThreads.
func Threads() int { return int(workers.threads.Load()) }

// ensureWorkers starts goroutines until k helpers exist.
func (p *pool) ensureWorkers(k int) {
	p.wmu.Lock()
	for len(p.wake) < k {
		ch := make(chan struct{}, 1)
		p.wake = append(p.wake, ch)
		go p.worker(ch)
	}
	p.wmu.Unlock()
}

func (p *pool) worker(wake chan struct{}) {
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
		p.cur.run(lo, hi)
		if int(p.done.Add(1)) == nch {
			if !caller {
				p.doneCh <- struct{}{}
			}
			last = true
		}
	}
}

// parallel runs j over [0, n) in chunks of at least grain items, using up to
// Threads() goroutines. Small problems, a single thread, or a pool busy with
// another call run j on the calling goroutine.
func parallel(j job, n, grain int) {
	if n <= 0 {
		return
	}
	t := Threads()
	if grain < 1 {
		grain = 1
	}
	if t <= 1 || n < 2*grain || !workers.mu.TryLock() {
		j.run(0, n)
		return
	}
	p := workers
	defer p.mu.Unlock()
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
		default: // already has a pending wake-up; it will see this job
		}
	}
	if !p.help(true) {
		<-p.doneCh
	}
	// Park the state beyond any chunk count so late wake-ups do nothing
	// until the next call publishes a new job.
	p.state.Store(packState(gen, 0, 0))
	p.cur = nil
}
