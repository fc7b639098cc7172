package engine

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// peer is the server side of one test connection: a raw WebSocket the
// test scripts frame by frame, with no Engine.IO logic of its own.
type peer struct {
	t  *testing.T
	nc net.Conn
}

// openPacket is an Engine.IO open packet with the given heartbeat and
// maxPayload.
func openPacket(interval, timeout time.Duration, maxPayload int64) string {
	return fmt.Sprintf(`0{"sid":"s1","upgrades":[],"pingInterval":%d,"pingTimeout":%d,"maxPayload":%d}`,
		interval.Milliseconds(), timeout.Milliseconds(), maxPayload)
}

// acceptOne answers one TCP connection on loopback with serve, on a
// goroutine the test waits for at its end, and returns the address.
func acceptOne(t *testing.T, serve func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second)) // a stuck test ends
		serve(nc)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// listen serves one WebSocket connection and hands its server side to
// serve.
func listen(t *testing.T, serve func(p *peer)) *url.URL {
	t.Helper()
	addr := acceptOne(t, func(nc net.Conn) {
		if _, err := ws.Upgrade(nc); err == nil {
			serve(&peer{t: t, nc: nc})
		}
	})
	return &url.URL{Scheme: "ws", Host: addr, Path: "/socket.io/", RawQuery: "EIO=4&transport=websocket"}
}

// text sends one unmasked text frame.
func (p *peer) text(s string) {
	if err := wsutil.WriteServerText(p.nc, []byte(s)); err != nil {
		p.t.Errorf("server write: %v", err)
	}
}

// raw writes bytes as they are, for frames that break the rules.
func (p *peer) raw(b ...byte) {
	if _, err := p.nc.Write(b); err != nil {
		p.t.Errorf("server write: %v", err)
	}
}

// read returns the next data message from the client, answering nothing.
func (p *peer) read() (ws.OpCode, string) {
	b, op, err := wsutil.ReadClientData(p.nc)
	if err != nil {
		return 0, "error: " + err.Error()
	}
	return op, string(b)
}

// dial connects to u with cfg (URL set here), failing the test on error.
func dial(t *testing.T, u *url.URL, cfg Config) *Conn {
	t.Helper()
	cfg.URL = u
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handler collects messages and can end the connection with an error.
type handler struct {
	msgs chan string
	stop error // returned for a message "stop"
}

func newHandler() *handler { return &handler{msgs: make(chan string, 64)} }

func (h *handler) Message(p []byte, binary bool) error {
	s := string(p)
	if binary {
		s = "bin:" + s
	}
	if s == "stop" && h.stop != nil {
		return h.stop
	}
	h.msgs <- s
	return nil
}

// serve runs c.Serve(h) and returns a channel with its result.
func serve(c *Conn, h Handler) <-chan error {
	res := make(chan error, 1)
	go func() { res <- c.Serve(h) }()
	return res
}

// wait returns Serve's result, failing the test after 5 s.
func wait(t *testing.T, res <-chan error) error {
	t.Helper()
	select {
	case err := <-res:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// owner records the frames written for it.
type owner struct{ seqs chan uint64 }

func (o *owner) Written(fs []*Frame) {
	for _, f := range fs {
		o.seqs <- f.Seq
	}
}
