package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/siostream/siostream/frames"
)

const (
	slowPing = 25 * time.Second
	slowWait = 20 * time.Second
)

// drain reads client frames until the client closes, so that the
// client's writes never block.
func (p *peer) drain() {
	for {
		if _, _, err := wsutil.ReadClientData(p.nc); err != nil {
			return
		}
	}
}

func TestDialReadLimit(t *testing.T) {
	cases := []struct {
		name       string
		maxPayload int64
		configured int64
		want       int64
	}{
		{"server's maxPayload above the minimum", 2 << 20, 0, 2 << 20},
		{"server's maxPayload below the minimum", 1000, 0, MinReadLimit},
		{"no maxPayload", 0, 0, MinReadLimit},
		{"configured limit wins", 2 << 20, 5000, 5000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := listen(t, func(p *peer) {
				p.text(openPacket(slowPing, slowWait, tc.maxPayload))
				p.drain()
			})
			c := dial(t, u, Config{ReadLimit: tc.configured})
			defer c.Discard()
			if got := c.ReadLimit(); got != tc.want {
				t.Errorf("ReadLimit = %d, want %d", got, tc.want)
			}
			if o := c.Open(); o.SID != "s1" || o.PingInterval != slowPing || o.PingTimeout != slowWait {
				t.Errorf("Open = %+v", o)
			}
		})
	}
}

// TestServeMessages: messages reach the handler in order, text without
// the Engine.IO '4' and binary as it is; pings are answered behind it;
// noop and pong packets are ignored; the close packet ends Serve.
func TestServeMessages(t *testing.T) {
	pongs := make(chan string, 4)
	u := listen(t, func(p *peer) {
		p.text(openPacket(slowPing, slowWait, 0))
		p.text("4hello")
		if err := wsutil.WriteServerBinary(p.nc, []byte{1, 2, 3}); err != nil {
			t.Error(err)
		}
		p.text("2")
		_, got := p.read()
		pongs <- got
		p.text("6")
		p.text("3")
		p.text("4" + strings.Repeat("x", 100_000)) // over the small read buffer
		p.text("1")
		p.drain()
	})
	c := dial(t, u, Config{})
	h := newHandler()
	err := wait(t, serve(c, h))
	if !errors.Is(err, ErrPeerClosed) || Classify(err) != CauseTransportClose {
		t.Errorf("Serve = %v (cause %d), want ErrPeerClosed", err, Classify(err))
	}
	if got := <-pongs; got != "3" {
		t.Errorf("answer to a ping = %q, want \"3\"", got)
	}
	close(h.msgs)
	var got []string
	for m := range h.msgs {
		got = append(got, m[:min(len(m), 8)])
	}
	want := []string{"hello", "bin:\x01\x02\x03", "xxxxxxxx"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("messages = %q, want %q", got, want)
	}
}

// TestHandlerError: an error from the handler ends Serve with it.
func TestHandlerError(t *testing.T) {
	u := listen(t, func(p *peer) {
		p.text(openPacket(slowPing, slowWait, 0))
		p.text("4stop")
		p.drain()
	})
	c := dial(t, u, Config{})
	h := newHandler()
	h.stop = errors.New("handler says stop")
	if err := wait(t, serve(c, h)); err != h.stop {
		t.Errorf("Serve = %v, want the handler's error", err)
	}
}

// TestWebSocketPing: a WebSocket ping gets a pong with its payload.
func TestWebSocketPing(t *testing.T) {
	got := make(chan ws.Frame, 1)
	u := listen(t, func(p *peer) {
		p.text(openPacket(slowPing, slowWait, 0))
		p.raw(0x89, 2, 'h', 'i')
		f, err := ws.ReadFrame(p.nc)
		if err != nil {
			t.Error(err)
			return
		}
		got <- ws.UnmaskFrameInPlace(f)
		p.text("1")
		p.drain()
	})
	c := dial(t, u, Config{})
	wait(t, serve(c, newHandler()))
	f := <-got
	if f.Header.OpCode != ws.OpPong || string(f.Payload) != "hi" {
		t.Errorf("answer = %v %q, want a pong \"hi\"", f.Header.OpCode, f.Payload)
	}
}

// TestHeartbeat: a server that pings in time keeps the connection past
// its deadline; one that goes silent ends it with ErrPingTimeout.
func TestHeartbeat(t *testing.T) {
	t.Run("pings keep it open", func(t *testing.T) {
		const interval, timeout = 200 * time.Millisecond, 200 * time.Millisecond
		u := listen(t, func(p *peer) {
			p.text(openPacket(interval, timeout, 0))
			for range 6 { // 600 ms in all, past the 400 ms deadline
				time.Sleep(interval / 2)
				p.text("2")
				if op, got := p.read(); op != ws.OpText || got != "3" {
					t.Errorf("answer to a ping = %q", got)
					return
				}
			}
			p.text("1")
			p.drain()
		})
		c := dial(t, u, Config{})
		if err := wait(t, serve(c, newHandler())); !errors.Is(err, ErrPeerClosed) {
			t.Errorf("Serve = %v, want ErrPeerClosed", err)
		}
	})
	t.Run("silence ends it", func(t *testing.T) {
		const interval, timeout = 50 * time.Millisecond, 50 * time.Millisecond
		u := listen(t, func(p *peer) {
			p.text(openPacket(interval, timeout, 0))
			p.drain()
		})
		c := dial(t, u, Config{})
		start := time.Now()
		err := wait(t, serve(c, newHandler()))
		if !errors.Is(err, ErrPingTimeout) || Classify(err) != CausePingTimeout {
			t.Errorf("Serve = %v, want ErrPingTimeout", err)
		}
		if d := time.Since(start); d < interval+timeout {
			t.Errorf("gave up after %v, before the %v deadline", d, interval+timeout)
		}
	})
}

// TestSendAndLeave: a frame goes out as its text and attachments, its
// owner is told, and Leave sends the final frame and a close frame.
func TestSendAndLeave(t *testing.T) {
	type msg struct {
		op ws.OpCode
		s  string
	}
	got := make(chan msg, 8)
	u := listen(t, func(p *peer) {
		p.text(openPacket(slowPing, slowWait, 0))
		for {
			b, op, err := wsutil.ReadClientData(p.nc)
			if err != nil {
				var ce wsutil.ClosedError
				if errors.As(err, &ce) {
					got <- msg{ws.OpClose, ""}
				}
				close(got)
				return
			}
			got <- msg{op, string(b)}
		}
	})
	c := dial(t, u, Config{})
	res := serve(c, newHandler())
	o := &owner{seqs: make(chan uint64, 2)}
	f := &Frame{Data: []byte(`451-["up",{"_placeholder":true,"num":0}]`), Atts: [][]byte{{9, 8}}, Owner: o, Seq: 7}
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	select {
	case seq := <-o.seqs:
		if seq != 7 {
			t.Errorf("Written for seq %d, want 7", seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("owner not told")
	}
	c.Leave(&Frame{Data: []byte("41")}, time.Second)
	if err := wait(t, res); !errors.Is(err, ErrClosed) || Classify(err) != CauseClosed {
		t.Errorf("Serve = %v, want ErrClosed", err)
	}
	var seen []msg
	for m := range got {
		seen = append(seen, m)
	}
	want := []msg{
		{ws.OpText, `451-["up",{"_placeholder":true,"num":0}]`},
		{ws.OpBinary, "\x09\x08"},
		{ws.OpText, "41"},
		{ws.OpClose, ""},
	}
	if len(seen) != len(want) {
		t.Fatalf("server saw %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("message %d = %v, want %v", i, seen[i], want[i])
		}
	}
}

// TestAbort: Abort ends Serve at once with the given error, and frames
// with an owner that were never written come back from Unsent, except
// bound ones.
func TestAbort(t *testing.T) {
	stop := make(chan struct{})
	u := listen(t, func(p *peer) {
		p.text(openPacket(slowPing, slowWait, 0))
		<-stop // reads nothing: the client's writes pile up
	})
	defer close(stop)
	c := dial(t, u, Config{})
	res := serve(c, newHandler())
	o := &owner{seqs: make(chan uint64, 1<<12)}
	big := make([]byte, 1<<20)
	var sent int
	for i := range 64 { // 64 MiB: more than the socket buffers take
		if err := c.Send(&Frame{Data: big, Owner: o, Seq: uint64(i), Bound: i == 63}); err != nil {
			break
		}
		sent++
	}
	why := errors.New("gave up")
	c.Abort(why)
	if err := wait(t, res); err != why {
		t.Errorf("Serve = %v, want the Abort error", err)
	}
	unsent := c.Unsent()
	if len(unsent) == 0 {
		t.Fatal("no unsent frames after aborting a stuck writer")
	}
	if w := len(o.seqs); w+len(unsent) != sent-1 {
		t.Errorf("written %d + unsent %d != %d sent less the bound one", w, len(unsent), sent-1)
	}
	for i, f := range unsent {
		if f.Bound {
			t.Errorf("unsent frame %d is bound to the connection", i)
		}
		if i > 0 && f.Seq <= unsent[i-1].Seq {
			t.Errorf("unsent frames out of order: %d after %d", f.Seq, unsent[i-1].Seq)
		}
	}
}

// TestReadLimitEnforced: a message over the read limit ends the
// connection with ErrTooLarge before its payload is read.
func TestReadLimitEnforced(t *testing.T) {
	u := listen(t, func(p *peer) {
		p.text(openPacket(slowPing, slowWait, 0))
		p.text("4" + strings.Repeat("x", 200))
		p.drain()
	})
	c := dial(t, u, Config{ReadLimit: 100})
	err := wait(t, serve(c, newHandler()))
	if !errors.Is(err, ErrTooLarge) || Classify(err) != CauseParseError {
		t.Errorf("Serve = %v, want ErrTooLarge", err)
	}
}

// TestProtocolErrors: each frame that breaks the WebSocket or Engine.IO
// rules ends Serve with a ProtocolError naming the rule.
func TestProtocolErrors(t *testing.T) {
	cases := []struct {
		name  string
		bytes []byte
		want  error
		layer string
	}{
		{"masked frame", []byte{0x81, 0x81, 1, 2, 3, 4, '4' ^ 1}, errMaskedFrame, "websocket"},
		{"reserved bits", []byte{0xc1, 1, '4'}, errReservedBits, "websocket"},
		{"reserved opcode", []byte{0x83, 0}, errBadOpcode, "websocket"},
		{"fragmented ping", []byte{0x09, 0}, errBadControl, "websocket"},
		{"continuation first", []byte{0x80, 1, 'x'}, errBadContinue, "websocket"},
		{"new message inside a fragmented one", []byte{0x01, 1, '4', 0x81, 1, '4'}, errBadContinue, "websocket"},
		{"length with its top bit set", []byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, ws.ErrHeaderLengthMSB, "websocket"},
		{"text not UTF-8", []byte{0x81, 2, '4', 0xff}, errInvalidUTF8, "websocket"},
		{"open twice", textFrame(openPacket(slowPing, slowWait, 0)), errOpenTwice, "engine.io"},
		{"unknown packet type", textFrame("9"), frames.ErrUnknownType, "engine.io"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.bytes
			u := listen(t, func(p *peer) {
				p.text(openPacket(slowPing, slowWait, 0))
				p.raw(b...)
				p.drain()
			})
			c := dial(t, u, Config{})
			err := wait(t, serve(c, newHandler()))
			var pe *ProtocolError
			if !errors.Is(err, tc.want) || !errors.As(err, &pe) || pe.Layer != tc.layer {
				t.Fatalf("Serve = %v, want a %s ProtocolError for %v", err, tc.layer, tc.want)
			}
			if Classify(err) != CauseParseError {
				t.Errorf("cause = %d, want CauseParseError", Classify(err))
			}
		})
	}
}

// textFrame is a final unmasked text frame with payload s (under 126 bytes).
func textFrame(s string) []byte {
	return append([]byte{0x81, byte(len(s))}, s...)
}
