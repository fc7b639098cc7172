package siostream_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// TestHostile2CloseInEveryState: Close in every state returns within
// 100 ms: while the first Dial hangs in the WebSocket handshake, during the
// reconnect backoff, during a reconnect attempt that hangs, while a re-join
// after the server's DISCONNECT waits (for its delay or in Auth), while the
// join of a stream Open added waits in Auth, and while a write is stuck.
func TestHostile2CloseInEveryState(t *testing.T) {
	const bound = 100 * time.Millisecond
	hanging := func(t *testing.T) (*rawServer, chan struct{}) {
		accepted := make(chan struct{}, 16)
		rs := newRawServer(t, func(nc net.Conn, done <-chan struct{}) {
			accepted <- struct{}{}
			<-done // never answers the upgrade
		})
		return rs, accepted
	}
	waitAccepted := func(t *testing.T, ch chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("the client never connected to the hanging listener")
		}
	}
	t.Run("first Dial hangs", func(t *testing.T) {
		rs, accepted := hanging(t)
		m, err := siostream.NewManager(rs.URL(), siostream.Options{ConnectTimeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		type result struct {
			s   *siostream.Stream
			err error
			at  time.Time
		}
		res := make(chan result, 1)
		go func() {
			s, err := m.Dial(ctx, siostream.Options{})
			res <- result{s, err, time.Now()}
		}()
		waitAccepted(t, accepted)
		start := time.Now()
		m.Close()
		closeTook := time.Since(start)
		var r result
		hung := false
		select {
		case r = <-res:
		case <-time.After(5 * time.Second):
			hung = true
			cancel() // release it for the leak check
			r = <-res
		}
		if r.s != nil {
			r.s.Close()
		}
		dialTook := r.at.Sub(start)
		t.Logf("Manager.Close took %v; Dial returned %v after Close (released by cancelling its context: %v): %v",
			closeTook.Round(time.Microsecond), dialTook.Round(time.Millisecond), hung, r.err)
		if closeTook > bound {
			t.Errorf("Manager.Close took %v, bound %v", closeTook, bound)
		}
		if hung || dialTook > bound || !errors.Is(r.err, siostream.ErrClosed) {
			t.Errorf("Dial returned %v %v after Manager.Close, want ErrClosed within %v: manager.go Close closes the "+
				"registered streams, but join/ensureConn/connectEngine wait on ctx only (bounded by ConnectTimeout), "+
				"never on the stream's closing channel", r.err, dialTook.Round(time.Millisecond), bound)
		}
	})
	t.Run("during backoff", func(t *testing.T) {
		srv := newServer(t, sioserver.Options{})
		s := dial(t, srv.URL(), siostream.Options{ReconnectDelay: 10 * time.Second, ReconnectDelayMax: 10 * time.Second,
			RandomizationFactor: -1})
		accept(t, srv).Drop()
		ev := next(t, s, siostream.KindReconnecting, 5*time.Second)
		start := time.Now()
		s.Close()
		took := time.Since(start)
		t.Logf("Close during a %v backoff took %v", ev.Delay(), took.Round(time.Microsecond))
		if took > bound {
			t.Errorf("Close took %v, bound %v", took, bound)
		}
	})
	t.Run("during a hanging reconnect attempt", func(t *testing.T) {
		rs, accepted := hanging(t)
		srv := newServer(t, sioserver.Options{})
		var target atomic.Pointer[string]
		addr := srv.Addr()
		target.Store(&addr)
		netDial := func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, *target.Load())
		}
		s := dial(t, srv.URL(), siostream.Options{NetDial: netDial, ConnectTimeout: 30 * time.Second})
		c := accept(t, srv)
		hang := rs.ln.Addr().String()
		target.Store(&hang) // the server comes back as a listener that never answers
		c.Drop()
		next(t, s, siostream.KindDisconnected, 5*time.Second)
		waitAccepted(t, accepted)
		start := time.Now()
		s.Close()
		took := time.Since(start)
		t.Logf("Close during a reconnect attempt hanging in the handshake took %v", took.Round(time.Microsecond))
		if took > bound {
			t.Errorf("Close took %v, bound %v", took, bound)
		}
	})
	t.Run("while a re-join waits", func(t *testing.T) {
		srv := newServer(t, sioserver.Options{})
		s := dial(t, srv.URL(), siostream.Options{ReconnectOnServerDisconnect: true,
			ReconnectDelay: 10 * time.Second, ReconnectDelayMax: 10 * time.Second, RandomizationFactor: -1})
		if err := accept(t, srv).Disconnect("/"); err != nil {
			t.Fatal(err)
		}
		next(t, s, siostream.KindReconnecting, 5*time.Second)
		start := time.Now()
		closed := make(chan struct{})
		go func() {
			s.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close hangs while a re-join after the server's DISCONNECT waits: it waits for a timer " +
				"that the closing transition stopped")
		}
		took := time.Since(start)
		t.Logf("Close while a re-join waits took %v", took.Round(time.Microsecond))
		if took > bound {
			t.Errorf("Close took %v, bound %v", took, bound)
		}
	})
	// An Auth that waits for its ctx: Close must cancel the join it serves.
	blockingAuth := func(calls *atomic.Int32, from int32, entered chan<- struct{}) func(context.Context) (any, error) {
		return func(ctx context.Context) (any, error) {
			if calls.Add(1) < from {
				return nil, nil
			}
			entered <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}
	closeWithin := func(t *testing.T, s *siostream.Stream, what string) {
		t.Helper()
		start := time.Now()
		s.Close()
		took := time.Since(start)
		t.Logf("Close %s took %v", what, took.Round(time.Microsecond))
		if took > bound {
			t.Errorf("Close took %v, bound %v", took, bound)
		}
	}
	t.Run("while a re-join is in Auth", func(t *testing.T) {
		srv := newServer(t, sioserver.Options{})
		var calls atomic.Int32
		entered := make(chan struct{}, 1)
		s := dial(t, srv.URL(), siostream.Options{ReconnectOnServerDisconnect: true, ConnectTimeout: 30 * time.Second,
			ReconnectDelay: time.Millisecond, ReconnectDelayMax: time.Millisecond, RandomizationFactor: -1,
			Auth: blockingAuth(&calls, 2, entered)})
		if err := accept(t, srv).Disconnect("/"); err != nil {
			t.Fatal(err)
		}
		waitAccepted(t, entered)
		closeWithin(t, s, "while a re-join waits in Auth")
	})
	t.Run("while Open's join is in Auth", func(t *testing.T) {
		srv := newServer(t, sioserver.Options{})
		m, err := siostream.NewManager(srv.URL(), siostream.Options{ConnectTimeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		s1, err := m.Dial(context.Background(), siostream.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s1.Close()
		var calls atomic.Int32
		entered := make(chan struct{}, 1)
		s2, err := m.Open(siostream.Options{Namespace: "/x", Auth: blockingAuth(&calls, 1, entered)})
		if err != nil {
			t.Fatal(err)
		}
		waitAccepted(t, entered)
		closeWithin(t, s2, "while Open's join waits in Auth")
	})
	t.Run("while a write is stuck", func(t *testing.T) {
		_, s, c := hostileRig(t, sioserver.Options{Handler: func(*sioserver.Conn, *sioserver.Received) {}}, siostream.Options{})
		c.SetReadPaused(true)
		defer c.SetReadPaused(false)
		payload := strings.Repeat("s", 64<<10)
		stuck := false
		for range 4000 {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			err := s.Emit(ctx, "fill", payload)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				stuck = true
				break
			}
		}
		if !stuck {
			t.Fatal("writes never stalled")
		}
		start := time.Now()
		s.Close()
		took := time.Since(start)
		t.Logf("Close while the writer is blocked in a write took %v", took.Round(time.Microsecond))
		if took > bound {
			t.Errorf("Close took %v, bound %v: dial.go wireConn.leave queues DISCONNECT and a close frame behind the "+
				"blocked write and waits up to 1 s for the writer before it closes the socket", took.Round(time.Millisecond), bound)
		}
	})
}
