package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// Dialer says how Dial reaches a proxy. The zero value works: each field
// says what its zero means. Dial only reads the value; the caller may reuse
// it, from any number of goroutines.
type Dialer struct {
	// NetDial opens the TCP connection to the proxy. Nil means a
	// net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is for https:// proxies. Nil means the system roots and
	// full verification. Dial uses a copy whose ServerName, when empty, is
	// the proxy's host and whose NextProtos is "http/1.1".
	TLSConfig *tls.Config
	// Header is added to the CONNECT request of http:// and https://
	// proxies. A Proxy-Authorization in it gives way to the proxy URL's
	// user info, as in net/http. SOCKS5 proxies ignore it.
	Header http.Header
	// LookupIP resolves the target's host name for socks5:// proxies.
	// Dial sends the proxy the first address. Nil means
	// net.DefaultResolver.LookupNetIP with network "ip".
	LookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Dial returns a connection to addr (host:port) tunnelled through the
// proxy at proxyURL, whose scheme is http, https, socks5 or socks5h. A nil
// proxyURL means no proxy: Dial dials addr directly with d.NetDial.
//
// ctx bounds the dial and the proxy's handshake; see the package doc. A
// refusal by the proxy is an [*Error]. The returned connection reads first
// any bytes the proxy sent after its answer; its Read must not be called
// from more than one goroutine at a time.
func Dial(ctx context.Context, proxyURL *url.URL, addr string, d Dialer) (net.Conn, error) {
	dial := d.NetDial
	if dial == nil {
		var nd net.Dialer
		dial = nd.DialContext
	}
	if proxyURL == nil {
		return dial(ctx, "tcp", addr)
	}
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(proxyURL.Scheme)
	var target socksAddr
	switch scheme {
	case "http", "https":
	case "socks5":
		if target, err = d.resolve(ctx, host, port); err != nil {
			return nil, err
		}
	case "socks5h":
		target = nameTarget(host, port)
	default:
		return nil, fmt.Errorf("proxy: unsupported proxy scheme %q (want http, https, socks5 or socks5h)", proxyURL.Scheme)
	}
	if proxyURL.Hostname() == "" {
		return nil, fmt.Errorf("proxy: proxy URL %s has no host", redact(proxyURL))
	}
	c, err := dial(ctx, "tcp", proxyAddr(proxyURL, scheme))
	if err != nil {
		return nil, fmt.Errorf("proxy: dial %s: %w", redact(proxyURL), err)
	}
	return handshake(ctx, c, proxyURL, func() (net.Conn, error) {
		switch scheme {
		case "http":
			return connectHTTP(c, proxyURL, addr, d.Header)
		case "https":
			tc := tls.Client(c, d.tlsConfig(proxyURL))
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, fmt.Errorf("proxy: TLS handshake with %s: %w", redact(proxyURL), err)
			}
			return connectHTTP(tc, proxyURL, addr, d.Header)
		}
		return c, connectSOCKS(c, proxyURL, target)
	})
}

// handshake runs fn, the proxy's handshake on c, bounded by ctx: c carries
// ctx's deadline while fn runs and is closed if ctx ends first.
func handshake(ctx context.Context, c net.Conn, proxyURL *url.URL, fn func() (net.Conn, error)) (net.Conn, error) {
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	tc, err := fn()
	if !stop() || (err != nil && hasDeadline && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl)) {
		// ctx ended first: report that rather than what the closed or
		// timed-out connection said.
		c.Close()
		return nil, fmt.Errorf("proxy: handshake with %s: %w", redact(proxyURL), ctxErr(ctx))
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return tc, nil
}

// ctxErr is ctx's error, or DeadlineExceeded when the connection's copy of
// ctx's deadline fired a moment before ctx's own timer.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

func (d *Dialer) tlsConfig(proxyURL *url.URL) *tls.Config {
	cfg := &tls.Config{}
	if d.TLSConfig != nil {
		cfg = d.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = proxyURL.Hostname()
	}
	// The CONNECT exchange is HTTP/1.1; never let ALPN pick h2.
	cfg.NextProtos = []string{"http/1.1"}
	return cfg
}

// resolve looks host up for a socks5:// proxy, which is sent the first
// address.
func (d *Dialer) resolve(ctx context.Context, host string, port uint16) (socksAddr, error) {
	if to := nameTarget(host, port); to.ip.IsValid() {
		return to, nil
	}
	lookup := d.LookupIP
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ips, err := lookup(ctx, host)
	if err != nil {
		return socksAddr{}, fmt.Errorf("proxy: resolve %s for a socks5 proxy: %w", host, err)
	}
	if len(ips) == 0 {
		return socksAddr{}, fmt.Errorf("proxy: resolve %s for a socks5 proxy: no address", host)
	}
	return socksAddr{ip: ips[0].Unmap(), port: port}, nil
}

// splitAddr splits the target's host:port; the port must be a number.
func splitAddr(addr string) (string, uint16, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("proxy: target address: %w", err)
	}
	port, ok := parsePort(p)
	if host == "" || !ok {
		return "", 0, fmt.Errorf("proxy: target address %q is not host:port", addr)
	}
	return host, port, nil
}

func parsePort(s string) (uint16, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return uint16(n), n <= 0xffff
}

// proxyAddr is the proxy's host:port, with the scheme's default port.
func proxyAddr(u *url.URL, scheme string) string {
	port := u.Port()
	switch {
	case port != "":
	case scheme == "http":
		port = "80"
	case scheme == "https":
		port = "443"
	default:
		port = "1080"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// redact returns u as text for errors and logs: the password masked as
// url.Redacted does, and a user name with no password masked too, since
// such a name is often the credential itself (an API key).
func redact(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	if _, ok := u.User.Password(); ok {
		return u.Redacted()
	}
	v := *u
	v.User = url.User("xxxxx")
	return v.String()
}
