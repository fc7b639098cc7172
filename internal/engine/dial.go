package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/siostream/siostream/frames"
)

// Defaults for the zero fields of Config.
const (
	// MinReadLimit is the read limit when Config.ReadLimit is zero and the
	// server advertises a smaller maxPayload (or none).
	MinReadLimit = 1 << 20
	// DefaultWriteTimeout bounds a write that makes no progress.
	DefaultWriteTimeout = 10 * time.Second
)

// Config says how to dial a connection.
type Config struct {
	// URL is the ws:// or wss:// endpoint, with its EIO=4 and
	// transport=websocket query.
	URL *url.URL
	// Header is sent with the WebSocket upgrade request.
	Header http.Header
	// TLSConfig for wss://; nil means the system roots.
	TLSConfig *tls.Config
	// NetDial opens the TCP connection (or a tunnel to the server through
	// a proxy); nil means net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Compression offers permessage-deflate.
	Compression bool
	// ReadLimit is the largest message accepted. Zero means the server's
	// maxPayload, and at least MinReadLimit.
	ReadLimit int64
	// WriteTimeout bounds a write that makes no progress; when it expires
	// the connection is dead. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// OnHeader, when set, sees every header of the server's upgrade
	// response (for cookies). The slices are valid only during the call.
	OnHeader func(key, value []byte)
}

// hostPort is the address to dial for u, with the scheme's default port.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "wss" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// Step names a stage of establishing a connection.
type Step string

// Steps, in order.
const (
	StepTCP     Step = "TCP connect"
	StepTLS     Step = "TLS handshake"
	StepUpgrade Step = "WebSocket upgrade"
	StepOpen    Step = "Engine.IO open"
)

// DialError says at which step a dial failed.
type DialError struct {
	Step Step
	// URL is the endpoint tried, without credentials or query.
	URL string
	// Status is the HTTP status of a refused upgrade, else 0.
	Status int
	// NotWebSocket: the upgrade got an answer that is no WebSocket
	// handshake (not HTTP/1.1, no Upgrade header, a wrong accept key).
	NotWebSocket bool
	Err          error
}

func (e *DialError) Error() string {
	return fmt.Sprintf("%s to %s: %v", e.Step, e.URL, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// Redact returns u as text without user info, query or fragment, which
// may carry credentials.
func Redact(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = nil, "", false, "", ""
	return v.String()
}

// Dial connects, upgrades to WebSocket and reads the server's open packet.
// ctx bounds all of it; when ctx ends, Dial returns at once with an error
// wrapping ctx.Err().
func Dial(ctx context.Context, cfg *Config) (*Conn, error) {
	step := StepTCP
	fail := func(err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return &DialError{Step: step, URL: Redact(cfg.URL), Err: err}
	}
	var status int
	d := ws.Dialer{
		Extensions: extensions(cfg.Compression),
		NetDial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			nc, err := tcpDial(ctx, cfg, network, hostPort(cfg.URL))
			if err != nil {
				return nil, err
			}
			if cfg.URL.Scheme != "wss" {
				step = StepUpgrade
				return nc, nil
			}
			step = StepTLS
			if nc, err = tlsHandshake(ctx, nc, cfg); err == nil {
				step = StepUpgrade
			}
			return nc, err
		},
		TLSClient: func(nc net.Conn, _ string) net.Conn { return nc }, // done in NetDial
		OnStatusError: func(code int, _ []byte, _ io.Reader) {
			status = code // the body is not read: the server may keep the connection open
		},
	}
	header, host := splitHost(cfg.Header)
	if strings.ContainsAny(host, "\r\n\x00") {
		return nil, &DialError{Step: StepUpgrade, URL: Redact(cfg.URL), Err: errBadHost}
	}
	d.Host = host
	if len(header) > 0 {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	if cfg.OnHeader != nil {
		d.OnHeader = func(k, v []byte) error { cfg.OnHeader(k, v); return nil }
	}
	nc, br, hs, err := d.Dial(ctx, cfg.URL.String())
	if err != nil {
		if status != 0 {
			return nil, &DialError{Step: StepUpgrade, URL: Redact(cfg.URL), Status: status, Err: err}
		}
		if step == StepUpgrade && notWebSocket(err) {
			return nil, &DialError{Step: StepUpgrade, URL: Redact(cfg.URL), NotWebSocket: true, Err: err}
		}
		return nil, fail(err)
	}
	step = StepOpen
	c, err := newConn(nc, br, hs, cfg)
	if err == nil {
		err = c.readOpen(ctx)
	}
	if err != nil {
		nc.Close()
		if c != nil {
			c.w.stop(err)
		}
		return nil, fail(err)
	}
	return c, nil
}

// errBadHost refuses a Host header value that would end its line early.
var errBadHost = errors.New("the Host header holds a control character")

// splitHost returns h without its Host header, and that header's first
// value. gobwas/ws writes the request's Host line itself, from
// Dialer.Host or else the URL, and would write a Host in the extra
// header as a second line, which servers reject (Go's net/http) or
// ignore (Node.js keeps the first). h is not changed.
func splitHost(h http.Header) (http.Header, string) {
	var host string
	var rest http.Header
	for k, v := range h {
		if !strings.EqualFold(k, "Host") {
			continue
		}
		if rest == nil {
			rest = h.Clone()
		}
		delete(rest, k)
		if host == "" && len(v) > 0 {
			host = v[0]
		}
	}
	if rest == nil {
		return h, ""
	}
	return rest, host
}

// notWebSocket reports an answer to the upgrade that is no WebSocket
// handshake at all.
func notWebSocket(err error) bool {
	for _, e := range []error{ws.ErrHandshakeBadProtocol, ws.ErrHandshakeBadUpgrade, ws.ErrHandshakeBadConnection,
		ws.ErrHandshakeBadSecAccept, ws.ErrMalformedResponse, ws.ErrHandshakeBadStatus} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func tcpDial(ctx context.Context, cfg *Config, network, addr string) (net.Conn, error) {
	if cfg.NetDial != nil {
		return cfg.NetDial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func tlsHandshake(ctx context.Context, nc net.Conn, cfg *Config) (net.Conn, error) {
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		tc = tc.Clone()
		tc.ServerName = cfg.URL.Hostname()
	}
	conn := tls.Client(nc, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return conn, nil
}

func newConn(nc net.Conn, br *bufio.Reader, hs ws.Handshake, cfg *Config) (*Conn, error) {
	fl, err := negotiated(hs)
	if err != nil {
		return nil, protoErr("websocket", err)
	}
	timeout := cfg.WriteTimeout
	if timeout <= 0 {
		timeout = DefaultWriteTimeout
	}
	c := &Conn{nc: nc, limit: cfg.ReadLimit}
	c.w = newWriter(nc, timeout, c.Abort)
	c.br = newBufReader(socket{c}, br)
	if c.limit <= 0 {
		c.limit, c.followServer = MinReadLimit, true
	}
	if fl != nil {
		c.inf = &inflater{keepState: !fl.ServerNoContextTakeover}
		c.w.deflate = true
	}
	return c, nil
}

// readOpen reads the open packet, bounded by ctx, and sets the heartbeat
// deadline and the read limit from it.
func (c *Conn) readOpen(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { c.nc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	op, p, err := c.readMessage()
	if err != nil {
		return err
	}
	if op != ws.OpText {
		return protoErr("engine.io", errNotOpen)
	}
	t, payload, err := frames.ParseEngine(p)
	if err != nil || t != frames.EngineOpen {
		return protoErr("engine.io", errNotOpen)
	}
	if c.open, err = frames.ParseOpen(payload); err != nil {
		return protoErr("engine.io", err)
	}
	c.deadline = c.open.Deadline() // at most 48 h: ParseOpen bounds both

	if c.followServer && c.open.MaxPayload > c.limit {
		c.limit = c.open.MaxPayload
	}
	c.release()
	if !stop() {
		return ctx.Err()
	}
	c.nc.SetReadDeadline(time.Now().Add(c.deadline))
	return nil
}
