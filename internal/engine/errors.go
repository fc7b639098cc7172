package engine

import (
	"errors"
	"io"
	"net"
)

// ProtocolError reports a frame from the server that breaks the WebSocket
// or Engine.IO rules.
type ProtocolError struct {
	Layer string // "websocket" or "engine.io"
	Err   error
}

func (e *ProtocolError) Error() string { return e.Layer + " protocol error: " + e.Err.Error() }

func (e *ProtocolError) Unwrap() error { return e.Err }

func protoErr(layer string, err error) error { return &ProtocolError{Layer: layer, Err: err} }

// End causes of a connection, as Serve returns them (possibly wrapped).
var (
	// ErrPingTimeout: no ping from the server within pingInterval +
	// pingTimeout.
	ErrPingTimeout = errors.New("no ping from the server within pingInterval + pingTimeout")
	// ErrPeerClosed: the server closed the WebSocket or sent an Engine.IO
	// close packet.
	ErrPeerClosed = errors.New("server closed the connection")
	// ErrWriteTimeout: a write to the socket made no progress within the
	// write timeout.
	ErrWriteTimeout = errors.New("write to the server timed out")
	// ErrClosed: the connection was closed on this side.
	ErrClosed = errors.New("connection closed")
	// ErrTooLarge: a message is over the read limit.
	ErrTooLarge = errors.New("message exceeds the read limit")
)

var (
	errMaskedFrame  = errors.New("server frame is masked")
	errReservedBits = errors.New("reserved bits set")
	errBadOpcode    = errors.New("unknown or unexpected opcode")
	errBadControl   = errors.New("fragmented or oversize control frame")
	errBadContinue  = errors.New("continuation frame without a message")
	errInvalidUTF8  = errors.New("text frame is not valid UTF-8")
	errOpenTwice    = errors.New("open packet on an open connection")
	errNotOpen      = errors.New("first packet is not an open packet")
)

// Cause sorts the end of a connection into the reference client's
// disconnect reasons.
type Cause uint8

// Causes.
const (
	CauseTransportError Cause = iota // the socket failed
	CauseTransportClose              // the server closed it
	CausePingTimeout                 // the server went silent
	CauseParseError                  // the server broke the protocol
	CauseClosed                      // closed on this side
)

// Classify maps an error returned by Serve to its cause.
func Classify(err error) Cause {
	var pe *ProtocolError
	var ne net.Error
	switch {
	case errors.Is(err, ErrClosed):
		return CauseClosed
	case errors.As(err, &pe):
		return CauseParseError
	case errors.Is(err, ErrPingTimeout):
		return CausePingTimeout
	case errors.Is(err, ErrPeerClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return CauseTransportClose
	case errors.As(err, &ne) && ne.Timeout():
		return CausePingTimeout
	}
	return CauseTransportError
}
