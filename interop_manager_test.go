package siostream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/refserver"
)

var refNamespaces = []string{"/", "/realtime", "/admin"}

// refJoinAll dials the namespaces on m and reads their welcome events.
func refJoinAll(t *testing.T, m *siostream.Manager, nss ...string) map[string]*siostream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	out := map[string]*siostream.Stream{}
	for _, ns := range nss {
		s, err := m.Dial(ctx, siostream.Options{Namespace: ns})
		if err != nil {
			t.Fatalf("join %s: %v", ns, err)
		}
		t.Cleanup(func() { s.Close() })
		if w := refWelcomeOf(t, s); w.Nsp != ns || w.ID != s.ID() {
			t.Fatalf("%s: welcome %+v, ID() %q", ns, w, s.ID())
		}
		out[ns] = s
	}
	return out
}

func TestInteropManagerOneConnection(t *testing.T) {
	srv := refIsolated(t, refserver.Default)
	m := refManager(t, srv.URL, siostream.Options{})
	streams := refJoinAll(t, m, refNamespaces...)
	for _, ns := range refNamespaces {
		if st := refStatsOf(t, streams[ns]); st.Clients != 1 || st.Sockets != 1 {
			t.Fatalf("%s: stats %+v, want one engine client and one socket", ns, st)
		}
	}

	t.Run("refused namespace leaves the others", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), refWait)
		defer cancel()
		_, err := m.Dial(ctx, siostream.Options{
			Namespace: "/secure",
			Auth:      func(context.Context) (any, error) { return map[string]any{"token": "bad-data"}, nil },
		})
		var ce *siostream.ConnectError
		if !errors.As(err, &ce) || ce.Namespace != "/secure" || !refJSONEqual(t, ce.Data, `{"code":4001,"reason":"token rejected"}`) {
			t.Fatalf("Dial /secure: %v", err)
		}
		for _, ns := range refNamespaces {
			refRoundTrip(t, streams[ns], "after refusal "+ns)
		}
		if st := refStatsOf(t, streams["/"]); st.Clients != 1 {
			t.Fatalf("stats %+v", st)
		}
		// The namespace can be joined again with a good token.
		sec, err := m.Dial(ctx, siostream.Options{
			Namespace: "/secure",
			Auth:      func(context.Context) (any, error) { return map[string]any{"token": "good"}, nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sec.Close()
		refRoundTrip(t, sec, "secure joined")
		if st := refStatsOf(t, sec); st.Clients != 1 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("unknown namespace leaves the others", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), refWait)
		defer cancel()
		_, err := m.Dial(ctx, siostream.Options{Namespace: "/nope"})
		var ce *siostream.ConnectError
		if !errors.As(err, &ce) || ce.Message != "Invalid namespace" {
			t.Fatalf("Dial /nope: %v", err)
		}
		refRoundTrip(t, streams["/admin"], "after /nope")
	})

	t.Run("server disconnect of one namespace", func(t *testing.T) {
		refEmit(t, streams["/admin"], "disconnect-me")
		ev := refLifecycle(t, streams["/admin"], refWait)
		if ev.Kind != siostream.KindDisconnected || ev.Reason() != siostream.ReasonServerDisconnect {
			t.Fatalf("/admin: %v %s", ev.Kind, refDescribe(ev))
		}
		refDrain(t, streams["/admin"], refWait)
		for _, ns := range []string{"/", "/realtime"} {
			refRoundTrip(t, streams[ns], "after /admin left")
		}
		if st := refStatsOf(t, streams["/"]); st.Clients != 1 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("close", func(t *testing.T) {
		m.Close()
		for _, ns := range []string{"/", "/realtime"} {
			refDrain(t, streams[ns], refWait)
			if !errors.Is(streams[ns].Err(), siostream.ErrClosed) {
				t.Fatalf("%s: Err %v", ns, streams[ns].Err())
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), refWait)
		defer cancel()
		if _, err := m.Dial(ctx, siostream.Options{}); !errors.Is(err, siostream.ErrClosed) {
			t.Fatalf("Dial after Close: %v", err)
		}
	})
}

func TestInteropManagerReconnect(t *testing.T) {
	srv := refIsolated(t, refserver.Default)
	m := refManager(t, srv.URL, siostream.Options{})
	streams := refJoinAll(t, m, refNamespaces...)
	before := map[string]string{}
	for ns, s := range streams {
		before[ns] = s.ID()
	}
	refEmit(t, streams["/realtime"], "drop-me")
	for _, ns := range refNamespaces {
		s := streams[ns]
		evs := refExpectLifecycle(t, s, siostream.KindDisconnected, siostream.KindReconnecting, siostream.KindConnected)
		if evs[0].Reason() != siostream.ReasonTransportClose {
			t.Fatalf("%s: %s", ns, refDescribe(evs[0]))
		}
		if evs[2].SocketID() == before[ns] {
			t.Fatalf("%s: same sid %s after reconnect", ns, evs[2].SocketID())
		}
		if w := refWelcomeOf(t, s); w.Nsp != ns || w.ID != evs[2].SocketID() {
			t.Fatalf("%s: welcome %+v", ns, w)
		}
		refRoundTrip(t, s, "rejoined "+ns)
		if st := s.Stats(); st.Reconnects != 1 {
			t.Fatalf("%s: stats %+v", ns, st)
		}
	}
	for _, ns := range refNamespaces {
		refWaitStats(t, streams[ns], "one connection, one socket", func(st refStats) bool {
			return st.Clients == 1 && st.Sockets == 1
		})
	}
}

// TestInteropManagerSlowConsumer: a namespace whose consumer falls behind
// under DisconnectSlowConsumer leaves with a DISCONNECT; the connection and
// the other namespaces stay.
func TestInteropManagerSlowConsumer(t *testing.T) {
	srv := refIsolated(t, refserver.Default)
	observer := dial(t, srv.URL, siostream.Options{Namespace: "/admin"})
	m := refManager(t, srv.URL, siostream.Options{})
	streams := refJoinAll(t, m, "/")
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	slow, err := m.Dial(ctx, siostream.Options{
		Namespace:        "/admin",
		MaxBufferedBytes: 2 << 10,
		SlowConsumer:     siostream.DisconnectSlowConsumer,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	refWaitStats(t, observer, "two /admin sockets", func(st refStats) bool { return st.Clients == 2 && st.Sockets == 2 })
	refEmit(t, slow, "flood", 100)
	// Read nothing until the stream ended: reading makes the room whose
	// lack ends it.
	waitFor(t, func() bool { return slow.Err() != nil })
	evs := refDrain(t, slow, refWait)
	last := evs[len(evs)-1]
	if last.Kind != siostream.KindDisconnected || last.Reason() != siostream.ReasonSlowConsumer ||
		!errors.Is(slow.Err(), siostream.ErrSlowConsumer) {
		t.Fatalf("last event %v %s, Err %v", last.Kind, refDescribe(last), slow.Err())
	}
	refWaitStats(t, observer, "slow socket gone, connection kept", func(st refStats) bool {
		return st.Clients == 2 && st.Sockets == 1
	})
	refRoundTrip(t, streams["/"], "unaffected")
	refQuiet(t, streams["/"], 100*time.Millisecond)
}

// TestInteropManagerRejoinNamespace closes a namespace and joins it again
// at once on a shared connection. The server handles a DISCONNECT one tick
// after reading it and closes the whole connection on a CONNECT for a
// namespace it still has, which would take the other namespaces down.
func TestInteropManagerRejoinNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	m := refManager(t, srv.URL, siostream.Options{})
	streams := refJoinAll(t, m, "/")
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), refWait)
		admin, err := m.Dial(ctx, siostream.Options{Namespace: "/admin"})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		refWelcomeOf(t, admin)
		admin.Close()
	}
	refQuiet(t, streams["/"], 200*time.Millisecond)
	if st := streams["/"].Stats(); st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}
