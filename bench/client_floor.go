package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/gobwas/ws"
)

// The floor is a bare gobwas/ws client: it does the Engine.IO and
// Socket.IO handshake by hand, then reads frames without decoding them
// (receive), writes pre-encoded EVENT frames into a buffered writer that
// goes to the socket only when it fills (emit), or writes one frame,
// flushes and reads until the matching ACK (ack). No Socket.IO client can
// do the same work faster over the same socket.

type rawConn struct {
	nc net.Conn
	br *bufio.Reader
	fw *frameWriter
}

// floorWriteBuffer is the size of the floor's bufio.Writer, the same as
// siostream's write buffer.
const floorWriteBuffer = 4096

func wsURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Scheme = "ws"
	u.Path = "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	return u.String()
}

// rawDial connects and joins the main namespace.
func rawDial(ctx context.Context, base string) (*rawConn, error) {
	nc, br, _, err := ws.Dial(ctx, wsURL(base))
	if err != nil {
		return nil, err
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, 4096) // gobwas/ws's default read buffer
	}
	c := &rawConn{nc: nc, br: br, fw: newFrameWriter(nc, floorWriteBuffer)}
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	fr := frameReader{br: br}
	op, p, err := fr.next()
	if err != nil || op != ws.OpText || len(p) == 0 || p[0] != '0' {
		nc.Close()
		return nil, fmt.Errorf("no open packet (%v)", err)
	}
	if err := c.send([]byte("40")); err != nil {
		nc.Close()
		return nil, err
	}
	for {
		op, p, err := fr.next()
		if err != nil {
			nc.Close()
			return nil, err
		}
		if op == ws.OpText && bytes.HasPrefix(p, []byte("40")) {
			return c, nil
		}
		if op == ws.OpText && bytes.Equal(p, []byte("2")) {
			c.send([]byte("3"))
		}
	}
}

// send writes one text frame and flushes it.
func (c *rawConn) send(p []byte) error {
	if err := c.fw.write(ws.OpText, p); err != nil {
		return err
	}
	return c.fw.flush()
}

func (c *rawConn) close() {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.fw.write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	c.fw.flush()
	c.nc.Close()
}

func runFloor(ctx context.Context, t task) (result, error) {
	switch t.Kind {
	case "receive":
		return floorReceive(ctx, t)
	case "emit":
		return floorEmit(ctx, t)
	case "ack":
		return floorAck(ctx, t)
	}
	return result{}, fmt.Errorf("floor: no %s task", t.Kind)
}

// floorReceive reads headers with ws.ReadHeader and payloads into one
// reused buffer, counting frames until the done event.
func floorReceive(ctx context.Context, t task) (result, error) {
	c, err := rawOpen(ctx, t.URL)
	if err != nil {
		return result{}, err
	}
	defer c.close()
	done := []byte(`42["done"]`)
	buf := make([]byte, 64<<10)
	count := 0
	m0 := readMem()
	start := time.Now()
	if err := c.send([]byte(`42["start"]`)); err != nil {
		return result{}, err
	}
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return result{}, err
		}
		if h.Length > int64(len(buf)) {
			return result{}, errors.New("frame larger than the floor's buffer")
		}
		p := buf[:h.Length]
		if _, err := io.ReadFull(c.br, p); err != nil {
			return result{}, err
		}
		if h.OpCode == ws.OpText && len(p) == len(done) && bytes.Equal(p, done) {
			break
		}
		count++
	}
	r := result{Events: count, Seconds: time.Since(start).Seconds()}
	r.setMem(m0, readMem())
	return r, checkCount(count, t.N)
}

// floorEmit writes N frames 42["ev","<payload>"] from one goroutine,
// whatever t.Workers says: the buffered writer goes to the socket only
// when it fills. Then it sends 420["done"] and waits for the sink
// server's ACK, which carries the count of events it read.
func floorEmit(ctx context.Context, t task) (result, error) {
	c, err := rawOpen(ctx, t.URL)
	if err != nil {
		return result{}, err
	}
	defer c.close()
	fr := frameReader{br: c.br}
	frame := eventFrame("ev", payloadString(t.Size))
	m0 := readMem()
	start := time.Now()
	for range t.N {
		if err := c.fw.write(ws.OpText, frame); err != nil {
			return result{}, err
		}
	}
	if err := c.send([]byte(`420["done"]`)); err != nil {
		return result{}, err
	}
	args, err := c.awaitAck(&fr, []byte("430"))
	if err != nil {
		return result{}, err
	}
	r := result{Events: t.N, Seconds: time.Since(start).Seconds()}
	r.setMem(m0, readMem())
	got, err := sinkCount(args)
	if err != nil {
		return r, err
	}
	return r, checkCount(got, t.N)
}

// floorAck writes 42N["ack","<payload>"], flushes, and reads frames
// until 43N[...], one round trip at a time.
func floorAck(ctx context.Context, t task) (result, error) {
	c, err := rawOpen(ctx, t.URL)
	if err != nil {
		return result{}, err
	}
	defer c.close()
	fr := frameReader{br: c.br}
	payload := payloadString(t.Size)
	var msg, want []byte
	lat := make(latencies, 0, t.N)
	for i := range t.Warmup + t.N {
		msg = appendEventWithID(msg[:0], i, "ack", payload)
		want = strconv.AppendInt(append(want[:0], "43"...), int64(i), 10)
		start := time.Now()
		if err := c.send(msg); err != nil {
			return result{}, err
		}
		if _, err := c.awaitAck(&fr, want); err != nil {
			return result{}, err
		}
		if i >= t.Warmup {
			lat.add(time.Since(start))
		}
	}
	return result{Lat: lat}, nil
}

// awaitAck reads frames until the ACK that starts with prefix (43 and
// the id) and returns its arguments, valid until the next read. It
// answers pings on the way.
func (c *rawConn) awaitAck(fr *frameReader, prefix []byte) ([]byte, error) {
	for {
		op, p, err := fr.next()
		if err != nil {
			return nil, err
		}
		if op != ws.OpText {
			continue
		}
		if bytes.HasPrefix(p, prefix) && len(p) > len(prefix) && p[len(prefix)] == '[' {
			return p[len(prefix):], nil
		}
		if len(p) == 1 && p[0] == '2' {
			if err := c.send([]byte("3")); err != nil {
				return nil, err
			}
		}
	}
}

// rawOpen is rawDial, made again when the handshake fails (see redial).
func rawOpen(ctx context.Context, url string) (*rawConn, error) {
	return redial(ctx, func(ctx context.Context) (*rawConn, error) { return rawDial(ctx, url) })
}
