package siostream_test

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/siostream/siostream"
	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/sioserver"
)

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

// next returns the next event of kind k, skipping others; it fails the
// test after d.
func next(t testing.TB, s *siostream.Stream, k siostream.Kind, d time.Duration) siostream.Event {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %v: %v", k, s.Err())
			}
			if ev.Kind == k {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %v event within %v", k, d)
		}
	}
}

// nextEvent returns the next server event named name.
func nextEvent(t testing.TB, s *siostream.Stream, name string, d time.Duration) siostream.Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ev := next(t, s, siostream.KindEvent, time.Until(deadline))
		if ev.Name == name {
			return ev
		}
	}
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

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

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

func truncated(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
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

// h2Heap returns the memory statistics after a full collection.
func h2Heap() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	return readMem()
}

// h2Grew returns how much HeapInuse and HeapAlloc grew from before to
// after.
func h2Grew(before, after runtime.MemStats) (inuse, alloc int64) {
	return int64(after.HeapInuse) - int64(before.HeapInuse), int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

func h2MiB(n int64) float64 { return float64(n) / oneMiB }

// h2PeakHeap samples HeapAlloc every 2 ms until the returned function is
// called, which returns the highest value seen.
func h2PeakHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if m := readMem(); m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// h2Outcome waits up to d for a server event named name or a
// KindDisconnected, whichever comes first.
func h2Outcome(t *testing.T, s *siostream.Stream, name string, d time.Duration) siostream.Event {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("events closed: %v", s.Err())
			}
			if ev.Kind == siostream.KindDisconnected || (ev.Kind == siostream.KindEvent && ev.Name == name) {
				return ev
			}
		case <-timer.C:
			t.Fatalf("neither event %q nor a disconnect within %v", name, d)
		}
	}
}

// h2Until polls cond every 5 ms for up to d and reports whether it held.
func h2Until(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

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

// needTime fails at once when the test binary's deadline leaves less than d.
func needTime(t *testing.T, d time.Duration) {
	t.Helper()
	if dl, ok := t.Deadline(); ok && time.Until(dl) < d {
		t.Fatalf("this test needs about %v but the test deadline is in %v: run it with -timeout 0 (or a larger -timeout)", d, time.Until(dl).Round(time.Second))
	}
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

func (m *memMonitor) finish() (sys, inuse, heap uint64) {
	close(m.stop)
	m.wg.Wait()
	return m.peakSys, m.peakUse, m.peakHeap
}

// forEach runs f(i) for i in [0, n) on at most par goroutines.
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

func percentOf(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func inMiB(b uint64) float64 { return float64(b) / oneMiB }

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
