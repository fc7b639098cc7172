package siostream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/engine"
)

// timeoutError is a net.Error that timed out, as a read past its
// deadline returns.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// TestEndOf maps each way a connection can end, as the engine returns it,
// to the reference client's disconnect reason and the error the stream
// reports.
func TestEndOf(t *testing.T) {
	sioProto := &ProtocolError{Layer: "socket.io", Err: frames.ErrEmpty}
	engProto := &engine.ProtocolError{Layer: "websocket", Err: frames.ErrInvalidJSON}
	reset := fmt.Errorf("read: %w", syscall.ECONNRESET)
	other := errors.New("something else")
	cases := []struct {
		name   string
		err    error
		reason Reason
		is     error // the public error matches it
		same   bool  // the public error is err itself
		layer  string
	}{
		{name: "Socket.IO protocol error", err: sioProto, reason: ReasonParseError, is: frames.ErrEmpty, layer: "socket.io"},
		{name: "Socket.IO protocol error, wrapped", err: fmt.Errorf("serve: %w", sioProto), reason: ReasonParseError, is: frames.ErrEmpty, layer: "socket.io"},
		{name: "engine protocol error", err: engProto, reason: ReasonParseError, is: frames.ErrInvalidJSON, layer: "websocket"},
		{name: "engine protocol error, wrapped", err: fmt.Errorf("serve: %w", engProto), reason: ReasonParseError, is: frames.ErrInvalidJSON, layer: "websocket"},
		{name: "no CONNECT reply", err: ErrJoinTimeout, reason: ReasonTransportError, is: ErrJoinTimeout},
		{name: "no CONNECT reply is a deadline", err: ErrJoinTimeout, reason: ReasonTransportError, is: context.DeadlineExceeded},
		{name: "write timeout", err: engine.ErrWriteTimeout, reason: ReasonTransportError, is: ErrWriteTimeout},
		{name: "write timeout, wrapped", err: fmt.Errorf("write: %w", engine.ErrWriteTimeout), reason: ReasonTransportError, is: ErrWriteTimeout},
		{name: "closed on this side", err: engine.ErrClosed, reason: ReasonClientDisconnect, is: ErrClosed},
		{name: "no ping", err: engine.ErrPingTimeout, reason: ReasonPingTimeout, is: ErrPingTimeout},
		{name: "read deadline passed", err: timeoutError{}, reason: ReasonPingTimeout, is: ErrPingTimeout},
		{name: "server closed", err: engine.ErrPeerClosed, reason: ReasonTransportClose, same: true},
		{name: "end of stream", err: io.EOF, reason: ReasonTransportClose, same: true},
		{name: "end of stream mid-frame", err: io.ErrUnexpectedEOF, reason: ReasonTransportClose, same: true},
		{name: "connection reset", err: reset, reason: ReasonTransportError, same: true, is: syscall.ECONNRESET},
		{name: "anything else", err: other, reason: ReasonTransportError, same: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reason, err := endOf(tc.err)
			if reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not match %v", err, tc.is)
			}
			if tc.same && err != tc.err {
				t.Errorf("error %v, want %v itself", err, tc.err)
			}
			var pe *ProtocolError
			if isProto := errors.As(err, &pe); isProto != (tc.layer != "") {
				t.Errorf("error %v (%T) is a *ProtocolError: %v, want %v", err, err, isProto, tc.layer != "")
			} else if isProto && pe.Layer != tc.layer {
				t.Errorf("ProtocolError.Layer %q, want %q", pe.Layer, tc.layer)
			}
		})
	}
}

// TestReasons: the disconnect reasons are the reference client's words.
func TestReasons(t *testing.T) {
	for reason, want := range map[Reason]string{
		ReasonServerDisconnect: "io server disconnect",
		ReasonClientDisconnect: "io client disconnect",
		ReasonPingTimeout:      "ping timeout",
		ReasonTransportClose:   "transport close",
		ReasonTransportError:   "transport error",
		ReasonParseError:       "parse error",
	} {
		if string(reason) != want {
			t.Errorf("reason %q, want %q", reason, want)
		}
	}
}
