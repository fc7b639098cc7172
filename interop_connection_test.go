package siostream_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/refserver"
)

func TestInteropConnectNamespaces(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	for _, ns := range []string{"/", "/realtime", "/admin"} {
		t.Run(ns, func(t *testing.T) {
			token := refToken("ns")
			s := dial(t, srv.URL+"/?foo=bar&lang=go", siostream.Options{
				Namespace: ns,
				Auth: func(context.Context) (any, error) {
					return map[string]any{"token": token, "n": 7}, nil
				},
				Header: func(context.Context) (http.Header, error) {
					return http.Header{"X-Test": {"hdr-" + token}}, nil
				},
			})
			// The CONNECT reply comes first, then the welcome the server
			// emits on connection.
			conn := refRecv(t, s, refWait)
			if conn.Kind != siostream.KindConnected || conn.SocketID() == "" || conn.Recovered() {
				t.Fatalf("first event: %v %s", conn.Kind, refDescribe(conn))
			}
			ev := refRecv(t, s, refWait)
			if ev.Kind != siostream.KindEvent || ev.Name != "welcome" {
				t.Fatalf("second event: %v %s", ev.Kind, refDescribe(ev))
			}
			if ev.Offset() != "" {
				t.Fatalf("offset %q without connection state recovery", ev.Offset())
			}
			var w refWelcome
			if err := ev.Decode(&w); err != nil {
				t.Fatal(err)
			}
			if w.ID != conn.SocketID() || s.ID() != conn.SocketID() {
				t.Fatalf("welcome id %q, connected sid %q, ID() %q", w.ID, conn.SocketID(), s.ID())
			}
			if w.Nsp != ns || w.Recovered {
				t.Fatalf("welcome nsp %q recovered %v", w.Nsp, w.Recovered)
			}
			if w.Auth["token"] != token || w.Auth["n"] != 7.0 || len(w.Auth) != 2 {
				t.Fatalf("welcome auth %v", w.Auth)
			}
			for k, v := range map[string]string{"foo": "bar", "lang": "go", "EIO": "4", "transport": "websocket"} {
				if w.Query[k] != v {
					t.Fatalf("welcome query %v: %s = %q, want %q", w.Query, k, w.Query[k], v)
				}
			}
			if w.Header == nil || *w.Header != "hdr-"+token {
				t.Fatalf("welcome header %v", w.Header)
			}
		})
	}
}

func TestInteropHandshake(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL+"?k=v%20w", siostream.Options{
		Header: func(context.Context) (http.Header, error) {
			return http.Header{"Authorization": {"Bearer abc"}, "X-Test": {"h"}}, nil
		},
	})
	var hs struct {
		Auth    map[string]any    `json:"auth"`
		Query   map[string]string `json:"query"`
		Headers map[string]any    `json:"headers"`
	}
	if err := decodeArgs(refCall(t, s, "handshake"), &hs); err != nil {
		t.Fatal(err)
	}
	if len(hs.Auth) != 0 {
		t.Fatalf("auth without an Auth function: %v", hs.Auth)
	}
	if hs.Query["k"] != "v w" {
		t.Fatalf("query %v", hs.Query)
	}
	if hs.Headers["authorization"] != "Bearer abc" || hs.Headers["x-test"] != "h" {
		t.Fatalf("headers %v", hs.Headers)
	}
	var transport string
	if err := decodeArgs(refCall(t, s, "transport"), &transport); err != nil || transport != "websocket" {
		t.Fatalf("transport %q (%v)", transport, err)
	}
}

func TestInteropURLForms(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	addr := srv.Addr()
	cases := []struct {
		name string
		url  string
		path string
	}{
		{name: "http", url: "http://" + addr},
		{name: "http with slash", url: "http://" + addr + "/"},
		{name: "ws", url: "ws://" + addr},
		{name: "http with engine path", url: "http://" + addr + "/socket.io/"},
		{name: "ws with engine path", url: "ws://" + addr + "/socket.io/"},
		{name: "Options.Path", url: "http://" + addr, path: "/socket.io/"},
		{name: "URL path as the namespace", url: "http://" + addr + "/realtime", path: "/socket.io/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := dial(t, tc.url, siostream.Options{Path: tc.path, Namespace: "/realtime"})
			w := refWelcomeOf(t, s)
			if w.Nsp != "/realtime" || w.ID != s.ID() {
				t.Fatalf("welcome %+v, ID() %q", w, s.ID())
			}
			refRoundTrip(t, s, tc.name)
		})
	}
}

func TestInteropUnknownNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	s, err := siostream.Dial(ctx, srv.URL, fastOpts(siostream.Options{Namespace: "/nope"}))
	if err == nil {
		s.Close()
		t.Fatal("Dial to an unknown namespace succeeded")
	}
	var ce *siostream.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("Dial: %v, want a *ConnectError", err)
	}
	if ce.Namespace != "/nope" || ce.Message != "Invalid namespace" || ce.Data != nil {
		t.Fatalf("ConnectError %+v (data %s)", ce, ce.Data)
	}
}

func TestInteropSecureNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	cases := []struct {
		name    string
		auth    any // nil: no Auth function
		ok      bool
		message string
		data    string
	}{
		{name: "good token", auth: map[string]any{"token": "good"}, ok: true},
		{name: "good prefix", auth: map[string]any{"token": "good-" + refToken("s")}, ok: true},
		{name: "bad token with data", auth: map[string]any{"token": "bad-data"}, message: "Not authorized",
			data: `{"code":4001,"reason":"token rejected"}`},
		{name: "wrong token", auth: map[string]any{"token": "nope"}, message: "Not authorized"},
		{name: "token not a string", auth: map[string]any{"token": 42}, message: "Not authorized"},
		{name: "no auth", message: "Not authorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := siostream.Options{Namespace: "/secure"}
			if tc.auth != nil {
				o.Auth = func(context.Context) (any, error) { return tc.auth, nil }
			}
			ctx, cancel := context.WithTimeout(context.Background(), refWait)
			defer cancel()
			s, err := siostream.Dial(ctx, srv.URL, fastOpts(o))
			if tc.ok {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer s.Close()
				if w := refWelcomeOf(t, s); w.Nsp != "/secure" {
					t.Fatalf("welcome %+v", w)
				}
				refRoundTrip(t, s, "secure")
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			var ce *siostream.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("Dial: %v, want a *ConnectError", err)
			}
			if ce.Namespace != "/secure" || ce.Message != tc.message {
				t.Fatalf("ConnectError %+v", ce)
			}
			if tc.data == "" && ce.Data != nil {
				t.Fatalf("ConnectError data %s, want none", ce.Data)
			}
			if tc.data != "" && !refJSONEqual(t, ce.Data, tc.data) {
				t.Fatalf("ConnectError data %s, want %s", ce.Data, tc.data)
			}
		})
	}
}

// TestInteropTokenRotation reconnects three times to /once, which accepts
// each token only once: the Auth and Header functions must be called again
// before every attempt.
func TestInteropTokenRotation(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	prefix := refToken("rot")
	var mu sync.Mutex
	var tokens []string
	headerCalls := 0
	s := dial(t, srv.URL, siostream.Options{
		Namespace: "/once",
		Auth: func(context.Context) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			tok := fmt.Sprintf("%s-%d", prefix, len(tokens))
			tokens = append(tokens, tok)
			return map[string]any{"token": tok}, nil
		},
		Header: func(context.Context) (http.Header, error) {
			mu.Lock()
			defer mu.Unlock()
			headerCalls++
			return http.Header{"X-Test": {fmt.Sprintf("call-%d", headerCalls)}}, nil
		},
	})
	check := func(round int, sid string) {
		t.Helper()
		w := refWelcomeOf(t, s)
		if want := fmt.Sprintf("%s-%d", prefix, round); w.Auth["token"] != want {
			t.Fatalf("round %d: server saw token %v, want %s", round, w.Auth["token"], want)
		}
		if want := fmt.Sprintf("call-%d", round+1); w.Header == nil || *w.Header != want {
			t.Fatalf("round %d: server saw header %v, want %s", round, w.Header, want)
		}
		if w.ID != sid {
			t.Fatalf("round %d: welcome id %q, connected sid %q", round, w.ID, sid)
		}
	}
	check(0, s.ID())
	for round := 1; round <= 3; round++ {
		refEmit(t, s, "drop-me")
		evs := refExpectLifecycle(t, s, siostream.KindDisconnected, siostream.KindReconnecting, siostream.KindConnected)
		if evs[0].Reason() != siostream.ReasonTransportClose {
			t.Fatalf("round %d: disconnect %s", round, refDescribe(evs[0]))
		}
		if evs[1].Attempt() != 1 {
			t.Fatalf("round %d: %s, want attempt 1 (backoff resets after a connect)", round, refDescribe(evs[1]))
		}
		check(round, evs[2].SocketID())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(tokens) != 4 || headerCalls != 4 {
		t.Fatalf("Auth called %d times, Header %d times; want 4 each", len(tokens), headerCalls)
	}
	if st := s.Stats(); st.Reconnects != 3 {
		t.Fatalf("stats %+v, want 3 reconnects", st)
	}
}

// TestInteropRefusedOnReconnect: a CONNECT_ERROR in answer to a reconnect
// ends the stream with the server's *ConnectError.
func TestInteropRefusedOnReconnect(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	cases := []struct {
		name      string
		ns        string
		auth      func(n int) map[string]any
		message   string
		data      string
		successes int // reconnects that succeed before the refusal
	}{
		{
			name: "/once reused token", ns: "/once", message: "token reused",
			auth: func(int) map[string]any { return map[string]any{"token": "fixed"} },
		},
		{
			name: "/secure token revoked", ns: "/secure", message: "Not authorized",
			data: `{"code":4001,"reason":"token rejected"}`,
			auth: func(n int) map[string]any {
				if n == 0 {
					return map[string]any{"token": "good"}
				}
				return map[string]any{"token": "bad-data"}
			},
		},
		{
			name: "/secure revoked after a reconnect", ns: "/secure", message: "Not authorized", successes: 1,
			auth: func(n int) map[string]any {
				if n <= 1 {
					return map[string]any{"token": "good"}
				}
				return map[string]any{"token": "nope"}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fixed := refToken("fixed")
			var mu sync.Mutex
			calls := 0
			s := dial(t, srv.URL, siostream.Options{
				Namespace: tc.ns,
				Auth: func(context.Context) (any, error) {
					mu.Lock()
					defer mu.Unlock()
					a := tc.auth(calls)
					if a["token"] == "fixed" {
						a["token"] = fixed
					}
					calls++
					return a, nil
				},
			})
			refWelcomeOf(t, s)
			for range tc.successes {
				refEmit(t, s, "drop-me")
				refExpectLifecycle(t, s, siostream.KindDisconnected, siostream.KindReconnecting, siostream.KindConnected)
				refWelcomeOf(t, s)
			}
			refEmit(t, s, "drop-me")
			evs := refExpectLifecycle(t, s, siostream.KindDisconnected, siostream.KindReconnecting, siostream.KindConnectError)
			var ce *siostream.ConnectError
			if !errors.As(evs[2].Err(), &ce) || ce.Message != tc.message || ce.Namespace != tc.ns {
				t.Fatalf("connect error event: %v", evs[2].Err())
			}
			if tc.data != "" && !refJSONEqual(t, ce.Data, tc.data) {
				t.Fatalf("connect error data %s, want %s", ce.Data, tc.data)
			}
			for _, ev := range refDrain(t, s, refWait) {
				if ev.Kind == siostream.KindConnected {
					t.Fatalf("connected again after the refusal: %s", refDescribe(ev))
				}
			}
			if !errors.As(s.Err(), &ce) {
				t.Fatalf("Err after the refusal: %v", s.Err())
			}
		})
	}
}

func TestInteropDropReconnects(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	first := refWelcomeOf(t, s)
	refEmit(t, s, "drop-me")
	evs := refExpectLifecycle(t, s, siostream.KindDisconnected, siostream.KindReconnecting, siostream.KindConnected)
	if evs[0].Reason() != siostream.ReasonTransportClose || evs[0].Err() == nil {
		t.Fatalf("disconnect: %s", refDescribe(evs[0]))
	}
	if evs[1].Attempt() != 1 || evs[1].Delay() <= 0 || evs[1].Delay() > 50*time.Millisecond {
		t.Fatalf("reconnecting: %s", refDescribe(evs[1]))
	}
	if evs[2].SocketID() == "" || evs[2].SocketID() == first.ID || evs[2].Recovered() {
		t.Fatalf("connected: %s (first sid %s)", refDescribe(evs[2]), first.ID)
	}
	if w := refWelcomeOf(t, s); w.ID != evs[2].SocketID() || s.ID() != w.ID {
		t.Fatalf("welcome id %q, connected %q, ID() %q", w.ID, evs[2].SocketID(), s.ID())
	}
	refRoundTrip(t, s, "after drop")
	if st := s.Stats(); st.Reconnects != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestInteropShortConnectTimeout: the server closes connections that send
// no CONNECT within 1 s; Dial sends it at once.
func TestInteropShortConnectTimeout(t *testing.T) {
	t.Parallel()
	srv := refserver.Shared(t, refserver.ShortConnect)
	s := dial(t, srv.URL, siostream.Options{})
	refWelcomeOf(t, s)
	refQuiet(t, s, 1500*time.Millisecond)
	refRoundTrip(t, s, "alive")
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInteropFastPing(t *testing.T) {
	srv := refserver.Shared(t, refserver.FastPing)

	t.Run("stays connected", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{})
		refWelcomeOf(t, s)
		refQuiet(t, s, 2*time.Second)
		refRoundTrip(t, s, "alive")
		if st := s.Stats(); st.Reconnects != 0 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("consumer reads nothing", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{})
		refEmit(t, s, "flood", 100)
		time.Sleep(1500 * time.Millisecond) // five ping rounds, nothing read
		if st := s.Stats(); st.Reconnects != 0 {
			t.Fatalf("reconnected while the consumer slept: %+v", st)
		}
		if ev := refRecv(t, s, refWait); ev.Kind != siostream.KindConnected {
			t.Fatalf("first event %v %s", ev.Kind, refDescribe(ev))
		}
		if ev := refRecv(t, s, refWait); ev.Name != "welcome" {
			t.Fatalf("second event %v %s", ev.Kind, refDescribe(ev))
		}
		for i := range 100 {
			ev := refRecv(t, s, refWait)
			var n int
			if ev.Kind != siostream.KindEvent || ev.Name != "flood" || ev.Decode(&n) != nil || n != i {
				t.Fatalf("event %d: %v %s", i, ev.Kind, refDescribe(ev))
			}
		}
		if ev := refRecv(t, s, refWait); ev.Name != "flood-done" {
			t.Fatalf("after the flood: %v %s", ev.Kind, refDescribe(ev))
		}
		refRoundTrip(t, s, "alive")
		if st := s.Stats(); st.Reconnects != 0 || st.Dropped != 0 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("drop newest keeps answering pings", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{MaxBufferedBytes: 4 << 10, SlowConsumer: siostream.DropNewest})
		refEmit(t, s, "flood", 300)
		time.Sleep(1500 * time.Millisecond)
		var dropped uint64
		last := -1
		for {
			ev := refRecv(t, s, refWait)
			if ev.Kind == siostream.KindDisconnected || ev.Kind == siostream.KindReconnecting {
				t.Fatalf("%v %s", ev.Kind, refDescribe(ev))
			}
			dropped += ev.Dropped()
			if ev.Name == "flood" {
				var n int
				if err := ev.Decode(&n); err != nil || n <= last {
					t.Fatalf("flood %d after %d (%v)", n, last, err)
				}
				last = n
			}
			if len(s.Events()) == 0 {
				break
			}
		}
		refEmit(t, s, "echo", "after")
		for ev := refRecv(t, s, refWait); ; ev = refRecv(t, s, refWait) {
			dropped += ev.Dropped()
			if ev.Name == "echo" {
				break
			}
		}
		// The counters are bumped right after the channel send.
		waitFor(t, func() bool { st := s.Stats(); return st.Received == st.Delivered+st.Dropped })
		st := s.Stats()
		if st.Reconnects != 0 || st.Dropped == 0 || dropped != st.Dropped {
			t.Fatalf("stats %+v, dropped counted on events %d", st, dropped)
		}
		t.Logf("stats %+v", st)
	})
}

func TestInteropDialErrors(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	cases := []struct {
		name string
		ctx  context.Context
		url  string
		opts siostream.Options
		is   error // nil: any error but a *ConnectError
		max  time.Duration
	}{
		{name: "cancelled context", ctx: cancelled, url: srv.URL, is: context.Canceled},
		{name: "expired deadline", ctx: expired, url: srv.URL, is: context.DeadlineExceeded},
		{name: "closed port", url: "http://" + refClosedAddr(t)},
		// The server holds an upgrade for an unknown path for 1 s, then
		// closes it.
		{name: "engine path not served", url: srv.URL, opts: siostream.Options{Path: "/nope/"}, max: 3 * time.Second},
		{name: "unsupported scheme", url: "ftp://" + srv.Addr()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				c, cancel := context.WithTimeout(context.Background(), refWait)
				defer cancel()
				ctx = c
			}
			start := time.Now()
			s, err := siostream.Dial(ctx, tc.url, fastOpts(tc.opts))
			took := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			var ce *siostream.ConnectError
			if errors.As(err, &ce) {
				t.Fatalf("Dial: a ConnectError for a failed connection: %v", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("Dial: %v, want %v", err, tc.is)
			}
			if tc.max == 0 {
				tc.max = time.Second
			}
			if took > tc.max {
				t.Fatalf("Dial failed after %v, want fast", took)
			}
			t.Logf("Dial: %v (%v)", err, took)
		})
	}
}
