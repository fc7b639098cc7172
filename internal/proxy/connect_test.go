package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/proxy/tunneltest"
)

func TestConnectRequest(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		password string
		header   http.Header
		wantAuth string // decoded Proxy-Authorization credentials, "" for none
		wantHdr  http.Header
	}{
		{
			name: "no credentials",
		},
		{
			name:     "user info",
			user:     "alice",
			password: "p@ss:word/ü",
			wantAuth: "alice:p@ss:word/ü",
		},
		{
			name:     "user without password",
			user:     "alice",
			wantAuth: "alice:",
		},
		{
			name:    "extra header",
			header:  http.Header{"X-Trace": {"7"}, "User-Agent": {"siostream-test"}},
			wantHdr: http.Header{"X-Trace": {"7"}, "User-Agent": {"siostream-test"}},
		},
		{
			name:     "user info wins over a header",
			user:     "alice",
			password: "right",
			header:   http.Header{"Proxy-Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("bob:wrong"))}},
			wantAuth: "alice:right",
		},
		{
			name:     "header credentials alone",
			header:   http.Header{"Proxy-Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("bob:token"))}},
			wantAuth: "bob:token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			echo := tunneltest.NewEcho(t)
			reqs := make(chan *http.Request, 1)
			p := tunneltest.NewServer(t, connectProxy(func(r *http.Request) string {
				reqs <- r
				return established
			}))
			u := p.URL("http")
			switch {
			case tt.password != "":
				u.User = url.UserPassword(tt.user, tt.password)
			case tt.user != "":
				u.User = url.User(tt.user)
			}
			var hdr http.Header
			if tt.header != nil {
				hdr = tt.header.Clone()
			}
			c := mustDial(t, u, echo.Addr(), Dialer{Header: hdr})
			tunneltest.RoundTrip(t, c)

			r := tunneltest.Wait(t, reqs, "the CONNECT request")
			if r.Method != http.MethodConnect || r.RequestURI != echo.Addr() || r.Host != echo.Addr() {
				t.Errorf("request %s %s, Host %s; want CONNECT %s", r.Method, r.RequestURI, r.Host, echo.Addr())
			}
			if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
				t.Errorf("protocol %s, want HTTP/1.1", r.Proto)
			}
			user, password, ok := proxyAuth(r)
			switch {
			case tt.wantAuth == "" && ok:
				t.Errorf("Proxy-Authorization %q sent, want none", r.Header.Get("Proxy-Authorization"))
			case tt.wantAuth != "" && user+":"+password != tt.wantAuth:
				t.Errorf("credentials %q, want %q", user+":"+password, tt.wantAuth)
			}
			for k, v := range tt.wantHdr {
				if got := r.Header.Values(k); strings.Join(got, ",") != strings.Join(v, ",") {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tt.header != nil && tt.header.Get("Proxy-Authorization") != hdr.Get("Proxy-Authorization") {
				t.Error("Dial changed the caller's Header")
			}
		})
	}
}

// proxyAuth decodes a Basic Proxy-Authorization header.
func proxyAuth(r *http.Request) (user, password string, ok bool) {
	v := r.Header.Get("Proxy-Authorization")
	if v == "" {
		return "", "", false
	}
	fake := &http.Request{Header: http.Header{"Authorization": {v}}}
	return fake.BasicAuth()
}

func TestConnectBytesAfterAnswer(t *testing.T) {
	echo := tunneltest.NewEcho(t)
	p := tunneltest.NewServer(t, connectProxy(func(*http.Request) string {
		// The answer and the tunnel's first bytes in one segment.
		return established + "EARLY BYTES"
	}))
	c := mustDial(t, p.URL("http"), echo.Addr(), Dialer{})
	tunneltest.ReadExactly(t, c, "EARLY BYTES")
	tunneltest.RoundTrip(t, c)
}

func TestConnectAnswerWithFields(t *testing.T) {
	echo := tunneltest.NewEcho(t)
	p := tunneltest.NewServer(t, connectProxy(func(*http.Request) string {
		// A Content-Length on a 2xx answer to CONNECT must be ignored.
		return "HTTP/1.1 200 OK\r\nVia: 1.1 test\r\nContent-Length: 5\r\n\r\n"
	}))
	c := mustDial(t, p.URL("http"), echo.Addr(), Dialer{})
	tunneltest.RoundTrip(t, c)
}

func TestConnectRefused(t *testing.T) {
	tests := []struct {
		name       string
		answer     string
		user       bool
		wantCode   int
		wantStatus string
		wantAuth   bool
		wantText   string
	}{
		{
			name:       "407 without credentials",
			answer:     "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\n\r\n",
			wantCode:   407,
			wantStatus: "407 Proxy Authentication Required",
			wantAuth:   true,
			wantText:   "proxy authentication required: put user:password in the proxy URL",
		},
		{
			name:       "407 with wrong credentials",
			answer:     "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
			user:       true,
			wantCode:   407,
			wantStatus: "407 Proxy Authentication Required",
			wantAuth:   true,
			wantText:   "proxy authentication failed: check the user:password in the proxy URL",
		},
		{
			name:       "403",
			answer:     "HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden",
			user:       true,
			wantCode:   403,
			wantStatus: "403 Forbidden",
			wantText:   "refused the tunnel to",
		},
		{
			name:       "502 over HTTP/1.0",
			answer:     "HTTP/1.0 502 Bad Gateway\r\n\r\n",
			wantCode:   502,
			wantStatus: "502 Bad Gateway",
			wantText:   "502 Bad Gateway",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tunneltest.NewServer(t, connectProxy(func(*http.Request) string { return tt.answer }))
			u := p.URL("http")
			if tt.user {
				u = withUser(u, "alice", "hunter2-secret")
			}
			_, err := dial(t, u, "127.0.0.1:9", Dialer{})
			pe := asProxyError(t, err)
			if pe.StatusCode != tt.wantCode || pe.Status != tt.wantStatus || pe.AuthRequired() != tt.wantAuth {
				t.Errorf("got code %d status %q auth %v, want %d %q %v", pe.StatusCode, pe.Status, pe.AuthRequired(), tt.wantCode, tt.wantStatus, tt.wantAuth)
			}
			if pe.Addr != "127.0.0.1:9" || pe.Proxy != u.Redacted() {
				t.Errorf("got Addr %q Proxy %q", pe.Addr, pe.Proxy)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantText) {
				t.Errorf("message %q does not say %q", msg, tt.wantText)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("message %q shows the password", msg)
			}
		})
	}
}

func TestConnectBadAnswers(t *testing.T) {
	tests := []struct {
		name   string
		answer func(net.Conn)
		want   string
	}{
		{
			name:   "closed without answer",
			answer: func(c net.Conn) { http.ReadRequest(bufio.NewReader(c)) },
			want:   "EOF",
		},
		{
			name: "not HTTP",
			answer: func(c net.Conn) {
				http.ReadRequest(bufio.NewReader(c))
				io.WriteString(c, "SSH-2.0-OpenSSH\r\n\r\n")
			},
			want: "malformed HTTP",
		},
		{
			name: "endless header",
			answer: func(c net.Conn) {
				http.ReadRequest(bufio.NewReader(c))
				io.WriteString(c, "HTTP/1.1 200 OK\r\n")
				line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
				for {
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			},
			want: "answer header over 65536 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tunneltest.NewServer(t, tt.answer)
			_, err := dial(t, withUser(p.URL("http"), "alice", "hunter2-secret"), "127.0.0.1:9", Dialer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("message %q shows the password", err)
			}
		})
	}
}

func TestConnectTLS(t *testing.T) {
	echo := tunneltest.NewEcho(t)
	protos := make(chan string, 1)
	handle := connectProxy(func(*http.Request) string { return established + "EARLY" })
	p, trust := newTLSServer(t, func(c net.Conn) {
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			return
		}
		protos <- tc.ConnectionState().NegotiatedProtocol
		handle(c)
	})
	trust.NextProtos = []string{"h2"}
	c := mustDial(t, p.URL("https"), echo.Addr(), Dialer{TLSConfig: trust})
	tunneltest.ReadExactly(t, c, "EARLY")
	tunneltest.RoundTrip(t, c)
	if got := tunneltest.Wait(t, protos, "the TLS handshake"); got != "http/1.1" {
		t.Errorf("ALPN chose %q, want http/1.1", got)
	}
	if trust.ServerName != "" || trust.NextProtos[0] != "h2" {
		t.Error("Dial changed the caller's TLS config")
	}
}

func TestConnectTLSUntrusted(t *testing.T) {
	p, _ := newTLSServer(t, func(c net.Conn) { c.(*tls.Conn).Handshake() })
	_, err := dial(t, withUser(p.URL("https"), "alice", "hunter2-secret"), "127.0.0.1:9", Dialer{})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("got %v, want a certificate error", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("message %q shows the password", err)
	}
}

// TestHandshakeContext cancels ctx while each kind of proxy hangs in its
// handshake: Dial returns promptly with ctx's error, and the proxy sees the
// connection closed.
func TestHandshakeContext(t *testing.T) {
	for _, scheme := range []string{"http", "https", "socks5", "socks5h"} {
		t.Run(scheme, func(t *testing.T) {
			started, ended := make(chan struct{}, 1), make(chan struct{}, 1)
			p := tunneltest.NewServer(t, hang(started, ended))
			tunneltest.CancelMidHandshake(t, started, func(ctx context.Context) (net.Conn, error) {
				return Dial(ctx, p.URL(scheme), "127.0.0.1:9", Dialer{})
			})
			tunneltest.Wait(t, ended, "the proxy to see the connection closed")
		})
	}
}

func TestHandshakeDeadline(t *testing.T) {
	started, ended := make(chan struct{}, 1), make(chan struct{}, 1)
	p := tunneltest.NewServer(t, hang(started, ended))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, p.URL("http"), "127.0.0.1:9", Dialer{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want context.DeadlineExceeded", err)
	}
	tunneltest.Wait(t, ended, "the proxy to see the connection closed")
}

// TestDeadlineCleared checks that ctx's deadline does not stay on the
// tunnel: reads after it has passed still work.
func TestDeadlineCleared(t *testing.T) {
	echo := tunneltest.NewEcho(t)
	p := tunneltest.NewServer(t, connectProxy(func(*http.Request) string { return established }))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	c, err := Dial(ctx, p.URL("http"), echo.Addr(), Dialer{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	defer c.Close()
	<-ctx.Done()
	cancel()
	tunneltest.RoundTrip(t, c)
}
