package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// These tests call run in-process, so that the race detector sees the
// program's own goroutines.

func TestRunHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	if out.String() != usageText || errb.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
	}
}

func TestRunUsageError(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--count", "x"}, strings.NewReader(""), &out, &errb); code != exitUsage {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(errb.String(), "Run 'siocat --help' for usage.") || out.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
	}
}

func TestRunDemoInProcess(t *testing.T) {
	var out, errb syncBuffer
	stdin := strings.NewReader("[\"hello\",1]\nnope\n")
	code := run(context.Background(), []string{"--demo", "--ack", "--json-status", "--count", "2"}, stdin, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit code %d\nstderr:\n%s", code, errb.String())
	}
	var events, acks, status int
	for _, l := range out.lines() {
		m := decodeLine(t, l)
		switch {
		case m["event"] != nil:
			events++
		case m["ack"] != nil:
			acks++
		case m["status"] != nil:
			status++
		}
	}
	if events != 2 || status != 2 || acks > 1 {
		t.Errorf("%d events, %d acks, %d status lines:\n%s", events, acks, status, out.String())
	}
	if !strings.Contains(errb.String(), "siocat: stdin line 2: ") {
		t.Errorf("stderr:\n%s", errb.String())
	}
}

func TestRunCancelled(t *testing.T) {
	var out, errb syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	stdin := strings.NewReader("[\"x\"]\n")
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--demo"}, stdin, &out, &errb) }()
	waitFor(t, "the first event", func() bool { return len(out.lines()) > 0 }, nil)
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit code %d\nstderr:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "disconnected from /: io client disconnect") {
		t.Errorf("stderr:\n%s", errb.String())
	}
}
