package siostream

import (
	"sync"
	"time"
)

// The pump is started with pumpWG.Add under mu and ends with Done; close
// waits for it with Wait once no pump can start any more.

// maxEventChan is the most events the Events channel itself holds: enough
// to ride out the consumer's scheduling, small enough that an idle
// stream's channel costs 1 KiB.
const maxEventChan = 16

// eventChanCap sizes the Events channel. The budget counts the events in
// the channel too, and a goroutine can learn that the consumer took one
// only while it waits to send on a full channel; so the channel holds no
// more events than the budget has room for at their largest
// (MaxBufferedBytes / ReadLimit, at most maxEventChan). Then, whenever the
// events waiting reach the budget, some of them wait behind a full
// channel, and the consumer's next receive wakes the reader. With
// ReadLimit zero the channel is sized for 1 MiB messages; a server that
// advertises a larger maxPayload and sends such messages can make the
// waiting events exceed the budget by up to the channel's capacity.
func eventChanCap(o Options) int {
	limit := o.ReadLimit
	if limit <= 0 {
		limit = plannedReadLimit
	}
	k := int64(o.MaxBufferedBytes) / (limit + int64(eventBytes))
	return int(min(max(k, 1), maxEventChan))
}

// delivery hands a stream's events from the reader to the consumer.
//
// While the consumer keeps up, the reader puts each event straight into
// the Events channel. When the channel is full, events wait behind it in
// a queue that grows with what waits and gives its memory back when
// drained, and a pump goroutine, which runs only while that queue is not
// empty, moves them into the channel as the consumer takes them. The
// budget counts every event waiting (in the channel, behind it, or held
// before the CONNECT reply); while it holds, the reader never waits.
//
// Only one goroutine sends on the channel at a time (the reader when no
// pump runs, else the pump), so the events still in it are always the
// newest len(ch) sent: a ring of their sizes gives the bytes waiting
// without any hook on the consumer's side.
type delivery struct {
	ch      chan Event
	budget  int
	policy  SlowConsumerPolicy
	closing <-chan struct{} // the stream's: a waiting reader gives up
	stop    chan struct{}   // made when the pump starts; closed by close: the pump gives up

	// mu guards everything below. It is taken last: under Stream.mu and
	// Manager.mu, never the other way round.
	mu       sync.Mutex
	q        eventQueue
	inCh     sizeRing
	held     eventQueue     // events before the CONNECT reply
	pumping  bool           // the pump runs
	pumpWG   sync.WaitGroup // the pump and the reader's handoff, for close
	room     chan struct{}  // closed when the waiting reader has room
	need     int            // bytes the waiting reader wants room for
	ending   bool           // the final event is queued: take no more
	stopping bool           // close runs: take no more, leave the channel to it
	closed   bool           // the channel is closed
	drops    uint64         // drops not yet reported on an event
	inflight int            // bytes of the event being handed over, lock released
	inHand   int            // server events the reader holds while it waits for room (0 or 1)
	handing  bool           // the reader waits to hand an event over: others queue
	timer    *time.Timer    // bounds that wait
	offset   []byte         // the recovery offset of the last server event handed over; reused

	received, delivered, dropped uint64
}

func (d *delivery) init(o Options, closing <-chan struct{}) {
	d.ch = make(chan Event, eventChanCap(o))
	d.budget, d.policy, d.closing = o.MaxBufferedBytes, o.SlowConsumer, closing
}

// waiting is the bytes of all the events waiting for the consumer. Called
// with mu held.
func (d *delivery) waiting() int {
	d.inCh.retire(len(d.ch))
	return d.q.bytes + d.inCh.bytes + d.held.bytes + d.inflight
}

func (d *delivery) fits(size int) bool {
	// inCh.bytes only ever overcounts (the consumer may have taken some):
	// look at the channel only when the cheap bound says no.
	w := d.q.bytes + d.inCh.bytes + d.held.bytes + d.inflight
	if w == 0 || w+size <= d.budget {
		return true
	}
	w = d.waiting()
	return w == 0 || w+size <= d.budget
}

// push delivers a server event, applying the policy beyond the budget.
// It returns ErrSlowConsumer under DisconnectSlowConsumer, and waited when
// it stopped for room (the caller then restarts the heartbeat clock).
func (d *delivery) push(ev *Event, size int) (waited bool, err error) {
	d.mu.Lock()
	d.received++
	d.noteOffset(ev)
	// The common case: nothing waits behind the channel, the budget holds
	// and the channel has room.
	if !d.pumping && !d.handing && d.q.n == 0 && d.drops == 0 && !d.done() && d.fits(size) {
		select {
		case d.ch <- *ev:
			d.sent(size, true)
			d.mu.Unlock()
			return false, nil
		default:
		}
	}
	defer d.mu.Unlock()
	for !d.done() && !d.fits(size) {
		switch d.policy {
		case DropNewest:
			d.drops++
			d.dropped++
			return waited, nil
		case DisconnectSlowConsumer:
			d.dropped++
			return waited, ErrSlowConsumer
		}
		if !d.pumping {
			// Nothing waits behind the channel, so nothing could wake us:
			// only events larger than the channel was sized for get here
			// (see eventChanCap). Admit the event.
			break
		}
		waited = true
		room := make(chan struct{})
		d.room, d.need = room, size
		d.inHand = 1 // received, not yet admitted: Stats counts it as waiting
		d.mu.Unlock()
		select {
		case <-room:
		case <-d.closing:
		}
		d.mu.Lock()
		d.inHand = 0
		if d.room == room {
			d.room = nil
		}
	}
	if d.done() {
		d.dropped++
		return waited, nil
	}
	it := queued{d.withDrops(*ev), size}
	if d.pumping || d.q.len() > 0 {
		d.q.push(it.ev, it.size)
		d.startPump()
		return waited, nil
	}
	if d.trySend(it) || d.handoff(it) {
		return waited, nil
	}
	if d.done() {
		d.dropped++
		return waited, nil
	}
	d.q.pushFront(it.ev, it.size) // events others queued meanwhile come after it
	d.startPump()
	return waited, nil
}

// handoffWait is how long the reader waits for room in a full channel
// before events start to queue behind it: a consumer that keeps up takes
// the next event far sooner, and the reader need not pay for a queue and
// a pump goroutine; a consumer that stalls costs the reader no more than
// this.
const handoffWait = time.Millisecond

// handoff waits up to handoffWait for the consumer to take it. Called by
// the reader with mu held, which it releases while it waits. The event
// counts as delivered while it is handed over, so that a consumer that
// has it sees Stats agree.
func (d *delivery) handoff(it queued) bool {
	if d.timer == nil {
		d.timer = time.NewTimer(handoffWait)
	} else {
		d.timer.Reset(handoffWait)
	}
	if d.stop == nil {
		d.stop = make(chan struct{})
	}
	// close waits for this send, as for the pump's, before it closes the
	// channel.
	d.pumpWG.Add(1)
	d.handing, d.inflight = true, it.size
	d.delivered++
	d.mu.Unlock()
	sent := false
	select {
	case d.ch <- it.ev:
		sent = true
	case <-d.timer.C:
	case <-d.stop:
	}
	d.timer.Stop()
	d.pumpWG.Done()
	d.mu.Lock()
	d.handing, d.inflight = false, 0
	if sent {
		d.sent(it.size, false) // counted as delivered already
		d.startPump()          // for what others queued behind it meanwhile (see send)
		return true
	}
	d.delivered--
	return false
}

// hold keeps a server event that came before the CONNECT reply (a
// recovering server replays missed events first); release delivers them
// after KindConnected. Past the budget they go out at once instead, ahead
// of KindConnected: nothing is lost and memory stays bounded.
func (d *delivery) hold(ev Event, size int) (waited bool, err error) {
	d.mu.Lock()
	if d.done() || d.fits(size) {
		d.received++
		if d.done() {
			d.dropped++
		} else {
			d.held.push(ev, size)
		}
		d.mu.Unlock()
		return false, nil
	}
	d.releaseLocked()
	d.mu.Unlock()
	return d.push(&ev, size)
}

// release delivers the held events.
func (d *delivery) release() {
	d.mu.Lock()
	d.releaseLocked()
	d.mu.Unlock()
}

func (d *delivery) releaseLocked() {
	for d.held.len() > 0 {
		it := d.held.pop()
		d.noteOffset(&it.ev)
		if !d.done() {
			d.send(d.withDrops(it.ev), it.size)
		} else {
			d.dropped++
		}
	}
	d.held.shrink()
}

// noteOffset records the recovery offset of a server event handed over
// (whatever the policy then does with it): a recovery need not replay it.
// The buffer is reused, so it pins no event's memory and, once grown,
// allocates nothing per event. Called with mu held.
func (d *delivery) noteOffset(ev *Event) {
	if off := ev.Offset(); off != "" {
		d.offset = append(d.offset[:0], off...)
	}
}

// lastOffset returns the offset noteOffset recorded.
func (d *delivery) lastOffset() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return string(d.offset)
}

// resetOffset forgets the offset: the server started a new session.
func (d *delivery) resetOffset() {
	d.mu.Lock()
	d.offset = d.offset[:0]
	d.mu.Unlock()
}

// discardHeld drops the held events: the connection they came on is
// gone (a recovering server sends them again).
func (d *delivery) discardHeld() {
	d.mu.Lock()
	d.dropped += uint64(d.held.len())
	d.held.reset()
	d.mu.Unlock()
}

// lifecycle delivers a lifecycle event. It never blocks and is never
// dropped while the stream runs; past the budget, a run of lifecycle
// events waiting behind the channel is shortened to its first one and the
// new one (the reconnect attempts in between are dropped).
func (d *delivery) lifecycle(ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done() {
		return
	}
	if !d.fits(lifecycleBytes) {
		d.q.trimLifecycle()
	}
	d.send(ev, lifecycleBytes)
}

// end queues the final event (if any) of a stream that ended by itself:
// the events already waiting and then ev still reach the consumer, and
// the channel is closed after them.
func (d *delivery) end(ev *Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done() {
		return
	}
	d.ending = true
	d.releaseLocked()
	if ev != nil {
		d.send(*ev, lifecycleBytes)
	}
	if !d.pumping {
		d.closeChan()
	}
}

// close ends delivery at once (Close): what the channel has room for
// goes in, then final if there is room; the rest is dropped and counted,
// and the channel is closed.
func (d *delivery) close(final *Event) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	if d.ending {
		final = nil // end queued the final event already
	}
	d.stopping = true
	if d.stop != nil {
		close(d.stop)
	}
	d.mu.Unlock()
	d.pumpWG.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for d.q.len() > 0 && d.trySend(d.q.front()) {
		d.q.pop()
	}
	for d.q.len() > 0 {
		if d.q.pop().ev.Kind == KindEvent {
			d.dropped++
		}
	}
	d.dropped += uint64(d.held.len())
	d.held.reset()
	d.q.shrink()
	if final != nil {
		select {
		case d.ch <- *final:
		default:
		}
	}
	d.closeChan()
}

// done reports whether the stream takes no more events. Called with mu
// held.
func (d *delivery) done() bool { return d.ending || d.stopping }

func (d *delivery) closeChan() {
	d.closed = true
	close(d.ch)
}

// send puts an event in the channel, or behind it when the channel is
// full or others wait already. Called with mu held.
func (d *delivery) send(ev Event, size int) {
	if !d.pumping && !d.handing && d.q.len() == 0 && d.trySend(queued{ev, size}) {
		return
	}
	d.q.push(ev, size)
	if !d.handing {
		d.startPump()
	}
}

// startPump runs the pump unless it runs. Called with mu held.
func (d *delivery) startPump() {
	if !d.pumping && d.q.len() > 0 {
		if d.stop == nil {
			d.stop = make(chan struct{})
		}
		d.pumping = true
		d.pumpWG.Add(1)
		go d.pump()
	}
}

// trySend puts it in the channel if there is room. Called with mu held.
func (d *delivery) trySend(it queued) bool {
	select {
	case d.ch <- it.ev:
		d.sent(it.size, it.ev.Kind == KindEvent)
		return true
	default:
		return false
	}
}

// sent accounts for an event now in the channel. Called with mu held.
func (d *delivery) sent(size int, server bool) {
	if d.inCh.full() {
		d.inCh.retire(len(d.ch) - 1) // the event just sent is in it
	}
	d.inCh.push(size)
	if server {
		d.delivered++
	}
}

// withDrops reports the drops not yet reported on ev. Called with mu held.
func (d *delivery) withDrops(ev Event) Event {
	if d.drops == 0 {
		return ev
	}
	more := eventMore{}
	if ev.more != nil {
		more = *ev.more
	}
	more.dropped, d.drops = d.drops, 0
	ev.more = &more
	return ev
}

// pump moves the queued events into the channel as the consumer takes
// them, and ends when none is left.
func (d *delivery) pump() {
	defer d.pumpWG.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.q.len() > 0 {
		if d.trySend(d.q.front()) {
			d.q.pop()
			d.wakeReader()
			continue
		}
		// Wait for the consumer. The event counts as delivered from now
		// on, so that a consumer that has it sees Stats agree.
		it := d.q.pop()
		d.inflight = it.size
		if it.ev.Kind == KindEvent {
			d.delivered++
		}
		d.mu.Unlock()
		select {
		case d.ch <- it.ev:
		case <-d.stop:
			d.mu.Lock()
			d.inflight = 0
			if it.ev.Kind == KindEvent {
				d.delivered--
				d.dropped++
			}
			d.pumping = false
			return
		}
		d.mu.Lock()
		d.inflight = 0
		d.sent(it.size, false) // counted as delivered already
		d.wakeReader()
	}
	d.q.shrink()
	d.pumping = false
	if d.room != nil { // the reader waits: let it look again
		close(d.room)
		d.room = nil
	}
	if d.ending && !d.stopping && !d.closed {
		d.closeChan()
	}
}

// wakeReader lets a reader waiting for room go on once its event fits.
// Called with mu held.
func (d *delivery) wakeReader() {
	if d.room != nil && d.fits(d.need) {
		close(d.room)
		d.room = nil
	}
}

// deliveryStats is a consistent snapshot of the counters.
type deliveryStats struct {
	received, delivered, dropped uint64
	waiting, bytes               int
}

func (d *delivery) stats() deliveryStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return deliveryStats{
		received:  d.received,
		delivered: d.delivered,
		dropped:   d.dropped,
		waiting:   d.q.events + d.held.events + d.inHand,
		bytes:     d.waiting(),
	}
}

// queued is an event waiting behind the channel, with its size.
type queued struct {
	ev   Event
	size int
}

// eventQueue is a FIFO of events that grows by doubling and gives its
// memory back once drained.
type eventQueue struct {
	buf    []queued
	head   int
	n      int
	bytes  int
	events int // server events among the n
}

const queueKeep = 64 // entries an empty queue may keep

func (q *eventQueue) len() int { return q.n }

func (q *eventQueue) push(ev Event, size int) {
	if q.n == len(q.buf) {
		next := make([]queued, max(2*len(q.buf), 8))
		for i := range q.n {
			next[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = next, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = queued{ev, size}
	q.n++
	q.bytes += size
	if ev.Kind == KindEvent {
		q.events++
	}
}

func (q *eventQueue) front() queued { return q.buf[q.head] }

// pushFront puts an event before the others.
func (q *eventQueue) pushFront(ev Event, size int) {
	q.push(ev, size) // grows the ring if needed
	q.n--
	q.bytes -= size
	if ev.Kind == KindEvent {
		q.events--
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = queued{ev, size}
	q.n++
	q.bytes += size
	if ev.Kind == KindEvent {
		q.events++
	}
}

func (q *eventQueue) pop() queued {
	it := q.buf[q.head]
	q.buf[q.head] = queued{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	q.bytes -= it.size
	if it.ev.Kind == KindEvent {
		q.events--
	}
	return it
}

// back returns the newest entry.
func (q *eventQueue) back() queued { return q.buf[(q.head+q.n-1)%len(q.buf)] }

func (q *eventQueue) dropBack() {
	i := (q.head + q.n - 1) % len(q.buf)
	q.bytes -= q.buf[i].size
	if q.buf[i].ev.Kind == KindEvent {
		q.events--
	}
	q.buf[i] = queued{}
	q.n--
}

// trimLifecycle drops the lifecycle events at the back of the queue that
// follow the first of their run.
func (q *eventQueue) trimLifecycle() {
	run := 0
	for run < q.n && q.buf[(q.head+q.n-1-run)%len(q.buf)].ev.Kind != KindEvent {
		run++
	}
	for ; run > 1; run-- {
		q.dropBack()
	}
}

// shrink gives the memory of an empty queue back.
func (q *eventQueue) shrink() {
	if q.n == 0 && len(q.buf) > queueKeep {
		q.buf, q.head = nil, 0
	}
}

func (q *eventQueue) reset() {
	clear(q.buf)
	q.head, q.n, q.bytes, q.events = 0, 0, 0, 0
	q.shrink()
}

// sizeRing holds the sizes of the events sent on the channel that may
// still be in it, oldest first.
type sizeRing struct {
	sizes [2 * maxEventChan]int32
	head  int
	n     int
	bytes int
}

func (r *sizeRing) full() bool { return r.n == len(r.sizes) }

func (r *sizeRing) push(size int) {
	s := int32(min(size, 1<<31-1))
	r.sizes[(r.head+r.n)%len(r.sizes)] = s
	r.n++
	r.bytes += int(s)
}

// retire forgets the oldest entries beyond the inChan events still in the
// channel: the consumer has taken them.
func (r *sizeRing) retire(inChan int) {
	for r.n > max(inChan, 0) {
		r.bytes -= int(r.sizes[r.head])
		r.head = (r.head + 1) % len(r.sizes)
		r.n--
	}
}
