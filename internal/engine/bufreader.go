package engine

import (
	"bufio"
	"encoding/binary"
	"io"

	"github.com/gobwas/ws"
)

// Read buffer sizes: an idle connection keeps the small one (pings and the
// odd event fit); a connection whose reads keep filling the buffer grows
// it, up to the large one, to save system calls, and shrinks it again when
// the traffic falls off.
const (
	readBufMin = 256
	readBufMax = 64 << 10
	// shrinkAfter reads that use less than an eighth of the buffer halve it.
	shrinkAfter = 16
)

// bufReader is a buffered reader over the socket that grows and shrinks
// with the traffic.
type bufReader struct {
	src   io.Reader
	buf   []byte
	r, w  int
	quiet int // reads in a row that used little of buf
}

// newBufReader takes over the bytes the handshake reader already holds.
func newBufReader(src io.Reader, br *bufio.Reader) *bufReader {
	b := &bufReader{src: src, buf: make([]byte, readBufMin)}
	if br != nil {
		n := br.Buffered()
		if n > len(b.buf) {
			b.buf = make([]byte, n)
		}
		b.w, _ = io.ReadFull(br, b.buf[:n])
		ws.PutReader(br)
	}
	return b
}

func (b *bufReader) Read(p []byte) (int, error) {
	if b.r == b.w {
		if len(p) >= len(b.buf) {
			return b.src.Read(p) // large reads skip the buffer
		}
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// header parses the next frame header when it is buffered whole and
// unmasked with a length below 65536 (what servers send); else it
// reports false and leaves the bytes for ws.ReadHeaderBuffer.
func (b *bufReader) header() (ws.Header, bool) {
	p := b.buf[b.r:b.w]
	if len(p) < 2 || p[1]&0x80 != 0 {
		return ws.Header{}, false
	}
	h := ws.Header{Fin: p[0]&0x80 != 0, Rsv: (p[0] & 0x70) >> 4, OpCode: ws.OpCode(p[0] & 0x0f)}
	switch n := p[1] & 0x7f; {
	case n < 126:
		h.Length = int64(n)
		b.r += 2
	case n == 126 && len(p) >= 4:
		h.Length = int64(binary.BigEndian.Uint16(p[2:4]))
		b.r += 4
	default:
		return ws.Header{}, false
	}
	return h, true
}

// take returns the next n bytes when they are buffered already, as a view
// valid until the next read.
func (b *bufReader) take(n int) ([]byte, bool) {
	if b.w-b.r < n {
		return nil, false
	}
	p := b.buf[b.r : b.r+n : b.r+n]
	b.r += n
	return p, true
}

// fill reads once into the empty buffer, resizing it first from how the
// last read went.
func (b *bufReader) fill() error {
	switch {
	case b.w == len(b.buf) && len(b.buf) < readBufMax:
		b.buf, b.quiet = make([]byte, 2*len(b.buf)), 0
	case b.w < len(b.buf)/8 && len(b.buf) > readBufMin:
		if b.quiet++; b.quiet >= shrinkAfter {
			b.buf, b.quiet = make([]byte, len(b.buf)/2), 0
		}
	default:
		b.quiet = 0
	}
	b.r, b.w = 0, 0
	n, err := b.src.Read(b.buf)
	b.w = n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}
