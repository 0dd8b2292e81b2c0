package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellm-ai/cellm-go"
)

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until s() contains want n times, failing after a minute
// (a hang, not a timing check).
func waitFor(t *testing.T, s func() string, want string, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); strings.Count(s(), want) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %d× %q in %q", n, want, s())
		}
	}
}

// heldWriter blocks its first Write until released, so that a test can act
// while a reply is being streamed.
type heldWriter struct {
	started, release chan struct{}
	once             sync.Once
	buf              lockedBuffer
}

func (w *heldWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		close(w.started)
		<-w.release
	})
	return w.buf.Write(p)
}

// Ctrl-C during a reply stops it and returns to the prompt, keeping what was
// said (the next turn still reuses the cache); Ctrl-C at the prompt ends the
// chat.
func TestChatInterruptReply(t *testing.T) {
	fs := newFlags("test", "")
	var g genFlags
	g.register(fs)
	// 200 tokens a reply: the second turn's prompt holds the first, stopped
	// reply (at most 199 tokens, however late the stop lands on a busy
	// machine) and must still leave room for 200 more in the model's 512
	// positions, so that it ends on max_tokens, not on a full context.
	if err := parse(fs, []string{"-n", "200", "--ignore-eos", "--stats"}); err != nil {
		t.Fatal(err)
	}
	base, err := g.request()
	if err != nil {
		t.Fatal(err)
	}
	m, err := cellm.Open(micro(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in, typed := io.Pipe()
	defer typed.Close()
	out := &heldWriter{started: make(chan struct{}), release: make(chan struct{})}
	var info lockedBuffer
	interrupts := make(chan os.Signal)
	c := &chatLoop{m: m, g: &g, base: base, in: in, out: out, info: &info, interrupts: interrupts}
	done := make(chan error, 1)
	go func() { done <- c.run() }()

	io.WriteString(typed, "What is a list?\n")
	<-out.started
	interrupts <- os.Interrupt // taken by the reply's watcher: the loop is streaming
	close(out.release)
	waitFor(t, info.String, "(stopped)", 1)
	waitFor(t, info.String, "stop: canceled", 1)
	st := parseTurnStats(t, info.String())
	if len(st) != 1 || st[0].generated == 0 || st[0].generated >= 200 {
		t.Fatalf("stopped turn: %+v", st)
	}
	io.WriteString(typed, "And a tuple?\n")
	waitFor(t, info.String, "stop: max_tokens", 1)
	st = parseTurnStats(t, info.String())
	// The session survives the stop: most of the first prompt is reused
	// (its last tokens may merge with the kept reply's when re-encoded).
	if len(st) != 2 || st[1].reused < st[0].prompt/2 || st[1].prompt <= st[0].prompt {
		t.Errorf("after a stopped reply: %+v", st)
	}
	select {
	case interrupts <- os.Interrupt: // at the prompt: the only receiver
	case err := <-done:
		t.Fatalf("chat ended early: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("chat ended with %v", err)
	}
	if len(c.turns) != 2 || c.turns[0].reply == "" || !strings.HasPrefix(out.buf.String(), c.turns[0].reply) {
		t.Errorf("history %+v, replies %q", c.turns, out.buf.String())
	}
}
