package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ioTimeout bounds every blocking read or write of the tests.
const ioTimeout = 10 * time.Second

// upstream is a loopback echo server that optionally greets each client.
type upstream struct {
	ln       net.Listener
	greeting string
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// newUpstream starts an echo server that first writes greeting to every
// connection; it stops when the test ends.
func newUpstream(t *testing.T, greeting string) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{ln: ln, greeting: greeting, conns: make(map[net.Conn]struct{})}
	u.wg.Add(1)
	go u.accept()
	t.Cleanup(u.close)
	return u
}

// addr returns the server's address.
func (u *upstream) addr() string { return u.ln.Addr().String() }

// accept serves every connection until the listener closes.
func (u *upstream) accept() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		u.conns[c] = struct{}{}
		u.mu.Unlock()
		u.wg.Add(1)
		go u.serve(c)
	}
}

// serve greets c and echoes it until either side closes.
func (u *upstream) serve(c net.Conn) {
	defer u.wg.Done()
	defer func() {
		u.mu.Lock()
		delete(u.conns, c)
		u.mu.Unlock()
		_ = c.Close()
	}()
	if _, err := io.WriteString(c, u.greeting); err != nil {
		return
	}
	_, _ = io.Copy(c, c)
}

// close stops the server and every connection, waiting for its goroutines.
func (u *upstream) close() {
	_ = u.ln.Close()
	u.mu.Lock()
	for c := range u.conns {
		_ = c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// newProxy starts a proxy to addr, closed when the test ends.
func newProxy(t *testing.T, addr string) *Proxy {
	t.Helper()
	p, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// dial connects to the proxy; the connection is closed when the test ends.
func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// echo writes payload on c while reading the same number of bytes back,
// and fails the test unless they match.
func echo(t *testing.T, c net.Conn, payload []byte) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	expectRead(t, c, payload, writeAsync(c, 0, payload))
}

// writeAsync writes msgs on c in order from another goroutine, pausing gap
// after each, and reports the outcome on the returned channel.
func writeAsync(c net.Conn, gap time.Duration, msgs ...[]byte) <-chan error {
	errc := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if _, err := c.Write(m); err != nil {
				errc <- err
				return
			}
			time.Sleep(gap)
		}
		errc <- nil
	}()
	return errc
}

// expectRead fails the test unless the next len(want) bytes read from c are
// want and the writer reporting on errc succeeded.
func expectRead(t *testing.T, c net.Conn, want []byte, errc <-chan error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	got := make([]byte, len(want))
	_, rerr := io.ReadFull(c, got)
	if werr := <-errc; werr != nil {
		t.Fatalf("write: %v", werr)
	}
	if rerr != nil {
		t.Fatalf("read: %v", rerr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%d bytes read differ from those written", len(want))
	}
}

// expectSilent fails the test unless nothing can be read from c for d.
func expectSilent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	if n, err := c.Read(make([]byte, 1024)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: n=%d err=%v, want a timeout", n, err)
	}
}

// expectClosed fails the test unless reading c soon reports a reset or EOF.
func expectClosed(t *testing.T, c net.Conn) error {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after close: got %v, want EOF or connection reset", err)
	}
	return err
}

// expectRefused fails the test unless a connection to p is reset or
// closed at once, either while connecting or on the first read.
func expectRefused(t *testing.T, p *Proxy) {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), ioTimeout)
	if err != nil {
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("dial: %v, want success or connection reset", err)
		}
		return
	}
	defer func() { _ = c.Close() }()
	expectClosed(t, c)
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
