package proxytest

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/siostream/siostream/internal/proxy"
	"github.com/siostream/siostream/internal/proxy/tunneltest"
)

// noLookup fails the test if Dial resolves a name itself.
func noLookup(t *testing.T) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		t.Errorf("Dial resolved %s itself", host)
		return nil, nil
	}
}

func TestSOCKSProxy(t *testing.T) {
	tests := []struct {
		name         string
		credentials  map[string]string // demanded by the proxy
		scheme       string
		user, passwd string
		host         string // target host; the echo server's port is added
		lookup       map[string]string
		wantResolved []string // names the proxy resolved
		wantDest     string   // the destination the proxy received
	}{
		{
			name:     "socks5 without authentication",
			scheme:   "socks5",
			host:     "127.0.0.1",
			wantDest: "127.0.0.1",
		},
		{
			name:        "socks5 with username and password",
			credentials: map[string]string{"alice": "s3cret"},
			scheme:      "socks5",
			user:        "alice",
			passwd:      "s3cret",
			host:        "127.0.0.1",
			wantDest:    "127.0.0.1",
		},
		{
			name:     "socks5 resolves the name here",
			scheme:   "socks5",
			host:     "echo.siostream.test",
			lookup:   map[string]string{"echo.siostream.test": "127.0.0.1"},
			wantDest: "127.0.0.1",
		},
		{
			name:         "socks5h lets the proxy resolve the name",
			scheme:       "socks5h",
			host:         "echo.siostream.test",
			wantResolved: []string{"echo.siostream.test"},
			wantDest:     "echo.siostream.test",
		},
		{
			name:         "socks5h with username and password",
			credentials:  map[string]string{"alice": "s3cret"},
			scheme:       "socks5h",
			user:         "alice",
			passwd:       "s3cret",
			host:         "echo.siostream.test",
			wantResolved: []string{"echo.siostream.test"},
			wantDest:     "echo.siostream.test",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			echo := tunneltest.NewEcho(t)
			sp := startSOCKS(t, tt.credentials)
			d := proxy.Dialer{LookupIP: noLookup(t)}
			if tt.lookup != nil {
				d.LookupIP = func(_ context.Context, host string) ([]netip.Addr, error) {
					return []netip.Addr{netip.MustParseAddr(tt.lookup[host])}, nil
				}
			}
			c := mustDial(t, sp.as(tt.scheme, tt.user, tt.passwd), net.JoinHostPort(tt.host, echo.Port()), d)
			tunneltest.RoundTrip(t, c)
			resolved, dests := sp.seen()
			if !slices.Equal(resolved, tt.wantResolved) {
				t.Errorf("proxy resolved %q, want %q", resolved, tt.wantResolved)
			}
			if !slices.Equal(dests, []string{tt.wantDest}) {
				t.Errorf("proxy was asked for %q, want [%s]", dests, tt.wantDest)
			}
		})
	}
}

func TestSOCKSProxyServerSpeaksFirst(t *testing.T) {
	greeter := newGreeter(t)
	sp := startSOCKS(t, nil)
	c := mustDial(t, sp.as("socks5h", "", ""), net.JoinHostPort("greeter.siostream.test", greeter.Port()), proxy.Dialer{})
	tunneltest.ReadExactly(t, c, greeting)
	tunneltest.RoundTrip(t, c)
}

func TestSOCKSProxyRefuses(t *testing.T) {
	down := tunneltest.Listen(t)
	downPort := down.Addr().(*net.TCPAddr).Port
	down.Close()
	tests := []struct {
		name         string
		credentials  map[string]string
		user, passwd string
		host         string
		port         int
		wantAuth     bool
		wantReply    byte
		wantText     string
	}{
		{
			name:        "wrong password",
			credentials: map[string]string{"alice": "s3cret"},
			user:        "alice",
			passwd:      "hunter2-wrong",
			host:        "127.0.0.1",
			wantAuth:    true,
			wantText:    "username and password rejected (proxy authentication failed: check the user:password in the proxy URL)",
		},
		{
			name:        "no credentials",
			credentials: map[string]string{"alice": "s3cret"},
			host:        "127.0.0.1",
			wantAuth:    true,
			wantText:    "no acceptable authentication method (proxy authentication required: put user:password in the proxy URL)",
		},
		{
			name:      "target down",
			user:      "alice",
			passwd:    "hunter2-unused",
			host:      "127.0.0.1",
			port:      downPort,
			wantReply: 5,
			wantText:  "connection refused (SOCKS5 reply 5)",
		},
		{
			name:      "unknown name",
			host:      "nowhere.example",
			wantReply: 4,
			wantText:  "host unreachable (SOCKS5 reply 4)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := startSOCKS(t, tt.credentials)
			port := tt.port
			if port == 0 {
				port = 9
			}
			addr := net.JoinHostPort(tt.host, strconv.Itoa(port))
			_, err := dial(t, sp.as("socks5h", tt.user, tt.passwd), addr, proxy.Dialer{})
			pe := asProxyError(t, err)
			if pe.AuthRequired() != tt.wantAuth || pe.Reply != tt.wantReply || pe.Addr != addr {
				t.Errorf("auth %v, reply %d, addr %s; want %v, %d, %s", pe.AuthRequired(), pe.Reply, pe.Addr, tt.wantAuth, tt.wantReply, addr)
			}
			if !strings.HasSuffix(err.Error(), tt.wantText) {
				t.Errorf("message %q does not end %q", err, tt.wantText)
			}
			noPassword(t, err, tt.passwd)
		})
	}
}
