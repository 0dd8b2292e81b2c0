package kernels

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
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
		if !workers.acquire() {
			t.Fatal("pool busy")
		}
		j := &faultJob{data: m.F32, per: cols}
		r := func() (r any) {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer func() { r = recover() }()
			workers.run(j, rows, 64)
			workers.release()
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
