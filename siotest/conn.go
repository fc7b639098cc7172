package siotest

import (
	"context"

	"github.com/siostream/siostream/internal/sioserver"
)

// Conn is the server's side of one client connection (one Engine.IO
// session, with every namespace the client joins on it). Its methods are
// safe for concurrent use; each packet the client sent goes to one caller
// of Next or NextEvent.
type Conn struct {
	c *sioserver.Conn
}

// ID returns the Engine.IO session id sent in the open packet.
func (c *Conn) ID() string { return c.c.ID() }

// WaitConnect waits until the server has accepted and answered a CONNECT
// of the client to namespace ns ("" or "/" for the main one) on this
// connection, now or earlier. It returns ctx.Err() when ctx ends first
// and [ErrClosed] when the connection ends first.
func (c *Conn) WaitConnect(ctx context.Context, ns string) error {
	return opErr(c.c.WaitConnect(ctx, ns))
}

// Emit sends event with args to namespace ns ("" or "/" for the main
// one). Args are encoded with encoding/json, except that a []byte
// anywhere in them, at any depth, goes as a binary attachment. Emit does
// not check that the client joined ns (see [Conn.WaitConnect]). With
// [Options.Recovery] on, a recovery offset is added as last argument.
// Emit returns once the packet is written, which waits while the client
// does not read, or [ErrClosed] when the connection has ended.
func (c *Conn) Emit(ns, event string, args ...any) error {
	return opErr(c.c.Emit(ns, event, args...))
}

// EmitWithAck sends event with args like [Conn.Emit], asking the client
// for an acknowledgement, and waits for it: it returns the client's ACK
// (or BINARY_ACK), whose Args are the reply's arguments. The ACK is also
// returned by Next. It returns ctx.Err() when ctx ends first and
// [ErrClosed] when the connection ends first. It must not be called from
// [Options.Handler], which runs on the goroutine that reads the reply.
func (c *Conn) EmitWithAck(ctx context.Context, ns, event string, args ...any) (*Packet, error) {
	r, err := c.c.EmitWithAckReply(ctx, ns, event, args...)
	if err != nil {
		return nil, opErr(err)
	}
	return newPacket(c.c, r), nil
}

// Next returns the next packet the client sent on this connection, in
// the order they came: CONNECT (refused or not), EVENT, ACK, DISCONNECT,
// and their binary variants. Packets wait for Next from the moment the
// connection opens, up to 4096 of them; past that the oldest are
// discarded, so that the server never stops reading for a test that does
// not call Next. Next returns ctx.Err() when ctx ends first, and
// [ErrClosed] once the connection has ended and its last packet was
// returned.
func (c *Conn) Next(ctx context.Context) (*Packet, error) {
	select {
	case r, ok := <-c.c.Received():
		if !ok {
			return nil, ErrClosed
		}
		return newPacket(c.c, r), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// NextEvent is [Conn.Next] skipping every packet but EVENT and
// BINARY_EVENT: the skipped ones are gone for Next too.
func (c *Conn) NextEvent(ctx context.Context) (*Packet, error) {
	for {
		p, err := c.Next(ctx)
		if err != nil || p.Type == PacketEvent || p.Type == PacketBinaryEvent {
			return p, err
		}
	}
}

// Disconnect sends the server's DISCONNECT for namespace ns and forgets
// the client's membership of ns, recovery session included; the
// connection and its other namespaces stay. siostream does not reconnect
// after it unless told to.
func (c *Conn) Disconnect(ns string) error {
	return opErr(c.c.Disconnect(ns))
}

// Drop ends the connection abruptly, as a broken network path would: the
// TCP connection is reset, with no WebSocket close frame. A siostream
// client then reconnects. The connection's reason is [ErrDropped].
func (c *Conn) Drop() { c.c.Drop() }

// SetPings with false makes the server go silent: it stops pinging and
// stops waiting for a pending pong, so that the client declares the
// connection dead after PingInterval + PingTimeout. With true the pings
// resume, the next one PingInterval later. Pings are on at first.
func (c *Conn) SetPings(on bool) { c.c.SetPings(on) }

// SetReading with false makes the server stop reading the client, after
// the message it is reading, so that the client's writes back up once
// the TCP buffers are full; a missing pong does not end the connection
// meanwhile. With true reading resumes. Reading is on at first.
func (c *Conn) SetReading(on bool) { c.c.SetReadPaused(!on) }

// Done returns a channel that is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.c.Closed() }

// Err returns nil while the connection is open, then why it ended:
// [ErrClientClosed], [ErrDropped], [ErrServerClosed], [ErrPingTimeout],
// [ErrConnectTimeout], [ErrProtocol] or [ErrTooLarge], possibly wrapped
// with detail, or an error wrapping [ErrConnLost] and the I/O error.
// Match it with errors.Is.
func (c *Conn) Err() error { return endErr(c.c.Err()) }
