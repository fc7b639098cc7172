package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/gobwas/ws"
)

// frameReader reads whole WebSocket messages (continuation frames joined)
// into one reused buffer. Masked payloads are unmasked in place, so it
// serves the server side (client frames are masked) and the client side.
type frameReader struct {
	br  *bufio.Reader
	buf []byte
	// onControl is called for ping and close frames; nil ignores them.
	onControl func(op ws.OpCode, body []byte) error
}

var errClosed = errors.New("peer sent a close frame")

// next returns the next data message; its bytes are valid until the next
// call.
func (r *frameReader) next() (ws.OpCode, []byte, error) {
	var op ws.OpCode
	r.buf = r.buf[:0]
	for {
		h, err := ws.ReadHeader(r.br)
		if err != nil {
			return 0, nil, err
		}
		start := len(r.buf)
		if int64(cap(r.buf)-start) < h.Length {
			nb := make([]byte, start, start+int(h.Length)+4096)
			copy(nb, r.buf)
			r.buf = nb
		}
		r.buf = r.buf[:start+int(h.Length)]
		if _, err := io.ReadFull(r.br, r.buf[start:]); err != nil {
			return 0, nil, err
		}
		if h.Masked {
			ws.Cipher(r.buf[start:], h.Mask, 0)
		}
		if h.OpCode.IsControl() {
			body := r.buf[start:]
			r.buf = r.buf[:start]
			if h.OpCode == ws.OpClose {
				if r.onControl != nil {
					r.onControl(h.OpCode, body)
				}
				return 0, nil, errClosed
			}
			if r.onControl != nil {
				if err := r.onControl(h.OpCode, body); err != nil {
					return 0, nil, err
				}
			}
			continue
		}
		if h.OpCode != ws.OpContinuation {
			op = h.OpCode
		}
		if h.Fin {
			return op, r.buf, nil
		}
	}
}

// appendServerFrame appends an unmasked frame (server to client).
func appendServerFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	var hb bytes.Buffer
	ws.WriteHeader(&hb, h)
	dst = append(dst, hb.Bytes()...)
	return append(dst, payload...)
}

// writeServerFrame writes an unmasked frame to w.
func writeServerFrame(w *bufio.Writer, op ws.OpCode, payload []byte) error {
	if err := ws.WriteHeader(w, ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// frameWriter writes masked client frames into a bufio.Writer, which
// goes to the socket only when it fills or on flush. Each frame gets a
// fresh masking key from crypto/rand, read 256 bytes at a time; the
// payload is masked in a reused scratch buffer, so the caller's bytes
// stay as they were. Nothing here allocates once the scratch buffer has
// grown to the largest frame.
type frameWriter struct {
	bw      *bufio.Writer
	keys    [256]byte
	nextKey int
	hdr     [ws.MaxHeaderSize]byte
	masked  []byte
}

func newFrameWriter(w io.Writer, size int) *frameWriter {
	return &frameWriter{bw: bufio.NewWriterSize(w, size), nextKey: 256}
}

func (w *frameWriter) key() (k [4]byte) {
	if w.nextKey+len(k) > len(w.keys) {
		rand.Read(w.keys[:])
		w.nextKey = 0
	}
	copy(k[:], w.keys[w.nextKey:])
	w.nextKey += len(k)
	return k
}

// write buffers one final frame.
func (w *frameWriter) write(op ws.OpCode, payload []byte) error {
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: w.key(), Length: int64(len(payload))}
	if err := ws.WriteHeaderBuffer(w.bw, h, w.hdr[:]); err != nil {
		return err
	}
	w.masked = append(w.masked[:0], payload...)
	ws.Cipher(w.masked, h.Mask, 0)
	_, err := w.bw.Write(w.masked)
	return err
}

func (w *frameWriter) flush() error { return w.bw.Flush() }

// payloadString returns n bytes of printable ASCII that need no JSON
// escaping.
func payloadString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

// eventFrame returns the Engine.IO message for a Socket.IO EVENT with one
// string argument: 42["name","arg"].
func eventFrame(name, arg string) []byte {
	return []byte(`42["` + name + `","` + arg + `"]`)
}

// sioPacket is the part of a Socket.IO packet the load server needs.
type sioPacket struct {
	typ   byte   // '0' CONNECT, '1' DISCONNECT, '2' EVENT, '3' ACK ...
	ns    []byte // "" or "/name," including the comma
	id    []byte // ack id digits, empty when absent
	data  []byte // JSON payload
	valid bool
}

// parseSIO splits an Engine.IO message payload (after the '4').
func parseSIO(p []byte) sioPacket {
	if len(p) == 0 {
		return sioPacket{}
	}
	pk := sioPacket{typ: p[0], valid: true}
	p = p[1:]
	if pk.typ == '5' || pk.typ == '6' { // binary: attachments count
		if i := bytes.IndexByte(p, '-'); i >= 0 {
			p = p[i+1:]
		}
	}
	if len(p) > 0 && p[0] == '/' {
		i := bytes.IndexByte(p, ',')
		if i < 0 {
			pk.ns, p = p, nil
		} else {
			pk.ns, p = p[:i+1], p[i+1:]
		}
	}
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	pk.id, pk.data = p[:i], p[i:]
	return pk
}

// splitName returns the event name (unquoted, no escapes expected) and
// the JSON array of the remaining arguments of an EVENT's data.
func splitName(data []byte) (name string, rest []byte, ok bool) {
	if len(data) < 4 || data[0] != '[' || data[1] != '"' {
		return "", nil, false
	}
	i := 2
	for i < len(data) && data[i] != '"' {
		if data[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(data) {
		return "", nil, false
	}
	name = string(data[2:i])
	i++
	for i < len(data) && (data[i] == ' ' || data[i] == ',') {
		i++
	}
	rest = make([]byte, 0, len(data)-i+1)
	rest = append(append(rest, '['), data[i:]...)
	return name, rest, true
}

// appendEventWithID appends 42<id>["name","arg"]: an EVENT with one
// string argument that asks for an ack.
func appendEventWithID(dst []byte, id int, name, arg string) []byte {
	dst = strconv.AppendInt(append(dst, "42"...), int64(id), 10)
	dst = append(append(append(dst, `["`...), name...), `","`...)
	return append(append(dst, arg...), `"]`...)
}

func openPacket(sid string, pingInterval, pingTimeout int) []byte {
	return []byte(fmt.Sprintf(`0{"sid":%q,"upgrades":[],"pingInterval":%d,"pingTimeout":%d,"maxPayload":1000000}`,
		sid, pingInterval, pingTimeout))
}

func ackFrame(ns, id []byte, args []byte) []byte {
	b := make([]byte, 0, 3+len(ns)+len(id)+len(args))
	b = append(append(append(b, "43"...), ns...), id...)
	return append(b, args...)
}

func itoa(n int) string { return strconv.Itoa(n) }
