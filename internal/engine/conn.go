package engine

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

// Handler receives the messages of a connection, on the goroutine that
// runs Serve.
type Handler interface {
	// Message is called for every Engine.IO message: a text one carries a
	// Socket.IO packet (without the '4'), a binary one an attachment. p is
	// valid only until Message returns. A non-nil error ends the
	// connection, and Serve returns it.
	Message(p []byte, binary bool) error
}

// Conn is one Engine.IO connection. Serve must be called by one goroutine
// (the reader), which alone may call ResetHeartbeat; Send, Abort and Leave
// are safe from any goroutine.
type Conn struct {
	nc    net.Conn
	br    *bufReader
	w     *writer
	open  frames.Open
	limit int64
	// followServer: the read limit follows the server's maxPayload.
	followServer bool
	deadline     time.Duration // pingInterval + pingTimeout
	inf          *inflater     // permessage-deflate, when negotiated

	hdr [ws.MaxHeaderSize]byte
	buf []byte // the message being read

	aborted atomic.Pointer[error] // why this side closed the socket
	unsent  []*Frame

	extended bool // reader only: the heartbeat got one more window (see socket.Read)
}

// readGrace is how long a read past the heartbeat deadline looks for bytes
// already waiting.
const readGrace = 50 * time.Millisecond

// socket is the connection's reader of the network. The heartbeat is a
// read deadline, which the runtime reports before it looks at the bytes
// the kernel holds: a reader far behind a backlog (a starved CPU, a huge
// burst) would take the server for silent while its next ping already
// waits. So a read that hits the deadline looks once more, briefly; bytes
// there give the clock one more window, until the next ping resets it. A
// server that is silent still fails the look, within readGrace.
type socket struct{ c *Conn }

func (s socket) Read(p []byte) (int, error) {
	c := s.c
	n, err := c.nc.Read(p)
	var ne net.Error
	if n > 0 || c.extended || c.deadline == 0 || c.aborted.Load() != nil || !errors.As(err, &ne) || !ne.Timeout() {
		return n, err
	}
	c.nc.SetReadDeadline(time.Now().Add(readGrace))
	if n, err = c.nc.Read(p); n > 0 {
		c.extended = true
		c.nc.SetReadDeadline(time.Now().Add(c.deadline))
	}
	return n, err
}

// Open returns the server's open packet.
func (c *Conn) Open() frames.Open { return c.open }

// ReadLimit returns the largest message the connection accepts.
func (c *Conn) ReadLimit() int64 { return c.limit }

// Compressed reports whether permessage-deflate was negotiated.
func (c *Conn) Compressed() bool { return c.inf != nil }

// Send queues f for the writer. It returns ErrClosed (or the write error)
// once the connection is closing or broken; f is then still the caller's.
// Otherwise f belongs to the connection: its Owner is told when it is
// written, or it comes back from Unsent.
func (c *Conn) Send(f *Frame) error { return c.w.send(f) }

// Serve reads the connection until it ends and returns why: an error the
// Handler returned, a *ProtocolError, ErrPingTimeout, ErrPeerClosed, the
// cause given to Abort or Leave, or the socket's error. It answers pings
// on its own. Before it returns, the socket is closed and the writer
// stopped; Unsent then has the frames never written.
func (c *Conn) Serve(h Handler) error {
	err := c.cause(c.serve(h))
	c.nc.Close()
	c.unsent = c.w.stop(err)
	return err
}

// Unsent returns, after Serve returned, the frames with an owner that were
// never written in full, oldest first. Each one is the caller's again.
func (c *Conn) Unsent() []*Frame {
	u := c.unsent
	c.unsent = nil
	return u
}

// ResetHeartbeat restarts the dead-server clock: the server must ping
// within pingInterval + pingTimeout from now. The reader calls it after
// it stopped reading for a while of its own accord.
func (c *Conn) ResetHeartbeat() {
	c.extended = false
	c.nc.SetReadDeadline(time.Now().Add(c.deadline))
}

// Abort closes the socket at once; Serve returns err.
func (c *Conn) Abort(err error) {
	c.aborted.CompareAndSwap(nil, &err)
	c.nc.Close()
}

// Leave closes the connection politely: the writer sends what is queued,
// then final (if not nil), then a WebSocket close frame, for at most wait
// and only while its writes make progress (a server that stopped reading
// gets no more than leaveStall); then the socket is closed. Serve returns
// ErrClosed.
func (c *Conn) Leave(final *Frame, wait time.Duration) {
	closed := ErrClosed
	c.aborted.CompareAndSwap(nil, &closed)
	done := c.w.finish(final)
	end := time.Now().Add(wait)
	t := time.NewTimer(min(wait, leaveStall))
	defer t.Stop()
	for writes := c.w.writes.Load(); ; {
		select {
		case <-done:
		case <-t.C:
			now := c.w.writes.Load()
			if now != writes && time.Now().Before(end) {
				writes = now
				t.Reset(min(time.Until(end), leaveStall))
				continue
			}
		}
		break
	}
	c.nc.Close()
}

// leaveStall is how long Leave waits for a writer that makes no progress.
const leaveStall = 50 * time.Millisecond

func (c *Conn) cause(err error) error {
	if e := c.aborted.Load(); e != nil {
		return *e
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrPingTimeout
	}
	return err
}

func (c *Conn) serve(h Handler) error {
	for {
		op, p, err := c.readMessage()
		if err != nil {
			return err
		}
		if op == ws.OpBinary {
			err = h.Message(p, true)
		} else {
			err = c.engine(h, p)
		}
		if err != nil {
			return err
		}
		c.release()
	}
}

// engine handles one text message, an Engine.IO packet.
func (c *Conn) engine(h Handler, p []byte) error {
	if !utf8.Valid(p) {
		return protoErr("websocket", errInvalidUTF8)
	}
	t, payload, err := frames.ParseEngine(p)
	if err != nil {
		return protoErr("engine.io", err)
	}
	switch t {
	case frames.EngineMessage:
		return h.Message(payload, false)
	case frames.EnginePing:
		c.w.pongEngine()
		c.ResetHeartbeat()
	case frames.EngineClose:
		return ErrPeerClosed
	case frames.EngineOpen:
		return protoErr("engine.io", errOpenTwice)
	}
	return nil // pong, upgrade and noop mean nothing here
}

// release drops buffers grown for a large message, so that one large
// message does not pin its size for the connection's life.
func (c *Conn) release() {
	if cap(c.buf) > readBufMax {
		c.buf = nil
	}
	if c.inf != nil {
		c.inf.release()
	}
}

// readMessage returns the next whole data message (text or binary). The
// payload is valid until the next call. Control frames are handled here.
func (c *Conn) readMessage() (ws.OpCode, []byte, error) {
	var op ws.OpCode
	var compressed bool
	c.buf = c.buf[:0]
	for {
		h, ok := c.br.header()
		var err error
		if !ok {
			h, err = ws.ReadHeaderBuffer(c.br, c.hdr[:])
		}
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
		first := op == 0
		if op, err = nextOp(op, h.OpCode); err != nil {
			return 0, nil, protoErr("websocket", err)
		}
		if first && h.Fin && !compressed && h.Length <= c.limit {
			if p, ok := c.br.take(int(h.Length)); ok {
				return op, p, nil // already buffered: no copy
			}
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
func (c *Conn) readPayload(n int64) error {
	if n > c.limit-int64(len(c.buf)) {
		return protoErr("websocket", fmt.Errorf("%w (%d > %d bytes)", ErrTooLarge, int64(len(c.buf))+n, c.limit))
	}
	for n > 0 {
		step := min(n, int64(max(cap(c.buf), readBufMax)))
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
	nb := make([]byte, len(b)+n, max(2*cap(b), len(b)+n, readBufMin))
	copy(nb, b)
	return nb
}

// control handles a control frame read in the middle of the stream. Its
// payload (at most 125 bytes) lives on the stack: a flood of pings costs
// no memory, and at most one pong waits to be written.
func (c *Conn) control(h ws.Header) error {
	var p [125]byte
	body := p[:h.Length]
	if _, err := io.ReadFull(c.br, body); err != nil {
		return err
	}
	switch h.OpCode {
	case ws.OpClose:
		return ErrPeerClosed // Serve closes the socket: no close frame could go out
	case ws.OpPing:
		c.w.pongWS(body)
	}
	return nil
}

// Discard closes a connection that was never served.
func (c *Conn) Discard() {
	c.Abort(ErrClosed)
	c.w.stop(ErrClosed)
}
