package sioserver

import (
	"context"
	"encoding/json"

	"github.com/siostream/siostream/frames"
)

// encoded is a list of arguments ready for the wire: their JSON without the
// enclosing brackets, and the binary attachments their placeholders name.
type encoded struct {
	rest []byte
	atts [][]byte
}

// encodeArgs JSON-encodes args, moving every []byte into an attachment.
func encodeArgs(args []any) (encoded, error) {
	out, atts, err := frames.ExtractBinary(args)
	if err != nil || len(out) == 0 {
		return encoded{atts: atts}, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return encoded{}, err
	}
	return encoded{rest: b[1 : len(b)-1], atts: atts}, nil
}

// Emit sends event with args to namespace ns. Args are JSON-encoded; a
// []byte anywhere in them makes it a BINARY_EVENT with attachments. Emit
// does not check that the client connected ns. With Recovery on and ns
// connected, an offset is appended and the event is logged for replay.
func (c *Conn) Emit(ns, event string, args ...any) error {
	m, err := encodeArgs(args)
	if err != nil {
		return err
	}
	return c.emitEncoded(normNS(ns), event, m, 0, false)
}

// EmitWithAck sends event with args to ns asking for an acknowledgement
// and waits for it; it returns the JSON array of the client's ACK
// arguments, binary ones as base64 strings. It returns ctx.Err() when ctx
// ends first and ErrClosed when the connection ends first.
func (c *Conn) EmitWithAck(ctx context.Context, ns, event string, args ...any) (json.RawMessage, error) {
	r, err := c.EmitWithAckReply(ctx, ns, event, args...)
	if err != nil {
		return nil, err
	}
	return r.Args, nil
}

// EmitWithAckReply is [Conn.EmitWithAck] returning the client's whole ACK
// or BINARY_ACK packet: its Args as EmitWithAck returns them, and its
// Attachments. The packet is also delivered by [Conn.Received].
func (c *Conn) EmitWithAckReply(ctx context.Context, ns, event string, args ...any) (*Received, error) {
	m, err := encodeArgs(args)
	if err != nil {
		return nil, err
	}
	key, ch := c.newAck(normNS(ns))
	defer c.dropAck(key)
	if err := c.emitEncoded(key.ns, event, m, key.id, true); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, ErrClosed
	}
}

// Ack answers the client's event id on ns with args, encoded as for Emit.
func (c *Conn) Ack(ns string, id uint64, args ...any) error {
	m, err := encodeArgs(args)
	if err != nil {
		return err
	}
	return c.writeMessage(ackFrame(normNS(ns), id, m), m.atts)
}

// Disconnect sends DISCONNECT for ns and forgets the client's connection
// to it (its recovery session too).
func (c *Conn) Disconnect(ns string) error {
	ns = normNS(ns)
	h := frames.Header{Type: frames.Disconnect, Namespace: nsField(ns)}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.endNamespace(ns)
	return c.writeLocked(frames.AppendHeader([]byte{'4'}, h), nil)
}

// emitEncoded writes an EVENT, numbered and logged when it belongs to a
// recovery session and asks for no ack.
func (c *Conn) emitEncoded(ns, event string, m encoded, id uint64, hasID bool) error {
	build := func(offset string) []byte { return eventFrame(ns, event, m, id, hasID, offset) }
	c.wmu.Lock()
	defer c.wmu.Unlock()
	sess := c.sessionOf(ns)
	if sess == nil || hasID {
		return c.writeLocked(build(""), m.atts)
	}
	return c.writeLocked(c.s.record(c, sess, build, m.atts), m.atts)
}

// eventFrame builds the Engine.IO message of an EVENT or BINARY_EVENT.
func eventFrame(ns, event string, m encoded, id uint64, hasID bool, offset string) []byte {
	h := frames.Header{Type: frames.Event, Namespace: nsField(ns), ID: id, HasID: hasID}
	if len(m.atts) > 0 {
		h.Type, h.Attachments = frames.BinaryEvent, len(m.atts)
	}
	b := frames.AppendHeader([]byte{'4'}, h)
	b = frames.AppendString(append(b, '['), event)
	if len(m.rest) > 0 {
		b = append(append(b, ','), m.rest...)
	}
	if offset != "" {
		b = frames.AppendString(append(b, ','), offset)
	}
	return append(b, ']')
}

// ackFrame builds the Engine.IO message of an ACK or BINARY_ACK.
func ackFrame(ns string, id uint64, m encoded) []byte {
	h := frames.Header{Type: frames.Ack, Namespace: nsField(ns), ID: id, HasID: true}
	if len(m.atts) > 0 {
		h.Type, h.Attachments = frames.BinaryAck, len(m.atts)
	}
	b := frames.AppendHeader([]byte{'4'}, h)
	b = append(append(b, '['), m.rest...)
	return append(b, ']')
}

// newAck registers a pending acknowledgement on ns.
func (c *Conn) newAck(ns string) (ackKey, chan *Received) {
	ch := make(chan *Received, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	key := ackKey{ns: ns, id: c.nextAck}
	c.nextAck++
	c.acks[key] = ch
	return key, ch
}

func (c *Conn) dropAck(key ackKey) {
	c.mu.Lock()
	delete(c.acks, key)
	c.mu.Unlock()
}

// normNS maps "" to the main namespace "/".
func normNS(ns string) string {
	if ns == "" {
		return "/"
	}
	return ns
}

// nsField is the namespace as written in a packet header: empty for "/".
func nsField(ns string) string {
	if ns == "/" {
		return ""
	}
	return ns
}
