package siostream

import (
	"encoding/json"
	"errors"
	"fmt"
	"unsafe"

	"github.com/siostream/siostream/frames"
)

// serve reads c until it fails, and says why in the reference client's
// words.
func (m *Manager) serve(c *wireConn) (Reason, error) {
	for {
		t, p, bin, err := c.readEngine()
		if err == nil {
			err = m.dispatch(c, t, p, bin)
		}
		if err != nil {
			return classify(c.cause(err))
		}
	}
}

func (m *Manager) dispatch(c *wireConn, t frames.EngineType, p []byte, bin bool) error {
	switch {
	case bin:
		return m.attachment(c, p)
	case t == frames.EngineMessage:
		return m.packet(c, p)
	case t == frames.EnginePing:
		c.w.pong()
		c.resetHeartbeat()
	case t == frames.EngineClose:
		return errEngineClose
	case t == frames.EngineOpen:
		return protoErr("engine.io", errors.New("open packet on an open connection"))
	}
	return nil
}

func (m *Manager) packet(c *wireConn, p []byte) error {
	if c.bin != nil {
		return protoErr("socket.io", errPendingBin)
	}
	var pkt frames.Packet
	if err := (frames.Limits{MaxAttachments: m.opts.MaxAttachments}).ParsePacket(p, &pkt); err != nil {
		return protoErr("socket.io", err)
	}
	st := m.route(pkt.Namespace)
	if st == nil {
		return nil
	}
	switch pkt.Type {
	case frames.Event:
		return st.onEvent(c, &pkt, nil)
	case frames.Ack:
		st.acks.resolve(pkt.ID, append(json.RawMessage(nil), pkt.Data...), nil)
	case frames.BinaryEvent, frames.BinaryAck:
		return m.startBinary(c, st, &pkt)
	case frames.Connect:
		return st.connectReply(c, pkt.Data)
	case frames.ConnectError:
		return st.connectError(pkt.Data)
	case frames.Disconnect:
		st.onServerDisconnect(c)
	}
	return nil
}

func (st *Stream) connectReply(c *wireConn, data []byte) error {
	sid, pid, err := frames.ParseConnectReply(data)
	if err != nil {
		return protoErr("socket.io", err)
	}
	st.onConnect(c, sid, pid)
	return nil
}

func (st *Stream) connectError(data []byte) error {
	msg, errData, err := frames.ParseConnectError(data)
	if err != nil {
		return protoErr("socket.io", err)
	}
	st.onConnectError(&ConnectError{Namespace: st.ns, Message: msg, Data: append(json.RawMessage(nil), errData...)})
	return nil
}

// startBinary keeps a binary packet until its attachments have arrived.
func (m *Manager) startBinary(c *wireConn, st *Stream, pkt *frames.Packet) error {
	b := &binaryPacket{st: st, pkt: *pkt, data: append([]byte(nil), pkt.Data...)}
	b.pkt.Namespace = nil // routed already; the view dies with the buffer
	b.pkt.Data = b.data
	if pkt.Attachments == 0 {
		return b.done(c)
	}
	b.atts = make([][]byte, 0, pkt.Attachments)
	c.bin = b
	return nil
}

func (m *Manager) attachment(c *wireConn, p []byte) error {
	b := c.bin
	if b == nil {
		return protoErr("engine.io", errUnexpectedBin)
	}
	b.size += len(p)
	if int64(b.size) > m.opts.ReadLimit {
		return protoErr("socket.io", fmt.Errorf("%w: attachments total %d bytes", errTooLarge, b.size))
	}
	b.atts = append(b.atts, append([]byte(nil), p...))
	if len(b.atts) < b.pkt.Attachments {
		return nil
	}
	c.bin = nil
	return b.done(c)
}

func (b *binaryPacket) done(c *wireConn) error {
	if b.pkt.Type == frames.BinaryEvent {
		return b.st.onEvent(c, &b.pkt, b.atts)
	}
	args, err := frames.ResolveBinary(nil, b.data, b.atts)
	if err != nil {
		return protoErr("socket.io", err)
	}
	b.st.acks.resolve(b.pkt.ID, args, nil)
	return nil
}

// onEvent builds an Event that owns its bytes in one allocation (name,
// offset and args share it) and delivers it.
func (st *Stream) onEvent(c *wireConn, pkt *frames.Packet, atts [][]byte) error {
	rawName, rest, err := frames.SplitEvent(pkt.Data)
	if err != nil {
		return protoErr("socket.io", err)
	}
	var rawOffset []byte
	if st.pid != "" && !pkt.HasID {
		if rest, rawOffset, err = splitOffset(rest); err != nil {
			return protoErr("socket.io", err)
		}
	}
	buf := make([]byte, 0, len(rawName)+len(rawOffset)+len(rest)+2)
	if buf, err = frames.AppendUnquote(buf, rawName); err != nil {
		return protoErr("socket.io", err)
	}
	nameLen := len(buf)
	if buf, err = frames.AppendUnquote(buf, rawOffset); err != nil {
		return protoErr("socket.io", err)
	}
	offLen := len(buf) - nameLen
	buf = append(append(append(buf, '['), rest...), ']')
	ev := Event{Kind: KindEvent, Namespace: st.ns, Args: buf[nameLen+offLen:]}
	ev.Name = bytesString(buf[:nameLen])
	if offLen > 0 {
		ev.Offset = bytesString(buf[nameLen : nameLen+offLen])
	}
	if err := withBinary(&ev, atts); err != nil {
		return err
	}
	if pkt.HasID {
		ev.ack = &ackReply{st: st, conn: c, id: pkt.ID}
	}
	if st.active.Load() != c {
		st.holdEarly(c, ev, len(buf))
		return nil
	}
	st.deliver(c, ev, len(buf))
	return nil
}

// earlyEvent is an event that arrived before the namespace's CONNECT reply
// (a recovering server replays missed events first). Like the reference
// client, the stream delivers them right after KindConnected.
type earlyEvent struct {
	ev   Event
	size int
}

// holdEarly keeps ev until the CONNECT reply; only the reader touches
// early. Past MaxBufferedBytes held (counting the events' own size too),
// the held events and the ones after them are delivered at once, in
// order, ahead of KindConnected: nothing is lost, memory stays bounded.
func (st *Stream) holdEarly(c *wireConn, ev Event, size int) {
	st.earlyBytes += size + int(unsafe.Sizeof(ev))
	if st.earlyBytes <= st.opts.MaxBufferedBytes {
		st.early = append(st.early, earlyEvent{ev, size})
		return
	}
	st.flushEarly(c)
	st.deliver(c, ev, size)
}

// flushEarly delivers the held events.
func (st *Stream) flushEarly(c *wireConn) {
	for i, e := range st.early {
		st.deliver(c, e.ev, e.size)
		st.early[i] = earlyEvent{}
	}
	st.early, st.earlyBytes = st.early[:0], 0
}

func withBinary(ev *Event, atts [][]byte) error {
	if atts == nil {
		return nil
	}
	resolved, err := frames.ResolveBinary(nil, ev.Args, atts)
	if err != nil {
		return protoErr("socket.io", err)
	}
	ev.binArgs, ev.Args, ev.Attachments = ev.Args, resolved, atts
	return nil
}

// splitOffset takes the recovery offset (a JSON string) off the end of the
// argument list.
func splitOffset(list []byte) (rest, offset []byte, err error) {
	var last []byte
	end := 0
	for cur := list; len(cur) > 0; {
		if last, cur, err = frames.NextValue(cur); err != nil {
			return nil, nil, err
		}
		if len(cur) > 0 {
			end = len(list) - len(cur) - 1
		}
	}
	if len(last) < 2 || last[0] != '"' {
		return list, nil, nil
	}
	return trimSpace(list[:end]), last[1 : len(last)-1], nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func (st *Stream) setOffset(off string) {
	st.mu.Lock()
	st.offset = off
	st.mu.Unlock()
}

// bytesString views b as a string. b must never change afterwards: the
// Event that holds both owns b and never writes to it.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
