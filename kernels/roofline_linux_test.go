package kernels

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// mapBuffer returns n bytes of anonymous memory backed by transparent huge
// pages (huge) or by 4 KiB pages only, touched so that every page is
// present, and a function that unmaps it.
func mapBuffer(n int, huge bool) ([]byte, func(), error) {
	p, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap %d bytes: %w", n, err)
	}
	advice := unix.MADV_NOHUGEPAGE
	if huge {
		advice = unix.MADV_HUGEPAGE
	}
	if err := unix.Madvise(p, advice); err != nil {
		unix.Munmap(p)
		return nil, nil, fmt.Errorf("madvise: %w", err)
	}
	for i := 0; i < n; i += 4096 {
		p[i] = byte(i >> 12)
	}
	return p, func() { unix.Munmap(p) }, nil
}

// processCPU returns the CPU time the process has used (all threads), or
// 0 if the clock cannot be read.
func processCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
