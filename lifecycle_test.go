package cellm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellm-ai/cellm-go/kernels"
)

// Breaking out of a Tokens loop while text is held back (a partial stop
// string match) must not call the loop body again: the final flush used to,
// which panics in a range-over-func loop.
func TestTokensBreakWhileHoldingText(t *testing.T) {
	m := micro(t)
	req := Request{Prompt: "The Python tutorial", MaxNewTokens: 3}
	res, err := m.Generate(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every generated piece is a prefix of the stop string, so all the text
	// is held back until the end.
	req.Stop = []string{res.Text + "\x00never"}
	n := 0
	for tok, err := range m.Tokens(context.Background(), req) {
		if err != nil {
			t.Fatal(err)
		}
		if tok.Text != "" {
			t.Fatalf("text %q was not held back", tok.Text)
		}
		n++
		break
	}
	if n != 1 {
		t.Fatalf("%d tokens before the break", n)
	}
	// Generate: once onToken returns false it is not called again, and the
	// held-back text is still in the result.
	calls := 0
	got, err := m.Generate(context.Background(), req, func(Token) bool { calls++; return false })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || got.StopReason != "stopped_by_caller" || got.Text == "" || !strings.HasPrefix(res.Text, got.Text) {
		t.Errorf("%d calls, stop %q, text %q (full %q)", calls, got.StopReason, got.Text, res.Text)
	}
}

func TestClosed(t *testing.T) {
	m := micro(t)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.Generate(context.Background(), Request{Prompt: "A class", MaxNewTokens: 4}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Generate after Close: %v, want ErrClosed", err)
	}
	for _, err := range m.Tokens(context.Background(), Request{Prompt: "A class", MaxNewTokens: 4}) {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Tokens after Close: %v, want ErrClosed", err)
		}
	}
	if _, err := m.ImageFeatures(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("ImageFeatures after Close: %v, want ErrClosed", err)
	}
}

// Close waits for running generations (which keep reading the mapped
// weights) and refuses new ones. Run with -race.
func TestCloseWaitsForGenerations(t *testing.T) {
	m := micro(t)
	const n = 3
	started := make(chan struct{}, n)
	resume := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, n)
	tokens := make([]int, n)
	for i := range n {
		wg.Go(func() {
			first := true
			res, err := m.Generate(context.Background(), Request{Prompt: "A class is", MaxNewTokens: 16, IgnoreEOS: true},
				func(Token) bool {
					if first {
						first = false
						started <- struct{}{}
						<-resume
					}
					return true
				})
			errs[i] = err
			if res != nil {
				tokens[i] = len(res.Tokens)
			}
		})
	}
	for range n {
		<-started
	}
	closed := make(chan error)
	go func() { closed <- m.Close() }()
	// Close must not return while the generations are paused; give it a
	// moment to (wrongly) do so.
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while generations were running", err)
	case <-time.After(50 * time.Millisecond):
	}
	// New calls are refused as soon as Close has begun.
	for {
		_, err := m.Generate(context.Background(), Request{Prompt: "A", MaxNewTokens: 1}, nil)
		if errors.Is(err, ErrClosed) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(resume)
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil || tokens[i] != 16 {
			t.Errorf("generation %d: %d tokens, error %v", i, tokens[i], errs[i])
		}
	}
}

// A model file truncated while mapped (Options.MapFile) makes reads of its
// weights fault (SIGBUS): Generate returns an error naming the file instead
// of crashing, whether the fault hits the calling goroutine or a kernel
// worker. A model copied at open (the default on Linux) is not affected.
func TestTruncatedWhileOpen(t *testing.T) {
	micro(t) // converts the model once
	st, err := os.Stat(microPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		threads int
		size    int64
	}{{1, 4096}, {2, 4096}, {1, st.Size() / 2}, {2, st.Size() / 2}} {
		threads := tc.threads
		t.Run(fmt.Sprintf("%d threads, %d bytes", tc.threads, tc.size), func(t *testing.T) {
			defer kernels.SetThreads(kernels.Threads())
			kernels.SetThreads(threads)
			path := filepath.Join(t.TempDir(), "truncated.cellm")
			copyFile(t, microPath, path)
			m, err := Open(path, &Options{MapFile: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			copied := m
			if runtime.GOOS == "linux" {
				if copied, err = Open(path, nil); err != nil {
					t.Fatal(err)
				}
				defer copied.Close()
			}
			if err := os.Truncate(path, tc.size); err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS == "linux" {
				if _, err := copied.Generate(context.Background(), Request{Prompt: "A class is", MaxNewTokens: 4}, nil); err != nil {
					t.Errorf("model copied at open: %v", err)
				}
			}
			_, err = m.Generate(context.Background(), Request{Prompt: "A class is", MaxNewTokens: 4}, nil)
			if !errors.Is(err, ErrModelFault) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want ErrModelFault naming %s", err, path)
			}
			t.Log(err)
		})
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
