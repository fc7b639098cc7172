package proxytest

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/siostream/siostream/internal/proxy"
	"github.com/siostream/siostream/internal/proxy/tunneltest"
)

func TestHTTPProxy(t *testing.T) {
	tests := []struct {
		name         string
		tls          bool
		demand       bool   // the proxy demands alice:s3cret
		user, passwd string // user info in the proxy URL
		wantStatus   int    // 0 for a tunnel
		wantText     string
	}{
		{name: "no authentication"},
		{name: "basic auth", demand: true, user: "alice", passwd: "s3cret"},
		{name: "credentials not demanded", user: "alice", passwd: "s3cret"},
		{
			name:       "wrong password",
			demand:     true,
			user:       "alice",
			passwd:     "hunter2-wrong",
			wantStatus: 407,
			wantText:   "407 Proxy Authentication Required (proxy authentication failed: check the user:password in the proxy URL)",
		},
		{
			name:       "no credentials",
			demand:     true,
			wantStatus: 407,
			wantText:   "407 Proxy Authentication Required (proxy authentication required: put user:password in the proxy URL)",
		},
		{name: "https proxy", tls: true},
		{name: "https proxy with basic auth", tls: true, demand: true, user: "alice", passwd: "s3cret"},
		{
			name:       "https proxy, wrong password",
			tls:        true,
			demand:     true,
			user:       "alice",
			passwd:     "hunter2-wrong",
			wantStatus: 407,
			wantText:   "check the user:password in the proxy URL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			echo := tunneltest.NewEcho(t)
			cfg := httpProxyConfig{tls: tt.tls}
			if tt.demand {
				cfg.user, cfg.password = "alice", "s3cret"
			}
			hp, trust := startHTTPProxy(t, cfg)
			u := hp.url
			if tt.user != "" {
				u = hp.withUser(tt.user, tt.passwd)
			}
			c, err := dial(t, u, echo.Addr(), proxy.Dialer{TLSConfig: trust})
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				tunneltest.RoundTrip(t, c)
			} else {
				pe := asProxyError(t, err)
				if pe.StatusCode != tt.wantStatus || !pe.AuthRequired() {
					t.Errorf("status %d, auth required %v; want %d, true", pe.StatusCode, pe.AuthRequired(), tt.wantStatus)
				}
				if !strings.Contains(err.Error(), tt.wantText) {
					t.Errorf("message %q does not say %q", err, tt.wantText)
				}
				noPassword(t, err, tt.passwd)
			}
			if got := hp.seen(); !slices.Equal(got, []string{echo.Addr()}) {
				t.Errorf("proxy saw CONNECT %q, want [%s]", got, echo.Addr())
			}
		})
	}
}

// TestHTTPProxyServerSpeaksFirst reads bytes the server sent as soon as the
// tunnel opened, which can arrive with the proxy's answer.
func TestHTTPProxyServerSpeaksFirst(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		hp, trust := startHTTPProxy(t, httpProxyConfig{tls: useTLS})
		t.Run(hp.url.Scheme, func(t *testing.T) {
			greeter := newGreeter(t)
			c := mustDial(t, hp.url, greeter.Addr(), proxy.Dialer{TLSConfig: trust})
			tunneltest.ReadExactly(t, c, greeting)
			tunneltest.RoundTrip(t, c)
		})
	}
}

func TestHTTPProxyTargetDown(t *testing.T) {
	down := tunneltest.Listen(t)
	addr := down.Addr().String()
	down.Close()
	hp, _ := startHTTPProxy(t, httpProxyConfig{})
	_, err := dial(t, hp.withUser("alice", "hunter2-secret"), addr, proxy.Dialer{})
	pe := asProxyError(t, err)
	if pe.StatusCode/100 != 5 || pe.AuthRequired() || pe.Addr != addr {
		t.Errorf("got status %d, auth %v, addr %s; want a 5xx for %s", pe.StatusCode, pe.AuthRequired(), pe.Addr, addr)
	}
	noPassword(t, err, "hunter2-secret")
}

// TestHTTPProxyHangs cancels ctx while the proxy holds the CONNECT request
// without answering: Dial returns promptly with context.Canceled.
func TestHTTPProxyHangs(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		hold, holding := make(chan struct{}), make(chan struct{}, 1)
		hp, trust := startHTTPProxy(t, httpProxyConfig{tls: useTLS, hold: hold, holding: holding})
		t.Cleanup(func() { close(hold) }) // before the proxy stops
		t.Run(hp.url.Scheme, func(t *testing.T) {
			tunneltest.CancelMidHandshake(t, holding, func(ctx context.Context) (net.Conn, error) {
				return proxy.Dial(ctx, hp.url, "127.0.0.1:9", proxy.Dialer{TLSConfig: trust})
			})
		})
	}
}
