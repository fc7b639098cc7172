package siostream

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Manager is one Engine.IO connection shared by the Streams of several
// namespaces, as the reference client's Manager. It reconnects once for
// all of them and closes its connection when the last one closes; a later
// Dial opens a new one. Dial (the package function) makes a Manager for a
// single stream, which is what most programs need.
//
// All methods are safe for concurrent use.
type Manager struct {
	opts     Options // connection-level fields only
	endpoint *url.URL

	mu      sync.Mutex
	conn    *wireConn
	streams map[string]*Stream
	routes  atomic.Pointer[map[string]*Stream] // copy of streams for the reader
	run     *runState                          // nil when no goroutine runs
	closed  bool

	left       map[string]time.Time // namespaces left on the live connection
	dialMu     sync.Mutex           // one engine connect at a time from Dial
	reconnects atomic.Uint64
	emitted    atomic.Uint64
	failures   atomic.Int64 // reconnect attempts since a namespace last joined
}

// runState is one generation of the manager goroutine: it ends when stop
// is closed (no streams left) or the connection ends for good.
type runState struct {
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	ctx    context.Context // cancelled by halt: bounds reconnect attempts
	cancel context.CancelFunc
}

func newRunState() *runState {
	r := &runState{stop: make(chan struct{}), done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

func (r *runState) halt() {
	r.once.Do(func() {
		close(r.stop)
		r.cancel()
	})
}

// NewManager prepares a connection to the Socket.IO server at rawURL (http,
// https, ws or wss; the query is kept). Nothing is dialled until the first
// Dial. The connection-level fields of opts apply (Path, Header, TLSConfig,
// NetDial, ConnectTimeout, the reconnect fields, ReadLimit, MaxAttachments,
// Compression, Logger); the namespace-level ones are given to each Dial.
func NewManager(rawURL string, opts Options) (*Manager, error) {
	o := opts.withDefaults()
	ep, err := endpointURL(rawURL, o.Path)
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: o, endpoint: ep, streams: map[string]*Stream{}}
	m.routes.Store(&map[string]*Stream{})
	return m, nil
}

// Dial joins the namespace opts.Namespace over the manager's connection,
// dialling it first if needed, and returns once the server has accepted
// the CONNECT (or with its refusal as a *ConnectError). The namespace-level
// fields of opts apply (Namespace, Auth, EventBuffer, MaxBufferedBytes,
// SlowConsumer, EmitBufferCount, EmitBufferBytes, MaxPendingAcks, Retries,
// AckTimeout). A namespace can be joined once at a time.
func (m *Manager) Dial(ctx context.Context, opts Options) (*Stream, error) {
	st := newStream(m, opts.withDefaults())
	defer st.dialing.Store(false)
	c, running, err := m.register(st)
	if err == nil {
		err = m.join(ctx, st, c, running)
	}
	if err != nil {
		m.release(st, nil)
		return nil, err
	}
	return st, nil
}

// register adds st and returns, atomically with it, the live connection
// and whether a manager goroutine runs: a reconnect in progress sends
// CONNECT for every stream registered before it took its list.
func (m *Manager) register(st *Stream) (*wireConn, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	if _, dup := m.streams[st.ns]; dup {
		return nil, false, fmt.Errorf("siostream: namespace %s already joined on this manager", st.ns)
	}
	m.streams[st.ns] = st
	m.publishRoutes()
	return m.conn, m.run != nil && !stopped(m.run), nil
}

// publishRoutes gives the reader a fresh copy of the streams. Called with
// m.mu held.
func (m *Manager) publishRoutes() {
	r := make(map[string]*Stream, len(m.streams))
	for k, v := range m.streams {
		r[k] = v
	}
	m.routes.Store(&r)
}

func (m *Manager) route(ns []byte) *Stream {
	if len(ns) == 0 {
		return (*m.routes.Load())["/"]
	}
	return (*m.routes.Load())[string(ns)]
}

// join sends CONNECT (dialling first when no connection runs) and waits
// for the answer.
func (m *Manager) join(ctx context.Context, st *Stream, c *wireConn, running bool) error {
	ctx, cancel := context.WithTimeout(ctx, m.opts.ConnectTimeout)
	defer cancel()
	var err error
	if c == nil && !running {
		c, err = m.ensureConn(ctx)
	}
	if err != nil {
		return err
	}
	if c != nil {
		if err := m.waitLeft(ctx, st.ns); err != nil {
			return err
		}
		if err := st.sendConnect(ctx, c); err != nil {
			return err
		}
	}
	select {
	case err := <-st.joined:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leaveGrace separates a DISCONNECT from a new CONNECT of the same
// namespace: the reference server handles a DISCONNECT a tick after it
// reads it, and closes the whole connection on a CONNECT that arrives
// before ("invalid state").
const leaveGrace = 50 * time.Millisecond

// noteLeft records that ns was left on the live connection.
func (m *Manager) noteLeft(ns string) {
	m.mu.Lock()
	if m.left == nil {
		m.left = map[string]time.Time{}
	}
	m.left[ns] = time.Now()
	m.mu.Unlock()
}

// waitLeft waits out leaveGrace after ns was left.
func (m *Manager) waitLeft(ctx context.Context, ns string) error {
	m.mu.Lock()
	at, ok := m.left[ns]
	delete(m.left, ns)
	m.mu.Unlock()
	if d := leaveGrace - time.Since(at); ok && d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// ensureConn returns the live connection, or dials one and starts the
// manager goroutine. It returns nil when a reconnect in progress will send
// the stream's CONNECT.
func (m *Manager) ensureConn(ctx context.Context) (*wireConn, error) {
	m.dialMu.Lock()
	defer m.dialMu.Unlock()
	m.mu.Lock()
	c, r := m.conn, m.run
	m.mu.Unlock()
	if r != nil && stopped(r) {
		<-r.done // the last goroutine is on its way out
	} else if r != nil {
		return c, nil
	}
	c, err := m.connectEngine(ctx)
	if err != nil {
		return nil, err
	}
	return m.start(c)
}

func (m *Manager) start(c *wireConn) (*wireConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		c.close(ErrClosed)
		return nil, ErrClosed
	}
	r := newRunState()
	m.run, m.conn = r, c
	go m.loop(r, c)
	return c, nil
}

// release forgets st. When no stream is left it stops the manager
// goroutine, closes the connection politely (final, then a WebSocket
// close) and waits for the goroutine; it then reports true. Never call it
// from the manager goroutine: use forget there.
func (m *Manager) release(st *Stream, final []byte) bool {
	r, c, last := m.drop(st)
	if !last || r == nil {
		return false
	}
	r.halt()
	if c != nil {
		c.leave(final)
	}
	<-r.done
	return true
}

// forget is release for the manager goroutine: it does not wait.
func (m *Manager) forget(st *Stream) {
	r, c, last := m.drop(st)
	if last && r != nil {
		r.halt()
		if c != nil {
			c.leave(nil)
		}
	}
}

func (m *Manager) drop(st *Stream) (*runState, *wireConn, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams[st.ns] == st {
		delete(m.streams, st.ns)
		m.publishRoutes()
	}
	return m.run, m.conn, len(m.streams) == 0
}

// Close closes every stream of the manager and its connection.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	list := make([]*Stream, 0, len(m.streams))
	for _, st := range m.streams {
		list = append(list, st)
	}
	m.mu.Unlock()
	for _, st := range list {
		st.Close()
	}
	return nil
}

// loop is the manager goroutine: it reads the connection and, when it is
// lost, reconnects with backoff, until no stream is left.
func (m *Manager) loop(r *runState, c *wireConn) {
	defer m.exit(r)
	for c != nil {
		reason, cause := m.serve(c)
		m.lost(r, c, reason, cause)
		c = m.reconnect(r, cause)
	}
}

func (m *Manager) exit(r *runState) {
	m.mu.Lock()
	if m.run == r {
		m.run, m.conn = nil, nil
	}
	m.mu.Unlock()
	close(r.done)
}

// lost ends connection c for every stream.
func (m *Manager) lost(r *runState, c *wireConn, reason Reason, cause error) {
	if stopped(r) {
		reason, cause = ReasonClientDisconnect, ErrClosed
	}
	c.nc.Close()
	if c.joinT != nil {
		c.joinT.Stop()
	}
	rest := c.w.stop(cause)
	m.mu.Lock()
	if m.conn == c {
		m.conn = nil
	}
	m.mu.Unlock()
	m.opts.Logger.Info("siostream: connection lost", "reason", string(reason), "err", cause)
	live := m.snapshot()
	for _, st := range live {
		st.detach(c, reason, cause, takeFrames(rest, st))
	}
	for _, f := range rest {
		if f.owner == nil || !slices.Contains(live, f.owner) { // never resent
			finishFrame(f, ErrDisconnected)
		}
	}
}

func stopped(r *runState) bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (m *Manager) snapshot() []*Stream {
	routes := *m.routes.Load()
	list := make([]*Stream, 0, len(routes))
	for _, st := range routes {
		list = append(list, st)
	}
	return list
}

// takeFrames returns the unwritten frames that belong to st, in order.
func takeFrames(rest []*outFrame, st *Stream) []*outFrame {
	var mine []*outFrame
	for _, f := range rest {
		if f.owner == st {
			mine = append(mine, f)
		}
	}
	return mine
}

// reconnect returns the next connection, or nil when the manager stops:
// no stream left, reconnection off, or attempts exhausted.
func (m *Manager) reconnect(r *runState, cause error) *wireConn {
	if stopped(r) || len(m.snapshot()) == 0 {
		return nil
	}
	if m.opts.NoReconnect {
		m.endAll(r, cause)
		return nil
	}
	for {
		n := int(m.failures.Add(1))
		c, err := m.attempt(r, n)
		if c != nil || stopped(r) {
			return c
		}
		for _, st := range m.snapshot() {
			st.lifecycle(Event{Kind: KindConnectError, Namespace: st.ns, Err: err, Attempt: n}, nil)
		}
		if max := m.opts.MaxReconnectAttempts; max > 0 && n >= max {
			m.endAll(r, errors.Join(ErrReconnectFailed, err))
			return nil
		}
	}
}

// attempt waits the backoff delay, then connects the engine and sends
// CONNECT for every stream.
func (m *Manager) attempt(r *runState, n int) (*wireConn, error) {
	d := backoffDelay(&m.opts, n)
	m.opts.Logger.Info("siostream: reconnecting", "attempt", n, "delay", d)
	for _, st := range m.snapshot() {
		st.lifecycle(Event{Kind: KindReconnecting, Namespace: st.ns, Attempt: n, Delay: d}, nil)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.stop:
		return nil, ErrClosed
	}
	ctx, cancel := context.WithTimeout(r.ctx, m.opts.ConnectTimeout)
	defer cancel()
	return m.reattach(ctx, r)
}

// reattach connects the engine, makes it the manager's connection and
// sends CONNECT for every stream; the reader delivers the answers.
func (m *Manager) reattach(ctx context.Context, r *runState) (*wireConn, error) {
	c, err := m.connectEngine(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if stopped(r) {
		m.mu.Unlock()
		c.close(ErrClosed)
		return nil, ErrClosed
	}
	m.conn = c
	list := make([]*Stream, 0, len(m.streams))
	for _, st := range m.streams {
		list = append(list, st)
	}
	m.mu.Unlock()
	m.reconnects.Add(1)
	for _, st := range list {
		if err := st.sendConnect(ctx, c); err != nil {
			st.lifecycle(Event{Kind: KindConnectError, Namespace: st.ns, Err: err}, nil)
			st.retryJoin()
		}
	}
	c.joinT = time.AfterFunc(m.opts.ConnectTimeout, func() { m.checkJoined(c, list) })
	return c, nil
}

// checkJoined drops connection c when a stream whose CONNECT it carried
// got no answer: the reconnect then starts over with backoff.
func (m *Manager) checkJoined(c *wireConn, list []*Stream) {
	for _, st := range list {
		if st.waitingOn(c) {
			c.abort(ErrJoinTimeout)
			return
		}
	}
}

// endAll ends every stream with err and stops the manager goroutine.
func (m *Manager) endAll(r *runState, err error) {
	for _, st := range m.snapshot() {
		m.forget(st)
		st.finish(nil, err)
	}
	r.halt()
}
