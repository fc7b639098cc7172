package sioserver

import (
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// maxControlPayload is the longest control frame payload RFC 6455 allows.
const maxControlPayload = 125

var errInvalidUTF8 = fmt.Errorf("%w: invalid UTF-8 in a text message", ErrProtocol)

// readLoop reads and handles the client's messages until an error.
func (c *Conn) readLoop() error {
	for {
		if err := c.readGate(); err != nil {
			return err
		}
		op, msg, err := c.readMessage()
		if err != nil {
			return err
		}
		if err := c.handleMessage(op, msg); err != nil {
			return err
		}
	}
}

// readMessage returns the next complete data message, reassembling
// fragments and answering control frames on the way.
func (c *Conn) readMessage() (ws.OpCode, []byte, error) {
	var op ws.OpCode
	var msg []byte
	for {
		h, p, err := c.readFrame(int64(len(msg)))
		if err != nil {
			return 0, nil, err
		}
		if h.OpCode.IsControl() {
			if err := c.control(h.OpCode, p); err != nil {
				return 0, nil, err
			}
			continue
		}
		if op, err = nextFragment(op, h.OpCode); err != nil {
			return 0, nil, err
		}
		if msg == nil {
			msg = p
		} else {
			msg = append(msg, p...)
		}
		if h.Fin {
			return op, msg, checkText(op, msg)
		}
	}
}

// nextFragment returns the opcode of the message a frame with opcode got
// belongs to, given the opcode cur of the message in progress (0: none).
func nextFragment(cur, got ws.OpCode) (ws.OpCode, error) {
	switch {
	case got == ws.OpContinuation && cur == 0:
		return 0, fmt.Errorf("%w: continuation frame without a message", ErrProtocol)
	case got == ws.OpContinuation:
		return cur, nil
	case cur != 0:
		return 0, fmt.Errorf("%w: data frame inside a fragmented message", ErrProtocol)
	}
	return got, nil
}

func checkText(op ws.OpCode, msg []byte) error {
	if op == ws.OpText && !utf8.Valid(msg) {
		return errInvalidUTF8
	}
	return nil
}

// readFrame reads one frame and unmasks its payload. have is the length
// of the message read so far, which counts against MaxPayload.
func (c *Conn) readFrame(have int64) (ws.Header, []byte, error) {
	h, err := ws.ReadHeaderBuffer(c.br, c.rhdr[:])
	if err != nil {
		return h, nil, fmt.Errorf("sioserver: read: %w", err)
	}
	if err := c.checkHeader(h, have); err != nil {
		return h, nil, err
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return h, nil, fmt.Errorf("sioserver: read: %w", err)
	}
	ws.Cipher(p, h.Mask, 0)
	return h, p, nil
}

// checkHeader validates a client frame header before its payload is read.
func (c *Conn) checkHeader(h ws.Header, have int64) error {
	switch {
	case !h.Masked:
		return fmt.Errorf("%w: unmasked client frame", ErrProtocol)
	case h.Rsv != 0:
		return fmt.Errorf("%w: reserved bits set", ErrProtocol)
	case h.OpCode.IsReserved():
		return fmt.Errorf("%w: reserved opcode %d", ErrProtocol, h.OpCode)
	case h.OpCode.IsControl() && (!h.Fin || h.Length > maxControlPayload):
		return fmt.Errorf("%w: fragmented or long control frame", ErrProtocol)
	case h.OpCode.IsControl():
		return nil
	case h.Length > c.s.opts.MaxPayload-have:
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, have+h.Length)
	}
	return nil
}

// control answers a control frame: pong for ping, close for close.
func (c *Conn) control(op ws.OpCode, p []byte) error {
	switch op {
	case ws.OpPing:
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return c.flushLocked(c.frameLocked(ws.OpPong, p))
	case ws.OpClose:
		return c.closeReply(p)
	}
	return nil
}

// closeReply echoes the client's close frame and ends the connection.
func (c *Conn) closeReply(p []byte) error {
	if len(p) == 1 {
		return fmt.Errorf("%w: close frame body of 1 byte", ErrProtocol)
	}
	var body []byte
	if len(p) >= 2 {
		code, _ := ws.ParseCloseFrameData(p)
		body = ws.NewCloseFrameBody(code, "")
	}
	c.wmu.Lock()
	if c.frameLocked(ws.OpClose, body) == nil {
		_ = c.bw.Flush()
	}
	c.wmu.Unlock()
	return ErrClientClosed
}
