package siostream_test

// Helpers shared by the test files of the package: servers and streams,
// reading events, waiting, memory figures, and a raw WebSocket peer for
// what the in-process server cannot be made to do. The helpers that talk
// to the Node.js reference server are in interop_test.go, those of the
// internal tests in helpers_internal_test.go.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/siostream/siostream"
	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/sioserver"
)

// Servers and streams.

// fast reconnects for tests: 10 ms doubling to 50 ms.
func fastOpts(o siostream.Options) siostream.Options {
	if o.ReconnectDelay == 0 {
		o.ReconnectDelay = 10 * time.Millisecond
	}
	if o.ReconnectDelayMax == 0 {
		o.ReconnectDelayMax = 50 * time.Millisecond
	}
	return o
}

func newServer(t testing.TB, o sioserver.Options) *sioserver.Server {
	t.Helper()
	srv, err := sioserver.New(o)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func dial(t testing.TB, url string, o siostream.Options) *siostream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := siostream.Dial(ctx, url, fastOpts(o))
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// refManager returns a Manager for url (any server) with fastOpts, closed
// when the test ends.
func refManager(t *testing.T, url string, o siostream.Options) *siostream.Manager {
	t.Helper()
	m, err := siostream.NewManager(url, fastOpts(o))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func accept(t testing.TB, srv *sioserver.Server) *sioserver.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := srv.Accept(ctx)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	return c
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

// received returns the next packet other than CONNECT the server got
// from the client.
func received(t testing.TB, c *sioserver.Conn, d time.Duration) *sioserver.Received {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case r := <-c.Received():
			if r.Type != frames.Connect {
				return r
			}
		case <-timer.C:
			t.Fatalf("server received nothing within %v", d)
			return nil
		}
	}
}

// refClosedAddr returns a loopback address nobody listens on.
func refClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Reading events.

// readEnd says why readUntil returned.
type readEnd uint8

const (
	readStopped readEnd = iota // stop held for the last event read
	readClosed                 // the channel closed
	readTimeout                // d passed
)

// readUntil hands the events of s to stop until it holds for one, the
// channel closes or d passes, and says which; last is the event stop held
// for. It never fails the test: the caller judges.
func readUntil(s *siostream.Stream, d time.Duration, stop func(siostream.Event) bool) (last siostream.Event, end readEnd) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return siostream.Event{}, readClosed
			}
			if stop(ev) {
				return ev, readStopped
			}
		case <-timer.C:
			return siostream.Event{}, readTimeout
		}
	}
}

// eventsUntil is readUntil that returns every event read, the last one
// included.
func eventsUntil(s *siostream.Stream, d time.Duration, stop func(siostream.Event) bool) ([]siostream.Event, readEnd) {
	var evs []siostream.Event
	_, end := readUntil(s, d, func(ev siostream.Event) bool {
		evs = append(evs, ev)
		return stop(ev)
	})
	return evs, end
}

// nextWhere returns the first event of s for which match holds, skipping
// the others; it fails the test when the channel closes or after d. what
// names the event awaited.
func nextWhere(t testing.TB, s *siostream.Stream, d time.Duration, what string, match func(siostream.Event) bool) siostream.Event {
	t.Helper()
	ev, end := readUntil(s, d, match)
	switch end {
	case readClosed:
		t.Fatalf("events closed while waiting for %s: %v", what, s.Err())
	case readTimeout:
		t.Fatalf("no %s within %v", what, d)
	}
	return ev
}

// next returns the next event of kind k, skipping others; it fails the
// test after d.
func next(t testing.TB, s *siostream.Stream, k siostream.Kind, d time.Duration) siostream.Event {
	t.Helper()
	return nextWhere(t, s, d, k.String()+" event", func(ev siostream.Event) bool { return ev.Kind == k })
}

// nextEvent returns the next server event named name.
func nextEvent(t testing.TB, s *siostream.Stream, name string, d time.Duration) siostream.Event {
	t.Helper()
	return nextWhere(t, s, d, fmt.Sprintf("event %q", name), func(ev siostream.Event) bool {
		return ev.Kind == siostream.KindEvent && ev.Name == name
	})
}

// nextEventOrDisconnect waits up to d for a server event named name or a
// KindDisconnected, whichever comes first.
func nextEventOrDisconnect(t testing.TB, s *siostream.Stream, name string, d time.Duration) siostream.Event {
	t.Helper()
	return nextWhere(t, s, d, fmt.Sprintf("event %q or disconnect", name), func(ev siostream.Event) bool {
		return ev.Kind == siostream.KindDisconnected || (ev.Kind == siostream.KindEvent && ev.Name == name)
	})
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

// Time and goroutines.

// pollUntil polls cond every 5 ms for up to d and reports whether it held.
func pollUntil(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// waitFor fails the test unless cond holds within 5 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	if !pollUntil(5*time.Second, cond) {
		t.Fatal("condition not met within 5 s")
	}
}

// settleGoroutines waits up to d for the goroutine count to fall to at
// most limit and returns the last count.
func settleGoroutines(limit int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// needTime fails at once when the test binary's deadline leaves less than d.
func needTime(t *testing.T, d time.Duration) {
	t.Helper()
	if dl, ok := t.Deadline(); ok && time.Until(dl) < d {
		t.Fatalf("this test needs about %v but the test deadline is in %v: run it with -timeout 0 (or a larger -timeout)", d, time.Until(dl).Round(time.Second))
	}
}

// soakForEach runs f(i) for i in [0, n) on at most par goroutines.
func soakForEach(n, par int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// raceEnabled reports whether the test binary was built with -race.
var raceEnabled = func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}()

// Arguments.

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decodeArgs decodes the first len(v) elements of the JSON array raw.
func decodeArgs(raw json.RawMessage, v ...any) error {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	if len(list) < len(v) {
		return fmt.Errorf("%d args, want %d", len(list), len(v))
	}
	for i := range v {
		if err := json.Unmarshal(list[i], v[i]); err != nil {
			return err
		}
	}
	return nil
}

// truncated shortens b for a failure message.
func truncated(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// Memory and figures.

const oneMiB = 1 << 20

func inMiB[N int64 | uint64](n N) float64 { return float64(n) / oneMiB }

func percentOf(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func readMem() runtime.MemStats {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// heapAfterGC returns the memory statistics after a full collection.
func heapAfterGC() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	return readMem()
}

// heapGrowth returns how much HeapInuse and HeapAlloc grew from before to
// after.
func heapGrowth(before, after runtime.MemStats) (inuse, alloc int64) {
	return int64(after.HeapInuse) - int64(before.HeapInuse), int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// memMonitor samples the runtime's memory statistics until stopped.
type memMonitor struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	peakSys  uint64
	peakUse  uint64
	peakHeap uint64
	samples  int
}

func startMemMonitor(every time.Duration) *memMonitor {
	m := &memMonitor{stop: make(chan struct{})}
	m.wg.Go(func() {
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			ms := readMem()
			m.mu.Lock()
			m.peakSys = max(m.peakSys, ms.Sys)
			m.peakUse = max(m.peakUse, ms.HeapInuse)
			m.peakHeap = max(m.peakHeap, ms.HeapAlloc)
			m.samples++
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-tk.C:
			}
		}
	})
	return m
}

// finish stops the sampling and returns the peaks of Sys, HeapInuse and
// HeapAlloc.
func (m *memMonitor) finish() (sys, inuse, heap uint64) {
	close(m.stop)
	m.wg.Wait()
	return m.peakSys, m.peakUse, m.peakHeap
}

// A raw WebSocket peer.

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

// rawPeer is the server side of one accepted TCP connection that speaks
// just enough WebSocket, Engine.IO and Socket.IO by hand, for what the
// in-process server cannot be made to do.
type rawPeer struct{ nc net.Conn }

const rawOpen = `0{"sid":"raw","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`

// rawAccept completes the WebSocket handshake and sends open, the first
// Engine.IO packet.
func rawAccept(nc net.Conn, open string) (*rawPeer, error) {
	if _, err := ws.Upgrade(nc); err != nil {
		return nil, err
	}
	p := &rawPeer{nc: nc}
	return p, p.text(open)
}

func (p *rawPeer) text(s string) error { return ws.WriteFrame(p.nc, ws.NewTextFrame([]byte(s))) }

func (p *rawPeer) binary(b []byte) error { return ws.WriteFrame(p.nc, ws.NewBinaryFrame(b)) }

// read returns the client's next data frame, unmasked; control frames
// other than close are skipped.
func (p *rawPeer) read() (ws.OpCode, []byte, error) {
	for {
		f, err := ws.ReadFrame(p.nc)
		if err != nil {
			return 0, nil, err
		}
		if f.Header.Masked {
			f = ws.UnmaskFrameInPlace(f)
		}
		switch {
		case f.Header.OpCode == ws.OpClose:
			return 0, nil, io.EOF
		case f.Header.OpCode.IsControl():
			continue
		}
		return f.Header.OpCode, f.Payload, nil
	}
}

// until reads the client's frames up to a text frame starting with prefix.
func (p *rawPeer) until(prefix string) (string, error) {
	for {
		op, b, err := p.read()
		if err != nil {
			return "", err
		}
		if op == ws.OpText && strings.HasPrefix(string(b), prefix) {
			return string(b), nil
		}
	}
}

// serve answers a CONNECT to "/" and the event "probe" (with "probed")
// until the client goes away.
func (p *rawPeer) serve() {
	for {
		op, b, err := p.read()
		if err != nil || op != ws.OpText {
			if err != nil {
				return
			}
			continue
		}
		switch s := string(b); {
		case s == "40" || strings.HasPrefix(s, "40{"):
			p.text(`40{"sid":"raw-sid"}`)
		case strings.HasPrefix(s, `42["probe"`):
			p.text(`42["probed"]`)
		}
	}
}
