package siostream

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/siostream/siostream/frames"
)

// pendingAck is an EmitWithAck waiting for the server's ACK.
type pendingAck struct {
	id      uint64
	ch      chan ackResult
	gen     uint64      // connection the packet was queued on; 0 while buffered
	written atomic.Bool // the packet is on the wire of gen
}

type ackResult struct {
	reply Reply
	err   error
}

// ackTable holds the pending acks of a stream, bounded in size.
type ackTable struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]*pendingAck
	max  int
	err  error // set once the stream has ended
}

func (t *ackTable) init(max int) {
	t.max = max
}

func (t *ackTable) add() (*pendingAck, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return nil, t.err
	}
	if len(t.m) >= t.max {
		return nil, ErrTooManyAcks
	}
	if t.m == nil {
		t.m = make(map[uint64]*pendingAck)
	}
	p := &pendingAck{id: t.next, ch: make(chan ackResult, 1)}
	t.next++
	t.m[p.id] = p
	return p, nil
}

func (t *ackTable) remove(p *pendingAck) {
	t.mu.Lock()
	delete(t.m, p.id)
	t.mu.Unlock()
}

// has reports whether id is pending: a reply to anything else is
// dropped, attachments and all.
func (t *ackTable) has(id uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.m[id]
	return ok
}

// sentOn records the connection p's packet was queued on (0: buffered).
func (t *ackTable) sentOn(p *pendingAck, gen uint64) {
	t.mu.Lock()
	p.gen = gen
	p.written.Store(false)
	t.mu.Unlock()
}

// resolve hands the server's reply to the waiting emit; unknown ids (late
// or duplicate acks) are ignored.
func (t *ackTable) resolve(id uint64, r Reply) {
	t.mu.Lock()
	p := t.m[id]
	delete(t.m, id)
	t.mu.Unlock()
	if p != nil {
		p.ch <- ackResult{reply: r}
	}
}

// failWritten fails the acks whose packet was written on connection gen.
func (t *ackTable) failWritten(gen uint64, err error) {
	t.fail(func(p *pendingAck) bool { return p.gen == gen && p.written.Load() }, err)
}

// failAll fails every pending ack and refuses new ones.
func (t *ackTable) failAll(err error) {
	t.mu.Lock()
	t.err = err
	t.mu.Unlock()
	t.fail(func(*pendingAck) bool { return true }, err)
}

func (t *ackTable) fail(match func(*pendingAck) bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, p := range t.m {
		if match(p) {
			delete(t.m, id)
			p.ch <- ackResult{err: err}
		}
	}
}

// sendAck answers a server ack request on connection gen, the one it came
// on. It encodes first, so that an ack refused before anything was sent
// (too large, not encodable) can be tried again.
func (st *Stream) sendAck(ctx context.Context, gen uint64, m *eventMeta, args []any) error {
	if m.used.Load() != 0 {
		return ErrAckTwice
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := st.encode(frames.Header{Type: frames.Ack, Namespace: st.ns, ID: m.ackID, HasID: true}, "", args)
	if err != nil {
		return err
	}
	if !m.used.CompareAndSwap(0, 1) {
		f.Release()
		return ErrAckTwice
	}
	f.Bound = true // an ack never goes out on another connection
	st.mu.Lock()
	defer st.mu.Unlock()
	l := st.active.Load()
	if st.state != streamConnected || l == nil || l.gen != gen || l.conn.Send(f) != nil {
		f.Release()
		return ErrAckStale
	}
	return nil
}
