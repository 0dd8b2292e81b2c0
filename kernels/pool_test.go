package kernels

import (
	"sync/atomic"
	"testing"
)

// panicJob panics in the chunk holding item bad and counts the items run.
type panicJob struct {
	bad  int
	done atomic.Int64
}

func (j *panicJob) run(lo, hi int) {
	if lo <= j.bad && j.bad < hi {
		panic("chunk failed")
	}
	j.done.Add(int64(hi - lo))
}

// A panic in any chunk, on a worker or on the caller, reaches the caller
// after the other chunks finished, and the pool stays usable.
func TestPoolPanic(t *testing.T) {
	old := workers.threads.Load()
	SetThreads(4)
	defer workers.threads.Store(old)
	const n = 1000
	for _, bad := range []int{0, 500, n - 1} {
		if !workers.acquire() {
			t.Fatal("pool busy")
		}
		j := &panicJob{bad: bad}
		got := func() (r any) {
			defer func() { r = recover() }()
			workers.run(j, n, 10)
			workers.release()
			return nil
		}()
		if got != "chunk failed" {
			t.Fatalf("item %d: recovered %v, want the chunk's panic", bad, got)
		}
		if d := j.done.Load(); d >= n || d < n-100 {
			t.Errorf("item %d: %d items ran, want every chunk but the failed one", bad, d)
		}
		// The pool was released and runs a full job again.
		if !workers.acquire() {
			t.Fatalf("item %d: pool still held after the panic", bad)
		}
		ok := &panicJob{bad: -1}
		workers.run(ok, n, 10)
		workers.release()
		if ok.done.Load() != n {
			t.Fatalf("after a panic: %d of %d items ran", ok.done.Load(), n)
		}
	}
}
