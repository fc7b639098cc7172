package siostream_test

// Send-side contract: Emit's order and bounded buffer, Flush, what a lost
// connection does to packets emitted, and the cost of an idle stream.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// sndRec is an event the server received: its name and its first two
// arguments when they are integers.
type sndRec struct {
	name string
	a, b int
}

// sndLog records, per connection and in arrival order, the events the
// in-process server receives; handle is the server's Handler. on, when
// set, runs after each event on the connection's reading goroutine;
// first tells whether it came on the first connection.
type sndLog struct {
	on func(c *sioserver.Conn, first bool, r sndRec)

	mu    sync.Mutex
	conns []*sioserver.Conn
	got   [][]sndRec // per connection
	total int
	bad   []string // packets whose arguments did not parse
}

func (l *sndLog) handle(c *sioserver.Conn, r *sioserver.Received) {
	rec := sndRec{name: r.Name}
	var args []json.RawMessage
	err := json.Unmarshal(r.Args, &args)
	if err == nil && len(args) > 0 {
		err = json.Unmarshal(args[0], &rec.a)
	}
	if err == nil && len(args) > 1 {
		_ = json.Unmarshal(args[1], &rec.b) // a pad in some tests
	}
	l.mu.Lock()
	i := slices.Index(l.conns, c)
	if i < 0 {
		i, l.conns, l.got = len(l.conns), append(l.conns, c), append(l.got, nil)
	}
	l.got[i] = append(l.got[i], rec)
	l.total++
	if err != nil {
		l.bad = append(l.bad, fmt.Sprintf("%s %s: %v", r.Name, truncated(r.Args), err))
	}
	l.mu.Unlock()
	if l.on != nil {
		l.on(c, i == 0, rec)
	}
}

func (l *sndLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// of returns the events of the i-th connection that sent any.
func (l *sndLog) of(i int) []sndRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i >= len(l.got) {
		return nil
	}
	return slices.Clone(l.got[i])
}

// sndServe starts a server that records events in log and connects a
// stream to it.
func sndServe(t *testing.T, log *sndLog, o siostream.Options) (*siostream.Stream, *sioserver.Conn) {
	t.Helper()
	srv := newServer(t, sioserver.Options{Handler: log.handle})
	s := dial(t, srv.URL(), o)
	c := accept(t, srv)
	joinedOn(t, c)
	return s, c
}

// sndFlush is Flush bounded by a generous timeout.
func sndFlush(t testing.TB, s *siostream.Stream) {
	t.Helper()
	if err := <-sndFlushing(s); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// sndFlushing runs Flush, bounded by a generous timeout, on a goroutine.
func sndFlushing(s *siostream.Stream) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- s.Flush(ctx)
	}()
	return done
}

// sndPending fails the test if Flush has returned.
func sndPending(t testing.TB, flushed <-chan error, why string) {
	t.Helper()
	select {
	case err := <-flushed:
		t.Fatalf("Flush returned %v %s", err, why)
	default:
	}
}

// sndEmitN emits "n" events numbered 0 to n-1.
func sndEmitN(t testing.TB, s *siostream.Stream, n int) {
	t.Helper()
	for i := range n {
		if err := s.Emit(context.Background(), "n", i); err != nil {
			t.Fatal(err)
		}
	}
}

// sndFill emits "n" events numbered from 0 with a 4 KiB pad until one
// waits in vain for room (the server does not read); it returns how many
// were accepted.
func sndFill(t testing.TB, s *siostream.Stream) int {
	t.Helper()
	pad := strings.Repeat("b", 4<<10)
	for n := 0; n < 100_000; n++ { // 400 MiB: beyond any socket buffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.Emit(ctx, "n", n, pad)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return n
		case err != nil:
			t.Fatalf("emit %d: %v", n, err)
		}
	}
	t.Fatal("Emit never waited for a server that does not read")
	return 0
}

// sndRun checks that recs are the "n" events numbered want, in order.
func sndRun(t testing.TB, what string, recs []sndRec, want []int) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(recs), len(want))
	}
	for i, r := range recs {
		if r.name != "n" || r.a != want[i] {
			t.Fatalf("%s: event %d is %s %d, want %d", what, i, r.name, r.a, want[i])
		}
	}
}

// sndSeq returns 0 to n-1.
func sndSeq(n int) []int {
	seq := make([]int, n)
	for i := range seq {
		seq[i] = i
	}
	return seq
}

// TestSendOrderPerGoroutine: 16 goroutines emit 500 events each on one
// stream, with pads of many sizes. The server receives every event, each
// goroutine's in the order it emitted them, and every packet parses:
// frames never interleave.
func TestSendOrderPerGoroutine(t *testing.T) {
	const workers, each = 16, 500
	log := &sndLog{}
	s, c := sndServe(t, log, siostream.Options{})
	pads := make([]string, 9)
	for i := range pads {
		pads[i] = strings.Repeat("o", i*400) // up to 3200 bytes
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := s.Emit(context.Background(), "o", w, i, pads[(w+i)%len(pads)]); err != nil {
					t.Errorf("worker %d emit %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	sndFlush(t, s)
	rcvUntil(t, 30*time.Second, "every event received", func() bool { return log.count() >= workers*each })
	if len(log.bad) > 0 || len(log.conns) != 1 || c.Err() != nil {
		t.Fatalf("%d connections, ended by %v; packets that did not parse: %v", len(log.conns), c.Err(), log.bad)
	}
	next := make([]int, workers)
	for _, r := range log.of(0) {
		if r.name != "o" || r.a < 0 || r.a >= workers || r.b != next[r.a] {
			t.Fatalf("%s from worker %d seq %d; worker's next is %v", r.name, r.a, r.b, next)
		}
		next[r.a]++
	}
	if st := s.Stats(); st.Emitted != workers*each || st.Unsent != 0 || st.Buffered != 0 || st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSendBackpressure: while the server does not read, Emit accepts up
// to EmitBufferBytes beyond what the sockets hold, then waits and fails
// with its ctx's error; the live heap (HeapAlloc after GC: HeapInuse
// would count the pages that freed frames leave half used) grows by no
// more than the buffer. Once the server reads again, it receives every
// packet Emit accepted, in order, and none that Emit refused.
func TestSendBackpressure(t *testing.T) {
	const limit, slack = 1 << 20, 512 << 10
	log := &sndLog{}
	s, c := sndServe(t, log, siostream.Options{EmitBufferBytes: limit, WriteTimeout: time.Minute})
	c.SetReadPaused(true)
	heapAlloc := func(m *runtime.MemStats) uint64 { return m.HeapAlloc }
	before := rcvHeap(heapAlloc)
	accepted := sndFill(t, s)
	during := rcvHeap(heapAlloc)
	st := s.Stats()
	t.Logf("%d emits of 4 KiB accepted; live heap grew by %d KiB; stats %+v", accepted, int64(during-before)>>10, st)
	if accepted < limit/(4<<10) || st.Buffered == 0 {
		t.Fatalf("Emit waited before the buffer was full: %d accepted, stats %+v", accepted, st)
	}
	if during > before+limit+slack {
		t.Fatalf("live heap grew by %d KiB with EmitBufferBytes %d KiB", (during-before)>>10, limit>>10)
	}
	c.SetReadPaused(false)
	sndFlush(t, s)
	if err := s.Emit(context.Background(), "end"); err != nil {
		t.Fatal(err)
	}
	rcvUntil(t, 30*time.Second, "every accepted event received", func() bool { return log.count() == accepted+1 })
	recs := log.of(0)
	if recs[accepted].name != "end" {
		t.Fatalf("last event %s %d", recs[accepted].name, recs[accepted].a)
	}
	sndRun(t, "server", recs[:accepted], sndSeq(accepted))
}

// sndHoldable starts a server whose first CONNECT is answered at once
// and later ones only once free is called.
func sndHoldable(t *testing.T, log *sndLog) (srv *sioserver.Server, free func()) {
	t.Helper()
	release := make(chan struct{})
	var once sync.Once
	free = func() { once.Do(func() { close(release) }) }
	srv = newServer(t, sioserver.Options{Handler: log.handle, Authorize: blockingAuthorize(1, time.Minute, release)})
	t.Cleanup(free) // before the server closes
	return srv, free
}

// sndHeld is a stream whose connection was dropped and whose reconnection
// is held: the server has accepted the new connection and answers its
// CONNECT once free is called.
func sndHeld(t *testing.T, log *sndLog) (s *siostream.Stream, free func()) {
	t.Helper()
	srv, free := sndHoldable(t, log)
	s = dial(t, srv.URL(), siostream.Options{})
	accept(t, srv).Drop()
	next(t, s, siostream.KindDisconnected, refWait)
	accept(t, srv)
	return s, free
}

// TestSendFlush: Flush returns nil once every packet emitted before it is
// on the wire, waits for a reconnection to get there (or returns its
// expired ctx's error), and returns ErrClosed for packets Close left
// unsent.
func TestSendFlush(t *testing.T) {
	t.Run("waits for the wire", func(t *testing.T) {
		log := &sndLog{}
		s, c := sndServe(t, log, siostream.Options{EmitBufferBytes: 256 << 10, WriteTimeout: time.Minute})
		c.SetReadPaused(true)
		accepted := sndFill(t, s)
		flushed := sndFlushing(s)
		if st := s.Stats(); st.Buffered == 0 {
			t.Fatalf("nothing waits to be written: stats %+v", st)
		}
		sndPending(t, flushed, "while packets wait for a server that does not read")
		c.SetReadPaused(false)
		if err := <-flushed; err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if st := s.Stats(); st.Buffered != 0 {
			t.Fatalf("Flush returned with packets not written: stats %+v", st)
		}
		rcvUntil(t, 30*time.Second, "every event received", func() bool { return log.count() == accepted })
		sndRun(t, "server", log.of(0), sndSeq(accepted))
	})
	t.Run("waits for the reconnection", func(t *testing.T) {
		log := &sndLog{}
		s, free := sndHeld(t, log)
		sndEmitN(t, s, 10)
		flushed := sndFlushing(s)
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		for _, ctx := range []context.Context{cancelled, past} {
			if err := s.Flush(ctx); err != ctx.Err() {
				t.Fatalf("Flush with an expired ctx: %v, want %v", err, ctx.Err())
			}
		}
		if st := s.Stats(); st.Buffered != 10 || st.Emitted != 0 {
			t.Fatalf("while disconnected: stats %+v", st)
		}
		sndPending(t, flushed, "before the reconnection")
		free()
		if err := <-flushed; err != nil {
			t.Fatalf("Flush: %v", err)
		}
		rcvUntil(t, refWait, "every event received", func() bool { return log.count() == 10 })
		sndRun(t, "server", log.of(0), sndSeq(10))
	})
	t.Run("after Close", func(t *testing.T) {
		s, _ := sndHeld(t, &sndLog{})
		sndEmitN(t, s, 10)
		flushed := sndFlushing(s)
		s.Close()
		if err := s.Flush(context.Background()); !errors.Is(err, siostream.ErrClosed) {
			t.Fatalf("Flush after Close: %v", err)
		}
		if err := <-flushed; !errors.Is(err, siostream.ErrClosed) {
			t.Fatalf("Flush during Close: %v", err)
		}
		if st := s.Stats(); st.Unsent != 10 || st.Emitted != 0 || st.Buffered != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestSendWriteFailureMidBurst: the server loses the connection in the
// middle of a numbered burst, either from its handler after event k
// (the client may have written much more, or not) or after it stopped
// reading at event k and the client's writes backed up. Emit promises
// that a packet not written in full goes out again after reconnection,
// in order, and EmitVolatile that such a packet is dropped and counted
// in Stats.Unsent; a packet written in full may be lost with the
// connection. The only signal of which packets were written is
// Stats.Emitted, read while the reconnection is held: the written
// packets are the first Emitted accepted. So: each connection receives a
// run of the accepted packets in order, nothing twice; the second starts
// right after the written and the dropped ones; what is missing was
// written before the drop.
func TestSendWriteFailureMidBurst(t *testing.T) {
	const k, burst, tail = 500, 4000, 200
	pad := strings.Repeat("w", 1<<10)
	for _, tc := range []struct {
		name           string
		volatile, fill bool
	}{
		{"drop in handler", false, false},
		{"drop in handler/volatile", true, false},
		{"drop with writes pending", false, true},
		{"drop with writes pending/volatile", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paused := make(chan struct{})
			log := &sndLog{on: func(c *sioserver.Conn, first bool, r sndRec) {
				switch {
				case !first || r.a != k-1:
				case tc.fill:
					c.SetReadPaused(true)
					close(paused)
				default:
					c.Drop()
				}
			}}
			o := siostream.Options{EmitBufferCount: 1 << 14, WriteTimeout: time.Minute}
			wait, most := 10*time.Second, burst
			if tc.fill {
				o.EmitBufferBytes, wait, most = 256<<10, time.Second, 100_000
			}
			srv, free := sndHoldable(t, log)
			s := dial(t, srv.URL(), o)
			c1 := accept(t, srv)
			joinedOn(t, c1)
			emit := s.Emit
			if tc.volatile {
				emit = s.EmitVolatile
			}
			var accepted []int
			num := 0
		emitting:
			for ; num < most; num++ {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				err := emit(ctx, "n", num, pad)
				cancel()
				switch {
				case err == nil:
					accepted = append(accepted, num)
				case tc.volatile && errors.Is(err, siostream.ErrNotConnected):
				case tc.fill && errors.Is(err, context.DeadlineExceeded):
					break emitting // the writes back up
				default:
					t.Fatalf("emit %d: %v", num, err)
				}
			}
			if tc.fill {
				<-paused // the server paused before the writes backed up
				c1.Drop()
			}
			next(t, s, siostream.KindDisconnected, refWait)
			accept(t, srv) // the reconnection, its CONNECT held: nothing is written
			held := s.Stats()
			written, unsent, atDrop := int(held.Emitted), int(held.Unsent), len(accepted)
			free()
			next(t, s, siostream.KindConnected, refWait)
			for range tail {
				num++
				if err := emit(context.Background(), "n", num, pad); err != nil {
					t.Fatal(err)
				}
				accepted = append(accepted, num)
			}
			sndFlush(t, s)
			if err := s.Emit(context.Background(), "end"); err != nil {
				t.Fatal(err)
			}
			rcvUntil(t, 30*time.Second, "the end of the burst received", func() bool {
				got := log.of(1)
				return len(got) > 0 && got[len(got)-1].name == "end"
			})
			first, second := log.of(0), log.of(1)
			second = second[:len(second)-1]
			t.Logf("%d accepted; the first connection wrote %d, its server read %d; %d volatile dropped; the second got %d",
				len(accepted), written, len(first), unsent, len(second))
			sndRun(t, "first connection", first, accepted[:min(len(first), len(accepted))])
			switch {
			case len(first) > written:
				t.Fatalf("the server read %d events, the client wrote %d", len(first), written)
			case !tc.volatile && unsent != 0:
				t.Fatalf("%d non-volatile packets dropped", unsent)
			case tc.fill && written == atDrop:
				t.Fatalf("every packet was written before the drop: none was taken back")
			case tc.volatile && unsent != atDrop-written:
				t.Fatalf("of the volatile packets accepted before the drop, %d were not written on the first connection: "+
					"%d were dropped (Stats.Unsent), %d went out on the second", atDrop-written, unsent, atDrop-written-unsent)
			}
			sndRun(t, "second connection", second, accepted[written+unsent:])
			st := s.Stats()
			if st.Unsent != uint64(unsent) || st.Emitted != uint64(len(accepted)-unsent+1) || st.Buffered != 0 || st.Reconnects != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestSendIdleGoroutines: a connected stream with nothing to do runs one
// goroutine, the reader; the writer and the delivery pump run only while
// they have work, and Close leaves none.
func TestSendIdleGoroutines(t *testing.T) {
	srv := newServer(t, sioserver.Options{}) // acks what asks for it
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	joinedOn(t, c)
	emitted := func(n int, flush bool) {
		sndEmitN(t, s, n)
		if flush {
			sndFlush(t, s)
		}
		for range n {
			received(t, c, refWait)
		}
	}
	for _, step := range []struct {
		name string
		do   func()
	}{
		{"connected", func() {}},
		{"Emit", func() { emitted(1, false) }},
		{"Emit burst and Flush", func() { emitted(100, true) }},
		{"EmitWithAck", func() {
			if _, err := s.EmitWithAck(context.Background(), "x", 1); err != nil {
				t.Fatal(err)
			}
		}},
		{"events drained after a stall", func() {
			for i := range 200 {
				c.Emit("/", "e", i)
			}
			rcvUntil(t, refWait, "the pump runs", func() bool { return clientGoroutines() == 2 })
			for range 200 {
				nextEvent(t, s, "e", refWait)
			}
		}},
	} {
		step.do()
		rcvUntil(t, refWait, step.name+": the reader alone", func() bool { return clientGoroutines() == 1 })
	}
	s.Close()
	// Close has waited for every goroutine to signal its end; one may
	// still be returning from its function.
	rcvUntil(t, refWait, "no client goroutine after Close", func() bool { return clientGoroutines() == 0 })
}

// TestSendEmitAllocs: an Emit of a small struct allocates once, to box
// the argument, against a server that reads.
//
// AllocsPerRun measures at GOMAXPROCS 1, and a change of GOMAXPROCS
// drops the per-P caches of sync.Pool, where the writer recycles the
// frames it has written: the warm-up runs at GOMAXPROCS 1 too. There the
// writer runs only when the emitting goroutine blocks, so the warm-up
// leaves in the pool more frames than the measurement takes.
func TestSendEmitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race sync.Pool drops items at random: allocation counts mean nothing")
	}
	const runs = 1000
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := dial(t, sndSink(t), siostream.Options{})
	ctx := context.Background()
	v := struct {
		A int
		B string
	}{1, "x"}
	emit := func() {
		if err := s.Emit(ctx, "small", v); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 * runs {
		emit()
	}
	sndFlush(t, s)
	if n := testing.AllocsPerRun(runs, emit); n > 1 {
		t.Fatalf("%.2f allocations per Emit, want at most 1", n)
	}
}

// sndSink starts a server reduced to what a client that only emits
// needs: it answers the handshake and the CONNECT, then reads everything
// into one buffer, allocating nothing per packet.
func sndSink(t *testing.T) string {
	t.Helper()
	return newRawServer(t, func(nc net.Conn, _ <-chan struct{}) {
		p, err := rawAccept(nc, rawOpen)
		for msg := []byte(nil); err == nil && !bytes.HasPrefix(msg, []byte("40")); {
			_, msg, err = p.read()
		}
		if err == nil && p.text(`40{"sid":"sink"}`) == nil {
			rawDrain(nc)
		}
	}).URL()
}
