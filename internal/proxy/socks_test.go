package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/siostream/siostream/internal/proxy/tunneltest"
)

// step is one exchange of a scripted SOCKS5 proxy: it reads expect, fails
// the test unless the bytes match, then writes send.
type step struct {
	expect []byte
	send   []byte
}

// scripted returns a handler that plays steps and then, if upstream is set,
// tunnels to it whatever the client asked for.
func scripted(t *testing.T, upstream string, steps ...step) func(net.Conn) {
	return func(c net.Conn) {
		for i, s := range steps {
			got := make([]byte, len(s.expect))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Errorf("step %d: read: %v", i, err)
				return
			}
			if !bytes.Equal(got, s.expect) {
				t.Errorf("step %d: proxy read % x, want % x", i, got, s.expect)
				return
			}
			if _, err := c.Write(s.send); err != nil {
				return
			}
		}
		if upstream != "" {
			splice(c, c, upstream)
		}
	}
}

// Wire pieces for the scripts.
var (
	greetNone      = []byte{5, 1, 0}
	greetBoth      = []byte{5, 2, 0, 2}
	chooseNone     = []byte{5, 0}
	choosePassword = []byte{5, 2}
	chooseRefused  = []byte{5, 0xff}
	authOK         = []byte{1, 0}
	authFailed     = []byte{1, 1}
	replyOK        = []byte{5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90}
)

// credentials is the RFC 1929 request for user and password.
func credentials(user, password string) []byte {
	b := append([]byte{1, byte(len(user))}, user...)
	return append(append(b, byte(len(password))), password...)
}

// connectIP is the CONNECT request for ip:port.
func connectIP(ip string, port uint16) []byte {
	a := netip.MustParseAddr(ip)
	atyp := byte(atypIPv4)
	if a.Is6() {
		atyp = atypIPv6
	}
	b := append([]byte{5, 1, 0, atyp}, a.AsSlice()...)
	return binary.BigEndian.AppendUint16(b, port)
}

// connectName is the CONNECT request for name:port.
func connectName(name string, port uint16) []byte {
	b := append([]byte{5, 1, 0, 3, byte(len(name))}, name...)
	return binary.BigEndian.AppendUint16(b, port)
}

func reply(code byte) []byte {
	return []byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0}
}

func portOf(t *testing.T, addr string) uint16 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(n)
}

func TestSOCKSExchanges(t *testing.T) {
	echo := tunneltest.NewEcho(t)
	port := portOf(t, echo.Addr())
	nameAt := func(host string) string { return net.JoinHostPort(host, strconv.Itoa(int(port))) }
	tests := []struct {
		name   string
		scheme string
		user   *url.Userinfo
		target string
		steps  []step
		early  string // bytes the proxy sends with its reply
	}{
		{
			name:   "socks5h with an IP address",
			scheme: "socks5h",
			target: echo.Addr(),
			steps:  []step{{greetNone, chooseNone}, {connectIP("127.0.0.1", port), replyOK}},
		},
		{
			name:   "socks5h sends the name",
			scheme: "socks5h",
			target: nameAt("echo.siostream.test"),
			steps:  []step{{greetNone, chooseNone}, {connectName("echo.siostream.test", port), replyOK}},
		},
		{
			name:   "socks5 sends an IPv6 literal as an address",
			scheme: "socks5",
			target: nameAt("::1"),
			steps:  []step{{greetNone, chooseNone}, {connectIP("::1", port), replyOK}},
		},
		{
			name:   "username and password",
			scheme: "socks5h",
			user:   url.UserPassword("alice", "s3cret:/@"),
			target: echo.Addr(),
			steps: []step{
				{greetBoth, choosePassword},
				{credentials("alice", "s3cret:/@"), authOK},
				{connectIP("127.0.0.1", port), replyOK},
			},
		},
		{
			name:   "credentials offered, none wanted",
			scheme: "socks5h",
			user:   url.User("alice"),
			target: echo.Addr(),
			steps:  []step{{greetBoth, chooseNone}, {connectIP("127.0.0.1", port), replyOK}},
		},
		{
			name:   "empty password",
			scheme: "socks5h",
			user:   url.User("alice"),
			target: echo.Addr(),
			steps: []step{
				{greetBoth, choosePassword},
				{credentials("alice", ""), authOK},
				{connectIP("127.0.0.1", port), replyOK},
			},
		},
		{
			name:   "bound address is a name, bytes follow the reply",
			scheme: "socks5h",
			target: echo.Addr(),
			steps: []step{
				{greetNone, chooseNone},
				{connectIP("127.0.0.1", port), append([]byte{5, 0, 0, 3, 9, 'p', 'r', 'o', 'x', 'y', '.', 't', 's', 't', 0, 80}, "EARLY"...)},
			},
			early: "EARLY",
		},
		{
			name:   "bound address is IPv6",
			scheme: "socks5h",
			target: echo.Addr(),
			steps: []step{
				{greetNone, chooseNone},
				{connectIP("127.0.0.1", port), append(append([]byte{5, 0, 0, 4}, make([]byte, 16)...), 0, 80)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tunneltest.NewServer(t, scripted(t, echo.Addr(), tt.steps...))
			u := p.URL(tt.scheme)
			u.User = tt.user
			c := mustDial(t, u, tt.target, Dialer{})
			tunneltest.ReadExactly(t, c, tt.early)
			tunneltest.RoundTrip(t, c)
		})
	}
}

// TestSOCKS5ResolvesHere checks that socks5:// resolves the name itself and
// sends the proxy the first address.
func TestSOCKS5ResolvesHere(t *testing.T) {
	echo := tunneltest.NewEcho(t)
	port := portOf(t, echo.Addr())
	p := tunneltest.NewServer(t, scripted(t, echo.Addr(), step{greetNone, chooseNone}, step{connectIP("127.0.0.1", port), replyOK}))
	var asked []string
	d := Dialer{LookupIP: func(ctx context.Context, host string) ([]netip.Addr, error) {
		asked = append(asked, host)
		return []netip.Addr{netip.MustParseAddr("::ffff:127.0.0.1"), netip.MustParseAddr("::1")}, nil
	}}
	c := mustDial(t, p.URL("socks5"), net.JoinHostPort("echo.siostream.test", strconv.Itoa(int(port))), d)
	tunneltest.RoundTrip(t, c)
	if len(asked) != 1 || asked[0] != "echo.siostream.test" {
		t.Errorf("LookupIP asked for %q, want [echo.siostream.test]", asked)
	}
}

func TestSOCKSLookupFails(t *testing.T) {
	tests := []struct {
		name   string
		lookup func(context.Context, string) ([]netip.Addr, error)
		want   string
	}{
		{
			name:   "error",
			lookup: func(context.Context, string) ([]netip.Addr, error) { return nil, errors.New("no such host") },
			want:   "resolve nowhere.test for a socks5 proxy: no such host",
		},
		{
			name:   "no address",
			lookup: func(context.Context, string) ([]netip.Addr, error) { return nil, nil },
			want:   "resolve nowhere.test for a socks5 proxy: no address",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dialed := false
			d := Dialer{
				LookupIP: tt.lookup,
				NetDial: func(context.Context, string, string) (net.Conn, error) {
					dialed = true
					return nil, errors.New("dialed")
				},
			}
			_, err := dial(t, &url.URL{Scheme: "socks5", Host: "127.0.0.1:1080"}, "nowhere.test:443", d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
			if dialed {
				t.Error("the proxy was dialled although the name did not resolve")
			}
		})
	}
}

func TestSOCKSRefused(t *testing.T) {
	tests := []struct {
		name      string
		user      *url.Userinfo
		steps     []step
		wantReply byte
		wantAuth  bool
		wantText  string
	}{
		{
			name:     "credentials required",
			steps:    []step{{greetNone, chooseRefused}},
			wantAuth: true,
			wantText: "no acceptable authentication method (proxy authentication required: put user:password in the proxy URL)",
		},
		{
			name:     "no method in common",
			user:     url.UserPassword("alice", "hunter2-secret"),
			steps:    []step{{greetBoth, chooseRefused}},
			wantText: "no acceptable authentication method",
		},
		{
			name:     "wrong password",
			user:     url.UserPassword("alice", "hunter2-secret"),
			steps:    []step{{greetBoth, choosePassword}, {credentials("alice", "hunter2-secret"), authFailed}},
			wantAuth: true,
			wantText: "username and password rejected (proxy authentication failed: check the user:password in the proxy URL)",
		},
		{
			name:      "connection refused",
			user:      url.UserPassword("alice", "hunter2-secret"),
			steps:     []step{{greetBoth, choosePassword}, {credentials("alice", "hunter2-secret"), authOK}, {connectIP("127.0.0.1", 9), reply(5)}},
			wantReply: 5,
			wantText:  "connection refused (SOCKS5 reply 5)",
		},
		{
			name:      "ruleset",
			steps:     []step{{greetNone, chooseNone}, {connectIP("127.0.0.1", 9), reply(2)}},
			wantReply: 2,
			wantText:  "connection not allowed by ruleset (SOCKS5 reply 2)",
		},
		{
			name:      "unknown code",
			steps:     []step{{greetNone, chooseNone}, {connectIP("127.0.0.1", 9), reply(0x42)}},
			wantReply: 0x42,
			wantText:  "SOCKS5 reply 66",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tunneltest.NewServer(t, scripted(t, "", tt.steps...))
			u := p.URL("socks5h")
			u.User = tt.user
			_, err := dial(t, u, "127.0.0.1:9", Dialer{})
			pe := asProxyError(t, err)
			if pe.Reply != tt.wantReply || pe.AuthRequired() != tt.wantAuth || pe.StatusCode != 0 {
				t.Errorf("got reply %d auth %v code %d, want %d %v 0", pe.Reply, pe.AuthRequired(), pe.StatusCode, tt.wantReply, tt.wantAuth)
			}
			if pe.Addr != "127.0.0.1:9" || pe.Proxy != u.Redacted() {
				t.Errorf("got Addr %q Proxy %q", pe.Addr, pe.Proxy)
			}
			if msg := err.Error(); !strings.HasSuffix(msg, tt.wantText) || strings.Contains(msg, "hunter2") {
				t.Errorf("message %q: want it to end %q and not show the password", msg, tt.wantText)
			}
		})
	}
}

func TestSOCKSBadAnswers(t *testing.T) {
	tests := []struct {
		name  string
		user  *url.Userinfo
		host  string
		steps []step
		want  string
	}{
		{
			name:  "SOCKS4 answer",
			steps: []step{{greetNone, []byte{0, 0x5a}}},
			want:  "proxy answered with version 0, not 5",
		},
		{
			name:  "method not offered",
			steps: []step{{greetNone, choosePassword}},
			want:  "proxy chose authentication method 2, which was not offered",
		},
		{
			name:  "authentication answer version",
			user:  url.UserPassword("alice", "hunter2-secret"),
			steps: []step{{greetBoth, choosePassword}, {credentials("alice", "hunter2-secret"), []byte{5, 0}}},
			want:  "authentication answer has version 5, not 1",
		},
		{
			name:  "reply version",
			steps: []step{{greetNone, chooseNone}, {connectIP("127.0.0.1", 9), []byte{4, 0, 0, 1, 0, 0, 0, 0, 0, 0}}},
			want:  "reply has version 4, not 5",
		},
		{
			name:  "reply address type",
			steps: []step{{greetNone, chooseNone}, {connectIP("127.0.0.1", 9), []byte{5, 0, 0, 7, 0, 0, 0, 0, 0, 0}}},
			want:  "reply has address type 7",
		},
		{
			name:  "closed during reply",
			steps: []step{{greetNone, chooseNone}, {connectIP("127.0.0.1", 9), []byte{5, 0, 0, 1, 127}}},
			want:  "read reply: unexpected EOF",
		},
		{
			name:  "username too long",
			user:  url.UserPassword(strings.Repeat("u", 256), "hunter2-secret"),
			steps: []step{{greetBoth, choosePassword}},
			want:  "username must be 1 to 255 bytes and password at most 255",
		},
		{
			name:  "empty username",
			user:  url.UserPassword("", "hunter2-secret"),
			steps: []step{{greetBoth, choosePassword}},
			want:  "username must be 1 to 255 bytes and password at most 255",
		},
		{
			name: "name too long",
			host: strings.Repeat("a", 256),
			want: "is not 1 to 255 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tunneltest.NewServer(t, scripted(t, "", tt.steps...))
			u := p.URL("socks5h")
			u.User = tt.user
			host := tt.host
			if host == "" {
				host = "127.0.0.1"
			}
			_, err := dial(t, u, net.JoinHostPort(host, "9"), Dialer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("message %q shows the password", err)
			}
			var pe *Error
			if errors.As(err, &pe) {
				t.Errorf("a protocol error is a *proxy.Error: %v", err)
			}
		})
	}
}
