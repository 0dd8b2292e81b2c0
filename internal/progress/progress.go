// Package progress draws a one-line progress bar on a terminal. When the
// output is not a terminal it stays quiet.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar is a byte-count progress bar. Its methods are safe for concurrent use.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer
	label   string
	start   time.Time
	last    time.Time
	enabled bool
	unit    func(int64) string
}

// IsTerminal reports whether f is a terminal. /dev/null and other character
// devices, pipes and files are not.
func IsTerminal(f *os.File) bool {
	return f != nil && term.IsTerminal(int(f.Fd()))
}

// New returns a bar writing to stderr if it is a terminal, else a silent bar.
func New(label string) *Bar {
	return &Bar{w: os.Stderr, label: label, start: time.Now(), enabled: IsTerminal(os.Stderr), unit: Bytes}
}

// NewCount is New for counts of things other than bytes (tokens, tiles).
func NewCount(label string) *Bar {
	b := New(label)
	b.unit = func(n int64) string { return fmt.Sprint(n) }
	return b
}

// Update redraws the bar for done of total units (at most 10 times a second).
func (b *Bar) Update(done, total int64) {
	if !b.enabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if done < total && now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	const width = 30
	filled := int(frac * width)
	rate := float64(done) / max(now.Sub(b.start).Seconds(), 1e-9)
	fmt.Fprintf(b.w, "\r%s [%s%s] %5.1f%% %s/%s %s/s ", b.label, strings.Repeat("=", filled),
		strings.Repeat(" ", width-filled), 100*frac, b.unit(done), b.unit(total), b.unit(int64(rate)))
}

// Done ends the bar's line.
func (b *Bar) Done() {
	if b.enabled {
		fmt.Fprintln(b.w)
	}
}

// Bytes formats a byte count with a binary unit.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
