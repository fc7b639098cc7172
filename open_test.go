package siostream_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// TestOpenServerStartsLate: Open returns at once; while the server is not
// up, each attempt fails and is reported (KindConnectError, then
// KindReconnecting before the next one, attempts counted from 1); once it
// is up the stream connects, and what was emitted meanwhile goes out.
func TestOpenServerStartsLate(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	var up atomic.Bool
	var tries atomic.Int32
	opts := fastOpts(siostream.Options{
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			tries.Add(1)
			if !up.Load() {
				return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	})
	s, err := siostream.Open(srv.URL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Emit(context.Background(), "early", 1); err != nil {
		t.Fatalf("emit before the first connect: %v", err)
	}
	ev := next(t, s, siostream.KindConnectError, 5*time.Second)
	if ev.Attempt() != 1 || ev.Err() == nil {
		t.Fatalf("first failure: attempt %d, err %v", ev.Attempt(), ev.Err())
	}
	ev = next(t, s, siostream.KindReconnecting, 5*time.Second)
	if ev.Attempt() != 2 || ev.Delay() <= 0 {
		t.Fatalf("next attempt: %d after %v", ev.Attempt(), ev.Delay())
	}
	waitFor(t, func() bool { return tries.Load() >= 3 })
	up.Store(true)
	next(t, s, siostream.KindConnected, 5*time.Second)
	c := accept(t, srv)
	if r := received(t, c, 5*time.Second); r.Name != "early" {
		t.Fatalf("server got %q first, want the early emit", r.Name)
	}
}

// TestOpenRefused: a refusal of the namespace ends a stream Open made, as
// a refused reconnect does, with the *ConnectError as Err.
func TestOpenRefused(t *testing.T) {
	srv := newServer(t, sioserver.Options{Authorize: func(ns string, auth json.RawMessage) *sioserver.Reject {
		return &sioserver.Reject{Message: "not today"}
	}})
	s, err := siostream.Open(srv.URL(), fastOpts(siostream.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev := next(t, s, siostream.KindConnectError, 5*time.Second)
	var ce *siostream.ConnectError
	if !errors.As(ev.Err(), &ce) || ce.Message != "not today" {
		t.Fatalf("connect error %v", ev.Err())
	}
	for range s.Events() {
	}
	if !errors.As(s.Err(), &ce) {
		t.Fatalf("Err() = %v, want the refusal", s.Err())
	}
}

// TestOpenAttemptsExhausted: MaxReconnectAttempts bounds the first connect
// of Open too.
func TestOpenAttemptsExhausted(t *testing.T) {
	s, err := siostream.Open("http://"+closedAddr(t), fastOpts(siostream.Options{MaxReconnectAttempts: 3}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	failures := 0
	for ev := range s.Events() {
		if ev.Kind == siostream.KindConnectError {
			failures++
			if ev.Attempt() != failures {
				t.Fatalf("failure %d reported as attempt %d", failures, ev.Attempt())
			}
		}
	}
	if failures != 3 || !errors.Is(s.Err(), siostream.ErrReconnectFailed) {
		t.Fatalf("%d failures, Err %v", failures, s.Err())
	}
}

// TestOpenClosePrompt: Close while Open still tries returns at once and
// leaves nothing running (goleak checks in TestMain).
func TestOpenClosePrompt(t *testing.T) {
	s, err := siostream.Open("http://"+closedAddr(t), siostream.Options{ReconnectDelay: time.Hour, ReconnectDelayMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	next(t, s, siostream.KindReconnecting, 5*time.Second)
	s.Close()
	for range s.Events() {
	}
	if !errors.Is(s.Err(), siostream.ErrClosed) {
		t.Fatalf("Err() = %v", s.Err())
	}
}

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestOpenWhileDialFails: a stream Open adds while another Dial is still
// dialling the connection keeps trying when that dial fails, which fails
// the Dial alone, and connects once the server is up.
func TestOpenWhileDialFails(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var up atomic.Bool
	m, err := siostream.NewManager(srv.URL(), fastOpts(siostream.Options{
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if !up.Load() {
				select {
				case entered <- struct{}{}:
					<-release // the first dial waits while Open runs
				default:
				}
				return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dialed := make(chan error, 1)
	go func() {
		_, err := m.Dial(context.Background(), siostream.Options{})
		dialed <- err
	}()
	<-entered
	s, err := m.Open(siostream.Options{Namespace: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-dialed; !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial = %v, want its own dial's failure", err)
	}
	next(t, s, siostream.KindReconnecting, 5*time.Second)
	up.Store(true)
	next(t, s, siostream.KindConnected, 5*time.Second)
}
