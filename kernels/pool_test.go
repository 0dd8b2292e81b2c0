package kernels

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/cellm-ai/cellm-go/internal/mmap"
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
		tk := workers.acquire()
		if tk == nil {
			t.Fatal("no task")
		}
		j := &panicJob{bad: bad}
		got := func() (r any) {
			defer func() { r = recover() }()
			tk.run(j, n, 10)
			workers.release(tk)
			return nil
		}()
		if got != "chunk failed" {
			t.Fatalf("item %d: recovered %v, want the chunk's panic", bad, got)
		}
		if d := j.done.Load(); d >= n || d < n-100 {
			t.Errorf("item %d: %d items ran, want every chunk but the failed one", bad, d)
		}
		// The task was released and the pool runs a full job again.
		tk = workers.acquire()
		if tk == nil {
			t.Fatalf("item %d: no task after the panic", bad)
		}
		ok := &panicJob{bad: -1}
		tk.run(ok, n, 10)
		workers.release(tk)
		if ok.done.Load() != n {
			t.Fatalf("after a panic: %d of %d items ran", ok.done.Load(), n)
		}
	}
}

// A weight matrix mapped from a file truncated while in use faults (SIGBUS)
// on whichever goroutine reads the lost pages; with SetPanicOnFault on the
// caller, MatVec panics there with the fault address instead of crashing
// the process from a worker.
func TestMappedFault(t *testing.T) {
	old := workers.threads.Load()
	SetThreads(4)
	defer workers.threads.Store(old)
	const rows, cols = 2048, 512
	path := filepath.Join(t.TempDir(), "w.f32")
	if err := os.WriteFile(path, make([]byte, 4*rows*cols), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := mmap.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !f.Mapped() {
		t.Skip("no memory mapping on this platform")
	}
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	b := f.Bytes()
	m := &Matrix{Type: F32, Rows: rows, Cols: cols, F32: unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), rows*cols)}
	x, y := make([]float32, cols), make([]float32, rows)
	// Workers fault: the first chunk claimed (by the caller, usually) waits
	// until two others have faulted.
	for range 5 {
		tk := workers.acquire()
		if tk == nil {
			t.Fatal("no task")
		}
		j := &faultJob{data: m.F32, per: cols}
		r := func() (r any) {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer func() { r = recover() }()
			tk.run(j, rows, 64)
			workers.release(tk)
			return nil
		}()
		checkFault(t, r)
	}
	for range 5 {
		r := func() (r any) {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer func() { r = recover() }()
			MatVec(y, m, x)
			return nil
		}()
		checkFault(t, r)
	}
}

// faultJob reads rows of a mapped matrix whose pages are gone, except in
// the first chunk claimed, which waits for two other chunks to fault.
type faultJob struct {
	data    []float32
	per     int
	claimed atomic.Int32
	faulted atomic.Int32
}

func (j *faultJob) run(lo, hi int) {
	if j.claimed.Add(1) == 1 {
		for range 1000 {
			if j.faulted.Load() >= 2 {
				return
			}
			time.Sleep(time.Millisecond)
		}
		return
	}
	defer j.faulted.Add(1)
	var s float32
	for _, v := range j.data[lo*j.per+1024 : hi*j.per] {
		s += v
	}
	sink.Store(s)
}

var sink atomic.Value

// checkFault fails t unless r is the panic of a memory fault. A real kernel
// reports the faulting address (runtime.Error with Addr); qemu-user reports
// some faults as nil dereferences, still runtime.Errors.
func checkFault(t *testing.T, r any) {
	t.Helper()
	if _, ok := r.(runtime.Error); !ok {
		t.Fatalf("recovered %v, want a memory fault", r)
	}
}

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

// handOffJob counts the runs of each item; with slow set, items take
// 0-120 µs, so that the caller, finished with its own chunks, often polls
// past spinFor and sleeps until a worker hands the last chunk over.
type handOffJob struct {
	hits []atomic.Int32
	slow bool
}

func (j *handOffJob) run(lo, hi int) {
	for i := lo; i < hi; i++ {
		if j.slow {
			time.Sleep(time.Duration(i%4*40) * time.Microsecond)
		}
		j.hits[i].Add(1)
	}
}

// TestPoolHandOffs: calls spaced so that workers are sometimes polling and
// sometimes asleep, with the last chunk sometimes on a slow worker (the
// caller sleeps) and sometimes not, each run every item exactly once and
// return; concurrent callers do the same meanwhile.
func TestPoolHandOffs(t *testing.T) {
	SetThreads(3)
	defer SetThreads(0)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for g := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 61))
			for call := range 150 {
				n := 2 + r.IntN(30)
				j := &handOffJob{hits: make([]atomic.Int32, n), slow: r.IntN(3) == 0}
				tk := workers.acquire()
				tk.run(j, n, 1)
				workers.release(tk)
				for i := range j.hits {
					if h := j.hits[i].Load(); h != 1 {
						errs <- fmt.Errorf("goroutine %d call %d: item %d of %d ran %d times", g, call, i, n, h)
						return
					}
				}
				switch r.IntN(3) {
				case 0: // the next call comes while workers poll
				case 1:
					time.Sleep(time.Duration(r.IntN(40)) * time.Microsecond)
				case 2: // workers fall asleep
					time.Sleep(100 * time.Microsecond)
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
