package siostream_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

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

// TestHostile2ControlFrameFlood: the server sends 200,000 WebSocket pings
// with 100-byte payloads and does not read what the client writes. The
// pongs cannot be written; what waits for the writer must stay bounded.
func TestHostile2ControlFrameFlood(t *testing.T) {
	const pings, perWrite = 200_000, 1000
	_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{})
	c.SetReadPaused(true)
	// The server stops reading between two data messages: one more makes
	// it stop (pongs are control frames, read while it waits for data).
	if err := s.Emit(context.Background(), "pause"); err != nil {
		t.Fatal(err)
	}
	if r := received(t, c, 5*time.Second); r.Name != "pause" {
		t.Fatalf("server got %v %q", r.Type, r.Name)
	}
	chunk := bytes.Repeat(wsFrame(0x89, bytes.Repeat([]byte{'p'}, 100)), perWrite)
	g0 := runtime.NumGoroutine()
	before := heapAfterGC()
	start := time.Now()
	for i := 0; i < pings/perWrite; i++ {
		if err := c.WriteRaw(chunk); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	c.Emit("/", "marker")
	ev := nextEventOrDisconnect(t, s, "marker", 60*time.Second)
	took := time.Since(start)
	after := heapAfterGC()
	inuse, alloc := heapGrowth(before, after)
	g1 := runtime.NumGoroutine()
	c.SetReadPaused(false)
	t.Logf("%d WebSocket pings (%d-byte payload) read in %v while the server did not read: then %v; heap %+.1f MiB "+
		"(HeapInuse after GC), %+.1f MiB (HeapAlloc); goroutines %d -> %d",
		pings, 100, took.Round(time.Millisecond), ev.Kind, inMiB(inuse), inMiB(alloc), g0, g1)
	if ev.Kind != siostream.KindEvent {
		t.Errorf("disconnected: %q %v", ev.Reason(), ev.Err())
	}
	if inuse >= oneMiB {
		t.Errorf("heap grew by %.1f MiB, bound 1 MiB: read.go wireConn.control queues one pong frame (an outFrame "+
			"and a copy of the payload) per ping with writer.enqueue, which has no limit, while the writer is blocked",
			inMiB(inuse))
	}
}

// TestHostile2RepeatedConnectReplies: repeated CONNECT replies on a joined
// connection each deliver a KindConnected, and lifecycle events are never
// dropped. Under DropNewest the reader must keep reading and answering
// pings whatever the consumer does; a server that repeats its CONNECT reply
// must not stop it.
func TestHostile2RepeatedConnectReplies(t *testing.T) {
	const replies = 100
	_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{MaxBufferedBytes: 4 << 10, SlowConsumer: siostream.DropNewest})
	for range replies {
		if err := c.WriteText(`40{"sid":"again"}`); err != nil {
			t.Fatal(err)
		}
	}
	p := c.Pongs()
	c.PingNow()
	start := time.Now()
	answered := pollUntil(5*time.Second, func() bool { return c.Pongs() > p })
	took := time.Since(start)
	t.Logf("%d CONNECT replies on a joined connection, consumer stalled, DropNewest, Events channel of 16: "+
		"ping answered %v (after %v); %d events waiting in the channel",
		replies, answered, took.Round(time.Millisecond), len(s.Events()))
	if !answered {
		t.Errorf("the reader stopped answering pings for %v: every CONNECT reply delivers a KindConnected through "+
			"deliver.go lifecycle, which waits for the consumer when the channel is full (sendSlow), whatever the policy",
			took.Round(time.Millisecond))
	}
}

// TestHostile2StatsInvariant: under DropNewest with a slow consumer,
// Stats.Received == Stats.Delivered + Stats.Dropped whenever the reader is
// idle, and the Dropped fields of the delivered events add up to
// Stats.Dropped.
func TestHostile2StatsInvariant(t *testing.T) {
	const rounds, perRound = 20, 1000
	_, s, c := hostileRig(t, sioserver.Options{}, siostream.Options{MaxBufferedBytes: 64 << 10, SlowConsumer: siostream.DropNewest})
	var seen, droppedSum atomic.Uint64
	synced := make(chan struct{})
	var consumer sync.WaitGroup
	consumer.Go(func() {
		for ev := range s.Events() {
			if ev.Kind != siostream.KindEvent {
				continue
			}
			seen.Add(1)
			droppedSum.Add(ev.Dropped())
			if ev.Name == "sync" {
				close(synced)
			}
			if seen.Load()%50 == 0 {
				time.Sleep(time.Millisecond) // a slow consumer
			}
		}
	})
	var sent uint64
	var bad []string
	for r := range rounds {
		for i := range perRound {
			if err := c.Emit("/", "e", r*perRound+i); err != nil {
				t.Fatal(err)
			}
		}
		sent += perRound
		// The reader answers a ping only after the events before it.
		p := c.Pongs()
		c.PingNow()
		if !pollUntil(10*time.Second, func() bool { return c.Pongs() > p }) {
			t.Fatalf("round %d: no pong", r)
		}
		st := s.Stats()
		if st.Received != sent || st.Received != st.Delivered+st.Dropped+uint64(st.Waiting) {
			bad = append(bad, fmt.Sprintf("round %d: sent %d, %+v", r, sent, st))
		}
	}
	// Let the consumer empty the channel, then one more event carries the
	// drops not yet reported.
	if !pollUntil(10*time.Second, func() bool { return seen.Load() == s.Stats().Delivered }) {
		t.Fatalf("consumer saw %d of %d delivered", seen.Load(), s.Stats().Delivered)
	}
	c.Emit("/", "sync")
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("sync event not delivered")
	}
	st := s.Stats()
	s.Close()
	consumer.Wait()
	t.Logf("%d rounds of %d events: %+v; consumer saw %d events, Dropped fields sum %d; %d invariant violations",
		rounds, perRound, st, seen.Load(), droppedSum.Load(), len(bad))
	for _, b := range bad {
		t.Error(b)
	}
	if st.Received != st.Delivered+st.Dropped || droppedSum.Load() != st.Dropped || seen.Load() != st.Delivered {
		t.Errorf("final: %+v, consumer saw %d, Dropped fields sum %d", st, seen.Load(), droppedSum.Load())
	}
}
