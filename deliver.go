package siostream

import "time"

// deliveryQueue accounts for the events waiting in the Events channel.
// Only the stream goroutine sends on the channel, so the events still in it
// are always the newest len(ch) sent: a ring of their sizes gives the bytes
// waiting without any hook on the consumer's side.
type deliveryQueue struct {
	sizes    []int
	head, n  int
	bytes    int
	maxBytes int
	drops    uint64 // drops not yet reported in an event
}

func (q *deliveryQueue) init(capacity, maxBytes int) {
	q.sizes = make([]int, capacity)
	q.maxBytes = maxBytes
}

// retire forgets the entries the consumer has taken.
func (q *deliveryQueue) retire(inChan int) {
	for q.n > inChan {
		q.bytes -= q.sizes[q.head]
		q.head = (q.head + 1) % len(q.sizes)
		q.n--
	}
}

func (q *deliveryQueue) push(size int) {
	q.sizes[(q.head+q.n)%len(q.sizes)] = size
	q.n++
	q.bytes += size
}

func (q *deliveryQueue) fits(size int) bool {
	return q.bytes == 0 || q.bytes+size <= q.maxBytes
}

// deliver puts a server event in the channel, applying the slow-consumer
// policy when the buffer is full.
func (s *Stream) deliver(c *wireConn, ev Event, size int) error {
	s.stats.received.Add(1)
	q := &s.q
	q.retire(len(s.events))
	if len(s.events) < cap(s.events) && q.fits(size) {
		ev.Dropped, q.drops = q.drops, 0
		s.events <- ev
		q.push(size)
		s.stats.delivered.Add(1)
		return nil
	}
	switch s.opts.SlowConsumer {
	case DropNewest:
		q.drops++
		s.stats.dropped.Add(1)
		return nil
	case DisconnectSlowConsumer:
		return ErrSlowConsumer
	}
	return s.deliverBlocking(c, ev, size)
}

// deliverBlocking waits for the consumer. The heartbeat clock restarts
// afterwards: the reader, not the server, was the one not reading.
func (s *Stream) deliverBlocking(c *wireConn, ev Event, size int) error {
	defer c.resetHeartbeat()
	for wait := time.Millisecond; !s.q.fits(size) && len(s.events) > 0; wait = min(2*wait, 50*time.Millisecond) {
		select {
		case <-time.After(wait):
		case <-s.closing:
			return ErrClosed
		}
		s.q.retire(len(s.events))
	}
	ev.Dropped, s.q.drops = s.q.drops, 0
	select {
	case s.events <- ev:
	case <-s.closing:
		return ErrClosed
	}
	s.q.retire(max(len(s.events)-1, 0))
	s.q.push(size)
	s.stats.delivered.Add(1)
	return nil
}

// lifecycle delivers a lifecycle event; they are never dropped while the
// stream runs. Once Close was called it only delivers if there is room.
func (s *Stream) lifecycle(ev Event, c *wireConn) {
	s.q.retire(len(s.events))
	select {
	case s.events <- ev:
	default:
		select {
		case s.events <- ev:
		case <-s.closing:
			select {
			case s.events <- ev:
			default:
				return
			}
		}
		if c != nil {
			c.resetHeartbeat()
		}
	}
	s.q.retire(max(len(s.events)-1, 0))
	s.q.push(0)
}
