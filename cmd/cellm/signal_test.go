//go:build unix

package main

import (
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// SIGTERM during a conversion stops it and leaves neither output nor temp file.
func TestConvertSignal(t *testing.T) {
	got := make(chan os.Signal, 1)
	signal.Notify(got, syscall.SIGTERM)
	defer signal.Stop(got)
	dir := t.TempDir()
	out := filepath.Join(dir, "m.cellm")
	opt, _ := convertOptions("f32")
	sent := false
	opt.Progress = func(done, total int64) {
		if !sent {
			sent = true
			syscall.Kill(os.Getpid(), syscall.SIGTERM)
			<-got                             // delivered (to convertChecked's handler too)
			time.Sleep(50 * time.Millisecond) // let its context be cancelled
		}
	}
	_, err := convertChecked(testutil.Fixture(t, "llama-tiny"), out, opt)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("err %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}
