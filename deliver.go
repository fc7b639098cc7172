package siostream

import (
	"math"
	"time"
)

// deliveryQueue accounts for the events waiting in the Events channel.
// Only the stream goroutine sends on the channel, so the events still in it
// are always the newest len(ch) sent: a ring of their sizes gives the bytes
// waiting without any hook on the consumer's side.
type deliveryQueue struct {
	sizes    []int32 // grows to the channel's capacity as needed
	capacity int
	head, n  int
	bytes    int
	maxBytes int
	drops    uint64 // drops not yet reported in an event
}

func (q *deliveryQueue) init(capacity, maxBytes int) {
	q.capacity, q.maxBytes = capacity, maxBytes
}

// retire forgets the entries the consumer has taken.
func (q *deliveryQueue) retire(inChan int) {
	for q.n > inChan {
		q.bytes -= int(q.sizes[q.head])
		q.head = (q.head + 1) % len(q.sizes)
		q.n--
	}
}

func (q *deliveryQueue) push(size int) {
	if q.n == len(q.sizes) {
		q.grow()
	}
	q.sizes[(q.head+q.n)%len(q.sizes)] = int32(min(size, math.MaxInt32))
	q.n++
	q.bytes += size
}

// grow doubles the ring (up to the channel's capacity), unrolling it.
func (q *deliveryQueue) grow() {
	next := make([]int32, min(max(2*len(q.sizes), 8), q.capacity))
	for i := range q.n {
		next[i] = q.sizes[(q.head+i)%len(q.sizes)]
	}
	q.sizes, q.head = next, 0
}

func (q *deliveryQueue) fits(size int) bool {
	return q.bytes == 0 || q.bytes+size <= q.maxBytes
}

// deliver puts a server event in the channel, applying the slow-consumer
// policy when the buffer is full.
func (st *Stream) deliver(c *wireConn, ev Event, size int) {
	st.stats.received.Add(1)
	if ev.Offset != "" {
		st.setOffset(ev.Offset) // handed over: a recovery need not replay it
	}
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if st.ended {
		return
	}
	q := &st.q
	q.retire(len(st.events))
	if len(st.events) < cap(st.events) && q.fits(size) {
		ev.Dropped, q.drops = q.drops, 0
		st.events <- ev
		q.push(size)
		st.stats.delivered.Add(1)
		return
	}
	switch st.opts.SlowConsumer {
	case DropNewest:
		q.drops++
		st.stats.dropped.Add(1)
		return
	case DisconnectSlowConsumer:
		st.sendMu.Unlock()
		st.endSlow(c)
		st.sendMu.Lock()
		return
	}
	st.deliverBlocking(c, ev, size)
}

// deliverBlocking waits for the consumer, or for Close. The heartbeat
// clock restarts afterwards: the reader, not the server, was the one not
// reading. Called with st.sendMu held.
func (st *Stream) deliverBlocking(c *wireConn, ev Event, size int) {
	defer c.resetHeartbeat()
	for wait := time.Millisecond; !st.q.fits(size) && len(st.events) > 0; wait = min(2*wait, 50*time.Millisecond) {
		select {
		case <-time.After(wait):
		case <-st.closing:
			return
		}
		st.q.retire(len(st.events))
	}
	ev.Dropped, st.q.drops = st.q.drops, 0
	select {
	case st.events <- ev:
	case <-st.closing:
		return
	}
	st.q.retire(max(len(st.events)-1, 0))
	st.q.push(size)
	st.stats.delivered.Add(1)
}

// lifecycle delivers a lifecycle event; they are never dropped while the
// stream runs. Once Close was called it only delivers if there is room.
// With c set, the heartbeat clock of c restarts after a wait.
func (st *Stream) lifecycle(ev Event, c *wireConn) {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if st.ended {
		return
	}
	st.q.retire(len(st.events))
	select {
	case st.events <- ev:
	default:
		if !st.sendSlow(ev) {
			return
		}
		if c != nil {
			c.resetHeartbeat()
		}
	}
	st.q.retire(max(len(st.events)-1, 0))
	st.q.push(0)
}

func (st *Stream) sendSlow(ev Event) bool {
	select {
	case st.events <- ev:
		return true
	case <-st.closing:
		select {
		case st.events <- ev:
			return true
		default:
			return false
		}
	}
}
