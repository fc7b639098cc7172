package siotest_test

import (
	"context"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/siotest"
)

// waitTime bounds every wait of the tests; reconnects take up to 1.5 s.
const waitTime = 10 * time.Second

func newServer(t testing.TB, opts siotest.Options) *siotest.Server {
	t.Helper()
	srv := siotest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// testContext returns a context that ends after waitTime or with the test.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

func dial(t testing.TB, url string, opts siostream.Options) *siostream.Stream {
	t.Helper()
	s, err := siostream.Dial(testContext(t), url, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func accept(t testing.TB, srv *siotest.Server) *siotest.Conn {
	t.Helper()
	c, err := srv.Accept(testContext(t))
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	return c
}

// nextKind returns the client's next event of kind k, skipping others.
func nextKind(t testing.TB, s *siostream.Stream, k siostream.Kind) siostream.Event {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %v: %v", k, s.Err())
			}
			if ev.Kind == k {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %v event within %v", k, waitTime)
		}
	}
}

// nextNamed returns the client's next server event, which must be named
// name.
func nextNamed(t testing.TB, s *siostream.Stream, name string) siostream.Event {
	t.Helper()
	ev := nextKind(t, s, siostream.KindEvent)
	if ev.Name != name {
		t.Fatalf("client got event %q, want %q", ev.Name, name)
	}
	return ev
}

// decode decodes the args of the client's event ev.
func decode(t testing.TB, ev siostream.Event, v ...any) {
	t.Helper()
	if err := ev.Decode(v...); err != nil {
		t.Fatalf("Decode %s: %v", ev.Name, err)
	}
}

// ackClient answers the server's ack request carried by ev.
func ackClient(t testing.TB, ev siostream.Event, args ...any) {
	t.Helper()
	if err := ev.Ack(testContext(t), args...); err != nil {
		t.Fatalf("client Ack: %v", err)
	}
}

// emit emits from the client.
func emit(t testing.TB, s *siostream.Stream, event string, args ...any) {
	t.Helper()
	if err := s.Emit(testContext(t), event, args...); err != nil {
		t.Fatalf("client Emit %s: %v", event, err)
	}
}

// nextPacket returns the next packet the server got on c.
func nextPacket(t testing.TB, c *siotest.Conn) *siotest.Packet {
	t.Helper()
	p, err := c.Next(testContext(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return p
}

// nextServerEvent returns the next event the server got on c, which must
// be named name.
func nextServerEvent(t testing.TB, c *siotest.Conn, name string) *siotest.Packet {
	t.Helper()
	p, err := c.NextEvent(testContext(t))
	if err != nil {
		t.Fatalf("NextEvent: %v", err)
	}
	if p.Name != name {
		t.Fatalf("server got event %q %s, want %q", p.Name, p.Args, name)
	}
	return p
}

// waitDone waits for c to end and returns why.
func waitDone(t testing.TB, c *siotest.Conn) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(waitTime):
		t.Fatalf("connection %s still open", c.ID())
		return nil
	}
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitTime)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not within %v", what, waitTime)
		}
	}
}
