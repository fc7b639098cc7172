package siotest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/siostream/siostream/internal/sioserver"
)

// Sentinel errors. Match them with errors.Is: the reasons returned by
// [Conn.Err] may be wrapped with detail.
var (
	// ErrServerClosed is returned by [Server.Accept] after [Server.Close],
	// and is the reason of the connections Close ended.
	ErrServerClosed = errors.New("siotest: server closed")
	// ErrClosed is returned by the methods of a [Conn] whose connection
	// has ended, and by [Conn.Next] once its last packet was returned.
	ErrClosed = errors.New("siotest: connection closed")
	// ErrNoAck is returned by [Packet.Ack] for a packet that is not an
	// event asking for an acknowledgement.
	ErrNoAck = errors.New("siotest: packet does not ask for an ack")

	// ErrClientClosed ends a connection that the client closed, with a
	// WebSocket close frame or an Engine.IO close packet.
	ErrClientClosed = errors.New("siotest: closed by the client")
	// ErrConnLost ends a connection whose TCP connection failed without a
	// close from the client; it wraps the I/O error.
	ErrConnLost = errors.New("siotest: connection lost")
	// ErrDropped ends a connection closed by [Conn.Drop].
	ErrDropped = errors.New("siotest: connection dropped")
	// ErrPingTimeout ends a connection whose client did not answer a ping
	// within [Options.PingTimeout].
	ErrPingTimeout = errors.New("siotest: ping timeout")
	// ErrConnectTimeout ends a connection whose client joined no namespace
	// within 45 seconds of the open packet.
	ErrConnectTimeout = errors.New("siotest: connect timeout")
	// ErrProtocol ends a connection whose client broke the WebSocket,
	// Engine.IO or Socket.IO protocol; it is wrapped with the detail.
	ErrProtocol = errors.New("siotest: protocol error")
	// ErrTooLarge ends a connection whose client sent a message longer
	// than [Options.MaxPayload].
	ErrTooLarge = errors.New("siotest: message too large")
)

// ConnectError refuses a CONNECT when [Options.Authorize] returns it: the
// client receives CONNECT_ERROR {"message": Message, "data": Data}, which
// siostream.Dial returns as a *siostream.ConnectError with the same
// message and data. The server only reads it, so one value may be returned
// from concurrent calls.
type ConnectError struct {
	// Message is the "message" of the CONNECT_ERROR packet.
	Message string
	// Data is JSON-encoded as its "data"; nil omits the field. A value
	// that encoding/json cannot encode ends the connection instead.
	Data any
}

func (e *ConnectError) Error() string {
	return "siotest: CONNECT refused: " + e.Message
}

// internalErrors pairs the errors of the server implementation with the
// package's sentinels.
var internalErrors = [...]struct{ from, to error }{
	{sioserver.ErrServerClosed, ErrServerClosed},
	{sioserver.ErrClosed, ErrClosed},
	{sioserver.ErrClientClosed, ErrClientClosed},
	{sioserver.ErrDropped, ErrDropped},
	{sioserver.ErrPingTimeout, ErrPingTimeout},
	{sioserver.ErrConnectTimeout, ErrConnectTimeout},
	{sioserver.ErrProtocol, ErrProtocol},
	{sioserver.ErrTooLarge, ErrTooLarge},
}

// opErr translates an error of the server implementation returned by an
// operation; errors it does not know (context, encoding, I/O) pass as
// they are.
func opErr(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range internalErrors {
		if errors.Is(err, m.from) {
			return withDetail(m.to, err, m.from)
		}
	}
	return err
}

// withDetail returns to, followed by what err says after from, if err's
// message starts with from's.
func withDetail(to, err, from error) error {
	msg := err.Error()
	detail, ok := strings.CutPrefix(msg, from.Error())
	if !ok || detail == "" {
		return to
	}
	return fmt.Errorf("%w%s", to, detail)
}

// endErr translates the reason a connection ended; reasons that are none
// of the sentinels are I/O failures.
func endErr(err error) error {
	if err == nil {
		return nil
	}
	if e := opErr(err); e != err {
		return e
	}
	if cause := errors.Unwrap(err); cause != nil {
		err = cause
	}
	return fmt.Errorf("%w: %w", ErrConnLost, err)
}
