package proxytest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/siotest"
	"golang.org/x/net/http/httpproxy"
)

// TestSDKThroughProxy: siostream.Dial reaches a Socket.IO server through
// an HTTP CONNECT proxy chosen by Options.Proxy with the environment rules
// of net/http, goes direct for a NO_PROXY host, sends the credentials of
// the proxy URL, and reports a 407 with words that say what to do.
func TestSDKThroughProxy(t *testing.T) {
	srv := siotest.NewServer(siotest.Options{})
	defer srv.Close()
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	open, _ := startHTTPProxy(t, httpProxyConfig{})
	locked, _ := startHTTPProxy(t, httpProxyConfig{user: "alice", password: "s3cret"})
	via := func(p *url.URL) func(*http.Request) (*url.URL, error) {
		env := httpproxy.Config{HTTPProxy: p.String(), NoProxy: "bypass.siostream.test"}
		return func(r *http.Request) (*url.URL, error) { return env.ProxyFunc()(r.URL) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("through the proxy", func(t *testing.T) {
		s, err := siostream.Dial(ctx, "http://chat.siostream.test:"+port, siostream.Options{Proxy: via(open.url)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		echoRoundTrip(t, s)
		if got := open.seen(); !slices.Contains(got, "chat.siostream.test:"+port) {
			t.Fatalf("proxy saw %v", got)
		}
	})
	t.Run("NO_PROXY goes direct", func(t *testing.T) {
		before := len(open.seen())
		s, err := siostream.Dial(ctx, "http://bypass.siostream.test:"+port, siostream.Options{Proxy: via(open.url), NetDial: func(ctx context.Context, _, addr string) (net.Conn, error) { return dialLoopback(ctx, addr) }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		echoRoundTrip(t, s)
		if got := open.seen(); len(got) != before {
			t.Fatalf("proxy asked for %v", got[before:])
		}
	})
	t.Run("credentials from the proxy URL", func(t *testing.T) {
		s, err := siostream.Dial(ctx, "http://chat.siostream.test:"+port, siostream.Options{Proxy: via(locked.withUser("alice", "s3cret"))})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		echoRoundTrip(t, s)
	})
	t.Run("407", func(t *testing.T) {
		_, err := siostream.Dial(ctx, "http://chat.siostream.test:"+port, siostream.Options{Proxy: via(locked.withUser("alice", "wrong"))})
		var de *siostream.DialError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "407") || !strings.Contains(err.Error(), "check the user:password in the proxy URL") {
			t.Fatalf("error %v", err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Fatalf("error shows the password: %v", err)
		}
		t.Logf("%v", err)
	})
}

func echoRoundTrip(t *testing.T, s *siostream.Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Emit(ctx, "echo", "hi"); err != nil {
		t.Fatal(err)
	}
	for ev := range s.Events() {
		if ev.Kind == siostream.KindEvent && ev.Name == "echo" {
			return
		}
	}
	t.Fatalf("stream ended: %v", s.Err())
}
