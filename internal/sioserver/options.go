package sioserver

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Defaults applied by [New] to the zero fields of [Options]; they are the
// reference server's.
const (
	// DefaultPath is the default Options.Path.
	DefaultPath = "/socket.io/"
	// DefaultPingInterval is the default Options.PingInterval.
	DefaultPingInterval = 25 * time.Second
	// DefaultPingTimeout is the default Options.PingTimeout.
	DefaultPingTimeout = 20 * time.Second
	// DefaultMaxPayload is the default Options.MaxPayload.
	DefaultMaxPayload = 1_000_000
	// DefaultConnectTimeout is the default Options.ConnectTimeout.
	DefaultConnectTimeout = 45 * time.Second
)

// Options configures a [Server]. The zero value is a server with the
// reference server's defaults that accepts every namespace and runs
// [DefaultHandler]. New works on a copy: the caller's value is not changed.
type Options struct {
	// Path is the Engine.IO endpoint; requests for other paths are rejected
	// with 400. Zero means "/socket.io/".
	Path string

	// PingInterval is the time between a pong and the next ping.
	// Zero means 25 s.
	PingInterval time.Duration

	// PingTimeout is how long the server waits for the pong answering a
	// ping before it closes the connection. Zero means 20 s.
	PingTimeout time.Duration

	// MaxPayload is advertised in the open packet and enforced on every
	// WebSocket message of the client: a longer one closes the connection.
	// Zero means 1e6 bytes.
	MaxPayload int64

	// ConnectTimeout closes a connection whose client has not connected to
	// any namespace that long after the open packet. Zero means 45 s;
	// negative disables the check.
	ConnectTimeout time.Duration

	// TLSConfig, when set, makes the server speak TLS; its URL is then
	// https://.
	TLSConfig *tls.Config

	// Authorize decides a CONNECT. Nil accepts all. A non-nil *Reject is
	// sent as CONNECT_ERROR {"message":…, "data":…}, data omitted when nil.
	// It runs on the connection's reading goroutine.
	Authorize func(ns string, auth json.RawMessage) *Reject

	// Handler is called for each EVENT and BINARY_EVENT that the client
	// sends to a namespace it connected, on the connection's reading
	// goroutine, in order. Nil means [DefaultHandler].
	Handler func(c *Conn, ev *Received)

	// OnConnect, when set, is called on the connection's reading goroutine
	// after a CONNECT to ns was accepted and answered.
	OnConnect func(c *Conn, ns string)

	// Recovery enables connection state recovery: the CONNECT reply carries
	// a pid, every EVENT sent without ack id gets an offset string as last
	// argument and is kept in a bounded log of the session, and a CONNECT
	// whose auth holds the "pid" and "offset" of a session whose transport
	// was lost restores it: same sid and pid, and the events logged after
	// that offset are sent again, before the CONNECT reply, as the
	// reference server does.
	Recovery bool

	// Logf, when set, receives debug messages.
	Logf func(format string, args ...any)

	// UpgradeHeader, when set, is added to every WebSocket upgrade
	// response (a Set-Cookie, say).
	UpgradeHeader http.Header
}

// Reject is the answer of [Options.Authorize] that refuses a CONNECT.
type Reject struct {
	// Message is the "message" of the CONNECT_ERROR packet.
	Message string
	// Data is JSON-encoded as its "data"; nil omits the field.
	Data any
}

// withDefaults returns a copy of o with its zero fields set.
func (o Options) withDefaults() Options {
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if !strings.HasSuffix(o.Path, "/") {
		o.Path += "/"
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Handler == nil {
		o.Handler = DefaultHandler
	}
	return o
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}
