package siostream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/refserver"
)

func TestInteropCloseSendsDisconnect(t *testing.T) {
	srv := refIsolated(t, refserver.Default)
	observer := dial(t, srv.URL, siostream.Options{Namespace: "/admin"})
	if st := refStatsOf(t, observer); st != (refStats{Clients: 1, Sockets: 1}) {
		t.Fatalf("stats with the observer alone: %+v", st)
	}

	t.Run("one of two namespaces", func(t *testing.T) {
		m := refManager(t, srv.URL, siostream.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), refWait)
		defer cancel()
		root, err := m.Dial(ctx, siostream.Options{})
		if err != nil {
			t.Fatal(err)
		}
		admin, err := m.Dial(ctx, siostream.Options{Namespace: "/admin"})
		if err != nil {
			t.Fatal(err)
		}
		if st := refStatsOf(t, observer); st != (refStats{Clients: 2, Sockets: 2}) {
			t.Fatalf("stats with two namespaces joined: %+v", st)
		}
		admin.Close()
		// Only a DISCONNECT packet can take the socket away: the connection
		// stays up for "/".
		refWaitStats(t, observer, "admin socket gone, connection kept", func(st refStats) bool {
			return st.Sockets == 1 && st.Clients == 2
		})
		refRoundTrip(t, root, "still here")
		if err := admin.Emit(ctx, "echo", 1); !errors.Is(err, siostream.ErrClosed) {
			t.Fatalf("emit after Close: %v", err)
		}
		evs := refDrain(t, admin, refWait)
		last := evs[len(evs)-1]
		if last.Kind != siostream.KindDisconnected || last.Reason() != siostream.ReasonClientDisconnect {
			t.Fatalf("last event of the closed stream: %v %s", last.Kind, refDescribe(last))
		}
		if !errors.Is(admin.Err(), siostream.ErrClosed) {
			t.Fatalf("Err after Close: %v", admin.Err())
		}
		root.Close()
		refWaitStats(t, observer, "connection closed", func(st refStats) bool { return st.Clients == 1 })
	})

	t.Run("last stream", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{Namespace: "/admin"})
		refWaitStats(t, observer, "second socket", func(st refStats) bool { return st.Sockets == 2 })
		s.Close()
		refWaitStats(t, observer, "socket and connection gone", func(st refStats) bool {
			return st.Sockets == 1 && st.Clients == 1
		})
	})
}

func TestInteropCloseDuringFlood(t *testing.T) {
	srv := refIsolated(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	refEmit(t, s, "flood", 100000)
	for i := range 1000 {
		ev := nextEvent(t, s, "flood", refWait)
		var n int
		if err := ev.Decode(&n); err != nil || n != i {
			t.Fatalf("flood event %d: %s (%v)", i, ev.Args, err)
		}
	}
	start := time.Now()
	s.Close()
	took := time.Since(start)
	if took > 2*time.Second {
		t.Fatalf("Close took %v while events were flowing", took)
	}
	t.Logf("Close took %v", took)
	refDrain(t, s, refWait)
	if !errors.Is(s.Err(), siostream.ErrClosed) {
		t.Fatalf("Err after Close: %v", s.Err())
	}
}

func TestInteropServerDisconnect(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	for _, event := range []string{"disconnect-me", "disconnect-me-all"} {
		t.Run(event, func(t *testing.T) {
			s := dial(t, srv.URL, siostream.Options{Namespace: "/realtime"})
			refWelcomeOf(t, s)
			refEmit(t, s, event)
			ev := refLifecycle(t, s, refWait)
			if ev.Kind != siostream.KindDisconnected || ev.Reason() != siostream.ReasonServerDisconnect ||
				!errors.Is(ev.Err(), siostream.ErrServerDisconnect) {
				t.Fatalf("after %s: %v %s", event, ev.Kind, refDescribe(ev))
			}
			for _, ev := range refDrain(t, s, refWait) {
				t.Fatalf("event after the server's DISCONNECT: %v %s", ev.Kind, refDescribe(ev))
			}
			if !errors.Is(s.Err(), siostream.ErrServerDisconnect) {
				t.Fatalf("Err: %v", s.Err())
			}
			if err := s.Emit(context.Background(), "echo"); !errors.Is(err, siostream.ErrClosed) {
				t.Fatalf("emit after the end: %v", err)
			}
			if st := s.Stats(); st.Reconnects != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestInteropReconnectOnServerDisconnect(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	// rejoin asks the server to disconnect the namespace and checks that
	// the stream joins again, once, with a new socket id.
	rejoin := func(t *testing.T, s *siostream.Stream, event string) {
		t.Helper()
		before := s.ID()
		refEmit(t, s, event)
		ev := refLifecycle(t, s, refWait)
		if ev.Kind != siostream.KindDisconnected || ev.Reason() != siostream.ReasonServerDisconnect {
			t.Fatalf("after %s: %v %s", event, ev.Kind, refDescribe(ev))
		}
		var conn siostream.Event
		for conn.Kind != siostream.KindConnected {
			conn = refLifecycle(t, s, refWait)
			if conn.Kind == siostream.KindDisconnected || conn.Kind == siostream.KindConnectError {
				t.Fatalf("while rejoining: %v %s", conn.Kind, refDescribe(conn))
			}
		}
		w := refWelcomeOf(t, s)
		if conn.SocketID() == before || w.ID != conn.SocketID() {
			t.Fatalf("sid before %q, after %q, welcome %q", before, conn.SocketID(), w.ID)
		}
		refRoundTrip(t, s, "rejoined")
		refQuiet(t, s, 100*time.Millisecond)
	}

	t.Run("disconnect-me", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{Namespace: "/admin", ReconnectOnServerDisconnect: true})
		refWelcomeOf(t, s)
		for range 3 {
			rejoin(t, s, "disconnect-me")
		}
		if st := s.Stats(); st.Reconnects != 0 {
			t.Fatalf("stats %+v: the connection was replaced", st)
		}
	})

	// The server sends DISCONNECT and closes the connection. Repeated
	// because the failure depends on timer jitter.
	t.Run("disconnect-me-all", func(t *testing.T) {
		s := dial(t, srv.URL, siostream.Options{Namespace: "/admin", ReconnectOnServerDisconnect: true})
		refWelcomeOf(t, s)
		for range 10 {
			rejoin(t, s, "disconnect-me-all")
		}
	})
}
