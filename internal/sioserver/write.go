package sioserver

import (
	"errors"
	"fmt"
	"time"

	"github.com/gobwas/ws"

	"github.com/siostream/siostream/frames"
)

// WebSocket close codes the server sends.
const (
	closeNormal        = ws.StatusNormalClosure
	closeGoingAway     = ws.StatusGoingAway
	closeProtocolError = ws.StatusProtocolError
	closeInvalidData   = ws.StatusInvalidFramePayloadData
	closeTooBig        = ws.StatusMessageTooBig
)

// closeWriteTimeout bounds the close frame written when a connection ends.
const closeWriteTimeout = 100 * time.Millisecond

// WriteText sends frame as one text WebSocket frame, as is: for example
// `42["x"]`, or something malformed.
func (c *Conn) WriteText(frame string) error {
	return c.writeText([]byte(frame))
}

// WriteBinary sends b as one binary WebSocket frame.
func (c *Conn) WriteBinary(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked(c.frameLocked(ws.OpBinary, b))
}

// WriteRaw writes b to the connection's byte stream as is, outside any
// WebSocket framing: for hostile frame headers and payloads.
func (c *Conn) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return ErrClosed
	}
	_, err := c.bw.Write(b)
	return c.flushLocked(err)
}

func (c *Conn) writeText(p []byte) error {
	return c.writeMessage(p, nil)
}

// writeMessage sends a text frame followed by its binary attachments.
func (c *Conn) writeMessage(text []byte, atts [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(text, atts)
}

func (c *Conn) writeLocked(text []byte, atts [][]byte) error {
	err := c.frameLocked(ws.OpText, text)
	for _, a := range atts {
		if err != nil {
			break
		}
		err = c.frameLocked(ws.OpBinary, a)
	}
	return c.flushLocked(err)
}

// frameLocked buffers one unmasked final frame.
func (c *Conn) frameLocked(op ws.OpCode, p []byte) error {
	if c.isClosed() {
		return ErrClosed
	}
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(p))}
	err := ws.WriteHeaderBuffer(c.bw, h, c.whdr[:])
	if err == nil {
		_, err = c.bw.Write(p)
	}
	return err
}

// flushLocked flushes the buffered frames unless err is set; a failed
// write ends the connection.
func (c *Conn) flushLocked(err error) error {
	if err == nil {
		err = c.bw.Flush()
	}
	if err == nil || errors.Is(err, ErrClosed) {
		return err
	}
	if c.isClosed() {
		return ErrClosed
	}
	c.shutdown(fmt.Errorf("sioserver: write: %w", err), 0)
	return err
}

// tryWriteClose sends a close frame if no other write is in progress,
// giving up after closeWriteTimeout.
func (c *Conn) tryWriteClose(code ws.StatusCode) {
	if !c.wmu.TryLock() {
		return
	}
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	body := ws.NewCloseFrameBody(code, "")
	if c.frameLocked(ws.OpClose, body) == nil {
		_ = c.bw.Flush()
	}
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// sendOpen sends the Engine.IO open packet.
func (c *Conn) sendOpen() error {
	o := frames.Open{
		SID:          c.id,
		Upgrades:     []string{},
		PingInterval: c.s.opts.PingInterval,
		PingTimeout:  c.s.opts.PingTimeout,
		MaxPayload:   c.s.opts.MaxPayload,
	}
	return c.writeText(frames.AppendOpen([]byte{'0'}, o))
}

// closeCodeFor picks the close frame sent for a connection ending with err.
func closeCodeFor(err error) ws.StatusCode {
	switch {
	case errors.Is(err, ErrTooLarge):
		return closeTooBig
	case errors.Is(err, errInvalidUTF8):
		return closeInvalidData
	case errors.Is(err, ErrProtocol):
		return closeProtocolError
	case errors.Is(err, ErrPingTimeout), errors.Is(err, ErrConnectTimeout):
		return closeNormal
	}
	return 0
}
