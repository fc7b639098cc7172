package sioserver

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
)

// receivedQueueSize bounds the packets kept for [Conn.Received].
const receivedQueueSize = 4096

// Conn is one Engine.IO connection of a [Server]. Its methods are safe for
// concurrent use; writes are serialised, a packet and its attachments as
// one unit.
type Conn struct {
	s   *Server
	id  string
	raw net.Conn // the TCP socket
	nc  net.Conn // raw, or the TLS layer over it
	br  *bufio.Reader

	hosts     []string    // the upgrade request's Host header values; never changed
	reqHeader http.Header // its other headers; never changed

	rhdr    [ws.MaxHeaderSize]byte // read goroutine only
	pending *pendingPacket         // read goroutine only

	wmu  sync.Mutex
	bw   *bufio.Writer
	whdr [ws.MaxHeaderSize]byte

	recv     chan *Received
	dropped  atomic.Int64
	pongs    atomic.Int64
	pingsOff atomic.Bool

	// Wake-ups for the heartbeat goroutine; capacity 1, they coalesce.
	pongSig, activitySig, pingSentSig, pingsSig, connectSig chan struct{}

	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // goroutines owned by this connection

	mu      sync.Mutex
	err     error
	paused  chan struct{} // non-nil while reading is paused
	nsps    map[string]*nsState
	waiters map[string]chan struct{}
	acks    map[ackKey]chan *Received
	nextAck uint64
	value   any
}

// nsState is the client's connection to one namespace.
type nsState struct {
	sid  string
	sess *session      // recovery session, nil without Recovery
	done chan struct{} // closed when this namespace connection ends
}

type ackKey struct {
	ns string
	id uint64
}

// RequestHeader returns the headers of the client's WebSocket upgrade
// request other than the WebSocket ones (Cookie, Authorization, ...).
func (c *Conn) RequestHeader() http.Header { return c.reqHeader }

func newConn(s *Server, raw, nc net.Conn) *Conn {
	return &Conn{
		s:           s,
		id:          newID(),
		raw:         raw,
		nc:          nc,
		br:          bufio.NewReader(nc),
		bw:          bufio.NewWriter(nc),
		recv:        make(chan *Received, receivedQueueSize),
		pongSig:     make(chan struct{}, 1),
		activitySig: make(chan struct{}, 1),
		pingSentSig: make(chan struct{}, 1),
		pingsSig:    make(chan struct{}, 1),
		connectSig:  make(chan struct{}, 1),
		closed:      make(chan struct{}),
		nsps:        make(map[string]*nsState),
		waiters:     make(map[string]chan struct{}),
		acks:        make(map[ackKey]chan *Received),
	}
}

// newID returns 20 random characters of base64url, like the reference
// server's ids.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run serves the connection until it ends, on the goroutine that accepted
// it, then waits for the goroutines the connection owns.
func (c *Conn) run() {
	err := c.sendOpen()
	if err == nil {
		c.s.register(c)
		c.spawn(c.heartbeat)
		err = c.readLoop()
	}
	c.shutdown(err, closeCodeFor(err))
	close(c.recv)
	c.wg.Wait()
}

// spawn runs f on a goroutine owned by the connection.
func (c *Conn) spawn(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// shutdown ends the connection for reason err, first sending a WebSocket
// close frame with code when code is not zero and the writer is free.
func (c *Conn) shutdown(err error, code ws.StatusCode) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		if code != 0 {
			c.tryWriteClose(code)
		}
		_ = c.raw.Close()
		close(c.closed)
		c.s.unregister(c)
		c.s.logf("sioserver: %s closed: %v", c.id, err)
	})
}

// ID returns the Engine.IO session id sent in the open packet.
func (c *Conn) ID() string { return c.id }

// Hosts returns the values of the Host header lines of the client's
// upgrade request, in order: exactly one for a well-formed request.
func (c *Conn) Hosts() []string { return slices.Clone(c.hosts) }

// Closed returns a channel closed when the connection has ended.
func (c *Conn) Closed() <-chan struct{} { return c.closed }

// Err returns why the connection ended, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value returns the value last stored by [Conn.SetValue], nil before.
func (c *Conn) Value() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value
}

// SetValue stores v with the connection, for code that keeps its own
// state per connection (a wrapper, for example); the server never reads it.
func (c *Conn) SetValue(v any) {
	c.mu.Lock()
	c.value = v
	c.mu.Unlock()
}

// Received returns every packet the client sent after the open packet:
// CONNECT, EVENT, ACK, DISCONNECT, in order. The channel holds 4096
// packets; when the consumer falls behind, the oldest is dropped and
// counted by [Conn.Dropped], so the reading goroutine never blocks. The
// channel is closed after the connection ended and its last packet was
// queued.
func (c *Conn) Received() <-chan *Received { return c.recv }

// Dropped returns how many packets [Conn.Received] dropped so far.
func (c *Conn) Dropped() int { return int(c.dropped.Load()) }

// Pongs returns how many pongs the client sent so far.
func (c *Conn) Pongs() int { return int(c.pongs.Load()) }

// Drop closes the TCP connection abruptly: with SO_LINGER 0 the client
// sees a reset rather than an orderly close, and no close frame is sent.
func (c *Conn) Drop() {
	if tc, ok := c.raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.shutdown(ErrDropped, 0)
}

// SetReadPaused stops (true) or resumes (false) reading from the client,
// so that TCP pushes back on it. A frame already being read is finished
// first. While reading is paused, missing pongs do not end the connection.
func (c *Conn) SetReadPaused(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case on && c.paused == nil:
		c.paused = make(chan struct{})
	case !on && c.paused != nil:
		close(c.paused)
		c.paused = nil
	}
}

func (c *Conn) readPaused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused != nil
}

// readGate blocks while reading is paused.
func (c *Conn) readGate() error {
	c.mu.Lock()
	p := c.paused
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p:
		return nil
	case <-c.closed:
		return ErrClosed
	}
}

// Connected reports whether the client is connected to namespace ns.
func (c *Conn) Connected(ns string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nsps[normNS(ns)] != nil
}

// WaitConnect waits until a CONNECT of the client to ns has been accepted
// and answered on this connection (at any time so far). It returns
// ctx.Err() when ctx ends first and ErrClosed when the connection ends
// first.
func (c *Conn) WaitConnect(ctx context.Context, ns string) error {
	ch := c.waiter(normNS(ns))
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed:
	}
	select {
	case <-ch:
		return nil
	default:
		return ErrClosed
	}
}

// waiter returns the channel closed when a CONNECT to ns is accepted.
func (c *Conn) waiter(ns string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.waiters[ns]
	if ch == nil {
		ch = make(chan struct{})
		c.waiters[ns] = ch
	}
	return ch
}

// push queues ev for Received, dropping the oldest packet when full.
// Only the reading goroutine calls it.
func (c *Conn) push(ev *Received) {
	select {
	case c.recv <- ev:
		return
	default:
	}
	select {
	case <-c.recv:
		c.dropped.Add(1)
	default:
	}
	select {
	case c.recv <- ev:
	default:
		c.dropped.Add(1)
	}
}
