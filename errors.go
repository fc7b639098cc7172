package siostream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/siostream/siostream/internal/engine"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrClosed is returned by methods of a Stream after Close, and by Err
	// when the stream ended because Close was called.
	ErrClosed = errors.New("siostream: stream closed")
	// ErrOptions is matched by the errors of NewManager and Manager.Dial
	// for an option given where it has no effect.
	ErrOptions = errors.New("siostream: option has no effect here")
	// ErrReservedEvent is returned by Emit for event names the protocol
	// reserves (connect, connect_error, disconnect, disconnecting,
	// newListener, removeListener) and for the empty name.
	ErrReservedEvent = errors.New("siostream: reserved event name")
	// ErrPayloadTooLarge is returned by Emit when a packet would exceed the
	// server's maxPayload. Nothing is sent.
	ErrPayloadTooLarge = errors.New("siostream: payload exceeds the server's maxPayload")
	// ErrBufferFull is returned by Emit while disconnected when the emit
	// buffer is full, or at once when buffering while disconnected is
	// turned off.
	ErrBufferFull = errors.New("siostream: emit buffer full")
	// ErrNotConnected is returned for volatile emits made while the stream
	// is not connected: they are dropped, never buffered.
	ErrNotConnected = errors.New("siostream: not connected")
	// ErrDisconnected fails a pending EmitWithAck whose packet was written
	// on a connection that was lost before the server answered.
	ErrDisconnected = errors.New("siostream: connection lost")
	// ErrAckStale is returned by Event.Ack when the connection the event
	// arrived on is gone: an ack never goes out on a later connection.
	ErrAckStale = errors.New("siostream: ack for an event from a previous connection")
	// ErrAckTwice is returned by Event.Ack on the second call.
	ErrAckTwice = errors.New("siostream: event already acknowledged")
	// ErrNoAck is returned by Event.Ack when the server did not ask for one.
	ErrNoAck = errors.New("siostream: event does not ask for an ack")
	// ErrTooManyAcks is returned by EmitWithAck when MaxPendingAcks acks are
	// already waiting.
	ErrTooManyAcks = errors.New("siostream: too many pending acks")
	// ErrServerDisconnect ends a stream whose server sent DISCONNECT.
	ErrServerDisconnect = errors.New("siostream: disconnected by the server")
	// ErrPingTimeout is the cause of a disconnect when the server sent no
	// ping for pingInterval + pingTimeout.
	ErrPingTimeout = errors.New("siostream: ping timeout")
	// ErrWriteTimeout is the cause of a disconnect when a write to the
	// server made no progress for Options.WriteTimeout.
	ErrWriteTimeout = errors.New("siostream: write to the server timed out (Options.WriteTimeout)")
	// ErrSlowConsumer ends a stream whose consumer fell behind when
	// Options.SlowConsumer is DisconnectSlowConsumer.
	ErrSlowConsumer = errors.New("siostream: consumer too slow")
	// ErrJoinTimeout is the cause of a reconnect when the server accepted
	// the connection but did not answer CONNECT within ConnectTimeout. It
	// matches context.DeadlineExceeded too.
	ErrJoinTimeout = fmt.Errorf("siostream: no CONNECT reply within ConnectTimeout: %w", context.DeadlineExceeded)
	// ErrRetriesExhausted fails an at-least-once emit that the server did
	// not acknowledge after Options.Retries resends.
	ErrRetriesExhausted = errors.New("siostream: no ack after all retries")
	// ErrUnknownNamespace is matched by the *ConnectError of a server that
	// has no such namespace (as opposed to one that refused the auth).
	ErrUnknownNamespace = errors.New("siostream: unknown namespace")
	// ErrReconnectFailed ends a stream after MaxReconnectAttempts failed
	// attempts in a row.
	ErrReconnectFailed = errors.New("siostream: reconnection attempts exhausted")
)

// DialError reports a connection that could not be set up: the step that
// failed, the endpoint tried (without credentials or query) and, for a
// refused WebSocket upgrade, the HTTP status. Its text says what to
// check. Match the cause with errors.Is (context.DeadlineExceeded,
// ErrJoinTimeout, ...).
type DialError struct {
	// Step is "TCP connect", "proxy tunnel", "TLS handshake", "WebSocket
	// upgrade", "Engine.IO open" or "Socket.IO CONNECT".
	Step string
	// URL is the endpoint tried.
	URL string
	// Status is the HTTP status of a refused WebSocket upgrade, else 0.
	Status int
	// Timeout is Options.ConnectTimeout when it ran out, else 0.
	Timeout time.Duration
	Err     error

	notWebSocket bool // the upgrade's answer was no WebSocket handshake
}

func (e *DialError) Error() string {
	switch {
	case e.Status != 0:
		return fmt.Sprintf("siostream: no Socket.IO endpoint at %s: the WebSocket upgrade got HTTP %d %s (check the URL and Options.Path)",
			e.URL, e.Status, http.StatusText(e.Status))
	case e.notWebSocket:
		return fmt.Sprintf("siostream: no Socket.IO endpoint at %s: the answer to the WebSocket upgrade is no WebSocket handshake (%v); check the URL and Options.Path",
			e.URL, e.Err)
	case e.Timeout > 0 && e.Step == "Socket.IO CONNECT":
		return fmt.Sprintf("siostream: no CONNECT reply from %s within Options.ConnectTimeout (%v)", e.URL, e.Timeout)
	case e.Timeout > 0:
		return fmt.Sprintf("siostream: %s to %s took longer than Options.ConnectTimeout (%v)", e.Step, e.URL, e.Timeout)
	case e.Step == string(engine.StepUpgrade) && (errors.Is(e.Err, io.EOF) || errors.Is(e.Err, io.ErrUnexpectedEOF)):
		return fmt.Sprintf("siostream: %s closed the connection during the WebSocket upgrade: is it a Socket.IO server, at this path? (check the URL and Options.Path)", e.URL)
	}
	return fmt.Sprintf("siostream: %s to %s: %v", e.Step, e.URL, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// ConnectError is the server's refusal of a namespace CONNECT
// (a CONNECT_ERROR packet), carrying what its middleware said.
type ConnectError struct {
	Namespace string
	Message   string
	// Data is the raw JSON of the error's data, nil when the server sent none.
	Data json.RawMessage
}

// Is makes a refusal for an unknown namespace match ErrUnknownNamespace.
func (e *ConnectError) Is(target error) bool {
	return target == ErrUnknownNamespace && e.Message == "Invalid namespace"
}

func (e *ConnectError) Error() string {
	if e.Message == "Invalid namespace" && len(e.Data) == 0 {
		return fmt.Sprintf("siostream: the server has no namespace %s (it answered %q): check Options.Namespace or the URL's path", e.Namespace, e.Message)
	}
	if len(e.Data) == 0 {
		return fmt.Sprintf("siostream: connect to %s refused: %s", e.Namespace, e.Message)
	}
	return fmt.Sprintf("siostream: connect to %s refused: %s (data %s)", e.Namespace, e.Message, truncate(e.Data, 256))
}

// ProtocolError reports a frame from the server that breaks the WebSocket,
// Engine.IO or Socket.IO rules. The connection it came on is closed with
// reason "parse error" and the stream reconnects.
type ProtocolError struct {
	// Layer is "websocket", "engine.io" or "socket.io".
	Layer string
	Err   error
}

func (e *ProtocolError) Error() string {
	return "siostream: " + e.Layer + " protocol error: " + e.Err.Error()
}

func (e *ProtocolError) Unwrap() error { return e.Err }

func protoErr(layer string, err error) error {
	return &ProtocolError{Layer: layer, Err: err}
}

// truncate bounds peer-controlled text placed in error messages.
func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// asProtocolError returns the public *ProtocolError err holds, made from
// the engine's when it comes from there, or nil.
func asProtocolError(err error) *ProtocolError {
	var sp *ProtocolError
	if errors.As(err, &sp) {
		return sp
	}
	var pe *engine.ProtocolError
	if errors.As(err, &pe) {
		return &ProtocolError{Layer: pe.Layer, Err: pe.Err}
	}
	return nil
}

// endOf maps why a connection ended, as the engine returned it, to the
// reference client's reason and the public error.
func endOf(err error) (Reason, error) {
	if pe := asProtocolError(err); pe != nil {
		return ReasonParseError, pe
	}
	switch {
	case errors.Is(err, ErrJoinTimeout):
		return ReasonTransportError, ErrJoinTimeout
	case errors.Is(err, engine.ErrWriteTimeout):
		return ReasonTransportError, ErrWriteTimeout
	}
	switch engine.Classify(err) {
	case engine.CauseClosed:
		return ReasonClientDisconnect, ErrClosed
	case engine.CausePingTimeout:
		return ReasonPingTimeout, ErrPingTimeout
	case engine.CauseTransportClose:
		return ReasonTransportClose, err
	}
	return ReasonTransportError, err
}
