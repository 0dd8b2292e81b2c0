//go:build !linux

package kernels

import (
	"errors"
	"time"
)

// mapBuffer returns n bytes from the Go heap (page size left to the OS);
// huge pages are only requested on Linux.
func mapBuffer(n int, huge bool) ([]byte, func(), error) {
	if huge {
		return nil, nil, errors.New("huge pages are only requested on Linux")
	}
	p := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		p[i] = byte(i >> 12)
	}
	return p, func() {}, nil
}

// processCPU returns 0: the process CPU time is only read on Linux.
func processCPU() time.Duration { return 0 }
