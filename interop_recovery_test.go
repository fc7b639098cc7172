package siostream_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/refserver"
)

// refDropAndRecover asks the server to drop the connection and emit n
// "missed" events meanwhile, and checks that the stream recovers its
// session: same socket id, every missed event once and in order. It
// returns the welcome of the recovered connection.
func refDropAndRecover(t *testing.T, s *siostream.Stream, n int) refWelcome {
	t.Helper()
	sid := s.ID()
	refEmit(t, s, "drop-and-emit", n)
	evs := refExpectLifecycle(t, s, siostream.KindDisconnected, siostream.KindReconnecting)
	if evs[0].Reason() != siostream.ReasonTransportClose {
		t.Fatalf("disconnect: %s", refDescribe(evs[0]))
	}
	conn := refRecv(t, s, refWait)
	for conn.Kind == siostream.KindReconnecting || conn.Kind == siostream.KindConnectError {
		conn = refRecv(t, s, refWait)
	}
	if conn.Kind != siostream.KindConnected || !conn.Recovered() || conn.SocketID() != sid {
		t.Fatalf("after the drop: %v %s, want recovered sid %s", conn.Kind, refDescribe(conn), sid)
	}
	var missed []int
	var w *refWelcome
	welcomes := 0
	collect := func(ev siostream.Event) {
		t.Helper()
		switch {
		case ev.Kind != siostream.KindEvent:
			t.Fatalf("%v %s after recovery", ev.Kind, refDescribe(ev))
		case ev.Offset() == "":
			t.Fatalf("%s has no offset", refDescribe(ev))
		case ev.Name == "missed":
			var i int
			if err := ev.Decode(&i); err != nil || string(ev.Args) != fmt.Sprintf("[%d]", i) {
				t.Fatalf("missed args %s (%v)", ev.Args, err)
			}
			missed = append(missed, i)
		case ev.Name == "welcome":
			welcomes++
			w = new(refWelcome)
			if err := ev.Decode(w); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected %s", refDescribe(ev))
		}
	}
	for _, ev := range refUntilIdle(t, s, time.Second, 300*time.Millisecond) {
		collect(ev)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !reflect.DeepEqual(missed, want) {
		t.Fatalf("missed events %v, want %v", missed, want)
	}
	if welcomes != 1 {
		t.Fatalf("%d welcome events, want the one of the recovered connection", welcomes)
	}
	if !w.Recovered || w.ID != sid {
		t.Fatalf("welcome %+v", *w)
	}
	return *w
}

func TestInteropRecovery(t *testing.T) {
	srv := refserver.Shared(t, refserver.Recovery)

	t.Run("offsets", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{Namespace: "/realtime"})
		conn := refRecv(t, s, refWait)
		if conn.Kind != siostream.KindConnected || conn.Recovered() {
			t.Fatalf("first event: %v %s", conn.Kind, refDescribe(conn))
		}
		welcome := refRecv(t, s, refWait)
		if welcome.Name != "welcome" || welcome.Offset() == "" {
			t.Fatalf("welcome %s offset %q", refDescribe(welcome), welcome.Offset())
		}
		if vals, err := welcome.Values(); err != nil || len(vals) != 1 {
			t.Fatalf("welcome args %s: the offset must not be one (%v)", welcome.Args, err)
		}
		refEmit(t, s, "echo", "x", "y")
		echo := nextEvent(t, s, "echo", refWait)
		if string(echo.Args) != `["x","y"]` || echo.Offset() == "" || echo.Offset() == welcome.Offset() {
			t.Fatalf("echo args %s offset %q (welcome's %q)", echo.Args, echo.Offset(), welcome.Offset())
		}
		refEmit(t, s, "echo")
		if empty := nextEvent(t, s, "echo", refWait); string(empty.Args) != `[]` || empty.Offset() == "" {
			t.Fatalf("echo without args: %s offset %q", empty.Args, empty.Offset())
		}
	})

	t.Run("events with an ack id carry no offset", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{})
		refWelcomeOf(t, s)
		refEmit(t, s, "request-ack", "a", "b")
		ev := nextEvent(t, s, "need-ack", refWait)
		if string(ev.Args) != `["a","b"]` || ev.Offset() != "" || !ev.WantsAck() {
			t.Fatalf("need-ack args %s offset %q", ev.Args, ev.Offset())
		}
		if err := ev.Ack(context.Background(), "r"); err != nil {
			t.Fatal(err)
		}
		if got := nextEvent(t, s, "got-ack", refWait); string(got.Args) != `["r"]` || got.Offset() == "" {
			t.Fatalf("got-ack args %s offset %q", got.Args, got.Offset())
		}
		if reply := refCall(t, s, "ack", "p", "q"); string(reply) != `["p","q"]` {
			t.Fatalf("ack %s", reply)
		}
	})

	t.Run("binary event with offset", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{})
		refEmit(t, s, "binary")
		ev := nextEvent(t, s, "binary", refWait)
		vals, err := ev.Values()
		if err != nil || len(vals) != 2 || ev.Offset() == "" || len(ev.Attachments()) != 4 {
			t.Fatalf("binary: %d values, offset %q, %d attachments (%v)", len(vals), ev.Offset(), len(ev.Attachments()), err)
		}
		if !reflect.DeepEqual(vals[1], []byte{7, 8}) {
			t.Fatalf("second arg %#v", vals[1])
		}
	})

	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{
		{"missed events, fast reconnect", 0},
		// The server emits 100 ms after the drop: a later reconnect gets
		// the events replayed before its CONNECT reply.
		{"missed events replayed before the CONNECT reply", 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := dial(t, srv.URL, siostream.Options{ReconnectDelay: tc.delay, ReconnectDelayMax: tc.delay, RandomizationFactor: -1})
			refWelcomeOf(t, s)
			refDropAndRecover(t, s, 5)
			refRoundTrip(t, s, "after recovery")
		})
	}

	t.Run("recovered twice", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{Namespace: "/admin"})
		refWelcomeOf(t, s)
		refDropAndRecover(t, s, 3)
		refDropAndRecover(t, s, 4)
		if st := s.Stats(); st.Reconnects != 2 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("session sent from a copy of the auth", func(t *testing.T) {
		token := refToken("rec")
		auth := map[string]any{"token": token}
		s := dial(t, srv.URL, siostream.Options{
			Auth: func(context.Context) (any, error) { return auth, nil },
		})
		refWelcomeOf(t, s)
		refEmit(t, s, "echo", "last before the drop")
		last := nextEvent(t, s, "echo", refWait)
		w := refDropAndRecover(t, s, 2)
		if len(auth) != 1 || auth["token"] != token {
			t.Fatalf("the Auth function's map was changed: %v", auth)
		}
		if w.Auth["token"] != token || w.Auth["pid"] == nil || w.Auth["offset"] != last.Offset() {
			t.Fatalf("server saw auth %v; want the token, a pid and offset %q", w.Auth, last.Offset())
		}
	})

	t.Run("middlewares skipped on recovery", func(t *testing.T) {
		token := refToken("once")
		s := dial(t, srv.URL, siostream.Options{
			Namespace: "/once",
			Auth:      func(context.Context) (any, error) { return map[string]any{"token": token}, nil },
		})
		refWelcomeOf(t, s)
		// The same token again would be refused, but a recovered session
		// does not go through the middleware.
		refDropAndRecover(t, s, 1)
	})

	t.Run("manager recovers every namespace", func(t *testing.T) {
		m := refManager(t, srv.URL, siostream.Options{})
		streams := refJoinAll(t, m, "/", "/admin")
		rootID := streams["/"].ID()
		refDropAndRecover(t, streams["/admin"], 3)
		evs := refExpectLifecycle(t, streams["/"], siostream.KindDisconnected, siostream.KindReconnecting, siostream.KindConnected)
		if !evs[2].Recovered() || evs[2].SocketID() != rootID {
			t.Fatalf("/: %s, want recovered sid %s", refDescribe(evs[2]), rootID)
		}
		if w := refWelcomeOf(t, streams["/"]); !w.Recovered || w.ID != rootID {
			t.Fatalf("/: welcome %+v", w)
		}
		for _, ev := range refQuiet(t, streams["/"], 200*time.Millisecond) {
			t.Fatalf("/: unexpected %s", refDescribe(ev))
		}
	})

	t.Run("server disconnect is not recovered", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{ReconnectOnServerDisconnect: true})
		first := refWelcomeOf(t, s)
		refEmit(t, s, "disconnect-me")
		ev := refLifecycle(t, s, refWait)
		if ev.Kind != siostream.KindDisconnected || ev.Reason() != siostream.ReasonServerDisconnect {
			t.Fatalf("%v %s", ev.Kind, refDescribe(ev))
		}
		for ev.Kind != siostream.KindConnected {
			ev = refLifecycle(t, s, refWait)
		}
		if ev.Recovered() || ev.SocketID() == first.ID {
			t.Fatalf("rejoined: %s (first sid %s)", refDescribe(ev), first.ID)
		}
		if w := refWelcomeOf(t, s); w.Recovered || w.ID != ev.SocketID() {
			t.Fatalf("welcome %+v", w)
		}
		// The new session recovers in turn.
		refDropAndRecover(t, s, 2)
	})
}

func TestInteropNoRecovery(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	first := refWelcomeOf(t, s)
	refEmit(t, s, "echo", "x")
	if ev := nextEvent(t, s, "echo", refWait); ev.Offset() != "" || string(ev.Args) != `["x"]` {
		t.Fatalf("echo args %s offset %q", ev.Args, ev.Offset())
	}
	refEmit(t, s, "drop-and-emit", 3)
	evs := refExpectLifecycle(t, s, siostream.KindDisconnected, siostream.KindReconnecting, siostream.KindConnected)
	if evs[2].Recovered() || evs[2].SocketID() == first.ID {
		t.Fatalf("connected: %s", refDescribe(evs[2]))
	}
	if w := refWelcomeOf(t, s); w.Recovered || w.Auth["pid"] != nil {
		t.Fatalf("welcome %+v", w)
	}
	// Without recovery the events emitted meanwhile are lost.
	for _, ev := range refQuiet(t, s, 300*time.Millisecond) {
		t.Fatalf("unexpected %s", refDescribe(ev))
	}
}

// TestInteropRecoveryLargeReplay: a reconnect that comes after the server
// stored many more missed events than the Events channel holds must still
// deliver every one of them, once, in order, after KindConnected.
func TestInteropRecoveryLargeReplay(t *testing.T) {
	srv := refserver.Shared(t, refserver.Recovery)
	s := dial(t, srv.URL, siostream.Options{
		ReconnectDelay:      300 * time.Millisecond,
		ReconnectDelayMax:   300 * time.Millisecond,
		RandomizationFactor: -1,
	})
	refWelcomeOf(t, s)
	refDropAndRecover(t, s, 100)
}
