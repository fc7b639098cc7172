package siostream

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/siostream/siostream/internal/engine"
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
	d    delivery

	closing <-chan struct{}    // closed when the stream enters streamClosed: life.Done()
	life    context.Context    // cancelled then, ending the join work in flight
	endLife context.CancelFunc // only transition calls it
	joined  chan error         // the first CONNECT's answer, for Dial
	inOrder chan struct{}      // at-least-once emits go one at a time, FIFO; made with the stream when Retries is on

	// Written by the reader goroutine (under mu), read by it without.
	active     atomic.Pointer[link] // the link the namespace is joined on
	joinLink   atomic.Pointer[link] // the link our last CONNECT went out on
	ackMore    atomic.Pointer[eventMore]
	recovery   atomic.Bool  // the server recovers sessions: events carry offsets
	maxPayload atomic.Int64 // the server's, from its open packet

	// Written by the writer goroutine (Written), read by emitters.
	unwritten atomic.Int64  // bytes queued on the connection, not yet written
	doneSeq   atomic.Uint64 // every emit numbered up to this is written or settled
	emitted   atomic.Uint64
	sendWait  notifier // Emit waiting for room, Flush for doneSeq

	acks ackTable

	// mu guards the fields below. Lock order: Manager.mu, then mu, then
	// the delivery's, the ack table's and the connection's locks.
	mu       sync.Mutex
	state    streamState
	err      error
	sid      string
	pid      string
	outbox   []*engine.Frame // emits waiting for a connection, oldest first
	outBytes int
	nextSeq  uint64
	unsent   uint64
	retry    *retryTimer // pending re-join after a refusal
	attempts int         // joins refused in a row
}

// streamState is where a Stream is in its life. transition is the only
// place it changes:
//
//	joining ──CONNECT reply──▶ connected ──lost──▶ reconnecting ──CONNECT reply──▶ connected
//	   │                          │                   │
//	   └──refused, Close─────────┴──Close, server DISCONNECT, slow consumer,──┴──▶ closed
//	                                 refusal, attempts exhausted
type streamState uint8

const (
	streamJoining      streamState = iota // Dial waits for the first CONNECT reply
	streamConnected                       // joined on the Manager's live connection
	streamReconnecting                    // lost; joins again on the next connection
	streamClosed                          // ended for good; Err says why
)

func (s streamState) String() string {
	return [...]string{"joining", "connected", "reconnecting", "closed"}[s]
}

// Stats are a stream's counters. They are consistent with one another:
// Received = Delivered + Dropped + Waiting at every moment.
type Stats struct {
	Received  uint64 // server events read off the wire for this namespace
	Delivered uint64 // server events put in the Events channel
	Dropped   uint64 // server events dropped: DropNewest, a slow-consumer end, Close, or held for a CONNECT reply that never came
	Waiting   int    // server events received and not yet in the channel
	// WaitingBytes counts what every event waiting for the consumer holds,
	// in the channel and behind it: what MaxBufferedBytes bounds.
	WaitingBytes int
	Emitted      uint64 // this stream's packets written to the socket
	Unsent       uint64 // emitted packets dropped unsent (volatile ones on a lost connection, the rest when the stream ended)
	Buffered     int    // emitted packets not written yet
	Reconnects   uint64 // successful reconnections of the connection
}

// Dial connects to the Socket.IO server at rawURL (http, https, ws or wss;
// the query is kept) and joins a namespace: the URL's path, as with
// socket.io-client ("https://host/admin" joins /admin), or
// opts.Namespace; given both, they must agree. The Engine.IO endpoint is
// Options.Path, /socket.io/ by default (a URL path of /socket.io/ is
// taken for it too). Dial returns once the server has accepted the
// CONNECT, or with the server's refusal as a *ConnectError. ctx bounds the
// connect only; the Stream then lives until Close or until it ends for
// good. The stream has a connection of its own; use a Manager to share
// one between namespaces, and Open to connect in the background.
func Dial(ctx context.Context, rawURL string, opts Options) (*Stream, error) {
	m, o, err := single(rawURL, opts)
	if err != nil {
		return nil, err
	}
	return m.Dial(ctx, o)
}

// Open returns a Stream at once and connects it in the background, as
// socket.io-client does by default; Dial, which returns once connected or
// refused, stays the way to fail fast. An attempt that fails (the server
// is not up yet, say) is retried with the reconnection backoff: the
// consumer sees KindConnectError for the failure, then KindReconnecting
// before the next attempt (Attempt counts from 1), then KindConnected.
// A refusal of the namespace ends the stream, unless
// ReconnectOnServerDisconnect is set, and so do MaxReconnectAttempts
// failures in a row. Open fails only for a bad URL or bad options. The URL
// and options are read as by Dial.
func Open(rawURL string, opts Options) (*Stream, error) {
	m, o, err := single(rawURL, opts)
	if err != nil {
		return nil, err
	}
	return m.Open(o)
}

// single makes the Manager of a one-stream call and the stream's options,
// taking the namespace from the URL's path.
func single(rawURL string, opts Options) (*Manager, Options, error) {
	ns, err := urlNamespace(rawURL)
	if err != nil {
		return nil, Options{}, err
	}
	if ns != "" {
		if opts.Namespace != "" && normNamespace(opts.Namespace) != ns {
			return nil, Options{}, fmt.Errorf("%w: the URL's path names namespace %s and Options.Namespace %s: give one",
				ErrOptions, ns, normNamespace(opts.Namespace))
		}
		opts.Namespace = ns
	}
	m, err := newManager(rawURL, opts.connPart())
	if err != nil {
		return nil, Options{}, err
	}
	return m, opts.streamPart(), nil
}

func newStream(m *Manager, o Options) *Stream {
	st := &Stream{
		m:      m,
		opts:   o,
		ns:     o.Namespace,
		joined: make(chan error, 1),
	}
	st.life, st.endLife = context.WithCancel(context.Background())
	st.closing = st.life.Done()
	if o.Retries > 0 {
		st.inOrder = make(chan struct{}, 1)
	}
	st.d.init(o, st.closing)
	st.acks.init(o.MaxPendingAcks)
	return st
}

// Events returns the channel of events. It is closed exactly once, after
// the final lifecycle event, when the stream has ended for good; Err then
// says why.
func (st *Stream) Events() <-chan Event { return st.d.ch }

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
	if st.state != streamConnected {
		return ""
	}
	return st.sid
}

// Stats returns a snapshot of the stream's counters.
func (st *Stream) Stats() Stats {
	ds := st.d.stats()
	st.mu.Lock()
	unsent := st.unsent
	buffered := len(st.outbox)
	st.mu.Unlock()
	if st.unwritten.Load() > 0 {
		buffered++ // at least one is queued on the connection
	}
	return Stats{
		Received:     ds.received,
		Delivered:    ds.delivered,
		Dropped:      ds.dropped,
		Waiting:      ds.waiting,
		WaitingBytes: ds.bytes,
		Emitted:      st.emitted.Load(),
		Unsent:       unsent,
		Buffered:     buffered,
		Reconnects:   st.m.reconnects.Load(),
	}
}

// Close leaves the namespace politely (DISCONNECT; for the last stream of
// its connection, a WebSocket close too), stops every goroutine the
// stream uses, waits for them, and closes the Events channel after a
// final KindDisconnected event, delivered if the channel has room. Events
// already in the channel stay readable; those still waiting behind it
// are dropped (Stats.Dropped), and so are emits not yet written
// (Stats.Unsent). Close is idempotent, safe from any goroutine except the
// Auth and Header functions, and always returns nil.
func (st *Stream) Close() error {
	st.mu.Lock()
	if st.state == streamClosed {
		st.mu.Unlock()
		return nil
	}
	joined := st.active.Load()
	st.transition(streamClosed, lifecycleEvent(KindDisconnected, eventMore{reason: ReasonClientDisconnect, err: ErrClosed}), ErrClosed, true)
	st.mu.Unlock()
	st.stopRetry()
	st.m.leave(st, joined, true)
	return nil
}

// transition is the only place the stream's state changes. It delivers
// the lifecycle event ev (nil: none) and does what entering the state
// means. Called with mu held; it never blocks on the consumer.
func (st *Stream) transition(to streamState, ev *Event, cause error, byClose bool) {
	from := st.state
	st.state = to
	if ev != nil && to != streamClosed {
		st.d.lifecycle(*ev)
	}
	st.m.opts.Logger.Debug("siostream: stream state", "namespace", st.ns, "from", from.String(), "to", to.String())
	switch to {
	case streamConnected:
		st.attempts = 0
	case streamReconnecting:
		st.active.Store(nil)
	case streamClosed:
		st.active.Store(nil)
		st.joinLink.Store(nil)
		st.err = cause
		st.endLife()
		st.failOutbox()
		st.acks.failAll(cause)
		if st.retry != nil {
			st.retry.stop() // Close waits on it: it must not be left unfinished
		}
		st.sendWait.wake()
		if from == streamJoining {
			select {
			case st.joined <- cause:
			default:
			}
		}
		if byClose {
			st.d.close(ev)
		} else {
			st.d.end(ev)
		}
	}
}

// opened reports whether the stream waits, in the background, for its
// first connection (Open). Called with the Manager's mu held.
func (st *Stream) opened() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.state == streamReconnecting && st.joinLink.Load() == nil
}

// lifecycle delivers a lifecycle event that changes no state (a reconnect
// attempt, a refused join).
func (st *Stream) lifecycle(ev Event) {
	st.mu.Lock()
	if st.state != streamClosed {
		st.d.lifecycle(ev)
	}
	st.mu.Unlock()
}

func lifecycleEvent(k Kind, m eventMore) *Event {
	return &Event{Kind: k, more: &m}
}

// end ends the stream by itself, from the reader goroutine (the server's
// DISCONNECT, a refusal, a slow consumer, attempts exhausted): the events
// already waiting and ev still reach the consumer. Close is the user's
// way; abandon is Dial's when it gives up. All three go through
// transition to streamClosed. joined is the connection the stream leaves
// with a DISCONNECT (a slow consumer's), else nil. Called without mu.
func (st *Stream) end(ev *Event, cause error, joined *link) {
	st.mu.Lock()
	if st.state == streamClosed {
		st.mu.Unlock()
		return
	}
	st.transition(streamClosed, ev, cause, false)
	st.mu.Unlock()
	st.stopRetry()
	st.m.leave(st, joined, false) // from the reader: it must not wait for itself
}

// failOutbox drops every buffered emit. Called with mu held.
func (st *Stream) failOutbox() {
	for _, f := range st.outbox {
		f.Release()
		st.unsent++
	}
	clear(st.outbox)
	st.outbox, st.outBytes = nil, 0
}

// notifier wakes goroutines waiting for a condition that the writer
// goroutine changes, without a lock on the writer's side when nobody
// waits.
type notifier struct {
	waiters atomic.Int32
	mu      sync.Mutex
	ch      chan struct{}
}

// arm returns a channel closed at the next wake; disarm must follow.
// Check the condition after arm and before waiting.
func (n *notifier) arm() <-chan struct{} {
	n.waiters.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) disarm() { n.waiters.Add(-1) }

func (n *notifier) wake() {
	if n.waiters.Load() == 0 {
		return
	}
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}
