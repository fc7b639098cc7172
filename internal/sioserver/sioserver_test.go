package sioserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"

	"github.com/siostream/siostream/frames"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestOpenPacket(t *testing.T) {
	s := newServer(t, Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, MaxPayload: 5000})
	tc := dialOpen(t, s)
	c := accept(t, s)
	o := tc.open
	if o.SID != c.ID() || len(o.SID) != 20 {
		t.Fatalf(
			"open sid %q, conn id %q, want the same 20 characters",
			o.SID, c.ID(),
		)
	}
	want := frames.Open{SID: o.SID, Upgrades: o.Upgrades, PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, MaxPayload: 5000}
	if len(o.Upgrades) != 0 || fmt.Sprint(o) != fmt.Sprint(want) {
		t.Fatalf(
			"open %+v, want %+v",
			o, want,
		)
	}
	if got := s.Connections(); got != 1 {
		t.Fatalf(
			"Connections() = %d, want 1",
			got,
		)
	}
}

func TestHandshakeRejects(t *testing.T) {
	s := newServer(t, Options{})
	base := "ws://" + s.Addr()
	cases := []struct {
		name string
		url  string
	}{
		{
			name: "wrong path",
			url:  base + "/other/?EIO=4&transport=websocket",
		},
		{
			name: "EIO 3",
			url:  base + "/socket.io/?EIO=3&transport=websocket",
		},
		{
			name: "polling",
			url:  base + "/socket.io/?EIO=4&transport=polling",
		},
		{
			name: "sid",
			url:  base + "/socket.io/?EIO=4&transport=websocket&sid=abc",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
			defer cancel()
			conn, _, _, err := ws.Dial(ctx, tc.url)
			if conn != nil {
				_ = conn.Close()
			}
			if !errors.Is(err, ws.StatusError(http.StatusBadRequest)) {
				t.Fatalf(
					"dial error %v, want status 400",
					err,
				)
			}
		})
	}
}

func TestPlainHTTPRejected(t *testing.T) {
	s := newServer(t, Options{})
	resp, err := http.Get(s.URL() + "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatalf(
			"GET: %v",
			err,
		)
	}
	_ = resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf(
			"status %d, want 400",
			resp.StatusCode,
		)
	}
}

func TestConnectAuthorize(t *testing.T) {
	authorize := func(ns string, auth json.RawMessage) *Reject {
		var a struct{ Token string }
		_ = json.Unmarshal(auth, &a)
		switch {
		case ns != "/secure" || a.Token == "good":
			return nil
		case a.Token == "bad-data":
			return &Reject{Message: "Not authorized", Data: map[string]int{"code": 4001}}
		}
		return &Reject{Message: "Not authorized"}
	}
	s := newServer(t, Options{Authorize: authorize})
	tc := dialOpen(t, s)
	cases := []struct {
		ns   string
		auth string
		want string
	}{
		{
			ns:   "/secure",
			auth: `{"token":"bad-data"}`,
			want: `44/secure,{"message":"Not authorized","data":{"code":4001}}`,
		},
		{
			ns:   "/secure",
			auth: ``,
			want: `44/secure,{"message":"Not authorized"}`,
		},
		{
			ns:   "/secure",
			auth: `{"token":"good"}`,
			want: `40/secure,{"sid":`,
		},
		{
			ns:   "/",
			auth: ``,
			want: `40{"sid":`,
		},
	}
	for _, c := range cases {
		got := tc.connect(c.ns, c.auth)
		if !strings.HasPrefix(got, c.want) {
			t.Fatalf(
				"CONNECT %s %s: got %q, want %q",
				c.ns, c.auth, got, c.want,
			)
		}
	}
	auths := s.Auths("/secure")
	if len(auths) != 3 || string(auths[0]) != `{"token":"bad-data"}` || auths[1] != nil {
		t.Fatalf(
			"Auths(/secure) = %q",
			auths,
		)
	}
	if s.Connects("/secure") != 1 || s.Connects("/") != 1 {
		t.Fatalf(
			"Connects = %d, %d, want 1, 1",
			s.Connects("/secure"), s.Connects("/"),
		)
	}
}

func TestEcho(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	if err := c.WaitConnect(ctx, "/"); err != nil {
		t.Fatalf(
			"WaitConnect: %v",
			err,
		)
	}
	tc.send(`42["echo",1,"two",{"3":[false]}]`)
	tc.expect(`42["echo",1,"two",{"3":[false]}]`)
	if ev := nextReceived(t, c); ev.Type != frames.Connect {
		t.Fatalf(
			"first packet %+v, want CONNECT",
			ev,
		)
	}
	ev := nextReceived(t, c)
	if ev.Type != frames.Event || ev.Name != "echo" || string(ev.Args) != `[1,"two",{"3":[false]}]` || ev.Namespace != "/" {
		t.Fatalf(
			"received %+v",
			ev,
		)
	}
}

func TestEventForUnconnectedNamespaceIgnored(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	tc.connect("/", "")
	tc.connect("/admin", "")
	tc.send(`42/other,["echo","lost"]`)
	tc.send(`42/admin,["echo","admin"]`)
	tc.send(`42["echo","main"]`)
	tc.expect(`42/admin,["echo","admin"]`)
	tc.expect(`42["echo","main"]`)
}

func TestAckFromServer(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	tc.connect("/admin", "")
	tc.send(`42/admin,456["message-with-ack",1,"2",{"3":[false]}]`)
	tc.expect(`43/admin,456[1,"2",{"3":[false]}]`)
}

func TestAckFromClient(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	type result struct {
		args json.RawMessage
		err  error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		args, err := c.EmitWithAck(ctx, "/", "question", "why")
		done <- result{args, err}
	}()
	tc.expect(`420["question","why"]`)
	tc.send(`430["because",42]`)
	r := <-done
	if r.err != nil || string(r.args) != `["because",42]` {
		t.Fatalf(
			"EmitWithAck = %s, %v",
			r.args, r.err,
		)
	}
}

func TestBinaryFromClient(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/admin", "")
	nextReceived(t, c)
	tc.send(`452-/admin,["echo",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]`)
	tc.sendBinary([]byte{1, 2, 3})
	tc.sendBinary([]byte{4, 5})
	tc.expect(`452-/admin,["echo",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]`)
	if a, b := tc.binary(), tc.binary(); string(a) != "\x01\x02\x03" || string(b) != "\x04\x05" {
		t.Fatalf(
			"attachments %q %q",
			a, b,
		)
	}
	ev := nextReceived(t, c)
	if ev.Type != frames.BinaryEvent || string(ev.Args) != `["AQID",{"x":"BAU="}]` || len(ev.Attachments) != 2 {
		t.Fatalf(
			"received %+v, args %s",
			ev, ev.Args,
		)
	}
}

func TestBinaryFromServer(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	if err := c.Emit("/", "files", []byte("ab"), map[string]any{"b": []byte("c")}); err != nil {
		t.Fatalf(
			"Emit: %v",
			err,
		)
	}
	tc.expect(`452-["files",{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}]`)
	if a, b := tc.binary(), tc.binary(); string(a) != "ab" || string(b) != "c" {
		t.Fatalf(
			"attachments %q %q",
			a, b,
		)
	}
}

func TestBinaryAckFromClient(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	done := make(chan json.RawMessage, 1)
	go func() {
		args, _ := c.EmitWithAck(context.Background(), "/", "give")
		done <- args
	}()
	tc.expect(`420["give"]`)
	tc.send(`461-0[{"_placeholder":true,"num":0}]`)
	tc.sendBinary([]byte{0xff})
	select {
	case args := <-done:
		if string(args) != `["/w=="]` {
			t.Fatalf(
				"ack args %s",
				args,
			)
		}
	case <-time.After(readTimeout):
		t.Fatal("no ack")
	}
}

func TestHeartbeat(t *testing.T) {
	s := newServer(t, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	tc := dialOpen(t, s)
	c := accept(t, s)
	for range 3 {
		expectPing(t, tc)
		tc.send("3")
	}
	deadline := time.Now().Add(readTimeout)
	for c.Pongs() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if c.Pongs() != 3 {
		t.Fatalf(
			"Pongs() = %d, want 3",
			c.Pongs(),
		)
	}
	if err := c.PingNow(); err != nil {
		t.Fatalf(
			"PingNow: %v",
			err,
		)
	}
	expectPing(t, tc)
}

func expectPing(t *testing.T, tc *testClient) {
	t.Helper()
	if got := tc.text(); got != "2" {
		t.Fatalf(
			"got %q, want a ping",
			got,
		)
	}
}

func TestPongTimeoutCloses(t *testing.T) {
	s := newServer(t, Options{PingInterval: 30 * time.Millisecond, PingTimeout: 60 * time.Millisecond})
	tc := dialOpen(t, s)
	c := accept(t, s)
	expectPing(t, tc)
	if err := waitClosed(t, c); !errors.Is(err, ErrPingTimeout) {
		t.Fatalf(
			"Err() = %v, want ErrPingTimeout",
			err,
		)
	}
	if err := tc.readUntilError(); !isClosedErr(err) {
		t.Fatalf(
			"client read error %v",
			err,
		)
	}
}

func TestSetPingsOff(t *testing.T) {
	s := newServer(t, Options{PingInterval: 30 * time.Millisecond, PingTimeout: 30 * time.Millisecond})
	tc := dialOpen(t, s)
	c := accept(t, s)
	c.SetPings(false)
	tc.connect("/", "")
	time.Sleep(150 * time.Millisecond)
	tc.send(`42["echo","still here"]`)
	got := tc.text()
	if got == "2" {
		got = tc.text()
	}
	if got != `42["echo","still here"]` {
		t.Fatalf(
			"got %q after silence",
			got,
		)
	}
	select {
	case <-c.Closed():
		t.Fatalf(
			"closed while pings were off: %v",
			c.Err(),
		)
	default:
	}
}

func TestProtocolViolationsClose(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
		want  error
		raw   bool
	}{
		{
			name:  "client ping",
			frame: []byte("2"),
			want:  ErrProtocol,
		},
		{
			name:  "malformed packet",
			frame: []byte("42{}"),
			want:  ErrProtocol,
		},
		{
			name:  "reserved event",
			frame: []byte(`42["disconnect"]`),
			want:  ErrProtocol,
		},
		{
			name:  "too large",
			frame: []byte("4" + strings.Repeat("x", 200)),
			want:  ErrTooLarge,
		},
		{
			name:  "unmasked frame",
			frame: []byte{0x81, 0x01, '3'},
			want:  ErrProtocol,
			raw:   true,
		},
		{
			name:  "engine close",
			frame: []byte("1"),
			want:  ErrClientClosed,
		},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{MaxPayload: 100})
			tc := dialOpen(t, s)
			c := accept(t, s)
			tc.connect("/", "")
			if tt.raw {
				_, _ = tc.conn.Write(tt.frame)
			} else {
				tc.send(string(tt.frame))
			}
			if err := waitClosed(t, c); !errors.Is(err, tt.want) {
				t.Fatalf(
					"Err() = %v, want %v",
					err, tt.want,
				)
			}
		})
	}
}

func TestDisconnect(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/admin", "")
	tc.connect("/", "")
	if err := c.Disconnect("/admin"); err != nil {
		t.Fatalf(
			"Disconnect: %v",
			err,
		)
	}
	tc.expect("41/admin,")
	if c.Connected("/admin") || !c.Connected("/") {
		t.Fatal("namespace state not updated")
	}
	tc.send(`42["disconnect-me"]`)
	tc.expect("41")
	tc.connect("/admin", "")
	tc.send("41/admin,")
	tc.send(`42["echo"]`)
	for {
		ev := nextReceived(t, c)
		if ev.Type == frames.Disconnect {
			break
		}
	}
	if c.Connected("/admin") {
		t.Fatal("client DISCONNECT not applied")
	}
}

func TestDrop(t *testing.T) {
	for _, viaEvent := range []bool{false, true} {
		t.Run(fmt.Sprint("event=", viaEvent), func(t *testing.T) {
			s := newServer(t, Options{})
			tc := dialOpen(t, s)
			c := accept(t, s)
			tc.connect("/", "")
			if viaEvent {
				tc.send(`42["drop-me"]`)
			} else {
				c.Drop()
			}
			if err := waitClosed(t, c); !errors.Is(err, ErrDropped) {
				t.Fatalf(
					"Err() = %v, want ErrDropped",
					err,
				)
			}
			if err := tc.readUntilError(); !isClosedErr(err) {
				t.Fatalf(
					"client read error %v",
					err,
				)
			}
		})
	}
}

func TestRecoveryReplay(t *testing.T) {
	s := newServer(t, Options{Recovery: true})
	tc := dialOpen(t, s)
	c := accept(t, s)
	sid, pid := sidOf(t, tc.connect("/", `{"token":"x"}`))
	_ = c.Emit("/", "seen", 1)
	offset := offsetOf(t, tc.next(), "seen")
	_ = c.Emit("/", "missed", 2)
	_ = tc.conn.Close()
	waitClosed(t, c)
	_ = s.EmitAll("/", "broadcast", 3)

	tc2 := dialOpen(t, s)
	tc2.send(fmt.Sprintf(`40{"token":"x","pid":%q,"offset":%q}`, pid, offset))
	offsetOf(t, tc2.next(), "missed")
	offsetOf(t, tc2.next(), "broadcast")
	sid2, pid2 := sidOf(t, tc2.next())
	if sid2 != sid || pid2 != pid {
		t.Fatalf(
			"restored sid/pid %s/%s, want %s/%s",
			sid2, pid2, sid, pid,
		)
	}
}

// offsetOf checks that msg is an EVENT named name whose last argument is
// a recovery offset, and returns the offset.
func offsetOf(t *testing.T, msg, name string) string {
	t.Helper()
	var args []any
	_ = json.Unmarshal([]byte(strings.TrimPrefix(msg, "42")), &args)
	if len(args) < 2 || args[0] != name {
		t.Fatalf(
			"got %q, want event %q with an offset",
			msg, name,
		)
	}
	offset, ok := args[len(args)-1].(string)
	if !ok || offset == "" {
		t.Fatalf(
			"no offset in %q",
			msg,
		)
	}
	return offset
}

func TestRecoveryRestoresSidAndPid(t *testing.T) {
	s := newServer(t, Options{Recovery: true})
	tc := dialOpen(t, s)
	c := accept(t, s)
	sid, pid := sidOf(t, tc.connect("/", ""))
	_ = c.Emit("/", "one")
	offset := offsetOf(t, tc.next(), "one")
	c.Drop()
	waitClosed(t, c)

	tc2 := dialOpen(t, s)
	auth := fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset)
	sid2, pid2 := sidOf(t, tc2.connect("/", auth))
	if sid2 != sid || pid2 != pid {
		t.Fatalf(
			"restored sid/pid %s/%s, want %s/%s",
			sid2, pid2, sid, pid,
		)
	}
	tc3 := dialOpen(t, s)
	_, pid3 := sidOf(t, tc3.connect("/", `{"pid":"unknown","offset":"0"}`))
	if pid3 == "" || pid3 == pid {
		t.Fatalf(
			"unknown pid got pid %q",
			pid3,
		)
	}
}

func TestPingTimeoutWhileWriteBlocked(t *testing.T) {
	s := newServer(t, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	big := strings.Repeat("x", 64<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c.Emit("/", "flood", big) == nil {
		}
	}()
	if err := waitClosed(t, c); !errors.Is(err, ErrPingTimeout) {
		t.Fatalf(
			"Err() = %v, want ErrPingTimeout",
			err,
		)
	}
	<-done
}

func TestDemoTicks(t *testing.T) {
	s, err := NewDemo(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tc := dialOpen(t, s)
	tc.connect("/", "")
	start := time.Now()
	names := map[string]int{}
	for range 5 {
		raw, _, err := frames.SplitEvent([]byte(tc.next()[2:]))
		if err != nil {
			t.Fatal(err)
		}
		names[string(raw)]++
	}
	if d := time.Since(start); d > 3*time.Second || names["tick"] < 2 || names["chat"] < 1 {
		t.Fatalf(
			"5 events in %v: %v",
			d, names,
		)
	}
	tc.send(`421["hello"]`)
	tc.send(`42["hello",1]`)
	seen := map[string]bool{}
	for len(seen) < 2 {
		msg := tc.next()
		if msg == `431[]` || msg == `42["echo",1]` {
			seen[msg] = true
		}
	}
}

func TestDemoBlob(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 4 s for a blob")
	}
	s, err := NewDemo(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tc := dialOpen(t, s)
	tc.connect("/", "")
	for {
		msg := tc.next()
		if strings.HasPrefix(msg, `451-["blob",`) {
			break
		}
	}
	if b := tc.binary(); len(b) != 8 {
		t.Fatalf(
			"blob of %d bytes",
			len(b),
		)
	}
}

func TestReadPaused(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	nextReceived(t, c)
	c.SetReadPaused(true)
	// The frame being waited for when the pause began may still be handled.
	tc.send(`42["echo","first"]`)
	tc.send(`42["echo","second"]`)
	for {
		msg, err := tc.readWithin(200 * time.Millisecond)
		if err != nil {
			break
		}
		if msg != `42["echo","first"]` {
			t.Fatalf(
				"got %q while reading was paused",
				msg,
			)
		}
	}
	c.SetReadPaused(false)
	for tc.next() != `42["echo","second"]` {
	}
}

func TestRawWrites(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	if err := c.WriteText(`42["x"`); err != nil {
		t.Fatal(err)
	}
	tc.expect(`42["x"`)
	if err := c.WriteBinary([]byte{9}); err != nil {
		t.Fatal(err)
	}
	if b := tc.binary(); string(b) != "\x09" {
		t.Fatalf(
			"binary %q",
			b,
		)
	}
	if err := c.WriteRaw([]byte{0x81, 0x02, 'h', 'i'}); err != nil {
		t.Fatal(err)
	}
	tc.expect("hi")
}

func TestConnectTimeout(t *testing.T) {
	s := newServer(t, Options{ConnectTimeout: 50 * time.Millisecond})
	dialOpen(t, s)
	c := accept(t, s)
	if err := waitClosed(t, c); !errors.Is(err, ErrConnectTimeout) {
		t.Fatalf(
			"Err() = %v, want ErrConnectTimeout",
			err,
		)
	}
}

func TestEmitAll(t *testing.T) {
	s := newServer(t, Options{})
	a, b, other := dialOpen(t, s), dialOpen(t, s), dialOpen(t, s)
	a.connect("/news", "")
	b.connect("/news", "")
	other.connect("/", "")
	if err := s.EmitAll("/news", "headline", "go 2"); err != nil {
		t.Fatal(err)
	}
	a.expect(`42/news,["headline","go 2"]`)
	b.expect(`42/news,["headline","go 2"]`)
	other.send(`42["echo","x"]`)
	other.expect(`42["echo","x"]`)
}

func TestCloseWithStuckClient(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	big := strings.Repeat("x", 64<<10)
	go func() {
		for c.Emit("/", "flood", big) == nil {
		}
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	_ = s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf(
			"Close took %v",
			d,
		)
	}
	if _, err := s.Accept(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf(
			"Accept after Close: %v",
			err,
		)
	}
	if !errors.Is(c.Err(), ErrServerClosed) {
		t.Fatalf(
			"Err() = %v",
			c.Err(),
		)
	}
}

func TestTLS(t *testing.T) {
	s := newServer(t, Options{TLSConfig: selfSigned(t)})
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf(
			"URL %q",
			s.URL(),
		)
	}
	tc := dialURL(t, tlsDialer(), "wss://"+s.Addr()+"/socket.io/?EIO=4&transport=websocket")
	tc.readOpen()
	tc.connect("/", "")
	tc.send(`42["echo","secure"]`)
	tc.expect(`42["echo","secure"]`)
}

// selfSigned returns a TLS config with a fresh certificate for 127.0.0.1.
func selfSigned(t *testing.T) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

func TestEmitWithAckReply(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/admin", "")
	type result struct {
		r   *Received
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		r, err := c.EmitWithAckReply(ctx, "/admin", "give", 1)
		done <- result{r, err}
	}()
	tc.expect(`42/admin,0["give",1]`)
	tc.send(`461-/admin,0["ok",{"_placeholder":true,"num":0}]`)
	tc.sendBinary([]byte{0xff, 0})
	res := <-done
	if res.err != nil {
		t.Fatalf(
			"EmitWithAckReply: %v",
			res.err,
		)
	}
	r := res.r
	if r.Type != frames.BinaryAck || r.Namespace != "/admin" || !r.HasID || r.ID != 0 ||
		string(r.Args) != `["ok","/wA="]` || len(r.Attachments) != 1 || string(r.Attachments[0]) != "\xff\x00" {
		t.Fatalf(
			"reply %+v, args %s",
			r, r.Args,
		)
	}
}

func TestEchoHandlerHasNoCommands(t *testing.T) {
	s := newServer(t, Options{Handler: EchoHandler})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	tc.send(`421["drop-me","x"]`)
	tc.expect(`431["x"]`)
	tc.send(`42["disconnect-me"]`)
	tc.send(`42["echo",{"a":1}]`)
	tc.expect(`42["echo",{"a":1}]`)
	if !c.Connected("/") {
		t.Fatal("EchoHandler ran a DefaultHandler command")
	}
}

func TestValue(t *testing.T) {
	s := newServer(t, Options{})
	dialOpen(t, s)
	c := accept(t, s)
	if v := c.Value(); v != nil {
		t.Fatalf(
			"Value before SetValue = %v",
			v,
		)
	}
	c.SetValue("mine")
	if v := c.Value(); v != "mine" {
		t.Fatalf(
			"Value = %v, want mine",
			v,
		)
	}
}
