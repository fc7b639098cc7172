package refserver_test

// These tests speak the raw Engine.IO v4 / Socket.IO v5 wire protocol to the
// reference server with a minimal WebSocket client. They prove that the
// server behaves as testdata/refserver/README.md says, and they show the
// exact frames a client has to send and expect.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/siostream/siostream/internal/refserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	refserver.StopAll()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// ---- a minimal raw client --------------------------------------------------

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

// ---- tests -------------------------------------------------------------------

func TestOpenPacketPerVariant(t *testing.T) {
	cases := []struct {
		variant                               string
		pingInterval, pingTimeout, maxPayload int
	}{
		{refserver.Default, 25000, 20000, 1000000},
		{refserver.FastPing, 300, 200, 1000000},
		{refserver.SmallBuf, 25000, 20000, 2000},
		{refserver.Deflate, 25000, 20000, 1000000},
		{refserver.Recovery, 25000, 20000, 1000000},
		{refserver.ShortConnect, 25000, 20000, 1000000},
	}
	for _, tc := range cases {
		t.Run(tc.variant, func(t *testing.T) {
			srv := refserver.Shared(t, tc.variant)
			if srv.Variant != tc.variant || !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
				t.Fatalf("server %+v", srv)
			}
			c := dial(t, srv, dialOptions{})
			o := c.readOpen()
			if o.SID == "" || len(o.Upgrades) != 0 {
				t.Errorf("open packet %+v: want a sid and no upgrades", o)
			}
			if o.PingInterval != tc.pingInterval || o.PingTimeout != tc.pingTimeout || o.MaxPayload != tc.maxPayload {
				t.Errorf("open packet %+v, want pingInterval %d pingTimeout %d maxPayload %d",
					o, tc.pingInterval, tc.pingTimeout, tc.maxPayload)
			}
		})
	}
}

func TestConnectAndWelcome(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := dial(t, srv, dialOptions{
		query:  "room=lobby",
		header: http.Header{"X-Test": {"hello"}},
	})
	c.readOpen()
	r := c.connect("/", `{"token":"abc"}`)
	if r.PID != "" {
		t.Errorf("pid %q without recovery", r.PID)
	}
	w, extra := c.readWelcome("/")
	if len(extra) != 0 {
		t.Errorf("welcome has extra args %s without recovery", extra)
	}
	if w.ID != r.SID || w.Nsp != "/" || w.Auth["token"] != "abc" || w.Recovered {
		t.Errorf("welcome %+v", w)
	}
	if w.Query["room"] != "lobby" || w.Query["EIO"] != "4" || w.Query["transport"] != "websocket" {
		t.Errorf("welcome query %v", w.Query)
	}
	if w.Header == nil || *w.Header != "hello" {
		t.Errorf("welcome header %v, want hello", w.Header)
	}

	// Without the header, "header" is null; without auth, "auth" is {}.
	c2 := dial(t, srv, dialOptions{})
	c2.readOpen()
	c2.connect("/", "")
	w2, _ := c2.readWelcome("/")
	if w2.Header != nil || w2.Auth == nil || len(w2.Auth) != 0 {
		t.Errorf("welcome %+v: want header null and auth {}", w2)
	}
}

func TestEchoAndAck(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := open(t, srv, "/")

	c.send(`42["echo","x"]`)
	c.expect(`42["echo","x"]`)

	c.send(`42["echo",1,"2",{"3":[false]},null]`)
	c.expect(`42["echo",1,"2",{"3":[false]},null]`)

	c.send(`421["ack",1]`)
	c.expect(`431[1]`)

	c.send(`42456["ack",1,"2",{"3":[false]}]`)
	c.expect(`43456[1,"2",{"3":[false]}]`)

	// echo with an ack id: the event comes back and the ack carries the args.
	c.send(`427["echo","y"]`)
	c.expect(`42["echo","y"]`)
	c.expect(`437["y"]`)

	c.send(`422["ack-delay",50]`)
	c.expect(`432["late"]`)

	// no-ack is never answered; the next ack proves nothing was sent.
	c.send(`423["no-ack","z"]`)
	c.send(`424["ack"]`)
	c.expect(`434[]`)
}

func TestCustomNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	for _, nsp := range []string{"/admin", "/realtime"} {
		c := dial(t, srv, dialOptions{})
		c.readOpen()
		r := c.connect(nsp, "")
		w, _ := c.readWelcome(nsp)
		if w.Nsp != nsp || w.ID != r.SID {
			t.Errorf("welcome %+v on %s", w, nsp)
		}
		c.send(`42` + nsp + `,1["ack","a"]`)
		c.expect(`43` + nsp + `,1["a"]`)
		c.send(`42` + nsp + `,["echo","b"]`)
		c.expect(`42` + nsp + `,["echo","b"]`)

		// Several namespaces share one connection.
		c.connect("/", "")
		c.readWelcome("/")
		c.send(`421["ack","main"]`)
		c.expect(`431["main"]`)
	}
}

func TestSecureNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := dial(t, srv, dialOptions{})
	c.readOpen()

	c.send(`40/secure,{"token":"bad-data"}`)
	c.expect(`44/secure,{"message":"Not authorized","data":{"code":4001,"reason":"token rejected"}}`)

	c.send(`40/secure,{"token":"nope"}`)
	c.expect(`44/secure,{"message":"Not authorized"}`)

	c.send(`40/secure,`)
	c.expect(`44/secure,{"message":"Not authorized"}`)

	c.connect("/secure", `{"token":"good-42"}`)
	w, _ := c.readWelcome("/secure")
	if w.Auth["token"] != "good-42" {
		t.Errorf("welcome %+v", w)
	}
}

func TestUnknownNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := dial(t, srv, dialOptions{})
	c.readOpen()
	c.send(`40/nope,`)
	c.expect(`44/nope,{"message":"Invalid namespace"}`)
	// The connection stays usable.
	c.connect("/", "")
	c.readWelcome("/")
}

func TestOnceNamespace(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	token := fmt.Sprintf("tok-%d", time.Now().UnixNano())
	c := dial(t, srv, dialOptions{})
	c.readOpen()

	c.send(`40/once,`)
	c.expect(`44/once,{"message":"no token"}`)

	c.connect("/", "")
	c.readWelcome("/")
	c.connect("/once", `{"token":"`+token+`"}`)
	c.readWelcome("/once")
	c.send(`41/once,`)
	// The server handles a DISCONNECT one tick after decoding it; a CONNECT
	// for the same namespace arriving before that makes it close the whole
	// connection ("invalid state"). An ack round trip on another namespace
	// makes sure the DISCONNECT has been handled.
	c.send(`421["ack"]`)
	c.expect(`431[]`)

	c.send(`40/once,{"token":"` + token + `"}`)
	c.expect(`44/once,{"message":"token reused","data":{"token":"` + token + `"}}`)

	c.connect("/once", `{"token":"`+token+`-2"}`)
	c.readWelcome("/once")
}

func TestBinary(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := open(t, srv, "/")

	c.send(`42["binary"]`)
	c.expect(`454-["binary",{"a":{"_placeholder":true,"num":0},"nested":{"list":[{"_placeholder":true,"num":1},"x",{"deep":{"_placeholder":true,"num":2}}]}},{"_placeholder":true,"num":3}]`)
	for i, want := range [][]byte{{1, 2, 3}, {4, 5}, {6}, {7, 8}} {
		if got := c.readBinary(); !bytes.Equal(got, want) {
			t.Fatalf("attachment %d = %v, want %v", i, got, want)
		}
	}

	c.send(`421["binary-ack"]`)
	c.expect(`461-1[{"bin":{"_placeholder":true,"num":0}}]`)
	if got := c.readBinary(); !bytes.Equal(got, []byte{9, 9, 9}) {
		t.Fatalf("ack attachment %v", got)
	}

	// A binary event from the client is echoed with its attachments.
	c.send(`452-["echo",{"_placeholder":true,"num":0},"s",{"k":{"_placeholder":true,"num":1}}]`)
	c.sendBinary([]byte{0xde, 0xad})
	c.sendBinary([]byte{})
	c.expect(`452-["echo",{"_placeholder":true,"num":0},"s",{"k":{"_placeholder":true,"num":1}}]`)
	if got := c.readBinary(); !bytes.Equal(got, []byte{0xde, 0xad}) {
		t.Fatalf("echo attachment 0 = %v", got)
	}
	if got := c.readBinary(); len(got) != 0 {
		t.Fatalf("echo attachment 1 = %v", got)
	}

	// Binary through an ack.
	c.send(`451-3["ack",{"_placeholder":true,"num":0}]`)
	c.sendBinary([]byte{1})
	c.expect(`461-3[{"_placeholder":true,"num":0}]`)
	if got := c.readBinary(); !bytes.Equal(got, []byte{1}) {
		t.Fatalf("ack attachment = %v", got)
	}
}

func TestServerRequestsAck(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := open(t, srv, "/")

	c.send(`42["request-ack","q",2]`)
	rest := c.expectPrefix(`42`)
	i := strings.IndexByte(rest, '[')
	id, err := strconv.Atoi(rest[:i])
	if err != nil || rest[i:] != `["need-ack","q",2]` {
		t.Fatalf("need-ack frame 42%s", rest)
	}
	c.send(fmt.Sprintf(`43%d["r",{"ok":true}]`, id))
	c.expect(`42["got-ack","r",{"ok":true}]`)

	c.send(`42["request-ack-timeout",100,"t"]`)
	c.expectPrefix(`42`) // need-ack, left unanswered
	c.expect(`42["got-ack-timeout"]`)
}

func TestFloodAndBig(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := open(t, srv, "/")

	c.send(`42["flood",5,3]`)
	for i := 0; i < 5; i++ {
		c.expect(fmt.Sprintf(`42["flood",%d,"xxx"]`, i))
	}
	c.expect(`42["flood-done",5]`)

	c.send(`42["flood",2]`)
	c.expect(`42["flood",0,"xxxxxxxxxx"]`)
	c.expect(`42["flood",1,"xxxxxxxxxx"]`)
	c.expect(`42["flood-done",2]`)

	const n = 40000
	c.send(`42["big",` + strconv.Itoa(n) + `]`)
	var args []string
	if err := json.Unmarshal([]byte(c.expectPrefix(`42`)), &args); err != nil {
		t.Fatal(err)
	}
	if len(args) != 2 || args[0] != "big" || len(args[1]) != n {
		t.Fatalf("big: %d args, payload length %d", len(args), len(args[len(args)-1]))
	}
	for i := 0; i < n; i++ {
		if args[1][i] != byte('a'+i%26) {
			t.Fatalf("big: byte %d is %q", i, args[1][i])
		}
	}

	c.send(`42["big-binary",300]`)
	c.expect(`451-["big-binary",{"_placeholder":true,"num":0}]`)
	b := c.readBinary()
	if len(b) != 300 || b[0] != 0 || b[255] != 255 || b[256] != 0 || b[299] != 43 {
		t.Fatalf("big-binary: %d bytes", len(b))
	}
}

func TestRoomsAndCounters(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	room := fmt.Sprintf("room-%d", time.Now().UnixNano())
	a := open(t, srv, "/realtime")
	b := open(t, srv, "/realtime")

	a.send(`42/realtime,1["join","` + room + `"]`)
	a.expect(`43/realtime,1[true]`)
	b.send(`42/realtime,1["join","` + room + `"]`)
	b.expect(`43/realtime,1[true]`)

	a.send(`42/realtime,["broadcast","` + room + `","hi",1]`)
	a.expect(`42/realtime,["broadcast","hi",1]`)
	b.expect(`42/realtime,["broadcast","hi",1]`)

	b.send(`42/realtime,["counted","x"]`)
	b.send(`42/realtime,["counted",2]`)
	b.send(`42/realtime,5["count"]`)
	b.expect(`43/realtime,5[2,["x",2]]`)

	a.send(`42/realtime,6["stats"]`)
	var stats []struct{ Clients, Sockets int }
	if err := json.Unmarshal([]byte(a.expectPrefix(`43/realtime,6`)), &stats); err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || stats[0].Clients < 2 || stats[0].Sockets < 2 {
		t.Fatalf("stats %+v", stats)
	}

	a.send(`42/realtime,7["handshake"]`)
	var hs []struct {
		Auth    map[string]any
		Query   map[string]string
		Headers map[string]string
	}
	if err := json.Unmarshal([]byte(a.expectPrefix(`43/realtime,7`)), &hs); err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].Query["EIO"] != "4" || hs[0].Headers["upgrade"] != "websocket" {
		t.Fatalf("handshake %+v", hs)
	}

	a.send(`42/realtime,8["transport"]`)
	a.expect(`43/realtime,8["websocket"]`)
	a.send(`42/realtime,9["compressed?"]`)
	a.expect(`43/realtime,9[false]`)
}

func TestServerDisconnects(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)

	t.Run("disconnect-me", func(t *testing.T) {
		c := open(t, srv, "/admin")
		c.connect("/", "")
		c.readWelcome("/")
		c.send(`42/admin,["disconnect-me"]`)
		c.expect(`41/admin,`)
		// Only that namespace is gone.
		c.send(`421["ack","still"]`)
		c.expect(`431["still"]`)
	})
	t.Run("disconnect-me-all", func(t *testing.T) {
		c := open(t, srv, "/")
		c.send(`42["disconnect-me-all"]`)
		c.expect(`41`)
		c.expectClosed(readTimeout)
	})
	t.Run("drop-me", func(t *testing.T) {
		c := open(t, srv, "/")
		c.send(`42["drop-me"]`)
		c.expectClosed(readTimeout) // no 41, no 1: the socket is just closed
	})
}

func TestFastPing(t *testing.T) {
	srv := refserver.Shared(t, refserver.FastPing)
	c := open(t, srv, "/")
	for i := 0; i < 2; i++ {
		c.expect(`2`)
		c.send(`3`)
	}
	// Stop answering: the server gives up after pingInterval+pingTimeout.
	c.expect(`2`)
	start := time.Now()
	c.expectClosed(3 * time.Second)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("server closed after %s", el)
	}
}

func TestSmallBuf(t *testing.T) {
	srv := refserver.Shared(t, refserver.SmallBuf)
	c := open(t, srv, "/")
	c.send(`42["echo","` + strings.Repeat("s", 1900) + `"]`)
	c.expectPrefix(`42["echo","sss`)
	c.send(`42["echo","` + strings.Repeat("s", 3000) + `"]`)
	c.expectClosed(readTimeout)
}

func TestShortConnect(t *testing.T) {
	srv := refserver.Shared(t, refserver.ShortConnect)
	c := dial(t, srv, dialOptions{})
	c.readOpen()
	start := time.Now()
	c.expectClosed(4 * time.Second) // no CONNECT sent
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Errorf("closed after only %s", el)
	}
}

func TestDeflate(t *testing.T) {
	srv := refserver.Shared(t, refserver.Deflate)
	c := dial(t, srv, dialOptions{deflate: true})
	if !c.deflate {
		t.Fatal("permessage-deflate not negotiated")
	}
	// threshold 0: even the open packet is compressed (RSV1 set).
	f := c.readRawFrame()
	if ok, err := wsflate.IsCompressed(f.Header); err != nil || !ok {
		t.Fatalf("open packet not compressed (rsv %03b, %v)", f.Header.Rsv, err)
	}
	if f, err := wsflate.DecompressFrame(f); err != nil || !bytes.HasPrefix(f.Payload, []byte(`0{"sid":`)) {
		t.Fatalf("open packet %q, %v", f.Payload, err)
	}
	c.connect("/", "")
	c.readWelcome("/")
	c.send(`421["compressed?"]`)
	c.expect(`431[true]`)
	c.send(`42["echo","` + strings.Repeat("z", 5000) + `"]`)
	c.expect(`42["echo","` + strings.Repeat("z", 5000) + `"]`)

	// A client that does not offer the extension gets plain frames.
	p := dial(t, srv, dialOptions{})
	p.readOpen()
	p.connect("/", "")
	p.readWelcome("/")
	p.send(`421["compressed?"]`)
	p.expect(`431[false]`)
}

func TestRecovery(t *testing.T) {
	srv := refserver.Shared(t, refserver.Recovery)
	c := dial(t, srv, dialOptions{})
	c.readOpen()
	r := c.connect("/", "")
	if r.PID == "" {
		t.Fatal("no pid in CONNECT reply with recovery on")
	}
	w, extra := c.readWelcome("/")
	if w.Recovered || len(extra) != 1 {
		t.Fatalf("welcome %+v extra %s: want one offset argument", w, extra)
	}
	var offset string
	if err := json.Unmarshal(extra[0], &offset); err != nil || offset == "" {
		t.Fatalf("offset %s", extra[0])
	}
	// Acks carry no offset.
	c.send(`421["ack","a"]`)
	c.expect(`431["a"]`)
	// Plain events do: the offset is the last argument.
	c.send(`42["echo","x"]`)
	var echo []string
	if err := json.Unmarshal([]byte(c.expectPrefix(`42`)), &echo); err != nil {
		t.Fatal(err)
	}
	if len(echo) != 3 || echo[0] != "echo" || echo[1] != "x" || echo[2] == "" || echo[2] == offset {
		t.Fatalf("echo with recovery: %q", echo)
	}
	offset = echo[2]

	c.send(`42["drop-and-emit",3]`)
	c.expectClosed(readTimeout)
	time.Sleep(300 * time.Millisecond) // the missed events are emitted 100 ms after the drop

	c2 := dial(t, srv, dialOptions{})
	c2.readOpen()
	c2.send(`40{"pid":"` + r.PID + `","offset":"` + offset + `"}`)
	// The server replays the missed events BEFORE its CONNECT reply; a client
	// has to buffer events that arrive ahead of the CONNECT reply.
	for i := 0; i < 3; i++ {
		var args []json.RawMessage
		if err := json.Unmarshal([]byte(c2.expectPrefix(`42`)), &args); err != nil {
			t.Fatal(err)
		}
		if len(args) != 3 || string(args[0]) != `"missed"` || string(args[1]) != strconv.Itoa(i) {
			t.Fatalf("replayed event %d: %s", i, args)
		}
	}
	var r2 connectReply
	if err := json.Unmarshal([]byte(c2.expectPrefix(`40`)), &r2); err != nil {
		t.Fatal(err)
	}
	if r2.SID != r.SID || r2.PID != r.PID {
		t.Fatalf("recovered CONNECT reply %+v, want sid %s pid %s", r2, r.SID, r.PID)
	}
	w2, _ := c2.readWelcome("/")
	if !w2.Recovered || w2.ID != r.SID {
		t.Fatalf("welcome after recovery %+v", w2)
	}

	// An unknown pid gives a fresh session.
	c3 := dial(t, srv, dialOptions{})
	c3.readOpen()
	r3 := c3.connect("/", `{"pid":"unknown","offset":"x"}`)
	if r3.PID == "" || r3.PID == "unknown" || r3.SID == r.SID {
		t.Fatalf("CONNECT reply %+v for an unknown pid", r3)
	}
	w3, _ := c3.readWelcome("/")
	if w3.Recovered {
		t.Fatal("recovered with an unknown pid")
	}
}

func TestPollingHandshake(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	client := &http.Client{Timeout: readTimeout}
	resp, err := client.Get(srv.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	client.CloseIdleConnections()
	if err != nil {
		t.Fatal(err)
	}
	var o openPacket
	if !bytes.HasPrefix(body, []byte("0")) || json.Unmarshal(body[1:], &o) != nil {
		t.Fatalf("polling open packet %q", body)
	}
	if len(o.Upgrades) != 1 || o.Upgrades[0] != "websocket" {
		t.Fatalf("upgrades %v", o.Upgrades)
	}
}

func TestStartStop(t *testing.T) {
	if err := refserver.Available(); err != nil {
		t.Skip(err)
	}
	if _, err := refserver.Start("no-such-variant"); err == nil {
		t.Fatal("Start accepted an unknown variant")
	}
	s, err := refserver.Start(refserver.Default)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s, dialOptions{})
	c.readOpen()
	s.Stop()
	s.Stop()
	c.expectClosed(readTimeout)
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err == nil {
		conn.Close()
		t.Fatal("server still accepts connections after Stop")
	}
	var nilServer *refserver.Server
	nilServer.Stop()
}
