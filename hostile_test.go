package siostream_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/siostream/siostream"
	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/sioserver"
)

// The hostile tests play a server that breaks the protocol on purpose and
// check that the client turns each violation into a clear error, drops
// the connection with reason "parse error", reconnects, and never
// allocates what the peer merely declares.

// wsHeader returns a server (unmasked) or masked WebSocket frame header
// with first byte b0 declaring n payload bytes.
func wsHeader(b0 byte, mask *[4]byte, n uint64) []byte {
	h := []byte{b0}
	var m byte
	if mask != nil {
		m = 0x80
	}
	switch {
	case n < 126:
		h = append(h, m|byte(n))
	case n <= 0xffff:
		h = append(h, m|126, byte(n>>8), byte(n))
	default:
		h = binary.BigEndian.AppendUint64(append(h, m|127), n)
	}
	if mask != nil {
		h = append(h, mask[:]...)
	}
	return h
}

// wsFrame returns a whole unmasked frame with first byte b0.
func wsFrame(b0 byte, payload []byte) []byte {
	return append(wsHeader(b0, nil, uint64(len(payload))), payload...)
}

// wsMaskedFrame returns a whole frame with the mask bit set, which a
// server must never send.
func wsMaskedFrame(b0 byte, payload []byte) []byte {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	out := wsHeader(b0, &key, uint64(len(payload)))
	for i, b := range payload {
		out = append(out, b^key[i%4])
	}
	return out
}

// textOfLen returns a valid EVENT frame of exactly n bytes (n >= 10).
func textOfLen(n int) string {
	const head, tail = `42["x","`, `"]`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

// hostileRig starts a server, dials it, and returns the server side of the
// stream's connection once the namespace is joined.
func hostileRig(t *testing.T, so sioserver.Options, o siostream.Options) (*sioserver.Server, *siostream.Stream, *sioserver.Conn) {
	t.Helper()
	srv := newServer(t, so)
	s := dial(t, srv.URL(), o)
	next(t, s, siostream.KindConnected, 2*time.Second)
	c := accept(t, srv)
	joinedOn(t, c)
	return srv, s, c
}

// joinedOn waits until the client joined "/" on c.
func joinedOn(t testing.TB, c *sioserver.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WaitConnect(ctx, "/"); err != nil {
		t.Fatalf("namespace not joined: %v", err)
	}
}

// expectParseError waits for the next KindDisconnected and checks that it
// is a parse error carrying a *ProtocolError.
func expectParseError(t testing.TB, s *siostream.Stream, d time.Duration) (siostream.Event, *siostream.ProtocolError) {
	t.Helper()
	ev := next(t, s, siostream.KindDisconnected, d)
	var pe *siostream.ProtocolError
	if ev.Reason() != siostream.ReasonParseError || !errors.As(ev.Err(), &pe) {
		t.Fatalf("disconnect reason %q err %v (%T); want %q with a *ProtocolError", ev.Reason(), ev.Err(), ev.Err(), siostream.ReasonParseError)
	}
	return ev, pe
}

func readMem() runtime.MemStats {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

const oneMiB = 1 << 20

type hostileCase struct {
	name  string
	opts  siostream.Options
	send  func(c *sioserver.Conn) error
	layer string // ProtocolError.Layer
	is    error  // sentinel the error must match, if any
	msg   string // text the error must contain, if any
	issue string // known SDK issue: what happens instead of a parse error
}

func hostileCases() []hostileCase {
	raw := func(b ...[]byte) func(*sioserver.Conn) error {
		return func(c *sioserver.Conn) error {
			var all []byte
			for _, p := range b {
				all = append(all, p...)
			}
			return c.WriteRaw(all)
		}
	}
	text := func(frames ...string) func(*sioserver.Conn) error {
		return func(c *sioserver.Conn) error {
			for _, f := range frames {
				if err := c.WriteText(f); err != nil {
					return err
				}
			}
			return nil
		}
	}
	deep := func(open, close string, n int, closed bool) string {
		s := `42["deep",` + strings.Repeat(open, n)
		if closed {
			s += strings.Repeat(close, n)
		}
		return s + `]`
	}
	ph := func(n int) string { return fmt.Sprintf(`{"_placeholder":true,"num":%d}`, n) }
	var cases []hostileCase
	// A raw control byte or a stray quote at every alignment of a long
	// string: the string scanner works a word at a time.
	for off := range 9 {
		body := strings.Repeat("s", 24)
		cases = append(cases,
			hostileCase{name: fmt.Sprintf("control byte in a string at %d", off),
				send: text(`42["x","` + body[:off] + "\x01" + body[off:] + `"]`), layer: "socket.io", is: frames.ErrInvalidJSON},
			hostileCase{name: fmt.Sprintf("stray quote in a string at %d", off),
				send: text(`42["x","` + body[:off] + `"` + body[off:] + `"]`), layer: "socket.io", is: frames.ErrInvalidJSON})
	}
	return append(cases, []hostileCase{
		// Declared lengths: refused from the header, before any payload.
		{name: "declared 1<<40 bytes", send: raw(wsHeader(0x81, nil, 1<<40)), layer: "websocket", msg: "read limit"},
		{name: "declared 1<<30 bytes over default limit", send: raw(wsHeader(0x82, nil, 1<<30)), layer: "websocket", msg: "read limit"},
		{name: "declared length with the most significant bit set", send: raw(wsHeader(0x81, nil, 1<<63)), layer: "websocket",
			issue: "a frame header whose 64-bit length has the most significant bit set (RFC 6455 5.2: MUST be 0) is " +
				"reported as a transport error, not as a *ProtocolError with reason \"parse error\": read.go readMessage " +
				"returns the ws.ErrHeaderLengthMSB of ws.ReadHeaderBuffer unwrapped"},
		{name: "declared 2048 bytes over ReadLimit 1024", opts: siostream.Options{ReadLimit: 1024},
			send: raw(wsHeader(0x81, nil, 2048)), layer: "websocket", msg: "2048 > 1024"},
		{name: "1025 real bytes over ReadLimit 1024", opts: siostream.Options{ReadLimit: 1024},
			send: text(textOfLen(1025)), layer: "websocket", msg: "1025 > 1024"},
		{name: "fragments summing over ReadLimit", opts: siostream.Options{ReadLimit: 1024},
			send: raw(wsFrame(0x01, []byte(textOfLen(600))), wsFrame(0x80, make([]byte, 600))), layer: "websocket", msg: "1200 > 1024"},
		{name: "attachment bytes over ReadLimit", opts: siostream.Options{ReadLimit: 1024},
			send: func(c *sioserver.Conn) error {
				c.WriteText(`452-["b",` + ph(0) + `,` + ph(1) + `]`)
				c.WriteBinary(make([]byte, 600))
				return c.WriteBinary(make([]byte, 600))
			}, layer: "socket.io", msg: "read limit"},
		// Attachments.
		{name: "11 attachments over default 10", send: text(`4511-["b",` + ph(0) + `]`), layer: "socket.io", is: frames.ErrTooManyAttachments},
		{name: "3 attachments over MaxAttachments 2", opts: siostream.Options{MaxAttachments: 2},
			send: text(`453-["b",` + ph(0) + `]`), layer: "socket.io", is: frames.ErrTooManyAttachments},
		{name: "attachment count overflowing", send: text(`45184467440737095516160-["b"]`), layer: "socket.io"},
		{name: "placeholder out of range", send: func(c *sioserver.Conn) error {
			c.WriteText(`451-["b",` + ph(5) + `]`)
			c.WriteBinary([]byte{1}) // the client may have closed already
			return nil
		}, layer: "socket.io", is: frames.ErrBadPlaceholder},
		{name: "binary frame with no pending attachment", send: func(c *sioserver.Conn) error { return c.WriteBinary([]byte{1, 2, 3}) },
			layer: "engine.io", msg: "no attachment expected"},
		{name: "text frame while attachments pending", send: text(`452-["b",`+ph(0)+`,`+ph(1)+`]`, `42["x"]`),
			layer: "socket.io", msg: "attachments are pending"},
		// JSON.
		{name: "100000 nested arrays", send: text(deep("[", "]", 100000, true)), layer: "socket.io", is: frames.ErrTooDeep},
		{name: "100000 unclosed arrays", send: text(deep("[", "]", 100000, false)), layer: "socket.io", is: frames.ErrTooDeep},
		{name: "100000 nested objects", send: text(deep(`{"a":`, "}", 100000, true)), layer: "socket.io", is: frames.ErrTooDeep},
		{name: "deep CONNECT reply", send: text(`40{"sid":` + strings.Repeat("[", 100000)), layer: "socket.io", is: frames.ErrTooDeep},
		{name: "EVENT payload not an array", send: text(`42{}`), layer: "socket.io", is: frames.ErrBadPayload},
		{name: "EVENT name not a string", send: text(`42[1,2]`), layer: "socket.io"},
		{name: "ack id overflowing uint64", send: text(`4318446744073709551616["x"]`), layer: "socket.io", is: frames.ErrAckIDOverflow},
		{name: "truncated JSON", send: text(`42["x",{"a":`), layer: "socket.io", is: frames.ErrInvalidJSON},
		// UTF-8.
		{name: "invalid UTF-8 0xff 0xfe", send: raw(wsFrame(0x81, []byte("42[\"\xff\xfe\"]"))), layer: "websocket", msg: "UTF-8"},
		{name: "truncated UTF-8 sequence", send: raw(wsFrame(0x81, []byte("42[\"\xe2\x82\"]"))), layer: "websocket", msg: "UTF-8"},
		{name: "UTF-8 surrogate half", send: raw(wsFrame(0x81, []byte("42[\"\xed\xa0\x80\"]"))), layer: "websocket", msg: "UTF-8"},
		// WebSocket framing.
		{name: "masked server frame", send: raw(wsMaskedFrame(0x81, []byte(`42["x"]`))), layer: "websocket", msg: "masked"},
		{name: "RSV1 set without deflate", send: raw(wsFrame(0xC1, []byte(`42["x"]`))), layer: "websocket", msg: "reserved bits"},
		{name: "RSV2 set", send: raw(wsFrame(0xA1, []byte(`42["x"]`))), layer: "websocket", msg: "reserved bits"},
		{name: "RSV3 set", send: raw(wsFrame(0x91, []byte(`42["x"]`))), layer: "websocket", msg: "reserved bits"},
		{name: "reserved data opcode 3", send: raw(wsFrame(0x83, []byte(`42["x"]`))), layer: "websocket", msg: "opcode"},
		{name: "reserved control opcode 0xB", send: raw(wsFrame(0x8B, nil)), layer: "websocket", msg: "opcode"},
		{name: "fragmented ping", send: raw(wsFrame(0x09, []byte("p"))), layer: "websocket", msg: "control frame"},
		{name: "ping of 126 bytes", send: raw(wsFrame(0x89, make([]byte, 126))), layer: "websocket", msg: "control frame"},
		{name: "continuation without a message", send: raw(wsFrame(0x80, []byte(`42["x"]`))), layer: "websocket", msg: "continuation"},
		{name: "new message inside a fragmented one", send: raw(wsFrame(0x01, []byte(`42["x`)), wsFrame(0x81, []byte(`42["y"]`))),
			layer: "websocket", msg: "continuation"},
		// Engine.IO and Socket.IO packet types.
		{name: "empty text frame", send: text(``), layer: "engine.io", is: frames.ErrEmpty},
		{name: "unknown Engine.IO type 9", send: text(`9`), layer: "engine.io", is: frames.ErrUnknownType},
		{name: "unknown Socket.IO type 8", send: text(`48["x"]`), layer: "socket.io", is: frames.ErrUnknownType},
		{name: "empty Engine.IO message", send: text(`4`), layer: "socket.io", is: frames.ErrEmpty},
		{name: "second open packet", send: text(`0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`),
			layer: "engine.io", msg: "open packet"},
		{name: "namespace without slash", send: text(`42admin,["x"]`), layer: "socket.io"},
	}...)
}

func TestHostileFrames(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			_, s, c := hostileRig(t, sioserver.Options{}, tc.opts)
			runtime.GC()
			before := readMem()
			if err := tc.send(c); err != nil {
				t.Fatalf("write: %v", err)
			}
			var ev siostream.Event
			var pe *siostream.ProtocolError
			if tc.issue != "" {
				ev = next(t, s, siostream.KindDisconnected, 5*time.Second)
				if ev.Reason() != siostream.ReasonParseError || !errors.As(ev.Err(), &pe) {
					next(t, s, siostream.KindConnected, 5*time.Second)
					t.Fatalf("%s (got reason %q, err %v)", tc.issue, ev.Reason(), ev.Err())
				}
			} else {
				ev, pe = expectParseError(t, s, 5*time.Second)
			}
			after := readMem()
			if tc.layer != "" && pe.Layer != tc.layer {
				t.Errorf("layer %q, want %q (%v)", pe.Layer, tc.layer, ev.Err())
			}
			if tc.is != nil && !errors.Is(ev.Err(), tc.is) {
				t.Errorf("error %v does not match %v", ev.Err(), tc.is)
			}
			if tc.msg != "" && !strings.Contains(ev.Err().Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", ev.Err(), tc.msg)
			}
			if n := len(ev.Err().Error()); n > 400 {
				t.Errorf("error text of %d bytes: peer input is not bounded in it", n)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*oneMiB {
				t.Errorf("%.1f MiB allocated while handling the frame", float64(alloc)/oneMiB)
			}
			next(t, s, siostream.KindConnected, 5*time.Second)
			if s.Err() != nil {
				t.Fatalf("stream ended: %v", s.Err())
			}
			t.Logf("%v", ev.Err())
		})
	}
}

// TestHostileDeclaredLengthMemory measures the heap around frames whose
// header declares far more than the read limit: nothing of the declared
// size may be allocated.
func TestHostileDeclaredLengthMemory(t *testing.T) {
	for _, declared := range []uint64{1 << 40, 1 << 30, 1<<62 + 1} {
		t.Run(fmt.Sprint(declared), func(t *testing.T) {
			_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{})
			runtime.GC()
			before := readMem()
			peak := atomic.Uint64{}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { // sample the heap while the client handles the frame
				for i := 0; i < 2000; i++ {
					m := readMem()
					if m.HeapAlloc > peak.Load() {
						peak.Store(m.HeapAlloc)
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
			})
			c.WriteRaw(wsHeader(0x81, nil, declared))
			c.WriteRaw(make([]byte, 4096)) // some real bytes after the header
			ev, _ := expectParseError(t, s, 5*time.Second)
			next(t, s, siostream.KindConnected, 5*time.Second)
			close(stop)
			wg.Wait()
			after := readMem()
			alloc := after.TotalAlloc - before.TotalAlloc
			grow := int64(peak.Load()) - int64(before.HeapAlloc)
			t.Logf("declared %d bytes: %v; heap before %.2f MiB, peak %.2f MiB, allocated meanwhile %.2f MiB",
				declared, ev.Err(), float64(before.HeapAlloc)/oneMiB, float64(peak.Load())/oneMiB, float64(alloc)/oneMiB)
			if alloc > 8*oneMiB || grow > 8*oneMiB {
				t.Fatalf("allocated %d bytes (heap grew %d) for a frame declaring %d", alloc, grow, declared)
			}
		})
	}
}

// TestHostileDeclaredWithinLimit documents what a header declaring just
// under the read limit costs when no payload follows: the buffer for the
// declared length is made before the bytes arrive. It is bounded by
// ReadLimit, as documented, and freed when the connection ends.
func TestHostileDeclaredWithinLimit(t *testing.T) {
	const limit = 4 * oneMiB
	srv, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{ReadLimit: limit})
	runtime.GC()
	before := readMem()
	c.WriteRaw(wsHeader(0x81, nil, limit-1))
	time.Sleep(100 * time.Millisecond)
	mid := readMem()
	c.Drop()
	next(t, s, siostream.KindDisconnected, 5*time.Second)
	next(t, s, siostream.KindConnected, 5*time.Second)
	accept(t, srv)
	alloc := mid.TotalAlloc - before.TotalAlloc
	t.Logf("header declaring %d bytes (ReadLimit %d) with no payload: %.2f MiB allocated up front", limit-1, limit, float64(alloc)/oneMiB)
	if alloc > 2*limit {
		t.Fatalf("allocated %d bytes, more than twice ReadLimit", alloc)
	}
}

// TestHostileTolerated lists frames that are odd but legal: the stream
// must stay connected and keep delivering.
func TestHostileTolerated(t *testing.T) {
	cases := []struct {
		name string
		opts siostream.Options
		send func(c *sioserver.Conn) error
	}{
		{"noop packet", siostream.Options{}, func(c *sioserver.Conn) error { return c.WriteText("6") }},
		{"ack for an unknown id", siostream.Options{}, func(c *sioserver.Conn) error { return c.WriteText(`43999["late"]`) }},
		{"event for another namespace", siostream.Options{}, func(c *sioserver.Conn) error { return c.WriteText(`42/other,["x"]`) }},
		{"WebSocket ping", siostream.Options{}, func(c *sioserver.Conn) error { return c.WriteRaw(wsFrame(0x89, []byte("hi"))) }},
		{"WebSocket pong", siostream.Options{}, func(c *sioserver.Conn) error { return c.WriteRaw(wsFrame(0x8A, nil)) }},
		{"ping inside a fragmented message", siostream.Options{}, func(c *sioserver.Conn) error {
			return c.WriteRaw(append(append(wsFrame(0x01, []byte(`42["fr`)), wsFrame(0x89, nil)...), wsFrame(0x80, []byte(`ag"]`))...))
		}},
		{"message of exactly ReadLimit", siostream.Options{ReadLimit: 1024}, func(c *sioserver.Conn) error { return c.WriteText(textOfLen(1024)) }},
		{"10 attachments", siostream.Options{}, func(c *sioserver.Conn) error {
			var b strings.Builder
			b.WriteString(`4510-["ten"`)
			for i := range 10 {
				fmt.Fprintf(&b, `,{"_placeholder":true,"num":%d}`, i)
			}
			b.WriteString("]")
			c.WriteText(b.String())
			for i := range 10 {
				c.WriteBinary([]byte{byte(i)})
			}
			return nil
		}},
		{"nesting of 100", siostream.Options{}, func(c *sioserver.Conn) error {
			return c.WriteText(`42["nest",` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]`)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, s, c := hostileRig(t, sioserver.Options{}, tc.opts)
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			c.Emit("/", "after")
			for {
				ev := next(t, s, siostream.KindEvent, 5*time.Second)
				if ev.Name == "after" {
					break
				}
			}
			if st := s.Stats(); st.Reconnects != 0 {
				t.Fatalf("reconnected: %+v", st)
			}
		})
	}
}

// TestHostileStringAlignment: strings whose quotes, backslashes, control
// escapes and multibyte characters fall at every offset of an 8-byte word
// decode exactly.
func TestHostileStringAlignment(t *testing.T) {
	_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{})
	specials := []string{`"`, `\`, "\n", "\u0001", "é", "€", "𝄞", "\t", "\u2028", "<&>"}
	var want []string
	for _, sp := range specials {
		for off := range 17 {
			want = append(want, strings.Repeat("a", off)+sp+strings.Repeat("b", 17-off))
		}
	}
	if err := c.Emit("/", "strings", want); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, s, "strings", 5*time.Second)
	var got []string
	if err := ev.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d strings, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("string %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// blockingAuthorize returns an Authorize function that accepts the first
// `free` CONNECTs at once and holds the later ones until release is closed
// or hold has passed, whichever comes first.
func blockingAuthorize(free int, hold time.Duration, release <-chan struct{}) func(string, json.RawMessage) *sioserver.Reject {
	var n atomic.Int64
	return func(string, json.RawMessage) *sioserver.Reject {
		if n.Add(1) <= int64(free) {
			return nil
		}
		t := time.NewTimer(hold)
		defer t.Stop()
		select {
		case <-release:
		case <-t.C:
		}
		return nil
	}
}

func TestHostileConnectReplyNeverComes(t *testing.T) {
	release := make(chan struct{})
	auth := blockingAuthorize(0, 3*time.Second, release)
	srv := newServer(t, sioserver.Options{Authorize: auth})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	const timeout = 200 * time.Millisecond
	start := time.Now()
	_, err := siostream.Dial(context.Background(), srv.URL(), siostream.Options{ConnectTimeout: timeout})
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want a timeout", err)
	}
	if took > timeout+time.Second {
		t.Fatalf("Dial gave up after %v with ConnectTimeout %v", took, timeout)
	}
	t.Logf("Dial failed after %v (ConnectTimeout %v): %v", took, timeout, err)
}

func TestHostileConnectReplyNeverComesOnReconnect(t *testing.T) {
	release := make(chan struct{})
	auth := blockingAuthorize(1, 4*time.Second, release)
	srv := newServer(t, sioserver.Options{Authorize: auth})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	const timeout = 200 * time.Millisecond
	s := dial(t, srv.URL(), siostream.Options{ConnectTimeout: timeout})
	next(t, s, siostream.KindConnected, 2*time.Second)
	accept(t, srv).Drop()
	next(t, s, siostream.KindDisconnected, 2*time.Second)
	start := time.Now()
	var connectErrors int
	var firstErr error
	deadline := time.After(timeout + 1500*time.Millisecond)
wait:
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("stream ended: %v", s.Err())
			}
			switch ev.Kind {
			case siostream.KindConnectError:
				if connectErrors++; connectErrors == 1 {
					firstErr = ev.Err()
					t.Logf("first KindConnectError after %v: %v", time.Since(start), ev.Err())
				}
				if connectErrors >= 2 {
					break wait
				}
			case siostream.KindConnected:
				t.Fatal("connected while the server holds every CONNECT")
			}
		case <-deadline:
			break wait
		}
	}
	free()
	next(t, s, siostream.KindConnected, 6*time.Second)
	if connectErrors == 0 {
		t.Fatalf("on reconnect the CONNECT reply is not bounded by ConnectTimeout (%v): "+
			"no KindConnectError in %v while the server held the CONNECT; the stream waited for the reply", timeout, time.Since(start))
	}
	if !errors.Is(firstErr, context.DeadlineExceeded) {
		t.Errorf("connect error %v, want a timeout", firstErr)
	}
}

// TestHostileConnectErrorOnReconnect: the server refuses the CONNECT of the
// first reconnection. Without ReconnectOnServerDisconnect the stream must
// report KindConnectError and end with the *ConnectError.
func TestHostileConnectErrorOnReconnect(t *testing.T) {
	var n atomic.Int64
	srv := newServer(t, sioserver.Options{Authorize: func(string, json.RawMessage) *sioserver.Reject {
		if n.Add(1) == 1 {
			return nil
		}
		return &sioserver.Reject{Message: "revoked", Data: map[string]any{"code": 403}}
	}})
	s := dial(t, srv.URL(), siostream.Options{})
	next(t, s, siostream.KindConnected, 2*time.Second)
	accept(t, srv).Drop()
	next(t, s, siostream.KindDisconnected, 2*time.Second)
	var got *siostream.ConnectError
	timer := time.NewTimer(3 * time.Second)
	defer timer.Stop()
	for got == nil {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("stream ended without KindConnectError: %v", s.Err())
			}
			if ev.Kind == siostream.KindConnectError {
				if !errors.As(ev.Err(), &got) {
					t.Fatalf("connect error %v is not a *ConnectError", ev.Err())
				}
			}
		case <-timer.C:
			t.Fatalf("no KindConnectError within 3 s (%d CONNECTs seen, Err() %v, ID() %q): the refusal was swallowed",
				n.Load(), s.Err(), s.ID())
		}
	}
	if got.Message != "revoked" || string(got.Data) != `{"code":403}` {
		t.Errorf("connect error %+v", got)
	}
	for range s.Events() {
	}
	if !errors.As(s.Err(), &got) {
		t.Fatalf("Err() = %v, want the *ConnectError", s.Err())
	}
}

// TestHostileConnectErrorThenAccepted: with ReconnectOnServerDisconnect a
// refused reconnection is retried until the server accepts again.
func TestHostileConnectErrorThenAccepted(t *testing.T) {
	var n atomic.Int64
	srv := newServer(t, sioserver.Options{Authorize: func(string, json.RawMessage) *sioserver.Reject {
		if k := n.Add(1); k == 1 || k >= 5 {
			return nil
		}
		return &sioserver.Reject{Message: "busy"}
	}})
	s := dial(t, srv.URL(), siostream.Options{ReconnectOnServerDisconnect: true})
	next(t, s, siostream.KindConnected, 2*time.Second)
	accept(t, srv).Drop()
	next(t, s, siostream.KindDisconnected, 2*time.Second)
	var refusals int
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("stream ended: %v", s.Err())
			}
			switch ev.Kind {
			case siostream.KindConnectError:
				refusals++
			case siostream.KindConnected:
				t.Logf("accepted after %d refusals reported (%d CONNECTs sent)", refusals, n.Load())
				if n.Load() < 5 {
					t.Fatalf("connected after %d CONNECTs", n.Load())
				}
				if refusals < 3 {
					t.Fatalf("only %d of the 3 refusals reported as KindConnectError", refusals)
				}
				return
			}
		case <-timer.C:
			t.Fatalf("not connected within 5 s: %d CONNECTs, %d refusals reported, Err %v", n.Load(), refusals, s.Err())
		}
	}
}

// heldReconnect dials a stream, drops its connection and returns the
// server side of the reconnection while the server still holds its
// CONNECT; free releases it.
func heldReconnect(t *testing.T, o siostream.Options) (s *siostream.Stream, c *sioserver.Conn, free func()) {
	t.Helper()
	release := make(chan struct{})
	var once sync.Once
	free = func() { once.Do(func() { close(release) }) }
	srv := newServer(t, sioserver.Options{Authorize: blockingAuthorize(1, 5*time.Second, release)})
	t.Cleanup(free) // before the server closes
	s = dial(t, srv.URL(), o)
	next(t, s, siostream.KindConnected, 2*time.Second)
	accept(t, srv).Drop()
	next(t, s, siostream.KindDisconnected, 2*time.Second)
	c = accept(t, srv)
	time.Sleep(50 * time.Millisecond) // the CONNECT is in, held by Authorize
	return s, c, free
}

// lifecycleUntil collects the events of s until stop returns true or d
// passes; reconnecting events carry their attempt number.
func lifecycleUntil(s *siostream.Stream, d time.Duration, stop func(siostream.Event) bool) (seen []string, evs []siostream.Event) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return append(seen, "closed"), evs
			}
			name := ev.Kind.String()
			if ev.Kind == siostream.KindReconnecting {
				name = fmt.Sprintf("reconnecting(attempt %d)", ev.Attempt())
			}
			seen, evs = append(seen, name), append(evs, ev)
			if stop(ev) {
				return seen, evs
			}
		case <-timer.C:
			return append(seen, "timeout"), evs
		}
	}
}

// TestHostileEventsBeforeConnectReply: on a reconnection the server sends
// events before its CONNECT reply (as a recovering server replays missed
// events). Within MaxBufferedBytes they are held and delivered right after
// KindConnected; past it they are delivered at once, ahead of
// KindConnected. Either way every one arrives, once, in order.
func TestHostileEventsBeforeConnectReply(t *testing.T) {
	for _, tc := range []struct {
		name     string
		early    int
		maxBytes int
	}{{"within MaxBufferedBytes", 5, 0}, {"past MaxBufferedBytes", 40, 4 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, free := heldReconnect(t, siostream.Options{MaxBufferedBytes: tc.maxBytes})
			pad := strings.Repeat("e", 200)
			for i := range tc.early {
				c.Emit("/", "early", i, pad)
			}
			time.Sleep(100 * time.Millisecond)
			free()
			var got []int
			connectedAt := -1
			seen, _ := lifecycleUntil(s, 5*time.Second, func(ev siostream.Event) bool {
				switch ev.Kind {
				case siostream.KindEvent:
					var i int
					ev.Decode(&i)
					got = append(got, i)
				case siostream.KindConnected:
					connectedAt = len(got)
				}
				return connectedAt >= 0 && len(got) == tc.early
			})
			if connectedAt < 0 {
				t.Fatalf("not connected: %v", seen)
			}
			for i, v := range got {
				if v != i {
					t.Fatalf("events %v", got)
				}
			}
			if len(got) != tc.early {
				t.Fatalf("%d of %d early events delivered: %v", len(got), tc.early, seen)
			}
			if tc.maxBytes == 0 && connectedAt != 0 {
				t.Errorf("%d events delivered before KindConnected", connectedAt)
			}
			t.Logf("%d events before the CONNECT reply: %d delivered ahead of KindConnected, the rest after", tc.early, connectedAt)
		})
	}
}

// TestHostileParseErrorBeforeConnectReply: a reconnection breaks (a
// protocol error) after the open packet but before the CONNECT reply. The
// failed attempt must show up, with its cause, before a later one
// succeeds.
func TestHostileParseErrorBeforeConnectReply(t *testing.T) {
	s, c, free := heldReconnect(t, siostream.Options{})
	c.WriteText("9")
	time.Sleep(100 * time.Millisecond)
	free()
	var failure error
	seen, _ := lifecycleUntil(s, 5*time.Second, func(ev siostream.Event) bool {
		if (ev.Kind == siostream.KindConnectError || ev.Kind == siostream.KindDisconnected) && failure == nil {
			failure = ev.Err()
		}
		return ev.Kind == siostream.KindConnected
	})
	if seen[len(seen)-1] != "connected" {
		t.Fatalf("not connected again: %v", seen)
	}
	if failure == nil {
		t.Fatalf("an attempt that fails after the open packet but before its CONNECT reply is not reported: "+
			"lifecycle %v has no KindConnectError (or KindDisconnected) carrying the *ProtocolError, only another KindReconnecting "+
			"with the attempt count starting again", seen)
	}
	var pe *siostream.ProtocolError
	if !errors.As(failure, &pe) {
		t.Errorf("attempt failure %v is not a *ProtocolError", failure)
	}
	t.Logf("lifecycle %v, failure %v", seen, failure)
}

// TestHostilePingFlood: 1000 pings in a burst are all answered, the
// connection stays, and the heap does not grow with them.
func TestHostilePingFlood(t *testing.T) {
	_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{})
	runtime.GC()
	before := readMem()
	const pings = 1000
	for i := range pings {
		if err := c.PingNow(); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}
	// At most one pong is pending at a time: a flood gets at least one,
	// and a ping after the flood gets its own.
	waitFor(t, func() bool { return c.Pongs() >= 1 })
	c.Emit("/", "mark")
	nextEvent(t, s, "mark", 5*time.Second) // the client has read the whole flood
	seen := c.Pongs()
	if err := c.PingNow(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.Pongs() > seen })
	runtime.GC()
	after := readMem()
	if p := c.Pongs(); p > pings+1 {
		t.Fatalf("%d pongs for %d pings", p, pings+1)
	}
	select {
	case <-c.Closed():
		t.Fatalf("connection closed: %v", c.Err())
	default:
	}
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("reconnected: %+v", st)
	}
	grow := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d pings answered with %d pongs; heap %+.1f KiB", pings, c.Pongs(), float64(grow)/1024)
	if grow > 2*oneMiB {
		t.Fatalf("heap grew by %d bytes", grow)
	}
	c.Emit("/", "still")
	nextEvent(t, s, "still", 2*time.Second)
}

// TestHostileServerStopsReading: the server stops reading while the client
// emits; emits are pushed back and fail with their context, memory stays
// bounded, and everything flows again when the server reads again.
func TestHostileServerStopsReading(t *testing.T) {
	var got atomic.Int64
	srv, s, c := hostileRig(t, sioserver.Options{Handler: func(c *sioserver.Conn, r *sioserver.Received) {
		if r.Name == "load" {
			got.Add(1)
		}
		if r.HasID {
			c.Ack(r.Namespace, r.ID, "ok")
		}
	}}, siostream.Options{EmitBufferBytes: 4 << 20})
	_ = srv
	runtime.GC()
	before := readMem()
	c.SetReadPaused(true)
	payload := strings.Repeat("p", 16<<10)
	const emitters, maxEach = 4, 2000
	var ok, timedOut atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range emitters {
		wg.Go(func() {
			for range maxEach {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				err := s.Emit(ctx, "load", payload)
				cancel()
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					timedOut.Add(1)
					return
				default:
					t.Errorf("emit: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	mid := readMem()
	pushedBack := time.Since(start)
	if timedOut.Load() == 0 {
		t.Fatalf("%d emits of 16 KiB all written while the server did not read", ok.Load())
	}
	grow := int64(mid.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("server not reading: %d emits written (%.1f MiB, kernel buffers) before push-back after %v, %d timed out; client heap %+.2f MiB",
		ok.Load(), float64(ok.Load()*16<<10)/oneMiB, pushedBack.Round(time.Millisecond), timedOut.Load(), float64(grow)/oneMiB)
	if grow > 6*oneMiB { // EmitBufferBytes and some slack
		t.Errorf("client heap grew by %.1f MiB while pushed back", float64(grow)/oneMiB)
	}
	time.Sleep(300 * time.Millisecond)
	c.SetReadPaused(false)
	// Emits that timed out may still be sent: the server sees at least
	// the successful ones, and the stream works as before.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := s.EmitWithAck(ctx, "probe")
	if err != nil || string(reply.Args) != `["ok"]` {
		t.Fatalf("ack after resume: %s %v", reply, err)
	}
	if got.Load() < ok.Load() {
		t.Fatalf("server got %d loads, client wrote %d", got.Load(), ok.Load())
	}
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("reconnected: %+v", st)
	}
	t.Logf("after resume the server got %d loads (%d reported written, %d timed out)", got.Load(), ok.Load(), timedOut.Load())
}

// TestHostileAbandonedEmitsBounded: against a server that does not read,
// emits whose context has ended must not pile up without bound.
func TestHostileAbandonedEmitsBounded(t *testing.T) {
	_, s, c := hostileRig(t, sioserver.Options{Handler: func(*sioserver.Conn, *sioserver.Received) {}}, siostream.Options{})
	c.SetReadPaused(true)
	defer c.SetReadPaused(false)
	payload := strings.Repeat("q", 16<<10)
	// Fill the socket buffers first.
	for i := 0; i < 20000; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := s.Emit(ctx, "fill", payload)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
	}
	runtime.GC()
	before := readMem()
	const abandoned = 2000
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var refused int
	for range abandoned {
		if err := s.Emit(ctx, "abandoned", payload); err != nil {
			refused++
		}
	}
	runtime.GC()
	after := readMem()
	grow := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d emits of 16 KiB with an ended context against a server that does not read: heap %+.1f MiB",
		abandoned, float64(grow)/oneMiB)
	if limit := int64(8 * oneMiB); grow > limit {
		t.Fatalf("emits whose context has ended stay queued for the writer; "+
			"the queue of a connected stream has no bound (EmitBufferCount/Bytes apply only while disconnected): "+
			"%d abandoned 16 KiB emits hold %.1f MiB", abandoned, float64(grow)/oneMiB)
	}
}

// TestHostileWriteStalled: the server keeps pinging but stops reading for
// longer than the client's write deadline (pingInterval + pingTimeout).
// The client cannot send anything any more; it must give the connection up
// (transport error) and reconnect rather than keep a dead writer.
func TestHostileWriteStalled(t *testing.T) {
	const interval, timeout = 300 * time.Millisecond, 300 * time.Millisecond
	const writeTimeout = 500 * time.Millisecond
	var got atomic.Int64
	_, s, c := hostileRig(t, sioserver.Options{PingInterval: interval, PingTimeout: timeout,
		Handler: func(c *sioserver.Conn, r *sioserver.Received) {
			got.Add(1)
			if r.HasID {
				c.Ack(r.Namespace, r.ID)
			}
		}}, siostream.Options{WriteTimeout: writeTimeout, EmitBufferBytes: 1 << 20})
	c.SetReadPaused(true)
	stopPings := make(chan struct{})
	var pinger sync.WaitGroup
	pinger.Go(func() { // the server stays alive in the client's eyes
		for i := 0; i < 100; i++ {
			select {
			case <-stopPings:
				return
			case <-time.After(100 * time.Millisecond):
			}
			c.PingNow()
		}
	})
	defer func() {
		close(stopPings)
		pinger.Wait()
	}()
	payload := strings.Repeat("w", 16<<10)
	start := time.Now()
	for i := 0; i < 20000 && time.Since(start) < 3*time.Second; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := s.Emit(ctx, "stall", payload)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
	}
	stalled := time.Now()
	var ev siostream.Event
	timer := time.NewTimer(writeTimeout + 5*time.Second)
	defer timer.Stop()
wait:
	for {
		select {
		case e := <-s.Events():
			if e.Kind == siostream.KindDisconnected {
				ev = e
				break wait
			}
		case <-timer.C:
			break wait
		}
	}
	took := time.Since(stalled)
	if ev.Kind == siostream.KindDisconnected {
		t.Logf("stalled writer detected %v after the stall: %q %v", took.Round(time.Millisecond), ev.Reason(), ev.Err())
		if ev.Reason() == siostream.ReasonPingTimeout {
			t.Errorf("a stalled write reported as a ping timeout while the server was pinging")
		}
		if !errors.Is(ev.Err(), siostream.ErrWriteTimeout) {
			t.Errorf("cause %v, want ErrWriteTimeout", ev.Err())
		}
		c.SetReadPaused(false)
		next(t, s, siostream.KindConnected, 5*time.Second)
		return
	}
	// What the stream does instead.
	id := s.ID()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	emitErr := s.Emit(ctx, "after-stall", 1)
	cancel()
	st := s.Stats()
	close(stopPings)
	pinger.Wait()
	stopPings = make(chan struct{})
	c.SetReadPaused(false)
	recoverStart := time.Now()
	next(t, s, siostream.KindConnected, 10*time.Second) // the server times out the missing pongs
	t.Fatalf("a write that misses the write deadline (%v) stops the writer goroutine but not the connection: "+
		"no KindDisconnected %v after the stall while the server kept pinging; the stream still looked connected (ID %q), "+
		"a new emit returned %v and Stats were %+v; pongs were no longer sent, and it recovered only %v after the server read again "+
		"and closed the connection for missing pongs",
		interval+timeout, took.Round(time.Millisecond), id, emitErr, st, time.Since(recoverStart).Round(time.Millisecond))
}

// rawServer is a loopback TCP server whose connections are handled by a
// test function, for hostile handshakes and open packets.
type rawServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
	done  chan struct{}
}

func newRawServer(t *testing.T, handle func(nc net.Conn, done <-chan struct{})) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawServer{ln: ln, conns: map[net.Conn]bool{}, done: make(chan struct{})}
	rs.wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			rs.mu.Lock()
			rs.conns[nc] = true
			rs.mu.Unlock()
			rs.wg.Go(func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				handle(nc, rs.done)
			})
		}
	})
	t.Cleanup(func() {
		close(rs.done)
		ln.Close()
		rs.mu.Lock()
		for nc := range rs.conns {
			nc.Close()
		}
		rs.mu.Unlock()
		rs.wg.Wait()
	})
	return rs
}

func (rs *rawServer) URL() string { return "http://" + rs.ln.Addr().String() }

// upgradeThen completes the WebSocket handshake and writes the given text
// frames, then waits for the client to go away.
func upgradeThen(textFrames ...string) func(net.Conn, <-chan struct{}) {
	return func(nc net.Conn, done <-chan struct{}) {
		if _, err := ws.Upgrade(nc); err != nil {
			return
		}
		for _, f := range textFrames {
			if err := ws.WriteFrame(nc, ws.NewTextFrame([]byte(f))); err != nil {
				return
			}
		}
		rawDrain(nc)
	}
}

func rawDrain(nc net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := nc.Read(buf); err != nil {
			return
		}
	}
}

// TestHostileHandshake covers what a server can do wrong before the
// Engine.IO session exists: Dial must fail within ConnectTimeout with an
// error that says why, allocate little, and leave no goroutine behind.
func TestHostileHandshake(t *testing.T) {
	const timeout = 300 * time.Millisecond
	open := `0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
	cases := []struct {
		name   string
		handle func(net.Conn, <-chan struct{})
		check  func(error) bool
		want   string
	}{
		{"silent after TCP accept", func(nc net.Conn, done <-chan struct{}) { <-done },
			func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }, "a timeout"},
		{"HTTP 500", func(nc net.Conn, _ <-chan struct{}) {
			bufio.NewReader(nc).ReadString('\n')
			nc.Write([]byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"))
			rawDrain(nc)
		}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "500") }, "the status"},
		{"bad Sec-WebSocket-Accept", func(nc net.Conn, _ <-chan struct{}) {
			bufio.NewReader(nc).ReadString('\n')
			nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm9wZQ==\r\n\r\n"))
			rawDrain(nc)
		}, func(err error) bool { return err != nil }, "an error"},
		{"endless response headers", func(nc net.Conn, done <-chan struct{}) {
			bufio.NewReader(nc).ReadString('\n')
			nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n"))
			line := []byte("X-Filler: " + strings.Repeat("f", 1000) + "\r\n")
			for i := 0; i < 100000; i++ { // at most ~100 MB, stops when the client leaves
				if _, err := nc.Write(line); err != nil {
					return
				}
			}
		}, func(err error) bool { return err != nil }, "an error"},
		{"first packet not open", upgradeThen(`40`),
			func(err error) bool { var pe *siostream.ProtocolError; return errors.As(err, &pe) }, "a *ProtocolError"},
		{"open packet not JSON", upgradeThen(`0{"sid":`),
			func(err error) bool { var pe *siostream.ProtocolError; return errors.As(err, &pe) }, "a *ProtocolError"},
		{"open packet nested 100000 deep", upgradeThen(`0` + strings.Repeat(`{"a":`, 100000)),
			func(err error) bool { return errors.Is(err, frames.ErrTooDeep) }, "frames.ErrTooDeep"},
		{"open packet with pingInterval 0", upgradeThen(`0{"sid":"s","upgrades":[],"pingInterval":0,"pingTimeout":1,"maxPayload":1}`),
			func(err error) bool { return errors.Is(err, frames.ErrBadOpen) }, "frames.ErrBadOpen"},
		{"open packet with negative pingTimeout", upgradeThen(`0{"sid":"s","upgrades":[],"pingInterval":100,"pingTimeout":-1,"maxPayload":1}`),
			func(err error) bool { return errors.Is(err, frames.ErrBadOpen) }, "frames.ErrBadOpen"},
		{"open packet without sid", upgradeThen(`0{"upgrades":[],"pingInterval":100,"pingTimeout":100,"maxPayload":1}`),
			func(err error) bool { return errors.Is(err, frames.ErrBadOpen) }, "frames.ErrBadOpen"},
		{"open then silence", upgradeThen(open),
			func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }, "a timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRawServer(t, tc.handle)
			runtime.GC()
			before := readMem()
			start := time.Now()
			s, err := siostream.Dial(context.Background(), rs.URL(), siostream.Options{ConnectTimeout: timeout})
			took := time.Since(start)
			after := readMem()
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			if !tc.check(err) {
				t.Errorf("Dial error %v (%T), want %s", err, err, tc.want)
			}
			if took > timeout+time.Second {
				t.Errorf("Dial took %v with ConnectTimeout %v", took, timeout)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*oneMiB {
				t.Errorf("Dial allocated %.1f MiB", float64(alloc)/oneMiB)
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
		})
	}
}

// TestHostileLostBeforeConnectReply: during Dial the connection is lost
// after the open packet but before the CONNECT reply. Dial should fail
// soon with the cause, not wait out ConnectTimeout and report a bare
// timeout.
func TestHostileLostBeforeConnectReply(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	open := `0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
	afterConnect := func(reply func(nc net.Conn)) func(net.Conn, <-chan struct{}) {
		return func(nc net.Conn, _ <-chan struct{}) {
			if _, err := ws.Upgrade(nc); err != nil {
				return
			}
			ws.WriteFrame(nc, ws.NewTextFrame([]byte(open)))
			if _, err := ws.ReadFrame(nc); err != nil { // the CONNECT
				return
			}
			reply(nc)
		}
	}
	cases := []struct {
		name   string
		handle func(net.Conn, <-chan struct{})
		cause  func(error) bool
	}{
		{"CONNECT_ERROR nested 100000 deep", afterConnect(func(nc net.Conn) {
			ws.WriteFrame(nc, ws.NewTextFrame([]byte(`44{"message":"no","data":`+strings.Repeat("[", 100000)+`}`)))
			rawDrain(nc)
		}), func(err error) bool { return errors.Is(err, frames.ErrTooDeep) }},
		{"unknown packet instead of the reply", afterConnect(func(nc net.Conn) {
			ws.WriteFrame(nc, ws.NewTextFrame([]byte(`9`)))
			rawDrain(nc)
		}), func(err error) bool { var pe *siostream.ProtocolError; return errors.As(err, &pe) }},
		{"TCP closed instead of the reply", afterConnect(func(nc net.Conn) {}),
			func(err error) bool { return err != nil && !errors.Is(err, context.DeadlineExceeded) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := newRawServer(t, tc.handle)
			start := time.Now()
			s, err := siostream.Dial(context.Background(), rs.URL(), siostream.Options{ConnectTimeout: timeout})
			took := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
			if !tc.cause(err) {
				if errors.Is(err, context.DeadlineExceeded) && took >= timeout {
					t.Fatalf("a connection lost before the CONNECT reply during Dial is not reported to Dial: "+
						"the manager reconnects in the background and Dial waits out ConnectTimeout (%v), then returns %q without the cause", timeout, err)
				}
				t.Fatalf("Dial error %v (%T) does not carry the cause", err, err)
			}
			if took > timeout/2 {
				t.Errorf("Dial took %v to report the lost connection (ConnectTimeout %v)", took, timeout)
			}
		})
	}
}
