// Package tunneltest holds what the proxy tests share: loopback TCP
// servers that clean up after the test, and checks that bytes flow both
// ways through a tunnel. It serves the package's own tests and the
// proxytest module, which runs them against real proxy implementations.
package tunneltest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// IOTimeout bounds every blocking step of a test that should not block.
const IOTimeout = 10 * time.Second

// Server runs a handler on each connection of a loopback listener, in a
// goroutine of its own. When the test ends it closes the listener and
// every connection and waits for the handlers.
type Server struct {
	ln     net.Listener
	handle func(net.Conn)
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Listen returns a listener on an ephemeral loopback port.
func Listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// NewServer serves a new loopback listener with handle.
func NewServer(t *testing.T, handle func(net.Conn)) *Server {
	t.Helper()
	return Serve(t, Listen(t), handle)
}

// Serve serves ln (a loopback listener, perhaps behind TLS) with handle.
func Serve(t *testing.T, ln net.Listener, handle func(net.Conn)) *Server {
	s := &Server{ln: ln, handle: handle, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

// NewEcho starts a server that echoes each connection until EOF.
func NewEcho(t *testing.T) *Server {
	return NewServer(t, func(c net.Conn) { io.Copy(c, c) })
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the server's port.
func (s *Server) Port() string {
	_, p, _ := net.SplitHostPort(s.Addr())
	return p
}

// URL is scheme://Addr.
func (s *Server) URL(scheme string) *url.URL {
	return &url.URL{Scheme: scheme, Host: s.Addr()}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// RoundTrip writes a message on c and fails the test unless the same
// bytes come back: bytes flow both ways through the tunnel.
func RoundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(IOTimeout))
	defer c.SetDeadline(time.Time{})
	msg := []byte("hello through the tunnel")
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("read %q, want %q", got, msg)
	}
}

// ReadExactly fails the test unless the next bytes read from c are want.
func ReadExactly(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(IOTimeout))
	defer c.SetReadDeadline(time.Time{})
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// Wait fails the test unless ch delivers within IOTimeout.
func Wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(IOTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

// CancelMidHandshake runs dial on a goroutine, cancels its context once
// reached delivers (the proxy holds the handshake), and fails the test
// unless dial returns context.Canceled within 2 s of the cancel.
func CancelMidHandshake(t *testing.T, reached <-chan struct{}, dial func(context.Context) (net.Conn, error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		c, err := dial(ctx)
		if err == nil {
			c.Close()
		}
		errc <- err
	}()
	Wait(t, reached, "the proxy to hold the handshake")
	cancel()
	cancelled := time.Now()
	err := Wait(t, errc, "Dial to return")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if d := time.Since(cancelled); d > 2*time.Second {
		t.Errorf("Dial returned %v after the cancel", d)
	}
}
