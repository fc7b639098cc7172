package siostream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/siostream/siostream/frames"
)

// wireConn is one Engine.IO connection: the socket, its reused read
// buffer and its writer.
type wireConn struct {
	nc    net.Conn
	br    *connReader
	w     *writer
	open  frames.Open
	limit int64

	hdr [ws.MaxHeaderSize]byte
	buf []byte

	inf *inflater // permessage-deflate, when negotiated

	aborted atomic.Pointer[error] // why the stream side closed the socket
	joinT   *time.Timer           // bounds the CONNECT replies after a reconnect

	// binary packet being assembled
	bin      *binaryPacket
	deadline time.Duration // pingInterval + pingTimeout
}

// binaryPacket is a BINARY_EVENT or BINARY_ACK waiting for attachments.
type binaryPacket struct {
	st   *Stream
	pkt  frames.Packet
	data []byte // owned copy of the text frame's JSON
	atts [][]byte
	size int
}

var (
	errMaskedFrame   = errors.New("server frame is masked")
	errReservedBits  = errors.New("reserved bits set")
	errBadOpcode     = errors.New("unknown or unexpected opcode")
	errBadControl    = errors.New("fragmented or oversize control frame")
	errBadContinue   = errors.New("continuation frame without a message")
	errInvalidUTF8   = errors.New("text frame is not valid UTF-8")
	errTooLarge      = errors.New("message exceeds the read limit")
	errPeerClosed    = errors.New("server closed the WebSocket")
	errEngineClose   = errors.New("server sent an Engine.IO close packet")
	errUnexpectedBin = errors.New("binary frame with no attachment expected")
	errPendingBin    = errors.New("text frame while attachments are pending")
)

// readMessage returns the next whole data message (text or binary). The
// payload is valid until the next call. Control frames are handled here.
func (c *wireConn) readMessage() (ws.OpCode, []byte, error) {
	var op ws.OpCode
	var compressed bool
	c.buf = c.buf[:0]
	for {
		h, err := ws.ReadHeaderBuffer(c.br, c.hdr[:])
		if errors.Is(err, ws.ErrHeaderLengthMSB) || errors.Is(err, ws.ErrHeaderLengthUnexpected) {
			return 0, nil, protoErr("websocket", err)
		}
		if err != nil {
			return 0, nil, err
		}
		if h.Rsv == rsv1 && c.inf != nil && h.OpCode.IsData() && op == 0 {
			h.Rsv, compressed = 0, true
		}
		if err := checkHeader(h); err != nil {
			return 0, nil, protoErr("websocket", err)
		}
		if h.OpCode.IsControl() {
			if err := c.control(h); err != nil {
				return 0, nil, err
			}
			continue
		}
		if op, err = nextOp(op, h.OpCode); err != nil {
			return 0, nil, protoErr("websocket", err)
		}
		if err := c.readPayload(h.Length); err != nil {
			return 0, nil, err
		}
		if !h.Fin {
			continue
		}
		if compressed {
			p, err := c.inf.inflate(c.buf, c.limit)
			return op, p, err
		}
		return op, c.buf, nil
	}
}

var rsv1 = ws.Rsv(true, false, false)

func checkHeader(h ws.Header) error {
	switch {
	case h.Masked:
		return errMaskedFrame
	case h.Rsv != 0:
		return errReservedBits
	case h.OpCode.IsReserved():
		return errBadOpcode
	case h.OpCode.IsControl() && (!h.Fin || h.Length > 125):
		return errBadControl
	}
	return nil
}

func nextOp(cur, got ws.OpCode) (ws.OpCode, error) {
	switch {
	case got == ws.OpContinuation && cur == 0:
		return 0, errBadContinue
	case got == ws.OpContinuation:
		return cur, nil
	case cur != 0:
		return 0, errBadContinue
	}
	return got, nil
}

// readPayload appends n payload bytes to c.buf after checking the total
// against the read limit. The buffer grows as bytes arrive (at most
// doubling per step), never all at once from the declared length.
func (c *wireConn) readPayload(n int64) error {
	if n > c.limit-int64(len(c.buf)) {
		return protoErr("websocket", fmt.Errorf("%w (%d > %d bytes)", errTooLarge, int64(len(c.buf))+n, c.limit))
	}
	for n > 0 {
		step := min(n, int64(max(cap(c.buf), 64<<10)))
		start := len(c.buf)
		c.buf = grow(c.buf, int(step))
		if _, err := io.ReadFull(c.br, c.buf[start:]); err != nil {
			return err
		}
		n -= step
	}
	return nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, max(2*cap(b), len(b)+n, 512))
	copy(nb, b)
	return nb
}

// control handles a control frame read in the middle of the stream.
func (c *wireConn) control(h ws.Header) error {
	var p [125]byte
	body := p[:h.Length]
	if _, err := io.ReadFull(c.br, body); err != nil {
		return err
	}
	switch h.OpCode {
	case ws.OpClose:
		c.w.finish(nil)
		return errPeerClosed
	case ws.OpPing:
		c.w.enqueue(&outFrame{op: ws.OpPong, data: append([]byte(nil), body...)})
	}
	return nil
}

// readEngine reads the next Engine.IO packet; binary messages come back
// as EngineMessage with bin set.
func (c *wireConn) readEngine() (t frames.EngineType, payload []byte, bin bool, err error) {
	op, p, err := c.readMessage()
	if err != nil {
		return 0, nil, false, err
	}
	if op == ws.OpBinary {
		return frames.EngineMessage, p, true, nil
	}
	if !utf8.Valid(p) {
		return 0, nil, false, protoErr("websocket", errInvalidUTF8)
	}
	t, payload, err = frames.ParseEngine(p)
	if err != nil {
		return 0, nil, false, protoErr("engine.io", err)
	}
	return t, payload, false, nil
}

// abort closes the socket for err, which the reader then reports.
func (c *wireConn) abort(err error) {
	c.aborted.CompareAndSwap(nil, &err)
	c.nc.Close()
}

// cause returns the abort reason if the stream closed the socket.
func (c *wireConn) cause(err error) error {
	if e := c.aborted.Load(); e != nil {
		return *e
	}
	return err
}

// resetHeartbeat restarts the dead-server clock: the server must ping
// again within pingInterval + pingTimeout.
func (c *wireConn) resetHeartbeat() {
	c.nc.SetReadDeadline(time.Now().Add(c.deadline))
}

// classify maps a read error to the reference client's disconnect reason.
func classify(err error) (Reason, error) {
	var pe *ProtocolError
	var ne net.Error
	switch {
	case errors.Is(err, ErrJoinTimeout):
		return ReasonTransportError, err
	case errors.As(err, &pe):
		return ReasonParseError, err
	case errors.Is(err, errPeerClosed), errors.Is(err, errEngineClose), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonTransportClose, err
	case errors.As(err, &ne) && ne.Timeout():
		return ReasonPingTimeout, ErrPingTimeout
	}
	return ReasonTransportError, err
}
