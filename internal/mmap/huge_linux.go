package mmap

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenHuge reads the file at path into anonymous memory backed by
// transparent huge pages (madvise MADV_HUGEPAGE), made read-only once
// filled: a copy that costs a read of the file at open and its size in
// resident memory, in exchange for fewer TLB misses when tensors are
// streamed. A file larger than half of the available memory
// (MemAvailable) is mapped as Open does instead. An empty file yields an
// empty view.
func OpenHuge(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size == 0 {
		return &File{}, nil
	}
	if int64(int(size)) != size || size < 0 {
		return nil, fmt.Errorf("%s: file too large to map (%d bytes)", path, size)
	}
	if avail, ok := memAvailable(); !ok || size > avail/2 {
		return Open(path)
	}
	data, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("%s: anonymous mapping of %d bytes: %w", path, size, err)
	}
	// Huge pages are a hint: without THP support the copy still works.
	_ = unix.Madvise(data, unix.MADV_HUGEPAGE)
	if _, err := f.ReadAt(data, 0); err != nil {
		unix.Munmap(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := unix.Mprotect(data, unix.PROT_READ); err != nil {
		unix.Munmap(data)
		return nil, fmt.Errorf("%s: mprotect: %w", path, err)
	}
	return &File{data: data, mapped: true}, nil
}

// memAvailable returns MemAvailable of /proc/meminfo in bytes.
func memAvailable() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		return kb << 10, err == nil
	}
	return 0, false
}
