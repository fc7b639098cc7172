package siostream_test

// Interoperability tests against the Node.js Socket.IO 4.8 reference server
// (testdata/refserver). The server's events, namespaces and variants are
// described in testdata/refserver/README.md; the server is the judge of what
// is right on the wire. The interop_*_test.go files hold the tests; this
// file holds the helpers that talk to the reference server.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/refserver"
)

// refWait is the bound for any single step of an interop test.
const refWait = 5 * time.Second

// refWelcome is the payload of the server's "welcome" event.
type refWelcome struct {
	ID        string            `json:"id"`
	Nsp       string            `json:"nsp"`
	Auth      map[string]any    `json:"auth"`
	Query     map[string]string `json:"query"`
	Header    *string           `json:"header"`
	Recovered bool              `json:"recovered"`
}

// refStats is the reply of the server's "stats" event.
type refStats struct {
	Clients int `json:"clients"`
	Sockets int `json:"sockets"`
}

var refTokenSeq atomic.Int64

// refToken returns a token no other test (nor an earlier run against
// the same server process) uses.
func refToken(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), refTokenSeq.Add(1))
}

// refIsolated starts a server of its own for tests that count the server's
// clients or sockets, which tests sharing a server would disturb.
func refIsolated(t *testing.T, variant string) *refserver.Server {
	t.Helper()
	refserver.Shared(t, variant) // skips, or fails under CI, without node
	srv, err := refserver.Start(variant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// refRecv returns the next event of any kind.
func refRecv(t testing.TB, s *siostream.Stream, d time.Duration) siostream.Event {
	t.Helper()
	return nextWhere(t, s, d, "event", func(siostream.Event) bool { return true })
}

// refLifecycle returns the next event that is not a server event.
func refLifecycle(t testing.TB, s *siostream.Stream, d time.Duration) siostream.Event {
	t.Helper()
	return nextWhere(t, s, d, "lifecycle event", func(ev siostream.Event) bool { return ev.Kind != siostream.KindEvent })
}

// refExpectLifecycle checks the kinds of the next lifecycle events, skipping
// server events, and returns them.
func refExpectLifecycle(t testing.TB, s *siostream.Stream, kinds ...siostream.Kind) []siostream.Event {
	t.Helper()
	out := make([]siostream.Event, 0, len(kinds))
	for i, k := range kinds {
		ev := refLifecycle(t, s, refWait)
		if ev.Kind != k {
			t.Fatalf("lifecycle event %d is %v (%s), want %v", i, ev.Kind, refDescribe(ev), k)
		}
		out = append(out, ev)
	}
	return out
}

func refDescribe(ev siostream.Event) string {
	switch ev.Kind {
	case siostream.KindEvent:
		return fmt.Sprintf("%s %s", ev.Name, truncated(ev.Args))
	case siostream.KindConnected:
		return fmt.Sprintf("sid %s recovered %v", ev.SocketID(), ev.Recovered())
	case siostream.KindDisconnected:
		return fmt.Sprintf("reason %q err %v", ev.Reason(), ev.Err())
	case siostream.KindReconnecting:
		return fmt.Sprintf("attempt %d delay %v", ev.Attempt(), ev.Delay())
	}
	return fmt.Sprintf("err %v", ev.Err())
}

// refDrain reads until the Events channel is closed and returns what it
// read.
func refDrain(t testing.TB, s *siostream.Stream, d time.Duration) []siostream.Event {
	t.Helper()
	out, end := eventsUntil(s, d, func(siostream.Event) bool { return false })
	if end != readClosed {
		t.Fatalf("events not closed within %v (read %d events)", d, len(out))
	}
	return out
}

// refQuiet fails when a lifecycle event arrives within d; server events
// are returned.
func refQuiet(t testing.TB, s *siostream.Stream, d time.Duration) []siostream.Event {
	t.Helper()
	out, end := eventsUntil(s, d, func(ev siostream.Event) bool { return ev.Kind != siostream.KindEvent })
	switch end {
	case readClosed:
		t.Fatalf("events closed: %v", s.Err())
	case readStopped:
		ev := out[len(out)-1]
		t.Fatalf("unexpected %v event: %s", ev.Kind, refDescribe(ev))
	}
	return out
}

// refUntilIdle reads events until none came for idle (first for the
// first one) and returns them.
func refUntilIdle(t testing.TB, s *siostream.Stream, first, idle time.Duration) []siostream.Event {
	t.Helper()
	var out []siostream.Event
	timer := time.NewTimer(first)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("events closed: %v", s.Err())
			}
			out = append(out, ev)
			timer.Reset(idle)
		case <-timer.C:
			return out
		}
	}
}

// refWelcomeOf waits for the server's welcome event and decodes it.
func refWelcomeOf(t testing.TB, s *siostream.Stream) refWelcome {
	t.Helper()
	ev := nextEvent(t, s, "welcome", refWait)
	var w refWelcome
	if err := ev.Decode(&w); err != nil {
		t.Fatalf("welcome %s: %v", ev.Args, err)
	}
	return w
}

// refCall is EmitWithAck bounded by refWait; it fails the test on error.
func refCall(t testing.TB, s *siostream.Stream, event string, args ...any) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	reply, err := s.EmitWithAck(ctx, event, args...)
	if err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	return resolved(t, reply)
}

// resolved returns a reply's args with binary attachments as base64
// strings, as the reference server's own tests write them.
func resolved(t testing.TB, r siostream.Reply) json.RawMessage {
	t.Helper()
	if r.Attachments() == nil {
		return r.Args
	}
	out, err := frames.ResolveBinary(nil, r.Args, r.Attachments())
	if err != nil {
		t.Fatalf("resolve reply %s: %v", r.Args, err)
	}
	return out
}

// refEmit is Emit bounded by refWait; it fails the test on error.
func refEmit(t testing.TB, s *siostream.Stream, event string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	if err := s.Emit(ctx, event, args...); err != nil {
		t.Fatalf("emit %s: %v", event, err)
	}
}

// refStatsOf asks the server for its engine client count and the number of
// sockets in the stream's namespace.
func refStatsOf(t testing.TB, s *siostream.Stream) refStats {
	t.Helper()
	var st refStats
	if err := decodeArgs(refCall(t, s, "stats"), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// refWaitStats polls the server's stats until ok accepts them.
func refWaitStats(t testing.TB, s *siostream.Stream, what string, ok func(refStats) bool) refStats {
	t.Helper()
	deadline := time.Now().Add(refWait)
	for {
		st := refStatsOf(t, s)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: %s not reached", st, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refRoundTrip checks that the server echoes args on an echo event and in
// the ack, equal to args once both sides went through JSON.
func refRoundTrip(t testing.TB, s *siostream.Stream, args ...any) {
	t.Helper()
	reply := refCall(t, s, "echo", args...)
	ev := nextEvent(t, s, "echo", refWait)
	want := refJSON(t, mustJSON(t, append([]any{}, args...)))
	if got := refJSON(t, string(ev.Args)); !reflect.DeepEqual(got, want) {
		t.Fatalf("echo event args\n got %s\nwant %s", truncated(ev.Args), truncated([]byte(mustJSON(t, args))))
	}
	if got := refJSON(t, string(reply)); !reflect.DeepEqual(got, want) {
		t.Fatalf("echo ack\n got %s\nwant %s", truncated(reply), truncated([]byte(mustJSON(t, args))))
	}
}

func refJSON(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", truncated([]byte(s)), err)
	}
	return v
}

// refJSONEqual reports whether got holds the same JSON value as want.
func refJSONEqual(t testing.TB, got json.RawMessage, want string) bool {
	t.Helper()
	return got != nil && reflect.DeepEqual(refJSON(t, string(got)), refJSON(t, want))
}

// refSame is reflect.DeepEqual that takes a nil and an empty []byte as
// equal: a zero-length attachment decodes to either.
func refSame(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !refSame(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !refSame(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// refPattern is the string the server's "big" event sends for n.
func refPattern(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	b.Grow(n)
	for i := range n {
		b.WriteByte(alphabet[i%len(alphabet)])
	}
	return b.String()
}
