package siostream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/siostream/siostream/frames"
)

// Kind tells what an Event reports.
type Kind uint8

const (
	// KindEvent is an event the server emitted: Name and Args are set.
	KindEvent Kind = iota + 1
	// KindConnected: the namespace is connected. SocketID and Recovered
	// tell more.
	KindConnected
	// KindDisconnected: the connection was lost or closed. Reason and Err
	// tell why.
	KindDisconnected
	// KindReconnecting: a reconnect attempt will start after Delay.
	// Attempt counts from 1.
	KindReconnecting
	// KindConnectError: the server refused CONNECT on reconnect, or the
	// attempt failed. Err says why (a *ConnectError for a refusal);
	// Attempt counts from 1.
	KindConnectError
)

func (k Kind) String() string {
	switch k {
	case KindEvent:
		return "event"
	case KindConnected:
		return "connected"
	case KindDisconnected:
		return "disconnected"
	case KindReconnecting:
		return "reconnecting"
	case KindConnectError:
		return "connect_error"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Reason says why a connection ended, in the reference client's words.
type Reason string

// Disconnect reasons.
const (
	ReasonServerDisconnect Reason = "io server disconnect"
	ReasonClientDisconnect Reason = "io client disconnect"
	ReasonPingTimeout      Reason = "ping timeout"
	ReasonTransportClose   Reason = "transport close"
	ReasonTransportError   Reason = "transport error"
	ReasonParseError       Reason = "parse error"
	ReasonSlowConsumer     Reason = "slow consumer"
)

// Event is one item of a Stream's Events channel: a server event or a
// lifecycle change, in wire order. An Event owns its bytes: Name, Args and
// the attachments stay valid and unchanged for as long as the caller
// keeps them. It is 64 bytes, so that the channel is cheap to fill; what
// only some events carry is behind its methods.
type Event struct {
	Kind Kind
	// Name is the event's name (KindEvent).
	Name string
	// Args is the JSON array of the arguments after the name (KindEvent).
	// A binary attachment stands in it as its placeholder,
	// {"_placeholder":true,"num":N}: Decode, Arg and Values put the bytes
	// in its place.
	Args json.RawMessage

	meta *eventMeta // ack id and offset, in the event's own allocation
	more *eventMore // lifecycle details, attachments, the stream for Ack
}

// eventMeta holds no pointers, so it shares the allocation that holds
// the event's name and args: an event that asks for an ack or carries a
// recovery offset still costs one allocation. The offset's bytes follow
// the struct and the name.
type eventMeta struct {
	ackID   uint64
	used    atomic.Uint32 // 1 once Ack was called
	hasAck  bool
	nameLen uint32
	offLen  uint32
}

const metaSize = int(unsafe.Sizeof(eventMeta{}))

// eventMore is what lifecycle events, binary events, events after drops
// and events asking for an ack need. Events asking for an ack share one
// per stream and connection.
type eventMore struct {
	st   *Stream
	gen  uint64 // connection the event came on
	atts [][]byte

	dropped   uint64
	reason    Reason
	err       error
	attempt   int
	delay     time.Duration
	socketID  string
	recovered bool
}

// Reason says why the connection ended (KindDisconnected).
func (e Event) Reason() Reason {
	if e.more == nil {
		return ""
	}
	return e.more.reason
}

// Err is the cause of a KindDisconnected or KindConnectError event: for a
// refusal a *ConnectError, for a broken frame a *ProtocolError.
func (e Event) Err() error {
	if e.more == nil {
		return nil
	}
	return e.more.err
}

// Attempt numbers a KindReconnecting or KindConnectError event's attempt,
// from 1.
func (e Event) Attempt() int {
	if e.more == nil {
		return 0
	}
	return e.more.attempt
}

// Delay is the wait before the attempt of a KindReconnecting event.
func (e Event) Delay() time.Duration {
	if e.more == nil {
		return 0
	}
	return e.more.delay
}

// SocketID is the socket id a KindConnected event got from the server.
func (e Event) SocketID() string {
	if e.more == nil {
		return ""
	}
	return e.more.socketID
}

// Recovered reports, for KindConnected, whether the server restored the
// session (connection state recovery): the events missed while
// disconnected follow, in order.
func (e Event) Recovered() bool { return e.more != nil && e.more.recovered }

// Dropped counts the server events dropped just before this one under the
// DropNewest policy.
func (e Event) Dropped() uint64 {
	if e.more == nil {
		return 0
	}
	return e.more.dropped
}

// Attachments are the binary attachments of a KindEvent, in placeholder
// order; nil for an event without.
func (e Event) Attachments() [][]byte {
	if e.more == nil {
		return nil
	}
	return e.more.atts
}

// Offset is the connection-state-recovery offset the server appended to
// the event, removed from Args. Empty when recovery is off.
func (e Event) Offset() string {
	m := e.meta
	if m == nil || m.offLen == 0 {
		return ""
	}
	p := unsafe.Add(unsafe.Pointer(m), metaSize+int(m.nameLen))
	return unsafe.String((*byte)(p), m.offLen)
}

// WantsAck reports whether the server asked for an acknowledgement.
func (e Event) WantsAck() bool { return e.meta != nil && e.meta.hasAck }

// Ack answers the server's ack request with args, exactly once, on the
// connection the event came on. It fails with ErrNoAck, ErrAckTwice, or
// ErrAckStale when that connection is gone. It returns once the packet is
// queued for the socket (see Stream.Emit).
func (e Event) Ack(ctx context.Context, args ...any) error {
	if !e.WantsAck() || e.more == nil {
		return ErrNoAck
	}
	return e.more.st.sendAck(ctx, e.more.gen, e.meta, args)
}

// Decode decodes the arguments, in order, into the values v points to.
// Extra arguments are ignored; missing ones leave their targets alone. A
// nil target skips its argument. A binary attachment decodes into a
// []byte.
func (e Event) Decode(v ...any) error {
	if err := decodeArgs(e.Args, e.Attachments(), v); err != nil {
		return fmt.Errorf("siostream: decode %q args: %w", e.Name, err)
	}
	return nil
}

// Arg returns the raw JSON of argument i, or nil when there is none. A
// binary attachment in it is written as a base64 string, so that
// json.Unmarshal into a []byte yields the bytes.
func (e Event) Arg(i int) json.RawMessage { return argAt(e.Args, e.Attachments(), i) }

// Values decodes the arguments into Go values as encoding/json does for
// `any`, with each binary attachment as a []byte where its placeholder
// stood.
func (e Event) Values() ([]any, error) {
	v, err := argValues(e.Args, e.Attachments())
	if err != nil {
		return nil, fmt.Errorf("siostream: decode %q args: %w", e.Name, err)
	}
	return v, nil
}

func (e Event) String() string {
	switch e.Kind {
	case KindEvent:
		return fmt.Sprintf("event %q %s", e.Name, truncate(e.Args, 64))
	case KindDisconnected, KindConnectError:
		return fmt.Sprintf("%v (%v)", e.Kind, e.Err())
	}
	return e.Kind.String()
}

// eventBytes is what a server event holds besides its bytes: the Event
// itself and the slice headers around it, for the budget.
const eventBytes = int(unsafe.Sizeof(Event{})) + 64

// lifecycleBytes is what a lifecycle event holds, for the budget.
const lifecycleBytes = eventBytes + int(unsafe.Sizeof(eventMore{}))

// buildEvent makes ev a KindEvent that owns its bytes in one allocation:
// meta (when the event asks for an ack or carries an offset), the name,
// the offset, then the args in brackets. rawName and rawOffset are JSON
// string bodies (escaped); list is the args without brackets. It writes
// into *ev rather than returning the 64-byte Event, a copy less per event.
func buildEvent(ev *Event, rawName, rawOffset, list []byte, ack bool, id uint64) error {
	withMeta := ack || rawOffset != nil
	n := len(rawName) + len(rawOffset) + len(list) + 2
	start := 0
	if withMeta {
		n += metaSize
		start = metaSize
	}
	buf := make([]byte, start, n)
	if withMeta && uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%8 != 0 {
		// The allocator aligns objects this size to 8 bytes; should one
		// not be, start the meta at the next multiple of 8.
		pad := 8 - int(uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%8)
		buf = make([]byte, pad+start, pad+n)[pad:]
	}
	var err error
	if buf, err = appendUnquote(buf, rawName); err != nil {
		return err
	}
	nameEnd := len(buf)
	if buf, err = appendUnquote(buf, rawOffset); err != nil {
		return err
	}
	offEnd := len(buf)
	buf = append(append(append(buf, '['), list...), ']')
	ev.Kind = KindEvent
	ev.Name = bytesString(buf[start:nameEnd])
	ev.Args = buf[offEnd:len(buf):len(buf)]
	if withMeta {
		m := (*eventMeta)(unsafe.Pointer(unsafe.SliceData(buf)))
		m.ackID, m.hasAck = id, ack
		m.nameLen, m.offLen = uint32(nameEnd-start), uint32(offEnd-nameEnd)
		ev.meta = m
	}
	return nil
}

// appendUnquote decodes a JSON string body. The engine has checked that
// text frames are UTF-8, so a body without escapes is copied as it is.
func appendUnquote(dst, raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return append(dst, raw...), nil
	}
	return frames.AppendUnquote(dst, raw)
}

// bytesString views b as a string. b must never change afterwards: the
// Event that holds both owns b and never writes to it.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
