package sioserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/siostream/siostream/frames"
)

// readTimeout bounds every read of the test client.
const readTimeout = 5 * time.Second

// testClient is a bare WebSocket client that speaks Engine.IO by hand.
type testClient struct {
	t    testing.TB
	conn net.Conn
	rw   io.ReadWriter
	open frames.Open
	// autoPong answers pings while reading with next.
	autoPong bool
}

// newServer starts a server closed at the end of the test.
func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf(
			"New: %v",
			err,
		)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// dialURL performs the WebSocket handshake only.
func dialURL(t testing.TB, d ws.Dialer, url string) *testClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	conn, br, _, err := d.Dial(ctx, url)
	if err != nil {
		t.Fatalf(
			"dial %s: %v",
			url, err,
		)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	rw := struct {
		io.Reader
		io.Writer
	}{r, conn}
	return &testClient{t: t, conn: conn, rw: rw, autoPong: true}
}

func wsURL(s *Server) string {
	return "ws://" + s.Addr() + DefaultPath + "?EIO=4&transport=websocket"
}

// dialOpen connects to s and reads the open packet.
func dialOpen(t testing.TB, s *Server) *testClient {
	t.Helper()
	tc := dialURL(t, ws.Dialer{}, wsURL(s))
	tc.readOpen()
	return tc
}

func (tc *testClient) readOpen() {
	tc.t.Helper()
	msg := tc.text()
	if !strings.HasPrefix(msg, "0{") {
		tc.t.Fatalf(
			"first frame %q, want an open packet",
			msg,
		)
	}
	o, err := frames.ParseOpen([]byte(msg[1:]))
	if err != nil {
		tc.t.Fatalf(
			"ParseOpen(%q): %v",
			msg, err,
		)
	}
	tc.open = o
}

// read returns the next data message.
func (tc *testClient) read() (ws.OpCode, []byte, error) {
	_ = tc.conn.SetReadDeadline(time.Now().Add(readTimeout))
	b, op, err := wsutil.ReadServerData(tc.rw)
	return op, b, err
}

// readWithin returns the next text message if one arrives within d.
func (tc *testClient) readWithin(d time.Duration) (string, error) {
	_ = tc.conn.SetReadDeadline(time.Now().Add(d))
	b, _, err := wsutil.ReadServerData(tc.rw)
	return string(b), err
}

// mustRead returns the next data message or fails the test.
func (tc *testClient) mustRead() (ws.OpCode, []byte) {
	tc.t.Helper()
	op, b, err := tc.read()
	if err != nil {
		tc.t.Fatalf(
			"read: %v",
			err,
		)
	}
	return op, b
}

// text returns the next text message.
func (tc *testClient) text() string {
	tc.t.Helper()
	op, b := tc.mustRead()
	if op != ws.OpText {
		tc.t.Fatalf(
			"got %v frame %q, want text",
			op, b,
		)
	}
	return string(b)
}

// next returns the next text message that is not a ping, answering pings
// when autoPong is on.
func (tc *testClient) next() string {
	tc.t.Helper()
	for {
		msg := tc.text()
		if msg != "2" {
			return msg
		}
		if tc.autoPong {
			tc.send("3")
		}
	}
}

// binary returns the next message, which must be binary.
func (tc *testClient) binary() []byte {
	tc.t.Helper()
	op, b := tc.mustRead()
	if op != ws.OpBinary {
		tc.t.Fatalf(
			"got %v frame %q, want binary",
			op, b,
		)
	}
	return b
}

func (tc *testClient) send(msg string) {
	tc.t.Helper()
	tc.write(ws.OpText, []byte(msg))
}

func (tc *testClient) sendBinary(b []byte) {
	tc.t.Helper()
	tc.write(ws.OpBinary, b)
}

func (tc *testClient) write(op ws.OpCode, b []byte) {
	tc.t.Helper()
	err := wsutil.WriteClientMessage(tc.conn, op, b)
	if err != nil {
		tc.t.Fatalf(
			"write %q: %v",
			b, err,
		)
	}
}

// connect sends a CONNECT for ns with auth (may be empty) and returns the
// server's answer.
func (tc *testClient) connect(ns, auth string) string {
	tc.t.Helper()
	msg := "40"
	if ns != "/" {
		msg += ns + ","
	}
	tc.send(msg + auth)
	return tc.next()
}

// expect reads the next non-ping message and compares it with want.
func (tc *testClient) expect(want string) {
	tc.t.Helper()
	got := tc.next()
	if got != want {
		tc.t.Fatalf(
			"got %q, want %q",
			got, want,
		)
	}
}

// readUntilError reads until the connection fails and returns the error.
func (tc *testClient) readUntilError() error {
	for {
		_, _, err := tc.read()
		if err != nil {
			return err
		}
	}
}

// accept returns the server side of the next connection.
func accept(t testing.TB, s *Server) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	c, err := s.Accept(ctx)
	if err != nil {
		t.Fatalf(
			"Accept: %v",
			err,
		)
	}
	return c
}

// waitClosed waits for c to end and returns its error.
func waitClosed(t testing.TB, c *Conn) error {
	t.Helper()
	select {
	case <-c.Closed():
		return c.Err()
	case <-time.After(readTimeout):
		t.Fatalf(
			"connection %s still open",
			c.ID(),
		)
		return nil
	}
}

// nextReceived returns the next packet the server received on c.
func nextReceived(t testing.TB, c *Conn) *Received {
	t.Helper()
	select {
	case ev := <-c.Received():
		return ev
	case <-time.After(readTimeout):
		t.Fatalf(
			"no packet received on %s",
			c.ID(),
		)
		return nil
	}
}

// sidOf returns the "sid" and "pid" of a CONNECT reply such as
// 40{"sid":"…"}.
func sidOf(t testing.TB, reply string) (sid, pid string) {
	t.Helper()
	i := strings.IndexByte(reply, '{')
	var v struct{ SID, PID string }
	if i < 0 || json.Unmarshal([]byte(reply[i:]), &v) != nil || v.SID == "" {
		t.Fatalf(
			"not a CONNECT reply: %q",
			reply,
		)
	}
	return v.SID, v.PID
}

// isClosedErr reports whether err is what a client sees when the server
// ends the connection.
func isClosedErr(err error) bool {
	var closed wsutil.ClosedError
	return errors.As(err, &closed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "reset by peer")
}

// tlsDialer trusts any certificate.
func tlsDialer() ws.Dialer {
	return ws.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
}
