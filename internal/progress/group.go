package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Group draws one bar per item in progress (a file being downloaded) and a
// total bar under them, redrawn in place on a terminal; a finished item
// leaves one line. When the output is not a terminal it stays quiet. Its
// methods are safe for concurrent use.
type Group struct {
	mu      sync.Mutex
	w       io.Writer
	enabled bool
	label   string
	total   int64
	start   time.Time
	last    time.Time
	items   map[string]*groupItem
	order   []string // active items, in the order they started
	ended   []string // items finished since the last redraw
	drawn   int      // lines of the block drawn last
}

type groupItem struct {
	done, size int64
	finished   bool
}

// NewGroup returns a group whose total bar counts to total bytes, drawing
// on stderr if it is a terminal.
func NewGroup(label string, total int64) *Group {
	return &Group{w: os.Stderr, enabled: IsTerminal(os.Stderr), label: label, total: total, start: time.Now(),
		items: map[string]*groupItem{}}
}

// Update records that item has done of size bytes; done == size finishes it.
func (g *Group) Update(item string, done, size int64) {
	if !g.enabled {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	it := g.items[item]
	if it == nil {
		it = &groupItem{}
		g.items[item] = it
		g.order = append(g.order, item)
	}
	if it.finished {
		return
	}
	it.done, it.size = done, size
	now := time.Now()
	it.finished = done >= size
	if it.finished {
		g.ended = append(g.ended, item)
	} else if now.Sub(g.last) < 100*time.Millisecond {
		return
	}
	g.last = now
	g.redraw(now)
}

// redraw erases the block and draws finished items, active bars and the total.
func (g *Group) redraw(now time.Time) {
	var b strings.Builder
	if g.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF\x1b[J", g.drawn)
	}
	var sum int64
	for _, it := range g.items {
		sum += it.done
	}
	for _, name := range g.ended {
		fmt.Fprintf(&b, "  %s %s\n", name, Bytes(g.items[name].size))
	}
	g.ended = g.ended[:0]
	var active []string
	for _, name := range g.order {
		if !g.items[name].finished {
			active = append(active, name)
		}
	}
	g.order = active
	for _, name := range active {
		it := g.items[name]
		b.WriteString("  " + line(name, it.done, it.size, "") + "\n")
	}
	rate := float64(sum) / max(now.Sub(g.start).Seconds(), 1e-9)
	b.WriteString(line(g.label, sum, g.total, " "+Bytes(int64(rate))+"/s") + "\n")
	g.drawn = len(active) + 1
	io.WriteString(g.w, b.String())
}

// line formats "name [=====     ]  45.0% 1.2 MiB/2.6 MiB".
func line(name string, done, total int64, extra string) string {
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	const width = 24
	filled := int(frac * width)
	return fmt.Sprintf("%-32s [%s%s] %5.1f%% %s/%s%s", name, strings.Repeat("=", filled),
		strings.Repeat(" ", width-filled), 100*frac, Bytes(done), Bytes(total), extra)
}

// Done draws the final state.
func (g *Group) Done() {
	if !g.enabled {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.redraw(time.Now())
}
