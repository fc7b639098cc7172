package siostream

import (
	"bufio"
	"io"
	"net"

	"github.com/gobwas/ws"
)

// Read buffer sizes: idle connections keep the small one (pings and the
// odd event fit); a connection whose reads keep filling the buffer grows
// it, up to the large one, to save system calls under load.
const (
	readBufMin = 512
	readBufMax = 64 << 10
)

// connReader is a buffered reader over the socket that grows with the
// traffic.
type connReader struct {
	src  io.Reader
	buf  []byte
	r, w int
}

// newConnReader takes over the bytes the handshake reader already holds.
func newConnReader(nc net.Conn, br *bufio.Reader) *connReader {
	cr := &connReader{src: nc, buf: make([]byte, readBufMin)}
	if br != nil {
		n := br.Buffered()
		if n > len(cr.buf) {
			cr.buf = make([]byte, n)
		}
		cr.w, _ = io.ReadFull(br, cr.buf[:n])
		ws.PutReader(br)
	}
	return cr
}

func (cr *connReader) Read(p []byte) (int, error) {
	if cr.r == cr.w {
		if len(p) >= len(cr.buf) {
			return cr.src.Read(p) // large reads skip the buffer
		}
		if err := cr.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, cr.buf[cr.r:cr.w])
	cr.r += n
	return n, nil
}

// fill reads once into the empty buffer, growing it first when the last
// read filled it.
func (cr *connReader) fill() error {
	if cr.w == len(cr.buf) && len(cr.buf) < readBufMax {
		cr.buf = make([]byte, 2*len(cr.buf))
	}
	cr.r, cr.w = 0, 0
	n, err := cr.src.Read(cr.buf)
	cr.w = n
	if n > 0 {
		return nil
	}
	return err
}
