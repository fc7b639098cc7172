package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/proxy/tunneltest"
	"github.com/siostream/siostream/internal/testcert"
)

// newTLSServer is tunneltest.NewServer behind TLS with a certificate for 127.0.0.1,
// offering ALPN h2 and http/1.1; it returns the config that trusts it.
func newTLSServer(t *testing.T, handle func(net.Conn)) (*tunneltest.Server, *tls.Config) {
	t.Helper()
	cert, err := testcert.SelfSigned(time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(tunneltest.Listen(t), &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	})
	return tunneltest.Serve(t, ln, handle), &tls.Config{RootCAs: testcert.Pool(cert)}
}

// splice dials addr and copies between it and the client (read through r)
// until both directions end.
func splice(client net.Conn, r io.Reader, addr string) {
	up, err := net.DialTimeout("tcp4", addr, tunneltest.IOTimeout)
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

// dial calls Dial with a timeout and closes the connection when the test
// ends.
func dial(t *testing.T, proxyURL *url.URL, addr string, d Dialer) (net.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), tunneltest.IOTimeout)
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

// withUser returns u with user info.
func withUser(u *url.URL, user, password string) *url.URL {
	v := *u
	v.User = url.UserPassword(user, password)
	return &v
}
