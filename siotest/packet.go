package siotest

import (
	"encoding/json"
	"fmt"

	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/sioserver"
)

// PacketType is the type of a Socket.IO packet, numbered as in the
// protocol. It is a plain integer, safe to copy and compare anywhere.
type PacketType uint8

// Packet types.
const (
	PacketConnect      PacketType = iota // CONNECT: the client joins Namespace with Auth
	PacketDisconnect                     // DISCONNECT: the client leaves Namespace
	PacketEvent                          // EVENT: Name and Args are set
	PacketAck                            // ACK: Args is the reply to event AckID
	PacketConnectError                   // CONNECT_ERROR: sent by servers only
	PacketBinaryEvent                    // BINARY_EVENT: an EVENT with Attachments
	PacketBinaryAck                      // BINARY_ACK: an ACK with Attachments
)

// String returns the protocol's name of t, such as "BINARY_EVENT".
func (t PacketType) String() string { return frames.PacketType(t).String() }

// Packet is a Socket.IO packet that the client sent. The server never
// changes it once handed over; the Packet passed to [Options.Handler] and
// the one [Conn.Next] returns for the same packet share Args and
// Attachments, so treat those as read-only. Its methods may be called from
// any goroutine.
type Packet struct {
	// Namespace is the packet's namespace, "/" for the main one.
	Namespace string
	// Type is the packet type.
	Type PacketType
	// Name is the event name of an EVENT or BINARY_EVENT, else empty.
	Name string
	// Args is a JSON array: the arguments after the name for an event,
	// the reply's arguments for an ACK, nil for other packets. Binary
	// attachments appear in it as base64 strings where their placeholders
	// stood, so that encoding/json decodes them into []byte.
	Args json.RawMessage
	// Attachments are the binary attachments of a BINARY_EVENT or
	// BINARY_ACK, in placeholder order.
	Attachments [][]byte
	// Auth is the payload of a CONNECT, nil when the client sent none.
	Auth json.RawMessage
	// AckID is, for an event, the id of the acknowledgement the client
	// waits for (see [Packet.Ack]); for an ACK, the id of the server's
	// event it answers. It is valid when HasAckID is true.
	AckID uint64
	// HasAckID reports whether the packet carries an ack id.
	HasAckID bool

	conn *sioserver.Conn
	raw  *sioserver.Received
}

func newPacket(c *sioserver.Conn, r *sioserver.Received) *Packet {
	p := &Packet{
		Namespace:   r.Namespace,
		Type:        PacketType(r.Type),
		Name:        r.Name,
		Args:        r.Args,
		Attachments: r.Attachments,
		Auth:        r.Auth,
		AckID:       r.ID,
		HasAckID:    r.HasID,
		conn:        c,
		raw:         r,
	}
	if len(p.Args) == 0 {
		p.Args = nil
	}
	return p
}

// isEvent reports whether p is an EVENT or BINARY_EVENT.
func (p *Packet) isEvent() bool {
	return p.Type == PacketEvent || p.Type == PacketBinaryEvent
}

// Decode decodes the arguments in Args, in order, into the values that v
// points to, with encoding/json. A nil target skips its argument; extra
// arguments are ignored and missing ones leave their targets alone.
func (p *Packet) Decode(v ...any) error {
	if len(p.Args) == 0 {
		return nil
	}
	var args []json.RawMessage
	if err := json.Unmarshal(p.Args, &args); err != nil {
		return fmt.Errorf("siotest: decode args: %w", err)
	}
	for i, target := range v {
		if i >= len(args) {
			break
		}
		if target == nil {
			continue
		}
		if err := json.Unmarshal(args[i], target); err != nil {
			return fmt.Errorf("siotest: decode arg %d: %w", i, err)
		}
	}
	return nil
}

// Ack answers the client's event with args, encoded as for [Conn.Emit]
// ([]byte values as binary attachments). It returns [ErrNoAck] when p is
// not an event that asks for an acknowledgement, and [ErrClosed] when its
// connection has ended. Ack does not stop a second answer to the same
// event: [DefaultHandler] answers every event that asks, so a test that
// answers itself sets [Options.Handler].
func (p *Packet) Ack(args ...any) error {
	if p.conn == nil || !p.isEvent() || !p.HasAckID {
		return ErrNoAck
	}
	return opErr(p.conn.Ack(p.Namespace, p.AckID, args...))
}
