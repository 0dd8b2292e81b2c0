// Package filelock takes exclusive advisory locks on files, so that several
// processes (cellm, or Python's huggingface_hub, which locks the same
// .lock files with flock) never write the same download or model at once.
package filelock

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Lock is a held lock; Unlock releases it.
type Lock struct {
	f *os.File
}

// pollInterval is how often Acquire retries a lock held by someone else.
const pollInterval = 50 * time.Millisecond

// Acquire creates path (and its folder) if needed and locks it exclusively,
// waiting while another process or goroutine holds it, until ctx is done.
func Acquire(ctx context.Context, path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			return &Lock{f: f}, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the lock %s: %w", path, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// Unlock releases the lock. The lock file stays, as huggingface_hub's do.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
