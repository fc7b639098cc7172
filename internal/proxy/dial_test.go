package proxy

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/siostream/siostream/internal/proxy/tunneltest"
)

func TestDialDirect(t *testing.T) {
	echo := tunneltest.NewEcho(t)
	var dialed []string
	d := Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, network+" "+addr)
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}}
	c := mustDial(t, nil, echo.Addr(), d)
	tunneltest.RoundTrip(t, c)
	if len(dialed) != 1 || dialed[0] != "tcp "+echo.Addr() {
		t.Errorf("NetDial calls %q, want one to %s", dialed, echo.Addr())
	}
}

func TestDialProxyAddress(t *testing.T) {
	tests := []struct {
		proxy string
		want  string
	}{
		{"http://proxy.test", "proxy.test:80"},
		{"https://proxy.test", "proxy.test:443"},
		{"socks5://proxy.test", "proxy.test:1080"},
		{"SOCKS5H://proxy.test", "proxy.test:1080"},
		{"http://proxy.test:3128", "proxy.test:3128"},
		{"https://alice:hunter2-secret@[::1]", "[::1]:443"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.proxy)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		d := Dialer{NetDial: func(_ context.Context, _, addr string) (net.Conn, error) {
			got = addr
			return nil, errors.New("no dial in this test")
		}}
		_, err = dial(t, u, "127.0.0.1:9", d)
		if got != tt.want {
			t.Errorf("%s: dialled %q, want %q", tt.proxy, got, tt.want)
		}
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %v: want one without the password", tt.proxy, err)
		}
	}
}

func TestDialErrors(t *testing.T) {
	closed := tunneltest.Listen(t)
	closedAddr := closed.Addr().String()
	closed.Close()
	tests := []struct {
		proxy string
		addr  string
		want  string
	}{
		{"ftp://alice:hunter2-secret@proxy.test", "127.0.0.1:9", `unsupported proxy scheme "ftp" (want http, https, socks5 or socks5h)`},
		{"socks4://proxy.test", "127.0.0.1:9", `unsupported proxy scheme "socks4"`},
		{"http://alice:hunter2-secret@:3128", "127.0.0.1:9", "proxy URL http://alice:xxxxx@:3128 has no host"},
		{"http://proxy.test", "127.0.0.1", "target address"},
		{"http://proxy.test", "127.0.0.1:https", `target address "127.0.0.1:https" is not host:port`},
		{"http://proxy.test", ":443", `target address ":443" is not host:port`},
		{"http://proxy.test", "127.0.0.1:65536", "is not host:port"},
		{"http://alice:hunter2-secret@" + closedAddr, "127.0.0.1:9", "proxy: dial http://alice:xxxxx@" + closedAddr + ": "},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.proxy)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dial(t, u, tt.addr, Dialer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Dial via %s to %s: got %v, want an error saying %q without the password", u.Redacted(), tt.addr, err, tt.want)
		}
	}
}

// TestErrorHidesUserName: a proxy URL whose user name stands alone (an
// API key) shows in errors with the name masked, as a password is.
func TestErrorHidesUserName(t *testing.T) {
	ln := tunneltest.Listen(t)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: the dial fails
	u := &url.URL{Scheme: "http", User: url.User("APIKEY123"), Host: addr}
	_, err := dial(t, u, "127.0.0.1:9", Dialer{})
	if err == nil || strings.Contains(err.Error(), "APIKEY123") || !strings.Contains(err.Error(), "xxxxx@") {
		t.Errorf("Dial via a proxy with a user name alone: %v, want the name masked", err)
	}
}
