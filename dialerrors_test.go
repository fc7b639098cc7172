package siostream_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/refserver"
	"github.com/siostream/siostream/internal/sioserver"
)

// TestDialErrorsSayWhatToDo asserts the words of each error a user meets
// when the first connect fails: what was tried, at which step, and what
// to check.
func TestDialErrorsSayWhatToDo(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>hello</html>"))
	}))
	defer page.Close()
	silent := silentListener(t)
	http10 := answeringListener(t, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
	cases := []struct {
		name  string
		url   string
		opts  siostream.Options
		step  string
		words []string
		is    error
	}{
		{name: "HTTP 404", url: notFound.URL, step: "WebSocket upgrade",
			words: []string{"no Socket.IO endpoint at ws://127.0.0.1:", "/socket.io/", "HTTP 404 Not Found", "check the URL and Options.Path"}},
		{name: "a plain web page", url: page.URL, step: "WebSocket upgrade",
			words: []string{"no Socket.IO endpoint", "HTTP 200 OK"}},
		{name: "an HTTP/1.0 server", url: "http://" + http10, step: "WebSocket upgrade",
			words: []string{"no Socket.IO endpoint at ws://" + http10, "no WebSocket handshake", "check the URL and Options.Path"}},
		{name: "upgrade never answered", url: "http://" + silent, opts: siostream.Options{ConnectTimeout: 200 * time.Millisecond},
			step: "WebSocket upgrade", words: []string{"WebSocket upgrade to ws://" + silent, "Options.ConnectTimeout (200ms)"}, is: context.DeadlineExceeded},
		{name: "TLS never answered", url: "https://" + silent, opts: siostream.Options{ConnectTimeout: 200 * time.Millisecond, TLSConfig: &tls.Config{}},
			step: "TLS handshake", words: []string{"TLS handshake to wss://" + silent, "Options.ConnectTimeout (200ms)"}, is: context.DeadlineExceeded},
		{name: "connection refused", url: "http://" + closedAddr(t), step: "TCP connect",
			words: []string{"TCP connect to ws://", "refused"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := siostream.Dial(ctx, tc.url, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			var de *siostream.DialError
			if !errors.As(err, &de) || de.Step != tc.step {
				t.Fatalf("error %v (%T), want a *DialError at step %q", err, err, tc.step)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not match %v", err, tc.is)
			}
		})
	}
}

// TestInteropDialErrorsNamespaces: an unknown namespace is not reported
// as a refused authentication, and a wrong Engine.IO path says where to
// look.
func TestInteropDialErrorsNamespaces(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	_, err := siostream.Dial(ctx, srv.URL, siostream.Options{Namespace: "/nope"})
	var ce *siostream.ConnectError
	if !errors.As(err, &ce) || !errors.Is(err, siostream.ErrUnknownNamespace) ||
		!strings.Contains(err.Error(), "the server has no namespace /nope") {
		t.Fatalf("unknown namespace: %v", err)
	}
	_, err = siostream.Dial(ctx, srv.URL, siostream.Options{Namespace: "/secure", Auth: func(context.Context) (any, error) {
		return map[string]any{"token": "wrong"}, nil
	}})
	if !errors.As(err, &ce) || errors.Is(err, siostream.ErrUnknownNamespace) {
		t.Fatalf("refused auth reported as %v", err)
	}
	_, err = siostream.Dial(ctx, srv.URL, siostream.Options{Path: "/nope/"})
	if err == nil || !strings.Contains(err.Error(), "check the URL and Options.Path") {
		t.Fatalf("wrong Engine.IO path: %v", err)
	}
}

// TestURLPathNamespace: the URL's path names the namespace, as with
// socket.io-client; /socket.io/ stays the Engine.IO path; a URL path and
// Options.Namespace must agree; a Manager refuses a URL path.
func TestURLPathNamespace(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL()+"/realtime", siostream.Options{})
	if s.Namespace() != "/realtime" {
		t.Fatalf("namespace %q, want /realtime", s.Namespace())
	}
	s2 := dial(t, srv.URL()+"/socket.io/", siostream.Options{Namespace: "/x"})
	if s2.Namespace() != "/x" {
		t.Fatalf("namespace %q, want /x", s2.Namespace())
	}
	ctx := context.Background()
	if _, err := siostream.Dial(ctx, srv.URL()+"/a", siostream.Options{Namespace: "/b"}); !errors.Is(err, siostream.ErrOptions) ||
		!strings.Contains(err.Error(), "namespace /a") {
		t.Fatalf("disagreeing namespaces: %v", err)
	}
	if _, err := siostream.NewManager(srv.URL()+"/admin", siostream.Options{}); !errors.Is(err, siostream.ErrOptions) ||
		!strings.Contains(err.Error(), "give it to Manager.Dial") {
		t.Fatalf("NewManager with a URL path: %v", err)
	}
}

// TestOptionsInTheirPlace: a field given where it has no effect is an
// error naming it.
func TestOptionsInTheirPlace(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	if _, err := siostream.NewManager(srv.URL(), siostream.Options{ReconnectOnServerDisconnect: true}); !errors.Is(err, siostream.ErrOptions) ||
		!strings.Contains(err.Error(), "ReconnectOnServerDisconnect") {
		t.Fatalf("NewManager with a namespace field: %v", err)
	}
	m, err := siostream.NewManager(srv.URL(), siostream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Dial(context.Background(), siostream.Options{Compression: true}); !errors.Is(err, siostream.ErrOptions) ||
		!strings.Contains(err.Error(), "Compression") {
		t.Fatalf("Manager.Dial with a connection field: %v", err)
	}
}

// answeringListener writes answer to every connection, then holds it.
func answeringListener(t testing.TB, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			c.Write([]byte(answer))
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// silentListener accepts connections and never answers.
func silentListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}
