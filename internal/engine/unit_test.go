package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/gobwas/ws"
)

// TestAppendHeader: the writer's frame headers match gobwas/ws's encoding
// at every length boundary.
func TestAppendHeader(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 30} {
		for _, rsv := range []byte{0, rsv1} {
			var want bytes.Buffer
			h := ws.Header{Fin: true, Rsv: rsv, OpCode: ws.OpText, Length: int64(n), Masked: true, Mask: mask}
			if err := ws.WriteHeader(&want, h); err != nil {
				t.Fatal(err)
			}
			if got := appendHeader(nil, ws.OpText, rsv, n, mask); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("length %d rsv %d: % x, want % x", n, rsv, got, want.Bytes())
			}
		}
	}
}

// frameBytes encodes server frames (unmasked) with the given lengths.
func frameBytes(lengths ...int) []byte {
	var b bytes.Buffer
	for i, n := range lengths {
		ws.WriteHeader(&b, ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(n)})
		b.Write(bytes.Repeat([]byte{byte('a' + i)}, n))
	}
	return b.Bytes()
}

// TestBufReader reads frames through the buffered reader as the Conn
// does (the fast header path, then ws.ReadHeader when it declines) over
// sources that deliver everything at once or a byte at a time.
func TestBufReader(t *testing.T) {
	lengths := []int{0, 5, 125, 126, 300, 70000, 3}
	data := frameBytes(lengths...)
	sources := map[string]func() io.Reader{
		"whole":       func() io.Reader { return bytes.NewReader(data) },
		"byte a time": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
		"half":        func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			b := newBufReader(src(), nil)
			var hdr [ws.MaxHeaderSize]byte
			for i, n := range lengths {
				h, ok := b.header()
				if !ok {
					var err error
					if h, err = ws.ReadHeaderBuffer(b, hdr[:]); err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
				}
				if h.Length != int64(n) || !h.Fin || h.OpCode != ws.OpText {
					t.Fatalf("frame %d: header %+v, want length %d", i, h, n)
				}
				p, ok := b.take(n)
				if !ok {
					p = make([]byte, n)
					if _, err := io.ReadFull(b, p); err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
				}
				if !bytes.Equal(p, bytes.Repeat([]byte{byte('a' + i)}, n)) {
					t.Fatalf("frame %d: payload differs", i)
				}
			}
			if _, err := b.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("after the last frame: %v, want EOF", err)
			}
		})
	}
}

// TestBufReaderResize: full reads double the buffer up to readBufMax;
// a run of small reads halves it again, down to readBufMin.
func TestBufReaderResize(t *testing.T) {
	big := bytes.NewReader(make([]byte, 1<<20))
	b := newBufReader(big, nil)
	p := make([]byte, 1)
	for big.Len() > 0 {
		b.r = b.w // drop what is buffered: the next read fills
		if _, err := b.Read(p); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.buf) != readBufMax {
		t.Fatalf("after full reads the buffer is %d, want %d", len(b.buf), readBufMax)
	}
	b.src = iotest.OneByteReader(bytes.NewReader(make([]byte, 1<<20)))
	for range 20 * shrinkAfter {
		b.r = b.w
		if _, err := b.Read(p); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.buf) != readBufMin {
		t.Errorf("after small reads the buffer is %d, want %d", len(b.buf), readBufMin)
	}
}

func TestSplitHost(t *testing.T) {
	cases := []struct {
		in       http.Header
		host     string
		restKeys int
	}{
		{nil, "", 0},
		{http.Header{"X-A": {"1"}}, "", 1},
		{http.Header{"Host": {"h1"}, "X-A": {"1"}}, "h1", 1},
		{http.Header{"host": {"h2", "h3"}}, "h2", 0},
		{http.Header{"Host": {}}, "", 0},
	}
	for _, tc := range cases {
		before := fmt.Sprint(tc.in)
		rest, host := splitHost(tc.in)
		if host != tc.host || len(rest) != tc.restKeys {
			t.Errorf("splitHost(%v) = %v, %q", tc.in, rest, host)
		}
		if fmt.Sprint(tc.in) != before {
			t.Errorf("splitHost changed its argument: %v", tc.in)
		}
	}
}

func TestHostPortAndRedact(t *testing.T) {
	cases := []struct{ in, hostPort, redacted string }{
		{"ws://a.example/socket.io/?EIO=4", "a.example:80", "ws://a.example/socket.io/"},
		{"wss://a.example/socket.io/", "a.example:443", "wss://a.example/socket.io/"},
		{"ws://u:pw@127.0.0.1:3000/x/?token=t#f", "127.0.0.1:3000", "ws://127.0.0.1:3000/x/"},
		{"wss://[::1]/", "[::1]:443", "wss://[::1]/"},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostPort(u); got != tc.hostPort {
			t.Errorf("hostPort(%s) = %s, want %s", tc.in, got, tc.hostPort)
		}
		if got := Redact(u); got != tc.redacted {
			t.Errorf("Redact(%s) = %s, want %s", tc.in, got, tc.redacted)
		}
	}
}

type timeout struct{}

func (timeout) Error() string   { return "i/o timeout" }
func (timeout) Timeout() bool   { return true }
func (timeout) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want Cause
	}{
		{ErrClosed, CauseClosed},
		{fmt.Errorf("x: %w", ErrClosed), CauseClosed},
		{protoErr("websocket", errMaskedFrame), CauseParseError},
		{protoErr("websocket", ErrTooLarge), CauseParseError},
		{ErrPingTimeout, CausePingTimeout},
		{&net.OpError{Op: "read", Err: timeout{}}, CausePingTimeout},
		{ErrPeerClosed, CauseTransportClose},
		{io.EOF, CauseTransportClose},
		{io.ErrUnexpectedEOF, CauseTransportClose},
		{ErrWriteTimeout, CauseTransportError},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, CauseTransportError},
		{errors.New("other"), CauseTransportError},
	}
	for _, tc := range cases {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestFrameRelease: a released pooled frame comes back empty, keeps a
// small buffer and drops a large one; a frame made by hand is left alone.
func TestFrameRelease(t *testing.T) {
	f := NewFrame()
	f.Data = append(f.Data, "42[]"...)
	f.Atts, f.Seq, f.Bound = [][]byte{{1}}, 9, true
	f.Release()
	if len(f.Data) != 0 || f.Atts != nil || f.Seq != 0 || f.Bound || !f.pooled {
		t.Errorf("released frame not reset: %+v", f)
	}
	g := NewFrame()
	g.Data = make([]byte, 0, frameDataMax+1)
	g.Release()
	if cap(g.Data) != frameData {
		t.Errorf("large buffer kept: cap %d", cap(g.Data))
	}
	h := &Frame{Data: []byte("4x"), Seq: 3}
	h.Release()
	if string(h.Data) != "4x" || h.Seq != 3 {
		t.Errorf("a frame not from NewFrame was changed: %+v", h)
	}
	if n := (&Frame{Data: make([]byte, 2, 8), Atts: [][]byte{make([]byte, 3, 16)}}); n.Size() != 5 || n.Mem() != 24 {
		t.Errorf("Size %d Mem %d, want 5 and 24", n.Size(), n.Mem())
	}
}

// TestKeepWindow: the inflater keeps exactly the last 32 KiB of output
// across messages, in a buffer that a large message does not grow.
func TestKeepWindow(t *testing.T) {
	var z inflater
	var all []byte
	for i, n := range []int{10, 40 << 10, 5, 1 << 20, 100, 20 << 10, 20 << 10} {
		out := bytes.Repeat([]byte{byte('a' + i)}, n)
		out[0] = byte(n)
		z.keepWindow(out)
		all = append(all, out...)
		want := all[max(0, len(all)-window):]
		if !bytes.Equal(z.dict, want) {
			t.Fatalf("after message %d (%d bytes) the window differs", i, n)
		}
		if cap(z.dict) > 2*window {
			t.Fatalf("after message %d (%d bytes) the window holds %d bytes", i, n, cap(z.dict))
		}
	}
}
