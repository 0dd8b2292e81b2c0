package kernels

// ForEach calls fn(i) for every i in [0, n) on the calling goroutine and the
// idle workers of the kernel pool (see Threads), and returns when every call
// has returned. Calls run concurrently, in no set order, so fn(i) must only
// touch what item i owns. A parallel call costs a few microseconds, so each
// item should take at least about that long (the argmax of one sequence's
// logits, say). If a call panics, ForEach waits for the calls under way and
// panics on the caller with that value; the items following it on its
// goroutine's share are skipped. n < 2 or one thread runs on the caller alone.
func ForEach(n int, fn func(i int)) {
	if n >= 2 {
		if t := workers.acquire(); t != nil {
			pj := &t.jobs.each
			pj.fn = fn
			t.run(pj, n, 1)
			pj.fn = nil
			workers.release(t)
			return
		}
	}
	for i := range n {
		fn(i)
	}
}

// eachJob calls a function once per item.
type eachJob struct{ fn func(i int) }

func (j *eachJob) run(lo, hi int) {
	for i := lo; i < hi; i++ {
		j.fn(i)
	}
}
