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
// Socket.IO handshake by hand and then reads frames without decoding
// them. Nothing can receive faster over the same socket.

type rawConn struct {
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

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
	c := &rawConn{nc: nc, br: br, bw: bufio.NewWriterSize(nc, 4096)}
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

func (c *rawConn) send(p []byte) error {
	if err := writeClientFrame(c.bw, ws.OpText, p); err != nil {
		return err
	}
	return c.bw.Flush()
}

func (c *rawConn) close() {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	writeClientFrame(c.bw, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	c.bw.Flush()
	c.nc.Close()
}

func runFloor(ctx context.Context, t task) (result, error) {
	switch t.Kind {
	case "receive":
		return floorReceive(ctx, t)
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

// floorAck sends 42N["ack","payload"] and reads until 43N.
func floorAck(ctx context.Context, t task) (result, error) {
	c, err := rawOpen(ctx, t.URL)
	if err != nil {
		return result{}, err
	}
	defer c.close()
	fr := frameReader{br: c.br}
	payload := payloadString(t.Size)
	var lat latencies
	for i := 0; i < t.Warmup+t.N; i++ {
		id := strconv.Itoa(i)
		msg := []byte(`42` + id + `["ack","` + payload + `"]`)
		want := []byte(`43` + id + `[`)
		start := time.Now()
		if err := c.send(msg); err != nil {
			return result{}, err
		}
		for {
			op, p, err := fr.next()
			if err != nil {
				return result{}, err
			}
			if op == ws.OpText && bytes.HasPrefix(p, want) {
				break
			}
			if op == ws.OpText && bytes.Equal(p, []byte("2")) {
				c.send([]byte("3"))
			}
		}
		if i >= t.Warmup {
			lat.add(time.Since(start))
		}
	}
	return result{Lat: lat}, nil
}

// rawOpen is rawDial, made again when the handshake fails (see redial).
func rawOpen(ctx context.Context, url string) (*rawConn, error) {
	return redial(ctx, func(ctx context.Context) (*rawConn, error) { return rawDial(ctx, url) })
}
