package siostream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Stream is one Socket.IO namespace, handed to Go code as a channel of
// Events plus Emit. Heartbeat, reconnection with backoff and auth refresh
// happen behind the channel.
//
// All methods are safe for concurrent use by multiple goroutines. Events
// should be received by one goroutine, which then sees them in wire order.
type Stream struct {
	m    *Manager
	opts Options
	ns   string

	events  chan Event
	closing chan struct{} // closed by Close
	once    sync.Once
	joined  chan error    // answer to the first CONNECT, for Dial
	inOrder chan struct{} // one at-least-once emit at a time, FIFO
	dialing atomic.Bool   // Dial is waiting for the first answer

	sendMu sync.Mutex // held while sending on events, and to close it
	ended  bool
	q      deliveryQueue

	mu       sync.Mutex
	conn     *wireConn // connection the namespace is joined on; nil if not
	outbox   []*outFrame
	outBytes int
	sid      string
	pid      string
	offset   string
	err      error
	retry    *retryTimer
	joinSent *wireConn // connection that carried our CONNECT
	attempts int       // failed joins in a row, for ReconnectOnServerDisconnect

	active     atomic.Pointer[wireConn] // conn, for the reader without the lock
	early      []earlyEvent             // events that came before the CONNECT reply
	earlyBytes int

	acks       ackTable
	maxPayload atomic.Int64 // the server's, from the open packet
	stats      counters
}

// Stats are a stream's running counters.
type Stats struct {
	Received   uint64 // server events read off the wire
	Delivered  uint64 // server events put in the Events channel
	Dropped    uint64 // server events dropped by the DropNewest policy
	Emitted    uint64 // packets written to the socket (all streams of the connection)
	Reconnects uint64 // successful reconnections of the connection
	Buffered   int    // emits waiting for a connection
}

type counters struct {
	received, delivered, dropped atomic.Uint64
}

// Dial connects to the Socket.IO server at rawURL (http, https, ws or wss;
// the query is kept) and joins opts.Namespace. It returns once the server
// has accepted the CONNECT, or with the server's refusal as a
// *ConnectError. ctx bounds the connect only; the Stream then lives until
// Close or until it ends for good. The stream has a connection of its own;
// use a Manager to share one between namespaces.
func Dial(ctx context.Context, rawURL string, opts Options) (*Stream, error) {
	m, err := NewManager(rawURL, opts)
	if err != nil {
		return nil, err
	}
	return m.Dial(ctx, opts)
}

func newStream(m *Manager, o Options) *Stream {
	st := &Stream{
		m:       m,
		opts:    o,
		ns:      o.Namespace,
		events:  make(chan Event, o.EventBuffer),
		closing: make(chan struct{}),
		joined:  make(chan error, 1),
		inOrder: make(chan struct{}, 1),
	}
	st.q.init(o.EventBuffer, o.MaxBufferedBytes)
	st.acks.init(o.MaxPendingAcks)
	st.dialing.Store(true)
	return st
}

// Events returns the channel of events. It is closed exactly once, after
// the final lifecycle event, when the stream has ended for good; Err then
// says why.
func (st *Stream) Events() <-chan Event { return st.events }

// Namespace returns the stream's namespace.
func (st *Stream) Namespace() string { return st.ns }

// Err returns why the stream ended, or nil while it runs. After Close it
// returns ErrClosed.
func (st *Stream) Err() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// ID returns the socket id while connected, or "".
func (st *Stream) ID() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.conn == nil {
		return ""
	}
	return st.sid
}

// Stats returns a snapshot of the stream's counters.
func (st *Stream) Stats() Stats {
	st.mu.Lock()
	buffered := len(st.outbox)
	st.mu.Unlock()
	return Stats{
		Received:   st.stats.received.Load(),
		Delivered:  st.stats.delivered.Load(),
		Dropped:    st.stats.dropped.Load(),
		Emitted:    st.m.emitted.Load(),
		Reconnects: st.m.reconnects.Load(),
		Buffered:   buffered,
	}
}

// Close leaves the namespace politely (DISCONNECT; for the last stream of
// its connection, a WebSocket close too), stops every goroutine the stream
// uses, waits for them, and closes the Events channel after a final
// KindDisconnected event (delivered if the channel has room). Events still
// buffered stay readable. Close is idempotent, safe from any goroutine
// except the Auth and Header functions, and always returns nil.
func (st *Stream) Close() error {
	st.once.Do(func() {
		close(st.closing)
		st.stopRetry()
		st.mu.Lock()
		c := st.conn
		st.setConn(nil)
		st.mu.Unlock()
		if !st.m.release(st, disconnectFrame(st.ns)) && c != nil {
			c.send(disconnectFrame(st.ns), time.Second)
			st.m.noteLeft(st.ns)
		}
		st.finish(&Event{Kind: KindDisconnected, Reason: ReasonClientDisconnect, Err: ErrClosed}, ErrClosed)
	})
	return nil
}

// setConn records the connection the namespace is joined on. Called with
// st.mu held.
func (st *Stream) setConn(c *wireConn) {
	st.conn = c
	st.active.Store(c)
}

func (st *Stream) isClosing() bool {
	select {
	case <-st.closing:
		return true
	default:
		return false
	}
}

// finish delivers ev (if any), records err, fails what waits, and closes
// the Events channel, once.
func (st *Stream) finish(ev *Event, err error) {
	if ev != nil {
		ev.Namespace = st.ns
		st.lifecycle(*ev, nil)
	}
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.setConn(nil)
	st.failOutbox(err)
	st.mu.Unlock()
	st.acks.failAll(err)
	st.sendMu.Lock()
	if !st.ended {
		st.ended = true
		close(st.events)
	}
	st.sendMu.Unlock()
}
