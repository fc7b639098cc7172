package siostream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/sioserver"
)

// The hostile tests play a server that breaks the protocol on purpose and
// check that the client turns each violation into a clear error, drops
// the connection with reason "parse error", reconnects, and never
// allocates what the peer merely declares.

// textOfLen returns a valid EVENT frame of exactly n bytes (n >= 10).
func textOfLen(n int) string {
	const head, tail = `42["x","`, `"]`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

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
			nextEvent(t, s, "after", 5*time.Second)
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

// TestHostile2RecoveryOffsetParsing: with connection state recovery on, the
// offset is the last argument of an EVENT without ack id. JSON allows
// whitespace between tokens; the offset must come off cleanly and the rest
// must stay valid JSON. An EVENT with an ack id carries no offset: its
// trailing string is an argument.
func TestHostile2RecoveryOffsetParsing(t *testing.T) {
	_, s, c := hostileRig(t, sioserver.Options{Recovery: true}, siostream.Options{})
	cases := []struct {
		name, frame, event, offset, args string
	}{
		{"spaces between tokens", `42["ev1", 1 , "off1" ]`, "ev1", "off1", `[1]`},
		{"newlines and tabs", "42[ \"ev2\" ,\n\t1\t,\r\n\"off2\"\n]", "ev2", "off2", `[1]`},
		{"string before the offset", `42["ev3", "a" , "off3"]`, "ev3", "off3", `["a"]`},
		{"ack id keeps a trailing string", `4217["ev4",1,"keep"]`, "ev4", "", `[1,"keep"]`},
		{"ack id and whitespace keep a trailing string", `4218["ev5", 1 , "keep" ]`, "ev5", "", `[1,"keep"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.WriteText(tc.frame); err != nil {
				t.Fatal(err)
			}
			ev := nextEventOrDisconnect(t, s, tc.event, 5*time.Second)
			if ev.Kind != siostream.KindEvent {
				t.Fatalf("disconnected: %q %v", ev.Reason(), ev.Err())
			}
			var got, want []any
			gotErr := json.Unmarshal(ev.Args, &got)
			json.Unmarshal([]byte(tc.args), &want)
			t.Logf("%q: Offset %q, Args %q (decode error %v)", tc.frame, ev.Offset(), ev.Args, gotErr)
			if ev.Offset() != tc.offset {
				t.Errorf("Offset %q, want %q", ev.Offset(), tc.offset)
			}
			if gotErr != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Args %q (%v), want %s: dispatch.go splitOffset cuts at len(list)-len(cur)-1, which assumes "+
					"no whitespace after the comma, so the comma stays and the array is invalid", ev.Args, gotErr, tc.args)
			}
		})
	}
}

// TestHostile2OtherNamespaceBinary: a BINARY_EVENT for a namespace the
// client has not joined (or has just left), with two attachments, then an
// event for "/". The packet and its attachments must be skipped together,
// without a disconnect.
func TestHostile2OtherNamespaceBinary(t *testing.T) {
	send := func(c *sioserver.Conn, ns string) {
		c.WriteText(`452-` + ns + `,["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
		c.WriteBinary([]byte{1, 2, 3})
		c.WriteBinary([]byte{4, 5, 6})
		c.Emit("/", "after")
	}
	check := func(t *testing.T, s *siostream.Stream) {
		t.Helper()
		ev := nextEventOrDisconnect(t, s, "after", 5*time.Second)
		t.Logf("then: %v %q %v", ev.Kind, ev.Reason(), ev.Err())
		if ev.Kind != siostream.KindEvent {
			t.Errorf("disconnected with %q %v: dispatch.go packet returns early when route finds no stream, before "+
				"startBinary sets c.bin, so the attachments that follow are taken for unexpected binary frames", ev.Reason(), ev.Err())
		}
	}
	t.Run("namespace never joined", func(t *testing.T) {
		_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{})
		send(c, "/other")
		check(t, s)
	})
	t.Run("manager, namespace just closed", func(t *testing.T) {
		srv := newServer(t, sioserver.Options{})
		m := refManager(t, srv.URL(), siostream.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		root, err := m.Dial(ctx, siostream.Options{})
		if err != nil {
			t.Fatal(err)
		}
		chat, err := m.Dial(ctx, siostream.Options{Namespace: "/chat"})
		if err != nil {
			t.Fatal(err)
		}
		c := accept(t, srv)
		if err := c.WaitConnect(ctx, "/chat"); err != nil {
			t.Fatal(err)
		}
		chat.Close()
		send(c, "/chat")
		check(t, root)
	})
}
