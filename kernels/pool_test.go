package kernels

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// barrierJob's chunks each wait until at least two of its chunks run at the
// same time (or a timeout passes): a call finishes quickly only if another
// goroutine helps it.
type barrierJob struct {
	inside, peak atomic.Int32
	timedOut     atomic.Bool
}

func (j *barrierJob) run(lo, hi int) {
	n := j.inside.Add(1)
	for {
		p := j.peak.Load()
		if n <= p || j.peak.CompareAndSwap(p, n) {
			break
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for j.peak.Load() < 2 {
		if time.Now().After(deadline) {
			j.timedOut.Store(true)
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	j.inside.Add(-1)
}

// TestPoolHelpsConcurrentCallers: several calls at once each get help from
// the shared workers; none is left to run alone.
func TestPoolHelpsConcurrentCallers(t *testing.T) {
	SetThreads(3)
	defer SetThreads(0)
	const callers = 4
	var wg sync.WaitGroup
	jobs := make([]barrierJob, callers)
	for i := range callers {
		wg.Go(func() {
			tk := workers.acquire()
			if tk == nil {
				t.Error("acquire returned nil with 3 threads")
				return
			}
			defer workers.release(tk)
			tk.run(&jobs[i], 64, 1)
		})
	}
	wg.Wait()
	for i := range jobs {
		if jobs[i].timedOut.Load() {
			t.Errorf("call %d ran alone (peak %d concurrent chunks)", i, jobs[i].peak.Load())
		}
	}
}

// TestSetThreadsOne: one thread means no task, so every call runs on its
// caller's goroutine alone.
func TestSetThreadsOne(t *testing.T) {
	SetThreads(1)
	defer SetThreads(0)
	if tk := workers.acquire(); tk != nil {
		t.Fatal("acquire gave a task with one thread")
	}
}

// TestManyConcurrentCallers: many goroutines run MatVec, MatVecs and MatMul
// (the GEMM and the q4 paths included) at once; every result is bitwise
// equal to a one-thread run, since each output element is computed by one
// goroutine in a fixed order whatever the split. Run it under -race too.
func TestManyConcurrentCallers(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	m, _ := randMatrix(r, BF16, 900, 256)
	q4, _ := randGrouped(r, Q4, 700, 256, 32)
	const n = 9
	x := randVec(r, n*256, 1)
	SetThreads(1)
	wantMM := make([]float32, n*900)
	MatMul(wantMM, m, x, n)
	wantQ4 := make([]float32, 700)
	MatVec(wantQ4, q4, x[:256])
	wantQ4MM := make([]float32, n*700)
	MatMul(wantQ4MM, q4, x, n)
	SetThreads(4)
	defer SetThreads(0)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 12 {
		wg.Go(func() {
			y := make([]float32, n*900)
			yq := make([]float32, n*700)
			for rep := range 20 {
				var got, want []float32
				switch (g + rep) % 3 {
				case 0:
					MatMul(y, m, x, n)
					got, want = y, wantMM
				case 1:
					MatVec(yq[:700], q4, x[:256])
					got, want = yq[:700], wantQ4
				case 2:
					MatMul(yq, q4, x, n)
					got, want = yq, wantQ4MM
				}
				for i := range want {
					if got[i] != want[i] {
						errs <- fmt.Errorf("goroutine %d rep %d [%d]: %g != %g", g, rep, i, got[i], want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
