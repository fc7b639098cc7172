package main

import (
	"crypto/tls"
	"net/url"
	"slices"
	"testing"

	"github.com/siostream/siostream/internal/sioserver"
)

// hostsSeen makes a server that sends the Host header values of each
// upgrade request to the returned channel and greets the client, so that
// siocat --count 1 ends.
func hostsSeen(t *testing.T, tc *tls.Config) (*sioserver.Server, <-chan []string) {
	t.Helper()
	seen := make(chan []string, 4)
	srv := newServer(t, sioserver.Options{
		TLSConfig: tc,
		OnConnect: func(c *sioserver.Conn, ns string) {
			seen <- c.Hosts()
			_ = c.Emit(ns, "hi")
		},
	})
	return srv, seen
}

func TestHostHeader(t *testing.T) {
	t.Parallel()
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		srv, seen := hostsSeen(t, nil)
		runSiocat(t, "", "--count", "1", srv.URL()).wantCode(t, exitOK)
		u, _ := url.Parse(srv.URL())
		if got := <-seen; !slices.Equal(got, []string{u.Host}) {
			t.Errorf("the server saw Host %q, want [%q]", got, u.Host)
		}
	})
	t.Run("override", func(t *testing.T) {
		t.Parallel()
		srv, seen := hostsSeen(t, nil)
		runSiocat(t, "", "-H", "Host: example.com", "--count", "1", srv.URL()).wantCode(t, exitOK)
		if got := <-seen; !slices.Equal(got, []string{"example.com"}) {
			t.Errorf("the server saw Host %q, want [\"example.com\"]", got)
		}
	})
	t.Run("override over TLS", func(t *testing.T) {
		// The certificate is still checked against the URL's host.
		t.Parallel()
		cert, caFile := selfSigned(t)
		srv, seen := hostsSeen(t, &tls.Config{Certificates: []tls.Certificate{cert}})
		runSiocat(t, "", "--cacert", caFile, "-H", "host: example.com:8443", "--count", "1", srv.URL()).wantCode(t, exitOK)
		if got := <-seen; !slices.Equal(got, []string{"example.com:8443"}) {
			t.Errorf("the server saw Host %q, want [\"example.com:8443\"]", got)
		}
	})
}
