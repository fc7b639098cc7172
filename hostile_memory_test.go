package siostream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// The memory tests send inputs that mostly keep to the letter of the
// protocol (a packet within ReadLimit, attachments, events before the
// CONNECT reply) but would make the client spend memory out of proportion
// to what it was sent. Each test asserts the bound a client must meet and
// logs the figure it observed.
//
// Memory is measured as HeapInuse after runtime.GC, against a baseline
// taken the same way in the same test; each assertion states its slack.

// TestHostileDeclaredLengthMemory measures the heap around frames whose
// header declares far more than the read limit: nothing of the declared
// size may be allocated.
func TestHostileDeclaredLengthMemory(t *testing.T) {
	for _, declared := range []uint64{1 << 40, 1 << 30, 1<<62 + 1} {
		t.Run(fmt.Sprint(declared), func(t *testing.T) {
			_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{})
			runtime.GC()
			before := readMem()
			mon := startMemMonitor(time.Millisecond) // sample the heap while the client handles the frame
			c.WriteRaw(wsHeader(0x81, nil, declared))
			c.WriteRaw(make([]byte, 4096)) // some real bytes after the header
			ev, _ := expectParseError(t, s, 5*time.Second)
			next(t, s, siostream.KindConnected, 5*time.Second)
			_, _, peak := mon.finish()
			after := readMem()
			alloc := after.TotalAlloc - before.TotalAlloc
			grow := int64(peak) - int64(before.HeapAlloc)
			t.Logf("declared %d bytes: %v; heap before %.2f MiB, peak %.2f MiB, allocated meanwhile %.2f MiB",
				declared, ev.Err(), inMiB(before.HeapAlloc), inMiB(peak), inMiB(alloc))
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

// placeholderRun returns a binary packet head (for example `451-["amp"`)
// followed by n placeholders for attachment 0 and the closing bracket.
func placeholderRun(head string, n int) string {
	var b strings.Builder
	b.WriteString(head)
	for i := range n {
		if i > 0 || !strings.HasSuffix(head, "[") {
			b.WriteByte(',')
		}
		b.WriteString(`{"_placeholder":true,"num":0}`)
	}
	b.WriteString("]")
	return b.String()
}

// TestHostile2PlaceholderAmplification: a BINARY_EVENT whose JSON names
// attachment 0 five thousand times, with one 64 KiB attachment: about
// 150 KB on the wire, well inside the default ReadLimit. Every placeholder
// becomes a base64 copy of the attachment. A BINARY_ACK for an ack id the
// client never sent must leave nothing behind, and must not be expanded
// either.
func TestHostile2PlaceholderAmplification(t *testing.T) {
	const placeholders, attSize = 5000, 64 << 10
	t.Run("BINARY_EVENT", func(t *testing.T) {
		_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{})
		frame := placeholderRun(`451-["amp"`, placeholders)
		att := make([]byte, attSize)
		before := heapAfterGC()
		peak := peakHeap()
		start := time.Now()
		if err := c.WriteText(frame); err != nil {
			t.Fatal(err)
		}
		c.WriteBinary(att) // the client may have refused the text frame and closed already
		ev := nextEventOrDisconnect(t, s, "amp", 60*time.Second)
		took := time.Since(start)
		top := peak()
		held := heapAfterGC() // ev is still referenced
		inuse, _ := heapGrowth(before, held)
		argsLen := len(ev.Args)
		t.Logf("%d placeholders (%d-byte frame) + one %d-byte attachment: got %v after %v; Args %d bytes; "+
			"heap while the result is held %+.1f MiB (HeapInuse after GC), peak HeapAlloc %+.1f MiB, allocated %.1f MiB",
			placeholders, len(frame), attSize, ev.Kind, took.Round(time.Millisecond), argsLen, inMiB(inuse),
			inMiB(int64(top)-int64(before.HeapAlloc)), inMiB(int64(held.TotalAlloc-before.TotalAlloc)))
		runtime.KeepAlive(ev)
		if ev.Kind != siostream.KindDisconnected {
			t.Errorf("a %d-byte packet was delivered with %d bytes of Args (%.0fx): placeholders are expanded "+
				"without a bound (dispatch.go withBinary -> frames.ResolveBinary writes one base64 copy per placeholder)",
				len(frame)+attSize, argsLen, float64(argsLen)/float64(len(frame)+attSize))
		} else {
			var pe *siostream.ProtocolError
			if ev.Reason() != siostream.ReasonParseError || !errors.As(ev.Err(), &pe) {
				t.Errorf("disconnect %q %v, want %q with a *ProtocolError", ev.Reason(), ev.Err(), siostream.ReasonParseError)
			}
		}
		if inuse >= 4*oneMiB {
			t.Errorf("heap grew by %.1f MiB, bound 4 MiB", inMiB(inuse))
		}
	})
	t.Run("BINARY_ACK for an ack never sent is not retained", func(t *testing.T) {
		const size = 2 << 20
		_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{ReadLimit: 8 << 20})
		a, b := bytes.Repeat([]byte{1}, size), bytes.Repeat([]byte{2}, size)
		before := heapAfterGC()
		c.WriteText(`462-999[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
		c.WriteBinary(a)
		c.WriteBinary(b)
		c.Emit("/", "after")
		ev := nextEventOrDisconnect(t, s, "after", 10*time.Second)
		after := heapAfterGC()
		inuse, alloc := heapGrowth(before, after)
		t.Logf("BINARY_ACK for unknown id 999 with 2 attachments of %d bytes: then %v; heap after GC %+.2f MiB (HeapInuse), %+.2f MiB (HeapAlloc)",
			size, ev.Kind, inMiB(inuse), inMiB(alloc))
		if ev.Kind != siostream.KindEvent {
			t.Errorf("the connection was dropped: %q %v", ev.Reason(), ev.Err())
		}
		// Slack: 1 MiB of noise; retaining either attachment costs 2 MiB.
		if inuse >= oneMiB {
			t.Errorf("heap grew by %.2f MiB after GC (slack 1 MiB): the unknown ack is retained", inMiB(inuse))
		}
	})
	t.Run("BINARY_ACK for an ack never sent is not expanded", func(t *testing.T) {
		_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{})
		const ackPlaceholders = 1000 // enough to show the expansion, five times faster
		frame := placeholderRun(`461-999[`, ackPlaceholders)
		att := make([]byte, attSize)
		before := heapAfterGC()
		peak := peakHeap()
		start := time.Now()
		c.WriteText(frame)
		c.WriteBinary(att)
		c.Emit("/", "after")
		ev := nextEventOrDisconnect(t, s, "after", 60*time.Second)
		took := time.Since(start)
		top := peak()
		after := readMem()
		allocated := int64(after.TotalAlloc - before.TotalAlloc)
		t.Logf("BINARY_ACK for unknown id with %d placeholders + one %d-byte attachment: then %v after %v; "+
			"allocated %.1f MiB meanwhile, peak HeapAlloc %+.1f MiB",
			ackPlaceholders, attSize, ev.Kind, took.Round(time.Millisecond), inMiB(allocated), inMiB(int64(top)-int64(before.HeapAlloc)))
		// TotalAlloc bounds the heap growth from above, deterministically.
		if allocated >= 4*oneMiB {
			t.Errorf("%.1f MiB allocated for a %d-byte ack nobody waits for, bound 4 MiB: dispatch.go binaryPacket.done "+
				"resolves the placeholders (frames.ResolveBinary) before ackTable.resolve finds the id unknown",
				inMiB(allocated), len(frame)+attSize)
		}
	})
}

// TestHostile2ByteBudgetAttachments: MaxBufferedBytes is 64 KiB and the
// consumer does not read; the server sends 200 binary events, each with one
// 256 KiB attachment and a few bytes of JSON. Everything an event holds
// must count against the budget: text, attachments, decoded forms.
func TestHostile2ByteBudgetAttachments(t *testing.T) {
	const budget, attSize, events = 64 << 10, 256 << 10, 200
	_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{MaxBufferedBytes: budget})
	att := make([]byte, attSize)
	before := heapAfterGC()
	var sender sync.WaitGroup
	var sent atomic.Int64
	sender.Go(func() {
		for i := range events {
			if c.Emit("/", "bin", i, att) != nil {
				return
			}
			sent.Add(1)
		}
	})
	// Wait until the client has read every event or has stopped reading
	// (its Received count stays put for 2 s).
	last, lastChange := uint64(0), time.Now()
	pollUntil(20*time.Second, func() bool {
		r := s.Stats().Received
		if r != last {
			last, lastChange = r, time.Now()
		}
		return r == events || (r > 0 && time.Since(lastChange) > 2*time.Second)
	})
	mid := heapAfterGC()
	inuse, alloc := heapGrowth(before, mid)
	st := s.Stats()
	queued := len(s.Events())
	bound := int64(budget + 2*attSize + oneMiB)
	t.Logf("MaxBufferedBytes %d, consumer stalled, %d binary events of %d bytes: server wrote %d, client received %d, "+
		"%d waiting in the channel; heap %+.1f MiB (HeapInuse after GC), %+.1f MiB (HeapAlloc); bound %.2f MiB",
		budget, events, attSize, sent.Load(), st.Received, queued, inMiB(inuse), inMiB(alloc), inMiB(bound))
	s.Close()
	sender.Wait()
	if inuse >= bound {
		t.Errorf("%d events of %d bytes each wait in the channel against a %d-byte budget: heap %+.1f MiB, bound %.2f MiB "+
			"(64 KiB + 2 x 256 KiB + 1 MiB slack). dispatch.go onEvent delivers with size len(buf), the name and args "+
			"with placeholders; the attachments and the base64 Args that withBinary makes are not counted",
			queued, attSize, budget, inMiB(inuse), inMiB(bound))
	}
}

// TestHostile2EarlyBinaryEventsBudget: events a server sends before its
// CONNECT reply are held until the reply (dispatch.go holdEarly), bounded
// by MaxBufferedBytes. Here 100 binary events of 256 KiB arrive before the
// reply to the first CONNECT, under DropNewest so that the reader never
// waits: what is held must stay within the budget, attachments counted.
func TestHostile2EarlyBinaryEventsBudget(t *testing.T) {
	const budget, attSize, events = 64 << 10, 256 << 10, 100
	read := make(chan struct{})
	proceed := make(chan struct{})
	rs := newRawServer(t, func(nc net.Conn, done <-chan struct{}) {
		p, err := rawAccept(nc, rawOpen)
		if err != nil {
			return
		}
		if _, err := p.until("40"); err != nil { // the CONNECT, held
			return
		}
		att := make([]byte, attSize)
		for i := range events {
			if p.text(fmt.Sprintf(`451-["early",%d,{"_placeholder":true,"num":0}]`, i)) != nil || p.binary(att) != nil {
				return
			}
		}
		p.text("2") // the pong says the client has read everything before
		if _, err := p.until("3"); err != nil {
			return
		}
		close(read)
		select {
		case <-proceed:
		case <-done:
			return
		}
		p.text(`40{"sid":"raw-sid"}`)
		p.serve()
	})
	before := heapAfterGC()
	type result struct {
		s   *siostream.Stream
		err error
	}
	res := make(chan result, 1)
	go func() {
		s, err := siostream.Dial(context.Background(), rs.URL(), siostream.Options{MaxBufferedBytes: budget,
			SlowConsumer: siostream.DropNewest, ConnectTimeout: 20 * time.Second, NoReconnect: true})
		res <- result{s, err}
	}()
	select {
	case <-read:
	case r := <-res:
		if r.s != nil {
			r.s.Close()
		}
		t.Fatalf("Dial returned before the CONNECT reply: %v", r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("the client did not read the early events")
	}
	mid := heapAfterGC()
	close(proceed)
	r := <-res
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	n := len(r.s.Events())
	r.s.Close()
	inuse, alloc := heapGrowth(before, mid)
	bound := int64(budget + 2*attSize + oneMiB)
	t.Logf("%d binary events of %d bytes before the CONNECT reply, MaxBufferedBytes %d: heap while held %+.1f MiB "+
		"(HeapInuse after GC), %+.1f MiB (HeapAlloc), bound %.2f MiB; %d events in the channel after Dial",
		events, attSize, budget, inMiB(inuse), inMiB(alloc), inMiB(bound), n)
	if inuse >= bound {
		t.Errorf("events held before the CONNECT reply grew the heap by %.1f MiB, bound %.2f MiB (64 KiB + 2 x 256 KiB + "+
			"1 MiB slack): dispatch.go holdEarly counts size = len(buf) + sizeof(Event), not the attachments nor the "+
			"base64 Args", inMiB(inuse), inMiB(bound))
	}
}

// TestHostile2LargeMessageReleased: one 16 MiB event (ReadLimit 32 MiB) is
// read and dropped by the consumer; then the connection is idle. The
// buffers grown for it must be released or shrunk.
func TestHostile2LargeMessageReleased(t *testing.T) {
	const size = 16 << 20
	_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{ReadLimit: 32 << 20})
	before := heapAfterGC()
	if err := c.Emit("/", "big", strings.Repeat("a", size)); err != nil {
		t.Fatal(err)
	}
	var argsLen int
	func() {
		ev := nextEvent(t, s, "big", 30*time.Second)
		argsLen = len(ev.Args)
	}()
	after := heapAfterGC()
	inuse, alloc := heapGrowth(before, after)
	t.Logf("one event of %d bytes of Args read and dropped; idle connection: heap %+.1f MiB (HeapInuse after GC), %+.1f MiB (HeapAlloc)",
		argsLen, inMiB(inuse), inMiB(alloc))
	if inuse >= 2*oneMiB {
		t.Errorf("heap grew by %.1f MiB after the event was dropped, bound 2 MiB: read.go readMessage keeps c.buf "+
			"(grown by readPayload/grow, doubling) for the life of the connection and only reslices it to [:0]", inMiB(inuse))
	}
	if s.Stats().Reconnects != 0 {
		t.Errorf("reconnected: %+v", s.Stats())
	}
}

// peakHeap samples HeapAlloc every 2 ms until the returned function is
// called, which returns the highest value seen.
func peakHeap() func() uint64 {
	m := startMemMonitor(2 * time.Millisecond)
	return func() uint64 {
		_, _, heap := m.finish()
		return heap
	}
}
