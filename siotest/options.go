package siotest

import (
	"encoding/json"
	"time"

	"github.com/siostream/siostream/internal/sioserver"
)

// Options configures a [Server]. The zero value is a server with the
// reference Socket.IO server's defaults that accepts every CONNECT and
// runs [DefaultHandler]. NewServer reads it once and keeps a copy. The
// functions it holds run on the server's connection goroutines: for
// different connections they may run at the same time.
type Options struct {
	// Path is the Engine.IO endpoint; requests for other paths are refused
	// with HTTP 400. Zero means "/socket.io/", where siostream dials a URL
	// without a path.
	Path string

	// PingInterval is the time between the client's pong and the server's
	// next ping. Zero means 25 s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong answering a
	// ping before it ends the connection with [ErrPingTimeout]. A client
	// gives up on a server that sent no ping for PingInterval +
	// PingTimeout. Zero means 20 s.
	PingTimeout time.Duration
	// MaxPayload is the longest WebSocket message the server accepts. It
	// is advertised in the open packet (siostream then refuses to send a
	// longer one), and a longer message ends the connection with
	// [ErrTooLarge]. Zero means 1,000,000 bytes.
	MaxPayload int64

	// Recovery turns connection state recovery on. The CONNECT reply then
	// carries a session id (pid); every event sent without ack id gets an
	// offset as last argument and is kept for the session; and a CONNECT
	// whose auth holds the "pid" and "offset" of a session whose
	// connection was lost within the last two minutes restores it: the
	// events after that offset are sent again before the CONNECT reply.
	// Zero (false) means off, as in the reference server.
	Recovery bool

	// Authorize decides each CONNECT: it gets the namespace ("/" for the
	// main one) and the CONNECT payload (nil when the client sent none),
	// and returns nil to accept. Any error refuses with a CONNECT_ERROR:
	// a [*ConnectError] (found with errors.As) gives its message and data,
	// another error gives its Error text as the message. Nil accepts
	// every CONNECT.
	Authorize func(ns string, auth json.RawMessage) error

	// Handler is called for each event (EVENT or BINARY_EVENT) the client
	// sends to a namespace it joined, in order, on the goroutine that
	// reads the connection: it must not wait for the client, as
	// [Conn.EmitWithAck] or [Conn.Next] would. The packet is also returned
	// by [Conn.Next], like events for namespaces the client did not join,
	// which no handler sees. Nil means [DefaultHandler]; to leave events
	// unanswered, set a function that does nothing.
	Handler func(c *Conn, p *Packet)

	// Logf receives the server's debug messages; t.Logf is a good choice,
	// since none is logged after Close returns. Nil logs nothing.
	Logf func(format string, args ...any)
}

// internal returns the options of the server implementation; wrap finds
// the Conn of a connection.
func (o Options) internal(wrap func(*sioserver.Conn) *Conn) sioserver.Options {
	return sioserver.Options{
		Path:         o.Path,
		PingInterval: o.PingInterval,
		PingTimeout:  o.PingTimeout,
		MaxPayload:   o.MaxPayload,
		Recovery:     o.Recovery,
		Authorize:    authorizer(o.Authorize),
		Handler:      handler(o.Handler, wrap),
		Logf:         o.Logf,
	}
}
