package siostream

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// evSize is the budget size of the server events of these tests.
const evSize = 500

// tinyDelivery returns the delivery of a bare stream whose Events channel
// holds two events and whose budget holds four events of evSize bytes.
func tinyDelivery(t *testing.T, policy SlowConsumerPolicy) *delivery {
	t.Helper()
	_, st := bareStream(t, Options{ReadLimit: int64(2*evSize - eventBytes)}, Options{MaxBufferedBytes: 4 * evSize, SlowConsumer: policy})
	if n := cap(st.d.ch); n != 2 {
		t.Fatalf("Events channel of %d, want 2", n)
	}
	return &st.d
}

// push delivers the server events named e<from> to e<to-1>, of evSize
// bytes each.
func push(t *testing.T, d *delivery, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		ev := serverEvent(fmt.Sprint("e", i))
		if _, err := d.push(&ev, evSize); err != nil {
			t.Fatalf("push e%d: %v", i, err)
		}
	}
}

// names returns the event names e<from> to e<to-1>.
func names(from, to int) []string {
	var n []string
	for i := from; i < to; i++ {
		n = append(n, fmt.Sprint("e", i))
	}
	return n
}

// recv returns the next event of the channel; it fails the test when none
// comes within a second or the channel is closed.
func recv(t *testing.T, d *delivery) Event {
	t.Helper()
	select {
	case ev, ok := <-d.ch:
		if !ok {
			t.Fatal("Events channel closed")
		}
		return ev
	case <-time.After(time.Second):
		t.Fatal("no event within 1 s")
	}
	return Event{}
}

// recvNames receives n events and returns their names, lifecycle events
// as their kind.
func recvNames(t *testing.T, d *delivery, n int) []string {
	t.Helper()
	var got []string
	for range n {
		ev := recv(t, d)
		if ev.Kind == KindEvent {
			got = append(got, ev.Name)
		} else {
			got = append(got, ev.Kind.String())
		}
	}
	return got
}

// expectClosed checks that the channel is closed, the events in it read.
func expectClosed(t *testing.T, d *delivery) {
	t.Helper()
	select {
	case ev, ok := <-d.ch:
		if ok {
			t.Fatalf("event %v after the last one", ev)
		}
	case <-time.After(time.Second):
		t.Fatal("Events channel not closed")
	}
}

// expectEmpty checks that nothing waits in the channel.
func expectEmpty(t *testing.T, d *delivery) {
	t.Helper()
	select {
	case ev := <-d.ch:
		t.Fatalf("event %v in the channel", ev)
	default:
	}
}

// accounts checks Received = Delivered + Dropped + Waiting and returns the
// counters.
func accounts(t *testing.T, d *delivery) deliveryStats {
	t.Helper()
	s := d.stats()
	if s.received != s.delivered+s.dropped+uint64(s.waiting) {
		t.Fatalf("received %d != delivered %d + dropped %d + waiting %d", s.received, s.delivered, s.dropped, s.waiting)
	}
	return s
}

// pumpEnds waits for the pump to end.
func pumpEnds(t *testing.T, d *delivery) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		d.mu.Lock()
		pumping := d.pumping
		d.mu.Unlock()
		if !pumping {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the pump still runs with nothing left to move")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDeliveryInOrder: events beyond the channel's room wait behind it and
// reach the consumer in order; the pump that moves them ends once they
// are all in.
func TestDeliveryInOrder(t *testing.T) {
	d := tinyDelivery(t, BlockSlowConsumer)
	for i := range 4 {
		ev := serverEvent(fmt.Sprint("e", i))
		if waited, err := d.push(&ev, evSize/4); waited || err != nil {
			t.Fatalf("push e%d within the budget: waited %v, %v", i, waited, err)
		}
	}
	if s := accounts(t, d); s.received != 4 || s.waiting == 0 {
		t.Fatalf("after 4 events in a channel of 2: %+v", s)
	}
	if got := recvNames(t, d, 4); !slices.Equal(got, names(0, 4)) {
		t.Fatalf("events %v, want %v", got, names(0, 4))
	}
	pumpEnds(t, d)
	if s := accounts(t, d); s.delivered != 4 || s.waiting != 0 || s.bytes != 0 {
		t.Fatalf("after the consumer took everything: %+v", s)
	}
}

// TestDeliveryDropNewest: past the budget the newest events are dropped
// and counted, and the next event delivered reports how many.
func TestDeliveryDropNewest(t *testing.T) {
	d := tinyDelivery(t, DropNewest)
	push(t, d, 0, 10)
	s := accounts(t, d)
	if s.received != 10 || s.dropped != 6 || s.bytes > 4*evSize {
		t.Fatalf("10 events, room for 4: %+v", s)
	}
	if got := recvNames(t, d, 4); !slices.Equal(got, names(0, 4)) {
		t.Fatalf("events %v, want %v", got, names(0, 4))
	}
	push(t, d, 10, 11)
	ev := recv(t, d)
	if ev.Name != "e10" || ev.Dropped() != 6 {
		t.Fatalf("next event %s reports %d dropped, want e10 reporting 6", ev.Name, ev.Dropped())
	}
	if s := accounts(t, d); s.delivered != 5 || s.dropped != 6 {
		t.Fatalf("at the end: %+v", s)
	}
}

// TestDeliveryDisconnectSlowConsumer: the first event past the budget is
// dropped and push says the stream must end.
func TestDeliveryDisconnectSlowConsumer(t *testing.T) {
	d := tinyDelivery(t, DisconnectSlowConsumer)
	push(t, d, 0, 4)
	ev := serverEvent("e4")
	if _, err := d.push(&ev, evSize); err != ErrSlowConsumer {
		t.Fatalf("push past the budget: %v, want ErrSlowConsumer", err)
	}
	if s := accounts(t, d); s.received != 5 || s.dropped != 1 {
		t.Fatalf("after the overflow: %+v", s)
	}
}

// TestDeliveryBlockWaitsForRoom: under BlockSlowConsumer an event past the
// budget waits until the consumer takes one, then goes in after the
// others.
func TestDeliveryBlockWaitsForRoom(t *testing.T) {
	d := tinyDelivery(t, BlockSlowConsumer)
	push(t, d, 0, 4)
	type result struct {
		waited bool
		err    error
	}
	done := make(chan result, 1)
	go func() {
		ev := serverEvent("e4")
		waited, err := d.push(&ev, evSize)
		done <- result{waited, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("push past the budget returned at once: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	if got := recvNames(t, d, 1); got[0] != "e0" {
		t.Fatalf("first event %v", got)
	}
	select {
	case r := <-done:
		if !r.waited || r.err != nil {
			t.Fatalf("push after waiting: %+v, want waited", r)
		}
	case <-time.After(time.Second):
		t.Fatal("push still waits after the consumer made room")
	}
	if got := recvNames(t, d, 4); !slices.Equal(got, names(1, 5)) {
		t.Fatalf("events %v, want %v", got, names(1, 5))
	}
	if s := accounts(t, d); s.delivered != 5 || s.dropped != 0 {
		t.Fatalf("at the end: %+v", s)
	}
}

// TestDeliveryLifecycle: lifecycle events never wait and are never
// dropped while the stream runs; past the budget a run of them waiting
// behind the channel is shortened to its first and the newest.
func TestDeliveryLifecycle(t *testing.T) {
	d := tinyDelivery(t, BlockSlowConsumer)
	push(t, d, 0, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for attempt := 1; attempt <= 5; attempt++ {
			d.lifecycle(*lifecycleEvent(KindReconnecting, eventMore{attempt: attempt}))
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("lifecycle waited for the consumer")
	}
	var got []string
	for range 6 {
		ev := recv(t, d)
		if ev.Kind == KindReconnecting {
			got = append(got, fmt.Sprint("attempt ", ev.Attempt()))
		} else {
			got = append(got, ev.Name)
		}
	}
	if want := []string{"e0", "e1", "e2", "e3", "attempt 1", "attempt 5"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	expectEmpty(t, d)
	if s := accounts(t, d); s.received != 4 || s.dropped != 0 {
		t.Fatalf("lifecycle events counted as server events: %+v", s)
	}
}

// TestDeliveryHoldRelease: events that come before the CONNECT reply are
// held out of the channel, and follow KindConnected in order.
func TestDeliveryHoldRelease(t *testing.T) {
	d := tinyDelivery(t, BlockSlowConsumer)
	for i := range 3 {
		if _, err := d.hold(serverEvent(fmt.Sprint("e", i)), evSize); err != nil {
			t.Fatal(err)
		}
	}
	expectEmpty(t, d)
	if s := accounts(t, d); s.received != 3 || s.waiting != 3 || s.delivered != 0 {
		t.Fatalf("3 events held: %+v", s)
	}
	d.lifecycle(lifecycleOf(KindConnected))
	d.release()
	if got, want := recvNames(t, d, 4), append([]string{"connected"}, names(0, 3)...); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if s := accounts(t, d); s.delivered != 3 || s.waiting != 0 {
		t.Fatalf("after the release: %+v", s)
	}
}

// TestDeliveryHoldPastBudget: the event that finds the budget full, and
// those held before it, go out at once, ahead of KindConnected; none is
// lost and all arrive in order.
func TestDeliveryHoldPastBudget(t *testing.T) {
	d := tinyDelivery(t, BlockSlowConsumer)
	const held = 8 // twice what the budget holds
	got := make(chan []string, 1)
	go func() { // the consumer
		var seen []string
		for ev := range d.ch {
			seen = append(seen, ev.Kind.String()+" "+ev.Name)
			if len(seen) == held+1 {
				break
			}
		}
		got <- seen
	}()
	for i := range held {
		if _, err := d.hold(serverEvent(fmt.Sprint("e", i)), evSize); err != nil {
			t.Fatal(err)
		}
	}
	d.lifecycle(lifecycleOf(KindConnected))
	d.release()
	var seen []string
	select {
	case seen = <-got:
	case <-time.After(2 * time.Second):
		t.Fatal("the consumer did not get every event")
	}
	connected := slices.Index(seen, "connected ")
	events := slices.Delete(slices.Clone(seen), connected, connected+1)
	var want []string
	for _, n := range names(0, held) {
		want = append(want, "event "+n)
	}
	// The fifth event finds the budget (four events) full.
	if connected < 5 || !slices.Equal(events, want) {
		t.Fatalf("events %v: want e0 to e%d in order, at least e0 to e4 before KindConnected", seen, held-1)
	}
	if s := accounts(t, d); s.delivered != held || s.dropped != 0 {
		t.Fatalf("at the end: %+v", s)
	}
}

// TestDeliveryDiscardHeld: held events of a lost connection are dropped
// and counted.
func TestDeliveryDiscardHeld(t *testing.T) {
	d := tinyDelivery(t, BlockSlowConsumer)
	d.hold(serverEvent("e0"), evSize)
	d.hold(serverEvent("e1"), evSize)
	d.discardHeld()
	d.release()
	expectEmpty(t, d)
	if s := accounts(t, d); s.received != 2 || s.dropped != 2 || s.waiting != 0 {
		t.Fatalf("after discarding: %+v", s)
	}
}

// TestDeliveryEnd: a stream that ends by itself delivers what waits, then
// the final event, then closes the channel; later events are dropped.
func TestDeliveryEnd(t *testing.T) {
	d := tinyDelivery(t, BlockSlowConsumer)
	push(t, d, 0, 4)
	d.end(lifecycleEvent(KindDisconnected, eventMore{reason: ReasonServerDisconnect}))
	push(t, d, 4, 5)
	d.lifecycle(lifecycleOf(KindReconnecting))
	if got, want := recvNames(t, d, 5), append(names(0, 4), "disconnected"); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	expectClosed(t, d)
	pumpEnds(t, d)
	if s := accounts(t, d); s.delivered != 4 || s.dropped != 1 {
		t.Fatalf("at the end: %+v", s)
	}
}

// TestDeliveryClose: Close keeps what is in the channel, drops and counts
// the server events waiting behind it, delivers the final event when
// there is room, and closes the channel.
func TestDeliveryClose(t *testing.T) {
	closed := lifecycleEvent(KindDisconnected, eventMore{reason: ReasonClientDisconnect})
	t.Run("channel full", func(t *testing.T) {
		d := tinyDelivery(t, BlockSlowConsumer)
		push(t, d, 0, 4)
		d.lifecycle(lifecycleOf(KindReconnecting))
		d.close(closed)
		if got := recvNames(t, d, 2); !slices.Equal(got, names(0, 2)) {
			t.Fatalf("events %v, want %v", got, names(0, 2))
		}
		expectClosed(t, d)
		if s := accounts(t, d); s.delivered != 2 || s.dropped != 2 || s.waiting != 0 {
			t.Fatalf("after Close: %+v", s)
		}
	})
	t.Run("room for the final event", func(t *testing.T) {
		d := tinyDelivery(t, BlockSlowConsumer)
		push(t, d, 0, 1)
		d.close(closed)
		if got, want := recvNames(t, d, 2), []string{"e0", "disconnected"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		expectClosed(t, d)
	})
	t.Run("events after Close", func(t *testing.T) {
		d := tinyDelivery(t, BlockSlowConsumer)
		d.hold(serverEvent("held"), evSize)
		d.close(nil)
		push(t, d, 0, 1)
		d.lifecycle(lifecycleOf(KindReconnecting))
		d.close(closed)
		expectClosed(t, d)
		if s := accounts(t, d); s.received != 2 || s.dropped != 2 {
			t.Fatalf("after Close: %+v", s)
		}
	})
}

// TestDeliveryQueueShrinks: once drained, a queue that grew gives its
// memory back.
func TestDeliveryQueueShrinks(t *testing.T) {
	_, st := bareStream(t, Options{ReadLimit: int64(1<<19 - eventBytes)}, Options{MaxBufferedBytes: 1 << 20})
	d := &st.d
	const n = 4 * queueKeep
	push(t, d, 0, n)
	d.mu.Lock()
	grown := len(d.q.buf)
	d.mu.Unlock()
	if got := recvNames(t, d, n); !slices.Equal(got, names(0, n)) {
		t.Fatalf("events out of order: %v", got)
	}
	pumpEnds(t, d)
	d.mu.Lock()
	kept := len(d.q.buf)
	d.mu.Unlock()
	if grown <= queueKeep || kept != 0 {
		t.Fatalf("queue of %d entries for %d events, %d kept once drained", grown, n, kept)
	}
}

// TestEventQueue: a FIFO across growth and wrap-around; pushFront goes
// first; the counters follow.
func TestEventQueue(t *testing.T) {
	var q eventQueue
	var want []string
	next := 0
	add := func(k int) {
		for range k {
			name := fmt.Sprint("e", next)
			next++
			q.push(serverEvent(name), 10)
			want = append(want, name)
		}
	}
	take := func(k int) {
		t.Helper()
		for range k {
			if got := q.pop().ev.Name; got != want[0] {
				t.Fatalf("pop %s, want %s", got, want[0])
			}
			want = want[1:]
		}
	}
	add(5)
	take(3)
	add(20) // grows while wrapped around
	take(10)
	q.pushFront(serverEvent("first"), 10)
	want = append([]string{"first"}, want...)
	q.push(lifecycleOf(KindReconnecting), 7)
	want = append(want, "")
	if q.len() != len(want) || q.bytes != 10*(len(want)-1)+7 || q.events != len(want)-1 {
		t.Fatalf("len %d, bytes %d, events %d for %d entries", q.len(), q.bytes, q.events, len(want))
	}
	take(len(want))
	if q.len() != 0 || q.bytes != 0 || q.events != 0 {
		t.Fatalf("drained: len %d, bytes %d, events %d", q.len(), q.bytes, q.events)
	}
}

// TestTrimLifecycle: trimLifecycle keeps the first lifecycle event of the
// run at the back of the queue and drops the others; server events and
// lifecycle events before a server event stay.
func TestTrimLifecycle(t *testing.T) {
	cases := []struct {
		in, want string // E a server event, a digit a lifecycle event's attempt
	}{
		{"", ""},
		{"E", "E"},
		{"1", "1"},
		{"12", "1"},
		{"E123", "E1"},
		{"12E", "12E"},
		{"E1E23", "E1E2"},
		{"1E2345", "1E2"},
	}
	for _, tc := range cases {
		var q eventQueue
		for _, c := range tc.in {
			if c == 'E' {
				q.push(serverEvent("E"), 100)
			} else {
				q.push(*lifecycleEvent(KindReconnecting, eventMore{attempt: int(c - '0')}), 1)
			}
		}
		q.trimLifecycle()
		var got []byte
		bytes, events := 0, 0
		for q.len() > 0 {
			it := q.pop()
			if it.ev.Kind == KindEvent {
				got = append(got, 'E')
				events++
			} else {
				got = append(got, byte('0'+it.ev.Attempt()))
			}
			bytes += it.size
		}
		if string(got) != tc.want {
			t.Errorf("trimLifecycle(%s) = %s, want %s", tc.in, got, tc.want)
		}
		if q.bytes != 0 || q.events != 0 {
			t.Errorf("trimLifecycle(%s): counters %d bytes, %d events after popping all (%d, %d popped)", tc.in, q.bytes, q.events, bytes, events)
		}
	}
}

// TestSizeRing: the ring forgets the oldest sizes beyond the events still
// in the channel.
func TestSizeRing(t *testing.T) {
	var r sizeRing
	for _, s := range []int{1, 2, 3, 4} {
		r.push(s)
	}
	r.retire(2) // the consumer took the first two
	if r.n != 2 || r.bytes != 7 {
		t.Fatalf("after retiring to 2: %d sizes, %d bytes; want 2, 7", r.n, r.bytes)
	}
	r.retire(0)
	if r.n != 0 || r.bytes != 0 {
		t.Fatalf("after retiring to 0: %d sizes, %d bytes", r.n, r.bytes)
	}
	for i := range len(r.sizes) {
		r.push(i)
	}
	if !r.full() {
		t.Fatalf("%d sizes, not full", r.n)
	}
}

// TestStreamChannelFollowsReadLimit: the Events channel is sized for the
// largest message the connection accepts (see eventChanCap), so that the
// events waiting never exceed MaxBufferedBytes by more than one: with a
// ReadLimit of 4 MiB and a budget of 8 MiB it holds one event. ReadLimit
// is a connection field; the Manager hands it to the stream it makes.
func TestStreamChannelFollowsReadLimit(t *testing.T) {
	conn := Options{ReadLimit: 4 << 20}
	ns := Options{MaxBufferedBytes: 8 << 20}
	_, st := bareStream(t, conn, ns)
	want := eventChanCap(Options{ReadLimit: conn.ReadLimit, MaxBufferedBytes: ns.MaxBufferedBytes})
	if got := cap(st.Events()); got != want {
		t.Fatalf("Events channel of %d with ReadLimit %d and MaxBufferedBytes %d, want %d",
			got, conn.ReadLimit, ns.MaxBufferedBytes, want)
	}
}
