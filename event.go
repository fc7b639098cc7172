package siostream

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/siostream/siostream/frames"
)

// Kind tells what an Event reports.
type Kind uint8

const (
	// KindEvent is an event the server emitted: Name and Args are set.
	KindEvent Kind = iota + 1
	// KindConnected: the namespace is connected. SocketID and Recovered
	// are set.
	KindConnected
	// KindDisconnected: the connection was lost or closed. Reason and Err
	// are set.
	KindDisconnected
	// KindReconnecting: a reconnect attempt will start after Delay.
	// Attempt counts from 1.
	KindReconnecting
	// KindConnectError: the server refused CONNECT on reconnect, or the
	// attempt failed. Err is set (a *ConnectError for a refusal).
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
// Attachments stay valid and unchanged for as long as the caller keeps them.
type Event struct {
	Kind      Kind
	Namespace string

	// Name and Args are set for KindEvent. Args is a JSON array of the
	// arguments after the name. Binary attachments appear in Args as
	// base64 strings, so Decode into []byte fields yields the bytes;
	// Values gives them back as []byte.
	Name string
	Args json.RawMessage
	// Attachments are the event's binary attachments, in placeholder order.
	Attachments [][]byte
	// Offset is the connection-state-recovery offset the server appended
	// to the event (removed from Args). Empty when recovery is off.
	Offset string
	// Dropped counts the server events dropped just before this one under
	// the DropNewest policy.
	Dropped uint64

	// SocketID and Recovered are set for KindConnected.
	SocketID  string
	Recovered bool
	// Reason is set for KindDisconnected.
	Reason Reason
	// Err is set for KindDisconnected (the cause) and KindConnectError.
	Err error
	// Attempt and Delay are set for KindReconnecting.
	Attempt int
	Delay   time.Duration

	ack     *ackReply
	binArgs []byte // Args with placeholders, for Values
}

// WantsAck reports whether the server asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.ack != nil }

// Decode decodes the arguments, in order, into the values v points to.
// Extra arguments are ignored; missing ones leave their targets alone.
// A nil target skips its argument.
func (e *Event) Decode(v ...any) error {
	rest, err := argsList(e.Args)
	for i := 0; err == nil && i < len(v) && len(rest) > 0; i++ {
		var val []byte
		val, rest, err = frames.NextValue(rest)
		if err == nil && v[i] != nil {
			err = json.Unmarshal(val, v[i])
		}
	}
	if err != nil {
		return fmt.Errorf("siostream: decode %q args: %w", e.Name, err)
	}
	return nil
}

// Arg returns the raw JSON of argument i, or nil when there is none.
func (e *Event) Arg(i int) json.RawMessage {
	rest, err := argsList(e.Args)
	for ; err == nil && len(rest) > 0; i-- {
		var val []byte
		val, rest, err = frames.NextValue(rest)
		if err == nil && i == 0 {
			return val
		}
	}
	return nil
}

// Values decodes the arguments into Go values as encoding/json does for
// `any`, with each binary attachment as a []byte where its placeholder
// stood.
func (e *Event) Values() ([]any, error) {
	var raw []any
	if err := json.Unmarshal(e.rawArgs(), &raw); err != nil {
		return nil, fmt.Errorf("siostream: decode %q args: %w", e.Name, err)
	}
	if len(e.Attachments) == 0 {
		return raw, nil
	}
	v, err := frames.ResolveValue(raw, e.Attachments)
	if err != nil {
		return nil, err
	}
	out, _ := v.([]any)
	return out, nil
}

// Ack answers the server's ack request with args, exactly once. It fails
// with ErrNoAck, ErrAckTwice, or ErrAckStale when the connection the event
// arrived on is gone. It returns when the packet is written or ctx ends.
func (e *Event) Ack(ctx context.Context, args ...any) error {
	if e.ack == nil {
		return ErrNoAck
	}
	return e.ack.send(ctx, args)
}

func (e *Event) rawArgs() []byte {
	if e.binArgs != nil {
		return e.binArgs
	}
	return e.Args
}

func argsList(args json.RawMessage) ([]byte, error) {
	if len(args) < 2 {
		return nil, nil
	}
	return args[1 : len(args)-1], nil
}

// ackReply is the right to answer one server ack request.
type ackReply struct {
	st   *Stream
	conn *wireConn
	id   uint64
	used atomic.Bool
}

// send encodes first, so that an ack refused before anything was sent
// (too large, not encodable) can be tried again.
func (a *ackReply) send(ctx context.Context, args []any) error {
	if a.used.Load() {
		return ErrAckTwice
	}
	return a.st.sendAck(ctx, a, args)
}
