package siostream

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Stream is a connection to one Socket.IO namespace, handed to Go code as
// a channel of Events plus Emit. Heartbeat, reconnection with backoff and
// auth refresh happen behind the channel.
//
// All methods are safe for concurrent use by multiple goroutines. Events
// should be received by one goroutine, which sees them in wire order.
type Stream struct {
	opts     Options
	endpoint *url.URL

	events  chan Event
	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the stream goroutine has exited
	ctx     context.Context
	cancel  context.CancelFunc
	once    sync.Once

	mu       sync.Mutex
	conn     *wireConn // current connection; nil while disconnected
	outbox   []*outFrame
	outBytes int
	sid      string
	pid      string
	offset   string
	err      error
	acks     ackTable

	maxPayload atomic.Int64  // the server's, from the open packet
	q          deliveryQueue // owned by the stream goroutine
	stats      counters
}

// Stats are a stream's running counters.
type Stats struct {
	Received   uint64 // server events read off the wire
	Delivered  uint64 // server events put in the Events channel
	Dropped    uint64 // server events dropped by the DropNewest policy
	Emitted    uint64 // packets written to the socket
	Reconnects uint64 // successful reconnections
	Buffered   int    // emits waiting for a connection
}

type counters struct {
	received, delivered, dropped, emitted, reconnects atomic.Uint64
}

// Dial connects to the Socket.IO server at rawURL (http, https, ws or wss;
// the query is kept) and joins opts.Namespace. It returns once the server
// has accepted the CONNECT, or with the server's refusal as a
// *ConnectError. ctx bounds the connect only; the Stream then lives until
// Close or until it ends for good.
func Dial(ctx context.Context, rawURL string, opts Options) (*Stream, error) {
	o := opts.withDefaults()
	ep, err := endpointURL(rawURL, o.Path)
	if err != nil {
		return nil, err
	}
	s := newStream(o, ep)
	c, ev, err := s.connect(ctx)
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.attach(c, ev)
	go s.run(c)
	return s, nil
}

func newStream(o Options, ep *url.URL) *Stream {
	s := &Stream{
		opts:     o,
		endpoint: ep,
		events:   make(chan Event, o.EventBuffer),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.q.init(o.EventBuffer, o.MaxBufferedBytes)
	s.acks.init(o.MaxPendingAcks)
	return s
}

// Events returns the channel of events. It is closed exactly once, after
// the final KindDisconnected event, when the stream has ended for good;
// Err then says why.
func (s *Stream) Events() <-chan Event { return s.events }

// Err returns why the stream ended, or nil while it runs. After Close it
// returns ErrClosed.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// ID returns the socket id of the current connection, or "" while
// disconnected.
func (s *Stream) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return ""
	}
	return s.sid
}

// Stats returns a snapshot of the stream's counters.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	buffered := len(s.outbox)
	s.mu.Unlock()
	return Stats{
		Received:   s.stats.received.Load(),
		Delivered:  s.stats.delivered.Load(),
		Dropped:    s.stats.dropped.Load(),
		Emitted:    s.stats.emitted.Load(),
		Reconnects: s.stats.reconnects.Load(),
		Buffered:   buffered,
	}
}

// Close leaves the namespace politely (DISCONNECT, then a WebSocket close),
// stops every goroutine the stream started, waits for them, and closes the
// Events channel. Events still buffered stay readable. Close is
// idempotent and safe from any goroutine; it always returns nil.
func (s *Stream) Close() error {
	s.once.Do(func() {
		close(s.closing)
		s.cancel()
		s.mu.Lock()
		c := s.conn
		s.mu.Unlock()
		if c != nil {
			s.leave(c)
		}
	})
	<-s.done
	return nil
}

// leave sends DISCONNECT and a close frame, waits up to a second for them
// to be written, then closes the socket.
func (s *Stream) leave(c *wireConn) {
	f := &outFrame{op: opText, data: disconnectFrame(s.opts.Namespace), done: make(chan error, 1)}
	c.w.finish(f)
	select {
	case <-f.done:
		select {
		case <-c.w.done:
		case <-time.After(time.Second):
		}
	case <-time.After(time.Second):
	}
	c.nc.Close()
}

func (s *Stream) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// run is the stream goroutine: it reads the connection, and when it is
// lost, reconnects with backoff until Close or a final error.
func (s *Stream) run(c *wireConn) {
	defer close(s.done)
	var err error
	for c != nil {
		reason, cause := s.serve(c)
		reason, cause = s.detach(c, reason, cause)
		if c, err = s.reconnect(reason, cause); err != nil {
			s.end(err)
			return
		}
	}
}

// end records the final error and closes the Events channel.
func (s *Stream) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.failOutbox(err)
	s.mu.Unlock()
	s.acks.failAll(err)
	close(s.events)
}
