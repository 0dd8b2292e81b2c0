//go:build unix

package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// A real SIGINT (Ctrl-C) at the chat's prompt ends it with exit 0.
func TestChatSIGINTAtPrompt(t *testing.T) {
	model := micro(t)
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	defer inW.Close()
	errFile, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	stderr := func() string { data, _ := os.ReadFile(errFile.Name()); return string(data) }
	oldIn, oldErr := os.Stdin, os.Stderr
	os.Stdin, os.Stderr = inR, errFile
	defer func() { os.Stdin, os.Stderr = oldIn, oldErr }()
	done := make(chan int, 1)
	go func() { done <- run([]string{"infer", "-m", model, "--interactive", "-n", "2"}, errFile) }()
	inW.WriteString("/help\n")
	waitFor(t, stderr, "/clear", 1) // the loop (and its SIGINT handler) runs
	waitFor(t, stderr, "> ", 2)     // back at the prompt
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	if code := <-done; code != 0 || strings.Contains(stderr(), "error") {
		t.Errorf("exit %d: %s", code, stderr())
	}
}
