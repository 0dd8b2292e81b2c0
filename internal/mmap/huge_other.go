//go:build !linux

package mmap

// OpenHuge is Open where transparent huge pages are not available.
func OpenHuge(path string) (*File, error) { return Open(path) }
