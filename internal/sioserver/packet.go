package sioserver

import (
	"encoding/json"
	"fmt"

	"github.com/gobwas/ws"

	"github.com/siostream/siostream/frames"
)

// reservedEvents are the event names a client must not emit.
var reservedEvents = map[string]bool{
	"connect":        true,
	"connect_error":  true,
	"disconnect":     true,
	"disconnecting":  true,
	"newListener":    true,
	"removeListener": true,
}

// Received is a Socket.IO packet sent by the client. The server does not
// keep or change it once delivered.
type Received struct {
	// Namespace is the packet's namespace, "/" for the main one.
	Namespace string
	// Type is the packet type.
	Type frames.PacketType
	// Name is the event name of an EVENT or BINARY_EVENT.
	Name string
	// Args is the JSON array of the arguments after the name for an event,
	// the whole array for an ACK; binary placeholders are replaced by the
	// base64 strings of their attachments.
	Args json.RawMessage
	// RawData is the packet's JSON payload as received, nil when absent.
	RawData json.RawMessage
	// ID is the ack id, valid when HasID.
	ID uint64
	// HasID reports whether the packet carries an ack id.
	HasID bool
	// Attachments are the binary frames that followed a BINARY_EVENT or
	// BINARY_ACK, in order.
	Attachments [][]byte
	// Auth is the payload of a CONNECT, nil when absent.
	Auth json.RawMessage
}

// pendingPacket is a binary packet waiting for its attachments.
type pendingPacket struct {
	ev   *Received
	need int
}

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// handleMessage handles one Engine.IO packet of the client.
func (c *Conn) handleMessage(op ws.OpCode, msg []byte) error {
	if op == ws.OpBinary {
		signal(c.activitySig)
		return c.attachment(msg)
	}
	if c.pending != nil {
		return protocolError("text frame while attachments are pending")
	}
	t, payload, err := frames.ParseEngine(msg)
	if err != nil {
		return protocolError("%v", err)
	}
	if t != frames.EnginePong {
		signal(c.activitySig)
	}
	return c.enginePacket(t, payload)
}

func (c *Conn) enginePacket(t frames.EngineType, payload []byte) error {
	switch t {
	case frames.EnginePong:
		c.pongs.Add(1)
		signal(c.pongSig)
	case frames.EngineMessage:
		return c.socketPacket(payload)
	case frames.EnginePing:
		return protocolError("ping from the client (invalid heartbeat direction)")
	case frames.EngineClose:
		return ErrClientClosed
	case frames.EngineOpen:
		return protocolError("open packet from the client")
	}
	return nil
}

// socketPacket parses a Socket.IO packet and dispatches it, or waits for
// its attachments.
func (c *Conn) socketPacket(payload []byte) error {
	var p frames.Packet
	if err := frames.ParsePacket(payload, &p); err != nil {
		return protocolError("%v", err)
	}
	ev := &Received{
		Namespace: nsName(p.Namespace),
		Type:      p.Type,
		ID:        p.ID,
		HasID:     p.HasID,
		RawData:   json.RawMessage(p.Data),
	}
	binary := p.Type == frames.BinaryEvent || p.Type == frames.BinaryAck
	if binary && p.Attachments > 0 {
		c.pending = &pendingPacket{ev: ev, need: p.Attachments}
		return nil
	}
	return c.dispatch(ev)
}

func nsName(b []byte) string {
	if len(b) == 0 {
		return "/"
	}
	return string(b)
}

// attachment adds a binary frame to the pending packet.
func (c *Conn) attachment(b []byte) error {
	pp := c.pending
	if pp == nil {
		return protocolError("binary frame without a binary packet")
	}
	pp.ev.Attachments = append(pp.ev.Attachments, b)
	if len(pp.ev.Attachments) < pp.need {
		return nil
	}
	c.pending = nil
	return c.dispatch(pp.ev)
}

// dispatch handles a complete packet.
func (c *Conn) dispatch(ev *Received) error {
	switch ev.Type {
	case frames.Connect:
		return c.onConnect(ev)
	case frames.Event, frames.BinaryEvent:
		return c.onEvent(ev)
	case frames.Ack, frames.BinaryAck:
		return c.onAck(ev)
	case frames.Disconnect:
		c.endNamespace(ev.Namespace)
	}
	c.push(ev)
	return nil
}

// onEvent decodes an event and runs the handler when its namespace is
// connected; events for other namespaces are only recorded.
func (c *Conn) onEvent(ev *Received) error {
	raw, rest, err := frames.SplitEvent(ev.RawData)
	if err != nil {
		return protocolError("%v", err)
	}
	name, err := eventName(raw)
	if err != nil {
		return err
	}
	ev.Name = name
	if ev.Args, err = resolveArgs(listOf(rest), ev.Attachments); err != nil {
		return err
	}
	c.push(ev)
	if c.Connected(ev.Namespace) {
		c.s.opts.Handler(c, ev)
	}
	return nil
}

// eventName decodes the raw name SplitEvent returns, refusing the
// reserved names as the reference server does.
func eventName(raw []byte) (string, error) {
	b, err := frames.AppendUnquote(nil, raw)
	if err != nil {
		return "", protocolError("%v", err)
	}
	if reservedEvents[string(b)] {
		return "", protocolError("reserved event name %q", b)
	}
	return string(b), nil
}

func listOf(rest []byte) []byte {
	b := make([]byte, 0, len(rest)+2)
	return append(append(append(b, '['), rest...), ']')
}

// resolveArgs replaces binary placeholders by base64 strings.
func resolveArgs(list []byte, atts [][]byte) (json.RawMessage, error) {
	if len(atts) == 0 {
		return list, nil
	}
	out, err := frames.ResolveBinary(nil, list, atts)
	if err != nil {
		return nil, protocolError("%v", err)
	}
	return out, nil
}

// onAck delivers an ACK to the EmitWithAck waiting for it.
func (c *Conn) onAck(ev *Received) error {
	args, err := resolveArgs(ev.RawData, ev.Attachments)
	if err != nil {
		return err
	}
	ev.Args = args
	c.push(ev)
	c.mu.Lock()
	ch := c.acks[ackKey{ns: ev.Namespace, id: ev.ID}]
	delete(c.acks, ackKey{ns: ev.Namespace, id: ev.ID})
	c.mu.Unlock()
	if ch != nil {
		ch <- ev
	}
	return nil
}
