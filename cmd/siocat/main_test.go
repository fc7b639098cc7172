package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/refserver"
	"github.com/siostream/siostream/internal/sioserver"
	"go.uber.org/goleak"
)

// siocatBin is the binary built once for the whole package.
var siocatBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "siocat-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := buildAndRun(m, dir)
	refserver.StopAll()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M, dir string) int {
	siocatBin = filepath.Join(dir, "siocat")
	build := exec.Command("go", "build", "-o", siocatBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building siocat:", err)
		return 1
	}
	return m.Run()
}

// waitLimit bounds every wait of the tests.
const waitLimit = 15 * time.Second

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the complete lines written so far.
func (b *syncBuffer) lines() []string {
	s := b.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.Split(s[:i], "\n")
	}
	return nil
}

// proc is a running siocat binary.
type proc struct {
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	code   int
}

// startSiocat runs the binary with stdin as its input (end of input after
// it) and kills it at the end of the test if still running.
func startSiocat(t *testing.T, stdin string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(siocatBin, args...)
	p.cmd.Stdin = strings.NewReader(stdin)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// runSiocat runs the binary to its end and returns its exit code.
func runSiocat(t *testing.T, stdin string, args ...string) *proc {
	t.Helper()
	p := startSiocat(t, stdin, args...)
	p.wait(t)
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(waitLimit):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("siocat did not exit\nstdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
		return -1
	}
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	return p.wait(t)
}

// waitStdout waits until stdout holds at least n lines and returns them.
func (p *proc) waitStdout(t *testing.T, n int) []string {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d stdout lines", n), func() bool { return len(p.stdout.lines()) >= n }, p)
	return p.stdout.lines()
}

// waitFor polls cond until it holds or the wait limit passes.
func waitFor(t *testing.T, what string, cond func() bool, p *proc) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			if p != nil {
				t.Fatalf("timed out waiting for %s\nstdout:\n%s\nstderr:\n%s", what, p.stdout.String(), p.stderr.String())
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newServer starts an in-process server closed at the end of the test.
func newServer(t *testing.T, opts sioserver.Options) *sioserver.Server {
	t.Helper()
	srv, err := sioserver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// wantCode fails the test when the exit code is not want.
func (p *proc) wantCode(t *testing.T, want int) {
	t.Helper()
	if got := p.wait(t); got != want {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", got, want, p.stdout.String(), p.stderr.String())
	}
}

// decodeLine decodes one JSON output line into a map.
func decodeLine(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("output line %q is not a JSON object: %v", line, err)
	}
	return m
}
