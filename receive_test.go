package siostream_test

// Receive-side contract: what a consumer that stalls may expect from the
// Events channel, Options.MaxBufferedBytes and Options.SlowConsumer.

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/refserver"
	"github.com/siostream/siostream/internal/sioserver"
)

// rcvFastPing is the heartbeat of refserver.FastPing, for the in-process
// server; rcvOftenPing pings as often but waits for pongs long enough
// for a loaded machine.
var (
	rcvFastPing  = sioserver.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}
	rcvOftenPing = sioserver.Options{PingInterval: 100 * time.Millisecond, PingTimeout: time.Second}
)

var rcvPolicies = []siostream.SlowConsumerPolicy{
	siostream.BlockSlowConsumer,
	siostream.DropNewest,
	siostream.DisconnectSlowConsumer,
}

// rcvUntil polls cond until it holds, failing the test after d.
func rcvUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rcvIndex decodes an event's first argument, an int.
func rcvIndex(t testing.TB, ev siostream.Event) int {
	t.Helper()
	var i int
	if err := ev.Decode(&i); err != nil {
		t.Fatalf("event %q %s: %v", ev.Name, truncated(ev.Args), err)
	}
	return i
}

// rcvBalanced reports whether st satisfies the documented identity
// Received = Delivered + Dropped + Waiting.
func rcvBalanced(st siostream.Stats) bool {
	return st.Received == st.Delivered+st.Dropped+uint64(st.Waiting)
}

// TestReceiveStallWithinBudget: the server sends 10,000 small events
// while the consumer reads nothing for 10 s, with a ping every 300 ms and
// a 200 ms ping timeout, from the in-process server and from the
// reference server. The events hold far less than the default
// MaxBufferedBytes (32 MiB), so no SlowConsumer policy ever applies: the
// test runs under each policy to show that within the budget the policy
// makes no difference. The reader keeps reading and answering pings: no
// disconnect, no reconnect, every event in order, nothing dropped.
//
// The server sends in chunks of 500 events, each once the reader has read
// the one before: a ping queued behind thousands of events cannot be read
// within the ping timeout by a reader short of CPU (two busy cores,
// -race), whether or not its consumer reads; the stall is what is tested.
func TestReceiveStallWithinBudget(t *testing.T) {
	const n, chunk, stall = 10_000, 500, 10 * time.Second
	servers := []struct {
		name string
		// start connects s; send makes its server send "flood" 0 to
		// chunk-1, then "flood-done"; pre counts the events the server
		// sends first; check looks at the server's side.
		start func(t *testing.T, o siostream.Options) (s *siostream.Stream, send, check func(), pre int)
	}{
		{"sioserver", func(t *testing.T, o siostream.Options) (*siostream.Stream, func(), func(), int) {
			srv := newServer(t, rcvFastPing)
			s := dial(t, srv.URL(), o)
			c := accept(t, srv)
			joinedOn(t, c)
			send := func() {
				for i := range chunk {
					c.Emit("/", "flood", i, "xxxxxxxxxx")
				}
				c.Emit("/", "flood-done", chunk)
			}
			return s, send, func() {
				select {
				case <-c.Closed():
					t.Errorf("the server closed the connection: %v", c.Err())
				default:
				}
			}, 0
		}},
		{"refserver", func(t *testing.T, o siostream.Options) (*siostream.Stream, func(), func(), int) {
			srv := refserver.Shared(t, refserver.FastPing)
			s := dial(t, srv.URL, o)
			return s, func() { refEmit(t, s, "flood", chunk) }, func() {}, 1 // "welcome"
		}},
	}
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			t.Parallel()
			type run struct {
				s           *siostream.Stream
				send, check func()
				pre         int
			}
			runs := make([]run, len(rcvPolicies))
			for i, p := range rcvPolicies {
				r := &runs[i]
				r.s, r.send, r.check, r.pre = sv.start(t, siostream.Options{SlowConsumer: p})
			}
			end := time.Now().Add(stall)
			for sent := chunk + 1; sent <= n/chunk*(chunk+1); sent += chunk + 1 {
				for _, r := range runs {
					r.send()
				}
				for _, r := range runs {
					rcvUntil(t, 2*refWait, "a chunk read off the wire", func() bool { return r.s.Stats().Received == uint64(r.pre+sent) })
				}
			}
			time.Sleep(time.Until(end)) // the consumers read nothing
			for i, p := range rcvPolicies {
				t.Run(p.String(), func(t *testing.T) { rcvStallWithin(t, runs[i].s, n, chunk, runs[i].check) })
			}
		})
	}
}

// rcvStallWithin reads what a stalled consumer finds: KindConnected, then
// the server's events: n/chunk runs of "flood" 0 to chunk-1 and
// "flood-done" among them, in order; and checks the counters.
func rcvStallWithin(t *testing.T, s *siostream.Stream, n, chunk int, check func()) {
	if ev := refRecv(t, s, refWait); ev.Kind != siostream.KindConnected {
		t.Fatalf("first event %v %s", ev.Kind, refDescribe(ev))
	}
	read, floods := 0, 0
	for floods < n {
		ev := refRecv(t, s, refWait)
		if ev.Kind != siostream.KindEvent {
			t.Fatalf("after %d floods: %v %s", floods, ev.Kind, refDescribe(ev))
		}
		if read++; ev.Name == "welcome" {
			continue
		}
		switch i := rcvIndex(t, ev); {
		case ev.Name == "flood" && i == floods%chunk:
			floods++
		case ev.Name != "flood-done" || i != chunk || floods == 0 || floods%chunk != 0:
			t.Fatalf("after %d floods: %s %d", floods, ev.Name, i)
		}
	}
	if ev := refRecv(t, s, refWait); ev.Name != "flood-done" {
		t.Fatalf("after the last flood: %v %s", ev.Kind, refDescribe(ev))
	}
	read++
	check()
	st := s.Stats()
	if st.Reconnects != 0 || st.Dropped != 0 || st.Waiting != 0 || st.Delivered != uint64(read) || !rcvBalanced(st) {
		t.Fatalf("%d events read; stats %+v; then %s", read, st, rcvWaiting(s))
	}
}

// rcvWaiting describes the first few events waiting in the channel.
func rcvWaiting(s *siostream.Stream) string {
	var out []string
	for range 4 {
		select {
		case ev := <-s.Events():
			out = append(out, ev.Kind.String()+" "+refDescribe(ev))
			continue
		default:
		}
		break
	}
	return strings.Join(out, "; ")
}

// TestReceiveStallBeyondBudget: the consumer stalls while the server
// sends about three budgets' worth of events (MaxBufferedBytes 16 KiB,
// events of about 200 bytes), with a ping every 100 ms. Each policy does
// what its documentation says, and the counters account for every event.
func TestReceiveStallBeyondBudget(t *testing.T) {
	const budget = 16 << 10
	pad := strings.Repeat("p", 200)
	for _, tc := range []struct {
		policy siostream.SlowConsumerPolicy
		check  func(t *testing.T, s *siostream.Stream, c *sioserver.Conn, sent int)
	}{
		{siostream.DropNewest, rcvStallDropNewest},
		{siostream.DisconnectSlowConsumer, rcvStallDisconnect},
		{siostream.BlockSlowConsumer, rcvStallBlock},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, rcvOftenPing)
			s := dial(t, srv.URL(), siostream.Options{MaxBufferedBytes: budget, SlowConsumer: tc.policy})
			next(t, s, siostream.KindConnected, refWait)
			c := accept(t, srv)
			joinedOn(t, c)
			sent := 0
			for ; sent < rcvStallEvents; sent++ {
				if c.Emit("/", "e", sent, pad) != nil {
					break // the client left (DisconnectSlowConsumer)
				}
			}
			tc.check(t, s, c, sent)
		})
	}
}

// rcvStallDropNewest: the connection stays and pings are answered during
// the stall; the events delivered are in order, and the drops reported on
// them add up to Stats.Dropped.
func rcvStallDropNewest(t *testing.T, s *siostream.Stream, c *sioserver.Conn, sent int) {
	rcvUntil(t, refWait, "all events read off the wire", func() bool { return s.Stats().Received == uint64(sent) })
	pongs := c.Pongs()
	rcvUntil(t, refWait, "three pings answered", func() bool { return c.Pongs() >= pongs+3 })
	var reported uint64
	read, last := 0, -1
	rcvDrainThen(t, s, c, sent, func(ev siostream.Event) {
		if ev.Kind != siostream.KindEvent {
			t.Fatalf("%v %s", ev.Kind, refDescribe(ev))
		}
		read++
		reported += ev.Dropped()
		i := rcvIndex(t, ev) // "end" carries the highest index
		if i <= last {
			t.Fatalf("event %d after %d", i, last)
		}
		last = i
	})
	st := s.Stats()
	if st.Dropped == 0 || reported != st.Dropped || st.Received != uint64(sent)+1 ||
		st.Delivered != uint64(read) || st.Waiting != 0 || !rcvBalanced(st) || st.Reconnects != 0 {
		t.Fatalf("%d events read, %d drops reported on them; stats %+v", read, reported, st)
	}
	select {
	case <-c.Closed():
		t.Fatalf("the server closed the connection: %v", c.Err())
	default:
	}
}

// rcvDrainThen hands visit every event until the consumer has taken all
// the server events delivered so far, then has the server emit "end" and
// hands visit the events up to it. The drops not yet reported on an event
// are reported on "end", which finds the budget empty.
func rcvDrainThen(t *testing.T, s *siostream.Stream, c *sioserver.Conn, sent int, visit func(siostream.Event)) {
	t.Helper()
	taken := uint64(0)
	for {
		if st := s.Stats(); st.Delivered == taken && st.Waiting == 0 {
			break
		}
		ev := refRecv(t, s, refWait)
		if ev.Kind == siostream.KindEvent {
			taken++
		}
		visit(ev)
	}
	if err := c.Emit("/", "end", sent); err != nil {
		t.Fatalf("the server cannot emit: %v", err)
	}
	for {
		ev := refRecv(t, s, refWait)
		visit(ev)
		if ev.Name == "end" {
			return
		}
	}
}

// rcvStallDisconnect: the stream ends with ErrSlowConsumer; what was
// delivered before the end stays readable, in order, and the final event
// says why.
func rcvStallDisconnect(t *testing.T, s *siostream.Stream, c *sioserver.Conn, sent int) {
	rcvUntil(t, refWait, "the stream ends", func() bool { return s.Err() != nil })
	if !errors.Is(s.Err(), siostream.ErrSlowConsumer) {
		t.Fatalf("Err() = %v", s.Err())
	}
	var last siostream.Event
	read := 0
	for ev := range s.Events() {
		if ev.Kind == siostream.KindEvent {
			if i := rcvIndex(t, ev); i != read {
				t.Fatalf("event %d where %d was due", i, read)
			}
			read++
		} else if last.Kind == siostream.KindDisconnected {
			t.Fatalf("%v after the final event", ev.Kind)
		}
		last = ev
	}
	if last.Kind != siostream.KindDisconnected || last.Reason() != siostream.ReasonSlowConsumer ||
		!errors.Is(last.Err(), siostream.ErrSlowConsumer) {
		t.Fatalf("final event %v %s", last.Kind, refDescribe(last))
	}
	st := s.Stats()
	if read == 0 || st.Delivered != uint64(read) || st.Dropped == 0 || st.Waiting != 0 || !rcvBalanced(st) {
		t.Fatalf("%d of %d events read; stats %+v", read, sent, st)
	}
}

// rcvStallBlock: the reader stops, so the server's pings go unanswered and
// it closes the connection after its ping timeout. BlockSlowConsumer
// promises that nothing is lost: every event the server wrote on that
// connection arrives, in order, before KindDisconnected; the client's own
// dead-server clock is paused, so the reason is not a ping timeout; and
// the stream reconnects.
func rcvStallBlock(t *testing.T, s *siostream.Stream, c *sioserver.Conn, sent int) {
	select {
	case <-c.Closed(): // the consumer stalls until the server gives up
	case <-time.After(2 * refWait):
		t.Fatalf("the server kept a connection whose pings go unanswered")
	}
	if !errors.Is(c.Err(), sioserver.ErrPingTimeout) {
		t.Fatalf("the server ended the connection with %v", c.Err())
	}
	if sent != rcvStallEvents {
		t.Fatalf("the server sent %d events", sent)
	}
	for i := range sent {
		ev := refRecv(t, s, refWait)
		if ev.Kind != siostream.KindEvent || rcvIndex(t, ev) != i {
			t.Fatalf("event %d: %v %s", i, ev.Kind, refDescribe(ev))
		}
	}
	ev := refRecv(t, s, refWait)
	if ev.Kind != siostream.KindDisconnected || ev.Reason() == siostream.ReasonPingTimeout {
		t.Fatalf("after the events: %v %s", ev.Kind, refDescribe(ev))
	}
	t.Logf("disconnected: %s", refDescribe(ev))
	next(t, s, siostream.KindConnected, 2*refWait)
	st := s.Stats()
	if st.Received != uint64(sent) || st.Delivered != uint64(sent) || st.Dropped != 0 ||
		st.Waiting != 0 || !rcvBalanced(st) || st.Reconnects == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// rcvStallEvents is the number of events TestReceiveStallBeyondBudget
// sends: about three budgets' worth.
const rcvStallEvents = 200

// TestReceiveMemoryReturned: 10 MiB of events (10,000 of 1 KiB) wait
// while the consumer stalls; once it has drained them, the heap in use
// is back within 64 KiB of where it was before the burst.
func TestReceiveMemoryReturned(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	next(t, s, siostream.KindConnected, refWait)
	c := accept(t, srv)
	joinedOn(t, c)
	pad := strings.Repeat("m", 1024)
	sent := 0
	burst := func(n int) siostream.Stats {
		for range n {
			if err := c.Emit("/", "m", sent, pad); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		rcvUntil(t, 60*time.Second, "burst read off the wire", func() bool { return s.Stats().Received == uint64(sent) })
		st := s.Stats()
		for i := sent - n; i < sent; i++ {
			if got := rcvIndex(t, next(t, s, siostream.KindEvent, refWait)); got != i {
				t.Fatalf("event %d where %d was due", got, i)
			}
		}
		return st
	}
	burst(1000) // warm-up: buffers and pools reach their working size
	heapInuse := func(m *runtime.MemStats) uint64 { return m.HeapInuse }
	before := rcvHeap(heapInuse)
	peak := burst(10_000)
	after := rcvHeap(heapInuse)
	t.Logf("heap in use: %d KiB before, %d KiB waiting at the peak, %d KiB after", before>>10, peak.WaitingBytes>>10, after>>10)
	if peak.WaitingBytes < 10<<20 {
		t.Fatalf("only %d bytes waited: the consumer did not stall", peak.WaitingBytes)
	}
	if after > before+64<<10 {
		t.Fatalf("heap in use grew by %d KiB after the burst was drained", (after-before)>>10)
	}
	if st := s.Stats(); st.Dropped != 0 || st.Waiting != 0 || st.WaitingBytes != 0 || !rcvBalanced(st) {
		t.Fatalf("stats %+v", st)
	}
}

// rcvHeap returns the smallest of a few readings of a heap statistic,
// each after garbage collection.
func rcvHeap(stat func(*runtime.MemStats) uint64) uint64 {
	least := ^uint64(0)
	for range 5 {
		runtime.GC()
		runtime.GC()
		m := readMem()
		least = min(least, stat(&m))
	}
	return least
}

func TestEventSize(t *testing.T) {
	if n := unsafe.Sizeof(siostream.Event{}); n > 64 {
		t.Fatalf("Event is %d bytes, documented as 64", n)
	}
}

// TestReceiveBlockWakesReader: under BlockSlowConsumer the reader stops
// once the events waiting fill the budget, and each event the consumer
// takes wakes it: it reads on until the budget is full again. The test
// waits only on conditions.
func TestReceiveBlockWakesReader(t *testing.T) {
	const budget, n, takes = 8 << 10, 200, 20
	srv := newServer(t, sioserver.Options{}) // pings every 25 s: never in the way
	s := dial(t, srv.URL(), siostream.Options{MaxBufferedBytes: budget})
	next(t, s, siostream.KindConnected, refWait)
	c := accept(t, srv)
	joinedOn(t, c)
	pad := strings.Repeat("w", 200)
	for i := range n {
		if err := c.Emit("/", "w", i+1000, pad); err != nil { // all the same size
			t.Fatal(err)
		}
	}
	taken := 0
	// full reports whether the events waiting (in the channel and behind
	// it, all the same size) leave no room for one more.
	full := func(st siostream.Stats) (waiting int, ok bool) {
		waiting = int(st.Delivered) - taken + st.Waiting
		return waiting, waiting > 0 && st.WaitingBytes+st.WaitingBytes/waiting > budget
	}
	var unbalanced []siostream.Stats
	stopped := func() siostream.Stats {
		t.Helper()
		var st siostream.Stats
		var waiting int
		rcvUntil(t, refWait, "the reader fills the budget", func() bool {
			var ok bool
			st = s.Stats()
			waiting, ok = full(st)
			return ok
		})
		// The reader cannot go on: at most the one event it holds while
		// it waits for room is read and not yet waiting.
		if st.Received > uint64(taken+waiting+1) || st.Received >= n {
			t.Fatalf("the reader went on with the budget full: %d taken, %d waiting, stats %+v", taken, waiting, st)
		}
		if !rcvBalanced(st) {
			unbalanced = append(unbalanced, st)
		}
		return st
	}
	st := stopped()
	for range takes {
		ev := next(t, s, siostream.KindEvent, refWait)
		if i := rcvIndex(t, ev); i != taken+1000 {
			t.Fatalf("event %d where %d was due", i, taken+1000)
		}
		taken++
		rcvUntil(t, refWait, "the reader goes on after a take", func() bool { return s.Stats().Received > st.Received })
		st = stopped()
	}
	for ; taken < n; taken++ {
		if i := rcvIndex(t, next(t, s, siostream.KindEvent, refWait)); i != taken+1000 {
			t.Fatalf("event %d where %d was due", i, taken+1000)
		}
	}
	if st := s.Stats(); st.Received != n || st.Delivered != n || st.Dropped != 0 || st.Waiting != 0 || st.Reconnects != 0 {
		t.Fatalf("after the drain: stats %+v", st)
	}
	if len(unbalanced) > 0 {
		t.Errorf("while the reader waits for room, Received != Delivered + Dropped + Waiting (%d of %d snapshots), e.g. %+v",
			len(unbalanced), takes+1, unbalanced[0])
	}
}

// TestReceiveLifecycleUnderDropNewest: the consumer stalls while the
// server fills the budget and drops the connection three times. The
// reader never waits for the consumer: it reconnects each time and keeps
// answering pings on the live connection. Once the consumer reads, the
// lifecycle events come in an order that makes sense (runs of them may be
// shortened, never reordered), and every drop is reported.
func TestReceiveLifecycleUnderDropNewest(t *testing.T) {
	const budget, each, drops = 4 << 10, 50, 3
	srv := newServer(t, rcvOftenPing)
	s := dial(t, srv.URL(), siostream.Options{MaxBufferedBytes: budget, SlowConsumer: siostream.DropNewest})
	pad := strings.Repeat("l", 200)
	var c *sioserver.Conn
	sent := 0
	for round := range drops + 1 {
		c = accept(t, srv)
		joinedOn(t, c)
		for range each {
			if err := c.Emit("/", "l", sent, pad); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			sent++
		}
		rcvUntil(t, refWait, "events read off the wire", func() bool { return s.Stats().Received == uint64(sent) })
		if round < drops {
			c.Drop()
		}
	}
	pongs := c.Pongs()
	rcvUntil(t, refWait, "three pings answered on the live connection", func() bool { return c.Pongs() >= pongs+3 })
	var kinds []string
	var reported uint64
	prev, last, read := siostream.Kind(0), -1, 0
	rcvDrainThen(t, s, c, sent, func(ev siostream.Event) {
		reported += ev.Dropped()
		if ev.Kind == siostream.KindEvent {
			read++
			i := rcvIndex(t, ev) // "end" carries the highest index
			if i <= last {
				t.Fatalf("event %d after %d", i, last)
			}
			last = i
			return
		}
		kinds = append(kinds, ev.Kind.String())
		if !rcvFollows(prev, ev.Kind) {
			t.Fatalf("lifecycle order %v", kinds)
		}
		prev = ev.Kind
	})
	t.Logf("lifecycle %v", kinds)
	if prev != siostream.KindConnected || len(kinds) < 3 {
		t.Fatalf("lifecycle %v: want connected, then disconnected ... connected", kinds)
	}
	st := s.Stats()
	if st.Reconnects != drops || st.Dropped == 0 || reported != st.Dropped || st.Delivered != uint64(read) ||
		st.Received != uint64(sent)+1 || !rcvBalanced(st) {
		t.Fatalf("%d drops reported, %d events read; stats %+v", reported, read, st)
	}
}

// rcvFollows reports whether lifecycle event k may follow prev (0: none
// yet) on a stream that stays up.
func rcvFollows(prev, k siostream.Kind) bool {
	switch prev {
	case 0:
		return k == siostream.KindConnected
	case siostream.KindConnected:
		return k == siostream.KindDisconnected
	}
	// Disconnected, Reconnecting, ConnectError: reconnecting until Connected.
	return k != siostream.KindDisconnected
}
