package siostream

import (
	"encoding/json"
	"errors"
	"fmt"
	"unsafe"

	"github.com/siostream/siostream/frames"
)

var errServerDisconnect = errors.New("server sent DISCONNECT")

// serve reads c until it fails, and says why in the reference client's
// words.
func (s *Stream) serve(c *wireConn) (Reason, error) {
	for {
		t, p, bin, err := c.readEngine()
		if err == nil {
			err = s.dispatch(c, t, p, bin)
		}
		if err != nil {
			return reasonFor(err)
		}
	}
}

func reasonFor(err error) (Reason, error) {
	switch {
	case errors.Is(err, errServerDisconnect):
		return ReasonServerDisconnect, ErrServerDisconnect
	case errors.Is(err, ErrSlowConsumer):
		return ReasonSlowConsumer, err
	case errors.Is(err, ErrClosed):
		return ReasonClientDisconnect, err
	}
	return classify(err)
}

func (s *Stream) dispatch(c *wireConn, t frames.EngineType, p []byte, bin bool) error {
	switch {
	case bin:
		return s.attachment(c, p)
	case t == frames.EngineMessage:
		return s.packet(c, p)
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

func (s *Stream) limits() frames.Limits {
	return frames.Limits{MaxAttachments: s.opts.MaxAttachments}
}

func (s *Stream) packet(c *wireConn, p []byte) error {
	if c.bin != nil {
		return protoErr("socket.io", errPendingBin)
	}
	var pkt frames.Packet
	if err := s.limits().ParsePacket(p, &pkt); err != nil {
		return protoErr("socket.io", err)
	}
	if !s.ours(pkt.Namespace) {
		return nil
	}
	switch pkt.Type {
	case frames.Event:
		return s.onEvent(c, &pkt, nil)
	case frames.Ack:
		s.acks.resolve(pkt.ID, append(json.RawMessage(nil), pkt.Data...), nil)
	case frames.BinaryEvent, frames.BinaryAck:
		return s.startBinary(c, &pkt)
	case frames.Disconnect:
		return errServerDisconnect
	}
	return nil
}

// startBinary keeps a binary packet until its attachments have arrived.
func (s *Stream) startBinary(c *wireConn, pkt *frames.Packet) error {
	b := &binaryPacket{pkt: *pkt, data: append([]byte(nil), pkt.Data...)}
	b.pkt.Namespace = nil // checked already; the view dies with the buffer
	b.pkt.Data = b.data
	if pkt.Attachments == 0 {
		return s.binaryDone(c, b)
	}
	b.atts = make([][]byte, 0, pkt.Attachments)
	c.bin = b
	return nil
}

func (s *Stream) attachment(c *wireConn, p []byte) error {
	b := c.bin
	if b == nil {
		return protoErr("engine.io", errUnexpectedBin)
	}
	b.size += len(p)
	if int64(b.size) > s.opts.ReadLimit {
		return protoErr("socket.io", fmt.Errorf("%w: attachments total %d bytes", errTooLarge, b.size))
	}
	b.atts = append(b.atts, append([]byte(nil), p...))
	if len(b.atts) < b.pkt.Attachments {
		return nil
	}
	c.bin = nil
	return s.binaryDone(c, b)
}

func (s *Stream) binaryDone(c *wireConn, b *binaryPacket) error {
	if b.pkt.Type == frames.BinaryEvent {
		return s.onEvent(c, &b.pkt, b.atts)
	}
	args, err := frames.ResolveBinary(nil, b.data, b.atts)
	if err != nil {
		return protoErr("socket.io", err)
	}
	s.acks.resolve(b.pkt.ID, args, nil)
	return nil
}

// onEvent builds an Event that owns its bytes in one allocation (name,
// offset and args share it) and delivers it.
func (s *Stream) onEvent(c *wireConn, pkt *frames.Packet, atts [][]byte) error {
	rawName, rest, err := frames.SplitEvent(pkt.Data)
	if err != nil {
		return protoErr("socket.io", err)
	}
	var rawOffset []byte
	if s.pid != "" && !pkt.HasID {
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
	ev := Event{Kind: KindEvent, Namespace: s.opts.Namespace, Args: buf[nameLen+offLen:]}
	ev.Name = bytesString(buf[:nameLen])
	if offLen > 0 {
		ev.Offset = bytesString(buf[nameLen : nameLen+offLen])
		s.setOffset(ev.Offset)
	}
	if err := s.withBinary(&ev, atts); err != nil {
		return err
	}
	if pkt.HasID {
		ev.ack = &ackReply{s: s, conn: c, id: pkt.ID}
	}
	return s.deliver(c, ev, len(buf))
}

func (s *Stream) withBinary(ev *Event, atts [][]byte) error {
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

func (s *Stream) setOffset(off string) {
	s.mu.Lock()
	s.offset = off
	s.mu.Unlock()
}

// bytesString views b as a string. b must never change afterwards: the
// Event that holds both owns b and never writes to it.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
