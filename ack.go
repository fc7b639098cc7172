package siostream

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/siostream/siostream/frames"
)

// pendingAck is an EmitWithAck waiting for the server's ACK.
type pendingAck struct {
	id   uint64
	ch   chan ackResult
	conn *wireConn // connection the emit went out on; nil while buffered
}

type ackResult struct {
	args json.RawMessage
	err  error
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
	t.m = make(map[uint64]*pendingAck)
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

// bind records which connection carries p (nil: buffered).
func (t *ackTable) bind(p *pendingAck, c *wireConn) {
	if p == nil {
		return
	}
	t.mu.Lock()
	p.conn = c
	t.mu.Unlock()
}

// resolve hands the server's reply to the waiting emit; unknown ids (late
// or duplicate acks) are ignored.
func (t *ackTable) resolve(id uint64, args json.RawMessage, err error) {
	t.mu.Lock()
	p := t.m[id]
	delete(t.m, id)
	t.mu.Unlock()
	if p != nil {
		p.ch <- ackResult{args: args, err: err}
	}
}

// failConn fails the acks whose emit went out on c.
func (t *ackTable) failConn(c *wireConn, err error) {
	t.fail(func(p *pendingAck) bool { return p.conn == c }, err)
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

// sendAck answers a server ack request on the connection it came on.
func (st *Stream) sendAck(ctx context.Context, a *ackReply, args []any) error {
	f, err := st.encode(frames.Header{Type: frames.Ack, Namespace: st.ns, ID: a.id, HasID: true}, "", args)
	if err != nil {
		return err
	}
	if !a.used.CompareAndSwap(false, true) {
		f.release()
		return ErrAckTwice
	}
	f.owner = nil // an ack never goes out on another connection
	done := donePool.Get().(chan error)
	f.done = done
	st.mu.Lock()
	ok := st.conn == a.conn && a.conn.w.enqueue(f)
	st.mu.Unlock()
	if !ok {
		f.release()
		return ErrAckStale
	}
	return wait(ctx, done)
}
