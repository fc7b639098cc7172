package siostream

import (
	"bytes"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/engine"
)

// link is one Engine.IO connection as the Socket.IO layer sees it: it
// receives the connection's messages (engine.Handler) on the reader
// goroutine, decodes the Socket.IO packets and routes them to the streams.
type link struct {
	m    *Manager
	conn *engine.Conn
	gen  uint64 // numbers the Manager's connections, from 1

	joinTimer *time.Timer // bounds the CONNECT replies after a reconnect

	bin *binaryPacket // reader only: a binary packet waiting for attachments
}

// binaryPacket is a BINARY_EVENT or BINARY_ACK waiting for its
// attachments. With st nil the packet is skipped: its attachments are
// read and counted against the limit, and forgotten.
type binaryPacket struct {
	st   *Stream
	pkt  frames.Packet
	data []byte // owned copy of the text frame's JSON
	atts [][]byte
	want int
	got  int
	size int64
}

var (
	errUnexpectedBin = errors.New("binary frame with no attachment expected")
	errPendingBin    = errors.New("text frame while attachments are pending")
)

// Message handles one Engine.IO message of the connection.
func (l *link) Message(p []byte, binary bool) error {
	if binary {
		return l.attachment(p)
	}
	if l.bin != nil {
		return protoErr("socket.io", errPendingBin)
	}
	var pkt frames.Packet
	if err := l.m.limits.ParsePacket(p, &pkt); err != nil {
		return protoErr("socket.io", err)
	}
	st := l.m.route(pkt.Namespace)
	switch pkt.Type {
	case frames.BinaryEvent, frames.BinaryAck:
		return l.startBinary(st, &pkt)
	}
	if st == nil {
		return nil // a namespace we are not on (or just left)
	}
	switch pkt.Type {
	case frames.Event:
		return st.onEvent(l, &pkt, nil)
	case frames.Ack:
		st.acks.resolve(pkt.ID, Reply{Args: bytes.Clone(pkt.Data)})
	case frames.Connect:
		return st.onConnect(l, pkt.Data)
	case frames.ConnectError:
		return st.onConnectError(l, pkt.Data)
	case frames.Disconnect:
		st.onServerDisconnect(l)
	}
	return nil
}

// startBinary keeps a binary packet until its attachments have arrived.
// Its placeholders must name each attachment exactly once: one attachment
// never becomes many copies. Packets for a namespace we are not on, and
// acks nobody waits for, are skipped with their attachments.
func (l *link) startBinary(st *Stream, pkt *frames.Packet) error {
	if err := frames.CheckPlaceholders(pkt.Data, pkt.Attachments); err != nil {
		return protoErr("socket.io", err)
	}
	skip := st == nil || (pkt.Type == frames.BinaryAck && !st.acks.has(pkt.ID))
	b := &binaryPacket{pkt: *pkt, want: pkt.Attachments, size: int64(len(pkt.Data))}
	l.bin = b
	b.pkt.Namespace, b.pkt.Data = nil, nil // views into the read buffer
	if !skip {
		b.st = st
		b.data = bytes.Clone(pkt.Data)
		b.atts = make([][]byte, 0, pkt.Attachments) // bounded by MaxAttachments
	}
	if b.want == 0 {
		return l.binaryDone()
	}
	return nil
}

func (l *link) attachment(p []byte) error {
	b := l.bin
	if b == nil {
		return protoErr("engine.io", errUnexpectedBin)
	}
	b.size += int64(len(p))
	if limit := l.conn.ReadLimit(); b.size > limit {
		return protoErr("socket.io", fmt.Errorf("%w: binary packet of %d bytes or more (the read limit is %d)", engine.ErrTooLarge, b.size, limit))
	}
	if b.st != nil {
		b.atts = append(b.atts, bytes.Clone(p))
	}
	if b.got++; b.got < b.want {
		return nil
	}
	return l.binaryDone()
}

func (l *link) binaryDone() error {
	b := l.bin
	l.bin = nil
	if b.st == nil {
		return nil
	}
	b.pkt.Data = b.data
	if b.pkt.Type == frames.BinaryEvent {
		return b.st.onEvent(l, &b.pkt, b.atts)
	}
	b.st.acks.resolve(b.pkt.ID, Reply{Args: b.data, atts: b.atts})
	return nil
}

// onEvent builds an Event that owns its bytes in one allocation (name,
// offset and args share it) and delivers it, or holds it when it came
// before the CONNECT reply.
func (st *Stream) onEvent(l *link, pkt *frames.Packet, atts [][]byte) error {
	joined := st.active.Load() == l
	if !joined && st.joinLink.Load() != l {
		return nil // not for the connection we are joined on, nor joining
	}
	rawName, rest, err := frames.SplitEvent(pkt.Data)
	if err != nil {
		return protoErr("socket.io", err)
	}
	var rawOffset []byte
	// Only a string can end the list (trimmed, validated by ParsePacket)
	// with a quote: without one there is no offset to look for.
	if !pkt.HasID && st.recovery.Load() && len(rest) > 0 && rest[len(rest)-1] == '"' && !st.volatile(rawName) {
		if rest, rawOffset, err = splitOffset(rest); err != nil {
			return protoErr("socket.io", err)
		}
	}
	var ev Event
	if err := buildEvent(&ev, rawName, rawOffset, rest, pkt.HasID, pkt.ID); err != nil {
		return protoErr("socket.io", err)
	}
	size := eventBytes + len(ev.Name) + len(ev.Args)
	if ev.meta != nil {
		size += metaSize + int(ev.meta.offLen)
	}
	switch {
	case atts != nil:
		ev.more = &eventMore{st: st, gen: l.gen, atts: atts}
		size += int(unsafe.Sizeof(eventMore{})) // eventBytes counts the Event already
		for _, a := range atts {
			size += len(a) + 24
		}
	case pkt.HasID:
		ev.more = st.ackMore.Load()
	}
	var waited bool
	if joined {
		waited, err = st.d.push(&ev, size)
	} else {
		waited, err = st.d.hold(ev, size)
	}
	if waited {
		l.conn.ResetHeartbeat() // the reader, not the server, was the one not reading
	}
	if errors.Is(err, ErrSlowConsumer) {
		st.endSlow(l)
	}
	return nil
}

// volatile reports whether the user says the event carries no offset.
func (st *Stream) volatile(rawName []byte) bool {
	if st.opts.VolatileEvents == nil {
		return false
	}
	name, err := frames.AppendUnquote(nil, rawName)
	return err == nil && st.opts.VolatileEvents(string(name))
}

// splitOffset takes the recovery offset (a JSON string) off the end of
// the argument list; the list is left alone when its last value is not a
// string.
func splitOffset(list []byte) (rest, offset []byte, err error) {
	if len(list) == 0 {
		return list, nil, nil
	}
	rest, last, err := frames.SplitLast(list)
	if err != nil {
		return nil, nil, err
	}
	if len(last) < 2 || last[0] != '"' {
		return list, nil, nil
	}
	return rest, last[1 : len(last)-1], nil
}
