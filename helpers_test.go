package siostream_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/sioserver"
)

// fast reconnects for tests: 10 ms doubling to 50 ms.
func fastOpts(o siostream.Options) siostream.Options {
	if o.ReconnectDelay == 0 {
		o.ReconnectDelay = 10 * time.Millisecond
	}
	if o.ReconnectDelayMax == 0 {
		o.ReconnectDelayMax = 50 * time.Millisecond
	}
	return o
}

func newServer(t testing.TB, o sioserver.Options) *sioserver.Server {
	t.Helper()
	srv, err := sioserver.New(o)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func dial(t testing.TB, url string, o siostream.Options) *siostream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := siostream.Dial(ctx, url, fastOpts(o))
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// next returns the next event of kind k, skipping others; it fails the
// test after d.
func next(t testing.TB, s *siostream.Stream, k siostream.Kind, d time.Duration) siostream.Event {
	t.Helper()
	timer := time.NewTimer(d)
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
			t.Fatalf("no %v event within %v", k, d)
		}
	}
}

// nextEvent returns the next server event named name.
func nextEvent(t testing.TB, s *siostream.Stream, name string, d time.Duration) siostream.Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ev := next(t, s, siostream.KindEvent, time.Until(deadline))
		if ev.Name == name {
			return ev
		}
	}
}

func accept(t testing.TB, srv *sioserver.Server) *sioserver.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := srv.Accept(ctx)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	return c
}

// received returns the next packet other than CONNECT the server got
// from the client.
func received(t testing.TB, c *sioserver.Conn, d time.Duration) *sioserver.Received {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case r := <-c.Received():
			if r.Type != frames.Connect {
				return r
			}
		case <-timer.C:
			t.Fatalf("server received nothing within %v", d)
			return nil
		}
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
