package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/testcert"
)

// ioTimeout bounds every blocking step of a test that should not block.
const ioTimeout = 10 * time.Second

// server is a loopback TCP server that runs handle on each connection in a
// goroutine of its own. When the test ends it closes the listener and every
// connection and waits for the handlers.
type server struct {
	ln     net.Listener
	handle func(net.Conn)
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newServer(t *testing.T, handle func(net.Conn)) *server {
	t.Helper()
	return serve(t, listen(t), handle)
}

// newTLSServer is newServer behind TLS with a certificate for 127.0.0.1,
// offering ALPN h2 and http/1.1; it returns the config that trusts it.
func newTLSServer(t *testing.T, handle func(net.Conn)) (*server, *tls.Config) {
	t.Helper()
	cert, err := testcert.SelfSigned(time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(listen(t), &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	})
	return serve(t, ln, handle), &tls.Config{RootCAs: testcert.Pool(cert)}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func serve(t *testing.T, ln net.Listener, handle func(net.Conn)) *server {
	s := &server{ln: ln, handle: handle, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) url(scheme string) *url.URL {
	return &url.URL{Scheme: scheme, Host: s.addr()}
}

func (s *server) accept() {
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

func (s *server) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// newEcho starts a server that echoes every connection until EOF.
func newEcho(t *testing.T) *server {
	return newServer(t, func(c net.Conn) { io.Copy(c, c) })
}

// splice dials addr and copies between it and the client (read through r)
// until both directions end.
func splice(client net.Conn, r io.Reader, addr string) {
	up, err := net.DialTimeout("tcp4", addr, ioTimeout)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, r)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(client, up)
	closeWrite(client)
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// connectProxy returns a handler for a minimal HTTP proxy: it passes each
// CONNECT request to answer, writes what answer returns, and tunnels to the
// requested address when that starts with a 2xx status line.
func connectProxy(answer func(*http.Request) string) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		reply := answer(req)
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
		if strings.HasPrefix(reply, "HTTP/1.1 2") {
			splice(c, br, req.Host)
		}
	}
}

const established = "HTTP/1.1 200 Connection established\r\n\r\n"

// hang returns a handler that reports on started once it has read a byte,
// then reads until the client closes and reports on ended.
func hang(started, ended chan<- struct{}) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := c.Read(make([]byte, 1)); err != nil {
			return
		}
		started <- struct{}{}
		io.Copy(io.Discard, c)
		ended <- struct{}{}
	}
}

// roundTrip writes a message on c and fails the test unless the same bytes
// come back: bytes flow both ways through the tunnel.
func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(ioTimeout))
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

// readExactly fails the test unless the next bytes read from c are want.
func readExactly(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	defer c.SetReadDeadline(time.Time{})
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// dial calls Dial with a timeout and closes the connection when the test
// ends.
func dial(t *testing.T, proxyURL *url.URL, addr string, d Dialer) (net.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	c, err := Dial(ctx, proxyURL, addr, d)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// mustDial is dial that fails the test on an error.
func mustDial(t *testing.T, proxyURL *url.URL, addr string, d Dialer) net.Conn {
	t.Helper()
	c, err := dial(t, proxyURL, addr, d)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

// asProxyError fails the test unless err is an *Error.
func asProxyError(t *testing.T, err error) *Error {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *proxy.Error", err, err)
	}
	return pe
}

// wait fails the test unless ch delivers within ioTimeout.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(ioTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

// withUser returns u with user info.
func withUser(u *url.URL, user, password string) *url.URL {
	v := *u
	v.User = url.UserPassword(user, password)
	return &v
}
