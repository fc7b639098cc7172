package refserver_test

// These tests speak the raw Engine.IO v4 / Socket.IO v5 wire protocol to the
// reference server with a minimal WebSocket client, defined here. They prove
// that the server behaves as testdata/refserver/README.md says, and they show
// the exact frames a client has to send and expect.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
	"github.com/siostream/siostream/internal/refserver"
)

const readTimeout = 5 * time.Second

type rawClient struct {
	tb      testing.TB
	conn    net.Conn
	rw      io.ReadWriter
	deflate bool // permessage-deflate negotiated (no context takeover)
}

type dialOptions struct {
	query   string      // extra query string, appended with '&'
	header  http.Header // extra handshake headers
	deflate bool        // offer permessage-deflate without context takeover
}

func dial(tb testing.TB, srv *refserver.Server, opt dialOptions) *rawClient {
	tb.Helper()
	u := srv.WebSocketURL()
	if opt.query != "" {
		u += "&" + opt.query
	}
	d := ws.Dialer{Timeout: readTimeout}
	if opt.header != nil {
		d.Header = ws.HandshakeHeaderHTTP(opt.header)
	}
	if opt.deflate {
		d.Extensions = []httphead.Option{wsflate.DefaultParameters.Option()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	conn, br, hs, err := d.Dial(ctx, u)
	if err != nil {
		tb.Fatalf("dial %s: %v", u, err)
	}
	c := &rawClient{tb: tb, conn: conn}
	var r io.Reader = conn
	if br != nil {
		// The server may have sent frames together with the handshake reply.
		r = io.MultiReader(br, conn)
	}
	c.rw = struct {
		io.Reader
		io.Writer
	}{r, conn}
	for _, e := range hs.Extensions {
		if string(e.Name) == wsflate.ExtensionName {
			c.deflate = true
		}
	}
	tb.Cleanup(func() { conn.Close() })
	return c
}

// read returns the next data frame. Control frames are handled internally.
func (c *rawClient) read() (ws.OpCode, []byte, error) {
	c.tb.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
		return 0, nil, err
	}
	if !c.deflate {
		return readServerData(c.rw)
	}
	for {
		f, err := ws.ReadFrame(c.rw)
		if err != nil {
			return 0, nil, err
		}
		if f.Header.OpCode == ws.OpClose {
			return 0, nil, io.EOF
		}
		if f.Header.OpCode.IsControl() {
			continue
		}
		if !f.Header.Fin {
			return 0, nil, errors.New("fragmented frames are not handled by this test client")
		}
		compressed, err := wsflate.IsCompressed(f.Header)
		if err != nil {
			return 0, nil, err
		}
		if compressed {
			if f, err = wsflate.DecompressFrame(f); err != nil {
				return 0, nil, err
			}
		}
		return f.Header.OpCode, f.Payload, nil
	}
}

func readServerData(rw io.ReadWriter) (ws.OpCode, []byte, error) {
	p, op, err := wsutil.ReadServerData(rw)
	return op, p, err
}

// readRawFrame reads one frame as it is on the wire (no decompression).
func (c *rawClient) readRawFrame() ws.Frame {
	c.tb.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
		c.tb.Fatal(err)
	}
	f, err := ws.ReadFrame(c.rw)
	if err != nil {
		c.tb.Fatalf("read frame: %v", err)
	}
	return f
}

func (c *rawClient) readText() string {
	c.tb.Helper()
	op, p, err := c.read()
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	if op != ws.OpText {
		c.tb.Fatalf("got %v frame %x, want a text frame", op, p)
	}
	return string(p)
}

func (c *rawClient) readBinary() []byte {
	c.tb.Helper()
	op, p, err := c.read()
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	if op != ws.OpBinary {
		c.tb.Fatalf("got %v frame %q, want a binary frame", op, p)
	}
	return p
}

func (c *rawClient) expect(want string) {
	c.tb.Helper()
	if got := c.readText(); got != want {
		c.tb.Fatalf("got frame %s\nwant       %s", got, want)
	}
}

func (c *rawClient) expectPrefix(prefix string) string {
	c.tb.Helper()
	got := c.readText()
	if !strings.HasPrefix(got, prefix) {
		c.tb.Fatalf("got frame %s\nwant prefix %s", got, prefix)
	}
	return strings.TrimPrefix(got, prefix)
}

func (c *rawClient) send(frame string) {
	c.tb.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(frame)); err != nil {
		c.tb.Fatalf("write %s: %v", frame, err)
	}
}

func (c *rawClient) sendBinary(p []byte) {
	c.tb.Helper()
	if err := wsutil.WriteClientBinary(c.conn, p); err != nil {
		c.tb.Fatalf("write binary: %v", err)
	}
}

// expectClosed waits (up to d) for the server to end the connection and
// fails when a data frame other than the allowed ones arrives first.
func (c *rawClient) expectClosed(d time.Duration, allowed ...string) {
	c.tb.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		c.tb.Fatal(err)
	}
	for {
		var (
			p   []byte
			err error
		)
		if c.deflate {
			_, p, err = c.read()
		} else {
			_, p, err = readServerData(c.rw)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.tb.Fatalf("connection still open after %s", d)
			}
			return // closed (close frame, EOF or reset)
		}
		ok := false
		for _, a := range allowed {
			if string(p) == a {
				ok = true
			}
		}
		if !ok {
			c.tb.Fatalf("got frame %q while waiting for the connection to close", p)
		}
	}
}

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func (c *rawClient) readOpen() openPacket {
	c.tb.Helper()
	var o openPacket
	if err := json.Unmarshal([]byte(c.expectPrefix("0")), &o); err != nil {
		c.tb.Fatalf("open packet: %v", err)
	}
	return o
}

type connectReply struct {
	SID string `json:"sid"`
	PID string `json:"pid"`
}

// connect sends CONNECT for nsp (with optional auth JSON) and returns the
// server's CONNECT reply. The welcome event that follows is not read.
func (c *rawClient) connect(nsp, auth string) connectReply {
	c.tb.Helper()
	prefix := "40"
	if nsp != "/" {
		prefix += nsp + ","
	}
	c.send(prefix + auth)
	var r connectReply
	if err := json.Unmarshal([]byte(c.expectPrefix(prefix)), &r); err != nil {
		c.tb.Fatalf("connect reply: %v", err)
	}
	if r.SID == "" {
		c.tb.Fatalf("connect reply without sid")
	}
	return r
}

type welcome struct {
	ID        string            `json:"id"`
	Nsp       string            `json:"nsp"`
	Auth      map[string]any    `json:"auth"`
	Query     map[string]string `json:"query"`
	Header    *string           `json:"header"`
	Recovered bool              `json:"recovered"`
}

// readWelcome reads the welcome event for nsp; it returns the payload and
// any extra arguments (the recovery offset, when recovery is on).
func (c *rawClient) readWelcome(nsp string) (welcome, []json.RawMessage) {
	c.tb.Helper()
	prefix := "42"
	if nsp != "/" {
		prefix += nsp + ","
	}
	var args []json.RawMessage
	if err := json.Unmarshal([]byte(c.expectPrefix(prefix)), &args); err != nil {
		c.tb.Fatalf("welcome: %v", err)
	}
	if len(args) < 2 || string(args[0]) != `"welcome"` {
		c.tb.Fatalf("want a welcome event, got %s", args)
	}
	var w welcome
	if err := json.Unmarshal(args[1], &w); err != nil {
		c.tb.Fatalf("welcome payload: %v", err)
	}
	return w, args[2:]
}

// open dials, reads the open packet, connects to nsp and reads the welcome.
func open(tb testing.TB, srv *refserver.Server, nsp string) *rawClient {
	tb.Helper()
	c := dial(tb, srv, dialOptions{})
	c.readOpen()
	c.connect(nsp, "")
	c.readWelcome(nsp)
	return c
}
