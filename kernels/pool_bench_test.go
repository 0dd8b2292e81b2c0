package kernels

import (
	"fmt"
	"testing"
	"time"
)

// spinJob busies each item for about per (reading the clock).
type spinJob struct{ per time.Duration }

func (j *spinJob) run(lo, hi int) {
	for range hi - lo {
		for start := time.Now(); time.Since(start) < j.per; {
		}
	}
}

// BenchmarkPoolHandOff: back-to-back parallel calls of 8 items, as a
// batched decode step issues them (one per sequence or weight panel): the
// time per call beyond the items' work is the pool's hand-off cost. gap
// adds serial caller work between calls, the time a worker may have to
// poll or sleep through.
func BenchmarkPoolHandOff(b *testing.B) {
	SetThreads(2)
	defer SetThreads(0)
	for _, per := range []time.Duration{0, 500 * time.Nanosecond, 5 * time.Microsecond} {
		for _, gap := range []time.Duration{0, 5 * time.Microsecond, 50 * time.Microsecond} {
			b.Run(fmt.Sprintf("item=%v/gap=%v", per, gap), func(b *testing.B) {
				j := &spinJob{per: per}
				g := &spinJob{per: gap}
				for b.Loop() {
					t := workers.acquire()
					t.run(j, 8, 1)
					workers.release(t)
					if gap > 0 {
						g.run(0, 1)
					}
				}
			})
		}
	}
}
