//go:build unix

package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServe starts cellm serve on a free port, asks it a question, and
// stops it with SIGTERM: it drains and returns without error.
func TestServe(t *testing.T) {
	model := micro(t)
	addr := make(chan string, 1)
	serveListening = func(a string) { addr <- a }
	defer func() { serveListening = nil }()
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- run([]string{"serve", "-m", model, "--alias", "tiny", "--port", "0", "--parallel", "2", "--max-tokens", "4"}, &stderr)
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	resp, err := http.Post(base+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"tiny","messages":[{"role":"user","content":"Hi"}],"temperature":0}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"completion_tokens":4`) {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

func TestServeFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"serve", "-m", "a.cellm", "--port", "70000"}, "--port 70000"},
		{[]string{"serve", "-m", "a.cellm", "--parallel", "0"}, "--parallel 0"},
		{[]string{"serve", "-m", "a.cellm", "--alias", "x", "--alias", "y"}, "2 --alias for 1 --model"},
		{[]string{"serve", "-m", "a.cellm", "--kv-type", "q4"}, "--kv-type"},
	} {
		code, _, stderr := cli(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, code, stderr, c.msg)
		}
	}
}

// servesStore starts serve without --model and checks that /v1/models
// lists the store's models, among them want, and that one answers.
func servesStore(t *testing.T, want string) {
	t.Helper()
	addr := make(chan string, 1)
	serveListening = func(a string) { addr <- a }
	defer func() { serveListening = nil }()
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() { done <- run([]string{"serve", "--port", "0", "--max-tokens", "2"}, &stderr) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case code := <-done:
		t.Fatalf("serve without --model exited with %d: %s", code, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	resp, err := http.Get(base + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"`+want+`"`) {
		t.Errorf("/v1/models: %d %s (want %s listed)", resp.StatusCode, body, want)
	}
	resp, err = http.Post(base+"/v1/completions", "application/json",
		strings.NewReader(`{"model":"`+want+`","prompt":"A class is","temperature":0}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"completion_tokens":2`) {
		t.Errorf("completion from a stored model: %d %s", resp.StatusCode, body)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit code %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}
