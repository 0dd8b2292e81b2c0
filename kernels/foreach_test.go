package kernels

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestForEach: every item runs exactly once, on more than one goroutine
// when items wait for each other, for every thread count; a panic reaches
// the caller after the other goroutines' items ran.
func TestForEach(t *testing.T) {
	defer SetThreads(0)
	for _, th := range []int{1, 2, 4} {
		SetThreads(th)
		for _, n := range []int{0, 1, 2, 3, 8, 17, 1000} {
			hits := make([]atomic.Int32, n)
			ForEach(n, func(i int) { hits[i].Add(1) })
			for i := range hits {
				if h := hits[i].Load(); h != 1 {
					t.Fatalf("threads %d n=%d: item %d ran %d times", th, n, i, h)
				}
			}
		}
		if th == 1 {
			continue
		}
		// Two items that each wait for the other finish only if they run
		// at the same time.
		var inside atomic.Int32
		var alone atomic.Bool
		ForEach(2, func(int) {
			inside.Add(1)
			deadline := time.Now().Add(10 * time.Second)
			for inside.Load() < 2 {
				if time.Now().After(deadline) {
					alone.Store(true)
					return
				}
				time.Sleep(50 * time.Microsecond)
			}
		})
		if alone.Load() {
			t.Fatalf("threads %d: ForEach ran its two items one after the other", th)
		}
	}
	SetThreads(4)
	var ran atomic.Int32
	got := func() (r any) {
		defer func() { r = recover() }()
		ForEach(40, func(i int) {
			if i == 21 {
				panic("item failed")
			}
			ran.Add(1)
		})
		return nil
	}()
	// 4 threads split 40 items in shares of 3: only item 21's share stops.
	if got != "item failed" || ran.Load() < 37 || ran.Load() > 39 {
		t.Fatalf("recovered %v after %d items, want the item's panic after 37-39 others", got, ran.Load())
	}
}
