package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/sioserver"
)

func TestEventsOut(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sioserver.Options{OnConnect: func(c *sioserver.Conn, ns string) {
		_ = c.Emit(ns, "greet", map[string]string{"html": "<b>&</b>"})
		_ = c.Emit(ns, "bin", "x", []byte{1, 2, 3}, map[string]any{"b": []byte{4}})
		_ = c.Emit(ns, "none")
	}})
	p := runSiocat(t, "", "--namespace", "/realtime", "--count", "3", srv.URL())
	p.wantCode(t, exitOK)
	// The server's JSON encoder escapes <, > and &; siocat keeps the
	// arguments as they came.
	want := []string{
		`{"ns":"/realtime","event":"greet","args":[{"html":"\u003cb\u003e\u0026\u003c/b\u003e"}]}`,
		`{"ns":"/realtime","event":"bin","args":["x","AQID",{"b":"BA=="}],"binary":2}`,
		`{"ns":"/realtime","event":"none","args":[]}`,
	}
	if got := p.stdout.lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stdout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e := p.stderr.String(); !strings.Contains(e, "siocat: connected to /realtime (sid ") {
		t.Errorf("stderr lacks the connected line:\n%s", e)
	}
}

func TestJSONStatus(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sioserver.Options{OnConnect: func(c *sioserver.Conn, ns string) {
		_ = c.Emit(ns, "hello")
	}})
	p := runSiocat(t, "", "--json-status", "--count", "1", srv.URL())
	p.wantCode(t, exitOK)
	lines := p.stdout.lines()
	if len(lines) != 3 {
		t.Fatalf("want 3 stdout lines, got:\n%s", p.stdout.String())
	}
	first := decodeLine(t, lines[0])
	if first["status"] != "connected" || first["ns"] != "/" || first["sid"] == "" || first["recovered"] != false {
		t.Errorf("connected line: %s", lines[0])
	}
	if lines[1] != `{"ns":"/","event":"hello","args":[]}` {
		t.Errorf("event line: %s", lines[1])
	}
	last := decodeLine(t, lines[2])
	if last["status"] != "disconnected" || last["reason"] != "io client disconnect" {
		t.Errorf("disconnected line: %s", lines[2])
	}
	if p.stderr.String() != "" {
		t.Errorf("stderr not empty with --json-status:\n%s", p.stderr.String())
	}
}

// recorder collects the events the server receives.
type recorder struct {
	mu     sync.Mutex
	events []string // "name args"
}

func (r *recorder) handle(_ *sioserver.Conn, ev *sioserver.Received) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev.Name+" "+string(ev.Args))
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func TestStdinEmits(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := newServer(t, sioserver.Options{Handler: rec.handle})
	stdin := strings.Join([]string{
		`["first", 1, {"a": [true, null]}]`, // 1
		`not json`,                          // 2
		`{"event":"x"}`,                     // 3
		`[42, "x"]`,                         // 4
		`   `,                               // 5: blank, skipped silently
		`["connect"]`,                       // 6: reserved
		`[]`,                                // 7
		`["second","<&>"]`,                  // 8
	}, "\n")
	p := startSiocat(t, stdin, srv.URL())
	waitFor(t, "two events at the server", func() bool { return len(rec.list()) >= 2 }, p)
	waitFor(t, "the reserved-name report", func() bool { return strings.Contains(p.stderr.String(), "stdin line 6:") }, p)
	if code := p.stop(t); code != exitOK {
		t.Fatalf("exit code %d after SIGTERM\nstderr:\n%s", code, p.stderr.String())
	}
	got := rec.list()
	// Arguments go out as written on stdin.
	want := []string{`first [1,{"a": [true, null]}]`, `second ["<&>"]`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("server received:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	stderr := p.stderr.String()
	for _, n := range []string{"2", "3", "4", "6", "7"} {
		if !strings.Contains(stderr, "siocat: stdin line "+n+": ") {
			t.Errorf("stderr does not report line %s:\n%s", n, stderr)
		}
	}
	for _, n := range []string{"1", "5", "8"} {
		if strings.Contains(stderr, "stdin line "+n+":") {
			t.Errorf("stderr reports line %s:\n%s", n, stderr)
		}
	}
}

func TestAckReplies(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sioserver.Options{}) // acks with the event's own args
	p := startSiocat(t, "[\"sum\",1,2]\nbad\n[\"empty\"]\n", "--ack", srv.URL())
	lines := p.waitStdout(t, 2)
	p.wantStop(t)
	want := []string{`{"ack":1,"args":[1,2]}`, `{"ack":3,"args":[]}`}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("stdout:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(p.stderr.String(), "siocat: stdin line 2: ") {
		t.Errorf("stderr:\n%s", p.stderr.String())
	}
}

func TestAckTimeout(t *testing.T) {
	t.Parallel()
	// The server leaves "slow" unanswered and acknowledges the rest.
	srv := newServer(t, sioserver.Options{Handler: func(c *sioserver.Conn, ev *sioserver.Received) {
		if ev.Name != "slow" {
			sioserver.EchoHandler(c, ev)
		}
	}})
	p := startSiocat(t, "[\"slow\"]\n[\"fast\",1]\n", "--ack", "--ack-timeout", "300ms", srv.URL())
	lines := p.waitStdout(t, 1)
	p.wantStop(t)
	if strings.Join(lines, "\n") != `{"ack":2,"args":[1]}` {
		t.Errorf("stdout:\n%s", p.stdout.String())
	}
	if want := "siocat: stdin line 1: no ack within 300ms (--ack-timeout), going on\n"; !strings.Contains(p.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, p.stderr.String())
	}
}

// wantStop stops the process with SIGTERM and expects exit code 0.
func (p *proc) wantStop(t *testing.T) {
	t.Helper()
	if code := p.stop(t); code != exitOK {
		t.Fatalf("exit code %d after SIGTERM\nstdout:\n%s\nstderr:\n%s", code, p.stdout.String(), p.stderr.String())
	}
}

// askOnConnect makes the server ask the client for an ack right after
// each connect and sends the outcome to results. (The tests learn that the
// goroutine is done from results: synchronisation through the siocat
// process is invisible to the race detector.)
func askOnConnect(wait time.Duration, results chan<- string) func(*sioserver.Conn, string) {
	return func(c *sioserver.Conn, ns string) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			reply, err := c.EmitWithAck(ctx, ns, "question", 42)
			if err != nil {
				results <- "error: " + err.Error()
				return
			}
			results <- string(reply)
		}()
	}
}

func TestAutoAck(t *testing.T) {
	t.Parallel()
	results := make(chan string, 1)
	srv := newServer(t, sioserver.Options{OnConnect: askOnConnect(waitLimit, results)})
	p := runSiocat(t, "", "--count", "1", srv.URL())
	p.wantCode(t, exitOK)
	if got := <-results; got != "[]" {
		t.Errorf("server got ack %q, want []", got)
	}
	if got := strings.Join(p.stdout.lines(), "\n"); got != `{"ns":"/","event":"question","args":[42],"ack":true}` {
		t.Errorf("stdout: %s", got)
	}
}

func TestNoAutoAck(t *testing.T) {
	t.Parallel()
	results := make(chan string, 1)
	srv := newServer(t, sioserver.Options{OnConnect: askOnConnect(700*time.Millisecond, results)})
	p := startSiocat(t, "", "--no-auto-ack", srv.URL())
	p.waitStdout(t, 1)
	got := <-results
	p.wantStop(t)
	if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, context.DeadlineExceeded.Error()) {
		t.Errorf("server got %q, want no ack", got)
	}
	if got := p.stdout.lines()[0]; got != `{"ns":"/","event":"question","args":[42],"ack":true}` {
		t.Errorf("stdout: %s", got)
	}
}

// authScript writes a script that counts its runs in a file and prints a
// token holding the count.
func authScript(t *testing.T) (script, counter string) {
	dir := t.TempDir()
	counter = filepath.Join(dir, "count")
	script = filepath.Join(dir, "get-token")
	body := "#!/bin/sh\n" +
		"n=$(cat '" + counter + "' 2>/dev/null || echo 0)\n" +
		"n=$((n + 1))\n" +
		"echo \"$n\" > '" + counter + "'\n" +
		"printf '{\"token\":\"very-secret-%s\"}\\n' \"$n\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, counter
}

// dropFirst makes the server drop the first n connections shortly after
// they joined a namespace. Each drop is reported on the channel.
func dropFirst(n int32) (func(*sioserver.Conn, string), <-chan struct{}) {
	var seen atomic.Int32
	dropped := make(chan struct{}, n)
	return func(c *sioserver.Conn, _ string) {
		if seen.Add(1) > n {
			return
		}
		go func() {
			time.Sleep(200 * time.Millisecond)
			c.Drop()
			dropped <- struct{}{}
		}()
	}, dropped
}

// waitDrops waits for n drops.
func waitDrops(t *testing.T, dropped <-chan struct{}, n int) {
	t.Helper()
	for range n {
		select {
		case <-dropped:
		case <-time.After(waitLimit):
			t.Fatal("the server did not drop the connection")
		}
	}
}

func TestAuthCmdOnEveryReconnect(t *testing.T) {
	t.Parallel()
	script, counter := authScript(t)
	onConnect, dropped := dropFirst(2)
	srv := newServer(t, sioserver.Options{OnConnect: onConnect})
	p := startSiocat(t, "", "--auth-cmd", script, "-H", "X-Api-Key: header-secret", srv.URL())
	waitDrops(t, dropped, 2)
	waitFor(t, "the third connect", func() bool { return srv.Connects("/") >= 3 }, p)
	time.Sleep(100 * time.Millisecond)
	p.wantStop(t)

	b, err := os.ReadFile(counter)
	if err != nil || strings.TrimSpace(string(b)) != "3" {
		t.Errorf("auth command ran %q times (err %v), want 3", strings.TrimSpace(string(b)), err)
	}
	auths := srv.Auths("/")
	for i, a := range auths {
		want := `{"token":"very-secret-` + string(rune('1'+i)) + `"}`
		if string(a) != want {
			t.Errorf("auth %d = %s, want %s", i, a, want)
		}
	}
	if len(auths) != 3 {
		t.Errorf("server saw %d CONNECTs, want 3", len(auths))
	}
	out := p.stdout.String() + p.stderr.String()
	if strings.Contains(out, "very-secret") || strings.Contains(out, "header-secret") {
		t.Errorf("a secret leaked into the output:\n%s", out)
	}
	if n := strings.Count(p.stderr.String(), "siocat: reconnecting to / in "); n != 2 {
		t.Errorf("%d reconnecting lines, want 2:\n%s", n, p.stderr.String())
	}
}

// freeURL returns the URL of a loopback port nothing listens on.
func freeURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	reject := func(string, json.RawMessage) *sioserver.Reject {
		return &sioserver.Reject{Message: "Not authorized", Data: map[string]int{"code": 4001}}
	}
	open := newServer(t, sioserver.Options{})
	closed := newServer(t, sioserver.Options{Authorize: reject})
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"nothing listening", []string{freeURL(t)}, exitConn, "siocat: cannot connect: "},
		{"bad flag", []string{"--bogus", open.URL()}, exitUsage, "flag provided but not defined"},
		{"no URL", []string{"--count", "1"}, exitUsage, "missing URL"},
		{"bad scheme", []string{"ftp://127.0.0.1/"}, exitUsage, "http://, https://, ws:// or wss://"},
		{"bad header", []string{"-H", "no-colon-secret", open.URL()}, exitUsage, "-H #1: want 'Name: value'"},
		{"auth rejected", []string{"--auth", `{"token":"rejected-secret"}`, closed.URL()}, exitAuth, "authentication rejected: "},
		{"timeout after connect", []string{"--timeout", "300ms", open.URL()}, exitOK, "siocat: connected to /"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := runSiocat(t, "", tc.args...)
			p.wantCode(t, tc.code)
			if !strings.Contains(p.stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, p.stderr.String())
			}
			if strings.Contains(p.stderr.String(), "secret") {
				t.Errorf("stderr shows a secret:\n%s", p.stderr.String())
			}
		})
	}
}

func TestStreamEndCodes(t *testing.T) {
	t.Parallel()
	t.Run("lost without reconnect", func(t *testing.T) {
		t.Parallel()
		onConnect, dropped := dropFirst(1)
		srv := newServer(t, sioserver.Options{OnConnect: onConnect})
		p := runSiocat(t, "", "--no-reconnect", srv.URL())
		waitDrops(t, dropped, 1)
		p.wantCode(t, exitConn)
		if !strings.Contains(p.stderr.String(), "siocat: connection lost: ") {
			t.Errorf("stderr:\n%s", p.stderr.String())
		}
	})
	t.Run("rejected on reconnect", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int32
		onConnect, dropped := dropFirst(1)
		srv := newServer(t, sioserver.Options{
			OnConnect: onConnect,
			Authorize: func(string, json.RawMessage) *sioserver.Reject {
				if n.Add(1) > 1 {
					return &sioserver.Reject{Message: "token expired"}
				}
				return nil
			},
		})
		p := runSiocat(t, "", srv.URL())
		waitDrops(t, dropped, 1)
		p.wantCode(t, exitAuth)
		if !strings.Contains(p.stderr.String(), "token expired") {
			t.Errorf("stderr:\n%s", p.stderr.String())
		}
	})
	t.Run("server disconnect", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, sioserver.Options{})
		p := runSiocat(t, `["disconnect-me"]`, srv.URL())
		p.wantCode(t, exitOK)
		if !strings.Contains(p.stderr.String(), "io server disconnect") {
			t.Errorf("stderr:\n%s", p.stderr.String())
		}
	})
}

func TestDemoCount(t *testing.T) {
	t.Parallel()
	p := runSiocat(t, "", "--demo", "--count", "5")
	p.wantCode(t, exitOK)
	lines := p.stdout.lines()
	if len(lines) != 5 || !strings.HasSuffix(p.stdout.String(), "\n") {
		t.Fatalf("want exactly 5 lines, got:\n%s", p.stdout.String())
	}
	for _, l := range lines {
		m := decodeLine(t, l)
		switch m["event"] {
		case "tick", "chat", "blob":
		default:
			t.Errorf("unexpected line %s", l)
		}
	}
}

func TestSignalDuringDial(t *testing.T) {
	t.Parallel()
	// A listener that never answers the WebSocket handshake.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := startSiocat(t, "", "http://"+l.Addr().String())
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if code := p.stop(t); code != exitConn {
		t.Errorf("exit code %d, want %d", code, exitConn)
	}
}
