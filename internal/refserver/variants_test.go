package refserver_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsflate"
	"github.com/siostream/siostream/internal/refserver"
)

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
