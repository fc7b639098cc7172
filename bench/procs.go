package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Every process the bench starts is registered here, so that it can be
// ended on any way out: normal exit, error, or signal. Each child also
// gets SIGKILL when the bench dies (Pdeathsig on Linux) and exits when
// its stdin reaches end-of-file.
var children struct {
	mu   sync.Mutex
	set  map[*exec.Cmd]struct{}
	gone bool
}

func register(cmd *exec.Cmd) bool {
	children.mu.Lock()
	defer children.mu.Unlock()
	if children.gone {
		return false
	}
	if children.set == nil {
		children.set = make(map[*exec.Cmd]struct{})
	}
	children.set[cmd] = struct{}{}
	return true
}

func unregister(cmd *exec.Cmd) {
	children.mu.Lock()
	delete(children.set, cmd)
	children.mu.Unlock()
}

// killChildren kills every live child and refuses new ones.
func killChildren() {
	children.mu.Lock()
	defer children.mu.Unlock()
	children.gone = true
	for cmd := range children.set {
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
	}
}

func newCmd(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// server is a child process that listens and printed {"port":N}.
type server struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	URL   string
	done  chan struct{}
}

// startServer starts a server child and waits for its port line.
func startServer(ctx context.Context, dir, name string, args ...string) (*server, error) {
	cmd := newCmd(ctx, dir, name, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if !register(cmd) {
		return nil, errors.New("shutting down")
	}
	if err := cmd.Start(); err != nil {
		unregister(cmd)
		return nil, err
	}
	s := &server{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		cmd.Wait()
		unregister(cmd)
		close(s.done)
	}()
	select {
	case line, ok := <-lines:
		var p struct{ Port int }
		if !ok || json.Unmarshal([]byte(line), &p) != nil || p.Port == 0 {
			s.stop()
			return nil, fmt.Errorf("%s: no port line (got %q)", name, line)
		}
		s.URL = fmt.Sprintf("http://127.0.0.1:%d", p.Port)
		return s, nil
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s: not listening after 30 s", name)
	}
}

// stop closes the server's stdin, which ends it, and kills it if it is
// still there after two seconds.
func (s *server) stop() {
	s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// runTask runs one task in a child process and parses its result line.
func runTask(ctx context.Context, dir string, t task, name string, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(t.Timeout+15)*time.Second)
	defer cancel()
	cmd := newCmd(ctx, dir, name, args...)
	stdin, err := cmd.StdinPipe() // held open until the child ends
	if err != nil {
		return result{}, err
	}
	defer stdin.Close()
	var out strings.Builder
	cmd.Stdout = &out
	if !register(cmd) {
		return result{}, errors.New("shutting down")
	}
	err = cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	unregister(cmd)
	var r result
	text := strings.TrimSpace(out.String())
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[i+1:]
	}
	if jerr := json.Unmarshal([]byte(text), &r); jerr != nil {
		if err == nil {
			err = fmt.Errorf("bad result line %q: %v", text, jerr)
		}
		return r, fmt.Errorf("%s %s: %w", t.Client, t.Kind, err)
	}
	if r.Err != "" {
		return r, fmt.Errorf("%s %s: %s", t.Client, t.Kind, r.Err)
	}
	if err != nil {
		return r, fmt.Errorf("%s %s: %w", t.Client, t.Kind, err)
	}
	return r, nil
}
