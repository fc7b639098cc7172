package siostream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/engine"
	"github.com/siostream/siostream/internal/proxy"
)

// Manager is one Engine.IO connection shared by the Streams of several
// namespaces, as the reference client's Manager. It reconnects once for
// all of them and closes its connection when the last one closes; a later
// Dial opens a new one. Dial (the package function) makes a Manager for a
// single stream, which is what most programs need.
//
// All methods are safe for concurrent use.
//
// # Goroutines
//
// While it has streams, a Manager runs one goroutine, the reader: it reads
// the connection, hands each packet to its stream, and, when the
// connection is lost, backs off and reconnects. The connection's writer
// runs only while something waits to be written, and a stream's pump only
// while events wait behind its full Events channel. Closing the last
// stream stops the reader and waits for it.
type Manager struct {
	opts     Options // connection fields, with defaults
	endpoint *url.URL
	limits   frames.Limits

	routes     atomic.Pointer[routeTable] // copy of streams for the reader
	reconnects atomic.Uint64

	// mu guards the fields below. Lock order: mu, then Stream.mu.
	mu         sync.Mutex
	state      managerState
	link       *link // the live connection, in managerConnected
	gen        uint64
	streams    []*Stream                        // a Manager holds a few
	run        *runState                        // the reader goroutine; nil when none runs
	connecting chan struct{}                    // closed when the first dial of a connection ends
	inflight   map[*int]context.CancelCauseFunc // the contexts of dials and joins under way, which Close cancels
	dialErr    error                            // why it failed
	left       map[string]time.Time

	failures int // reader goroutine only: failed attempts since a namespace joined
}

// managerState is where a Manager is in its life; setState is the only
// place it changes:
//
//	idle ──Dial──▶ connecting ──open──▶ connected ──lost──▶ reconnecting
//	  ▲               │                    │  ▲                │
//	  └──dial failed──┘                    │  └────reconnected─┘
//	  └──last stream closed, reconnection off or exhausted─────┘
//	any state ──Close──▶ closed
type managerState uint8

const (
	managerIdle         managerState = iota // no connection, no goroutine
	managerConnecting                       // a Dial call dials the connection
	managerConnected                        // the reader goroutine reads the live connection
	managerReconnecting                     // the reader goroutine backs off and dials again
	managerClosed                           // Close was called
)

func (s managerState) String() string {
	return [...]string{"idle", "connecting", "connected", "reconnecting", "closed"}[s]
}

// setState is the only place the Manager's state changes. Called with mu
// held.
func (m *Manager) setState(to managerState) {
	if m.state == to || m.state == managerClosed {
		return
	}
	m.opts.Logger.Debug("siostream: connection state", "from", m.state.String(), "to", to.String())
	m.state = to
}

// runState is one generation of the reader goroutine: it ends when stop
// is closed (no stream left, or Close) or the connection ends for good.
type runState struct {
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	ctx    context.Context // cancelled by halt: bounds reconnect attempts
	cancel context.CancelFunc
}

// newRunState makes the state of a reader goroutine. Its context is not a
// child of the Manager's: Close halts the run itself, and a child would
// cost the Manager's context a map for good.
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

func (r *runState) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// NewManager prepares a connection to the Socket.IO server at rawURL (http,
// https, ws or wss; the query is kept). Nothing is dialled until the first
// Dial. It takes the connection fields of opts and fails with ErrOptions
// for a namespace field, which belongs to Manager.Dial, and for a URL path
// that names a namespace (the Engine.IO path is Options.Path).
func NewManager(rawURL string, opts Options) (*Manager, error) {
	if err := opts.checkConn(); err != nil {
		return nil, err
	}
	ns, err := urlNamespace(rawURL)
	if err != nil {
		return nil, err
	}
	if ns != "" {
		return nil, fmt.Errorf("%w: NewManager: the URL's path %s names a namespace: give it to Manager.Dial as Options.Namespace (Options.Path sets the Engine.IO path)", ErrOptions, ns)
	}
	return newManager(rawURL, opts)
}

func newManager(rawURL string, opts Options) (*Manager, error) {
	o := opts.withDefaults()
	ep, err := endpointURL(rawURL, o.Path)
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: o, endpoint: ep, limits: frames.Limits{MaxAttachments: o.MaxAttachments}}
	m.routes.Store(&routeTable{})
	return m, nil
}

// Dial joins the namespace opts.Namespace over the manager's connection,
// dialling it first if needed, and returns once the server has accepted
// the CONNECT (or with its refusal as a *ConnectError). It takes the
// namespace fields of opts and fails with ErrOptions for a connection
// field, which belongs to NewManager. A namespace can be joined once at a
// time.
func (m *Manager) Dial(ctx context.Context, opts Options) (*Stream, error) {
	if err := opts.checkStream(); err != nil {
		return nil, err
	}
	st := newStream(m, m.streamOptions(opts))
	if err := m.join(ctx, st); err != nil {
		st.abandon(err)
		if m.isClosed() {
			err = ErrClosed
		}
		return nil, err
	}
	return st, nil
}

// Open joins the namespace opts.Namespace like Dial, but returns the
// Stream at once and connects in the background (see the package function
// Open). It fails only for options given where they have no effect, a
// namespace already joined, or a closed Manager.
func (m *Manager) Open(opts Options) (*Stream, error) {
	if err := opts.checkStream(); err != nil {
		return nil, err
	}
	st := newStream(m, m.streamOptions(opts))
	st.state = streamReconnecting // joins on the next connection; attempts are reported
	m.mu.Lock()
	if err := m.add(st); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	var l *link
	switch m.state {
	case managerIdle:
		m.reconnectInBackground()
	case managerConnected:
		l = m.link
	}
	m.mu.Unlock()
	if l != nil {
		go st.joinLater(l) // Open does not wait; the join goes out from here
	}
	return st, nil
}

// joinLater sends the CONNECT of a stream Open added to a live connection.
func (st *Stream) joinLater(l *link) {
	ctx, cancel := st.m.bounded(st.life, st.m.opts.ConnectTimeout) // Close cancels it
	defer cancel()
	if err := st.m.waitLeft(ctx, st.ns); err == nil {
		if err := st.sendConnect(ctx, l); err != nil && !errors.Is(err, ErrClosed) {
			st.lifecycle(*lifecycleEvent(KindConnectError, eventMore{err: err, attempt: 1}))
		}
	}
}

// bounded returns ctx limited to d (its cause then errConnectTimeout) and
// cancelled by Close; cancel must be called when done.
func (m *Manager) bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancelCause := context.WithCancelCause(ctx)
	ctx, stop := context.WithTimeoutCause(ctx, d, errConnectTimeout)
	key := new(int)
	m.mu.Lock()
	if m.state == managerClosed {
		cancelCause(ErrClosed)
	} else {
		if m.inflight == nil {
			m.inflight = map[*int]context.CancelCauseFunc{}
		}
		m.inflight[key] = cancelCause
	}
	m.mu.Unlock()
	return ctx, func() {
		stop()
		cancelCause(context.Canceled)
		m.mu.Lock()
		delete(m.inflight, key)
		if len(m.inflight) == 0 {
			m.inflight = nil // a Manager at rest keeps no map
		}
		m.mu.Unlock()
	}
}

// isClosed reports whether Close was called.
func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == managerClosed
}

// streamOptions completes a stream's options with the connection's that
// the stream's machinery depends on (the read limit sizes its Events
// channel).
func (m *Manager) streamOptions(opts Options) Options {
	o := opts.withDefaults()
	o.ReadLimit = m.opts.ReadLimit
	return o
}

// join registers st, sends its CONNECT (dialling first when no
// connection is there) and waits for the answer.
func (m *Manager) join(ctx context.Context, st *Stream) error {
	ctx, cancel := m.bounded(ctx, m.opts.ConnectTimeout)
	defer cancel()
	l, first, wait, err := m.register(st)
	switch {
	case err != nil:
		return err
	case first:
		l, err = m.connectFirst(ctx)
	case wait != nil:
		select {
		case <-wait:
			l, err = m.afterConnecting()
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	if l != nil { // else a reconnect in progress sends the CONNECT
		if err := m.waitLeft(ctx, st.ns); err != nil {
			return err
		}
		if err := st.sendConnect(ctx, l); err != nil {
			return err
		}
	}
	select {
	case err := <-st.joined:
		return err
	case <-ctx.Done():
		if context.Cause(ctx) == errConnectTimeout && !m.isClosed() {
			return &DialError{Step: "Socket.IO CONNECT", URL: engine.Redact(m.endpoint) + " namespace " + st.ns,
				Timeout: m.opts.ConnectTimeout, Err: ErrJoinTimeout}
		}
		return ctx.Err()
	}
}

// register adds st and says how it gets its connection: the live one, a
// first dial of its own (first), or the end of another Dial's (wait).
func (m *Manager) register(st *Stream) (l *link, first bool, wait chan struct{}, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.add(st); err != nil {
		return nil, false, nil, err
	}
	switch m.state {
	case managerIdle:
		m.connecting, m.dialErr = make(chan struct{}), nil
		m.setState(managerConnecting)
		first = true
	case managerConnecting:
		wait = m.connecting
	case managerConnected:
		l = m.link
	}
	return l, first, wait, nil
}

// add makes st one of the manager's streams, unless the manager is
// closed or has the namespace already. Called with mu held.
func (m *Manager) add(st *Stream) error {
	if m.state == managerClosed {
		return ErrClosed
	}
	if m.find(st.ns) != nil {
		return fmt.Errorf("siostream: namespace %s already joined on this manager", st.ns)
	}
	m.streams = append(m.streams, st)
	m.publishRoutes()
	return nil
}

// connectFirst dials the connection and starts the reader goroutine.
func (m *Manager) connectFirst(ctx context.Context) (*link, error) {
	conn, err := m.dialEngine(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	defer close(m.connecting)
	if err == nil && (m.state == managerClosed || len(m.streams) == 0) {
		conn.Discard()
		err = ErrClosed
	}
	if err != nil {
		m.dialErr = err
		m.setState(managerIdle)
		if slices.ContainsFunc(m.streams, (*Stream).opened) {
			m.reconnectInBackground() // Open added one while this Dial dialled: it keeps trying
		}
		return nil, err
	}
	l := m.newLink(conn)
	m.setState(managerConnected)
	r := newRunState()
	m.run = r
	go m.read(r, l)
	for _, st := range m.streams {
		if st.opened() { // added by Open while this Dial dialled
			go st.joinLater(l)
		}
	}
	return l, nil
}

// reconnectInBackground starts the reader goroutine dialling with
// backoff, for streams Open added. Called with mu held, when idle.
func (m *Manager) reconnectInBackground() {
	r := newRunState()
	m.run = r
	m.setState(managerReconnecting)
	go m.read(r, nil)
}

// afterConnecting returns the connection another Dial dialled, nil when
// a reconnect will send the CONNECT, or why there is none.
func (m *Manager) afterConnecting() (*link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case managerConnected:
		return m.link, nil
	case managerReconnecting:
		if m.dialErr != nil {
			return nil, m.dialErr // the dial failed; the reader retries for Open's streams only
		}
		return nil, nil
	case managerClosed:
		return nil, ErrClosed
	}
	return nil, m.dialErr
}

func (m *Manager) newLink(conn *engine.Conn) *link {
	m.gen++
	l := &link{m: m, conn: conn, gen: m.gen}
	m.link = l
	return l
}

// dialEngine dials an Engine.IO connection; ctx bounds it.
func (m *Manager) dialEngine(ctx context.Context) (*engine.Conn, error) {
	cfg := engine.Config{
		URL:          m.endpoint,
		TLSConfig:    m.opts.TLSConfig,
		NetDial:      m.opts.NetDial,
		Compression:  m.opts.Compression,
		ReadLimit:    m.opts.ReadLimit,
		WriteTimeout: m.opts.WriteTimeout,
	}
	if m.opts.Header != nil {
		h, err := m.opts.Header(ctx)
		if err != nil {
			return nil, fmt.Errorf("siostream: header function: %w", err)
		}
		cfg.Header = h.Clone()
	}
	p, err := proxy.Select(ctx, m.endpoint, m.opts.Proxy)
	if err != nil {
		return nil, fmt.Errorf("siostream: proxy function: %w", err)
	}
	if p != nil {
		d := proxy.Dialer{NetDial: m.opts.NetDial}
		cfg.NetDial = func(ctx context.Context, _, addr string) (net.Conn, error) {
			return proxy.Dial(ctx, p, addr, d)
		}
	}
	var setCookies []string
	if m.opts.Jar != nil {
		for _, c := range m.opts.Jar.Cookies(httpURL(m.endpoint)) {
			if cfg.Header == nil {
				cfg.Header = http.Header{}
			}
			cfg.Header.Add("Cookie", c.String())
		}
		cfg.OnHeader = func(k, v []byte) {
			if http.CanonicalHeaderKey(string(k)) == "Set-Cookie" {
				setCookies = append(setCookies, string(v))
			}
		}
	}
	conn, err := engine.Dial(ctx, &cfg)
	if len(setCookies) > 0 {
		m.storeCookies(setCookies)
	}
	if err != nil {
		return nil, m.dialError(ctx, err)
	}
	return conn, nil
}

// storeCookies keeps the cookies of a handshake response in the Jar.
func (m *Manager) storeCookies(lines []string) {
	var cs []*http.Cookie
	for _, line := range lines {
		if c, err := http.ParseSetCookie(line); err == nil {
			cs = append(cs, c)
		}
	}
	m.opts.Jar.SetCookies(httpURL(m.endpoint), cs)
}

// httpURL is the http or https form of a ws or wss endpoint, which the
// cookie jar is asked with (proxy.Select maps the scheme the same way for
// the proxy choice).
func httpURL(ep *url.URL) *url.URL {
	u := *ep
	u.Scheme = "http"
	if ep.Scheme == "wss" {
		u.Scheme = "https"
	}
	return &u
}

// errConnectTimeout is the cause of a connect context that ran out of
// Options.ConnectTimeout (rather than the caller's own deadline).
var errConnectTimeout = errors.New("siostream: ConnectTimeout")

// dialError turns the engine's dial error into the public one.
func (m *Manager) dialError(ctx context.Context, err error) error {
	if pe := asProtocolError(err); pe != nil {
		return pe
	}
	var de *engine.DialError
	if !errors.As(err, &de) {
		return fmt.Errorf("siostream: %w", err)
	}
	out := &DialError{Step: string(de.Step), URL: de.URL, Status: de.Status, Err: de.Err, notWebSocket: de.NotWebSocket}
	var refused *proxy.Error
	if errors.As(err, &refused) {
		out.Step = "proxy tunnel"
	}
	if context.Cause(ctx) == errConnectTimeout {
		out.Timeout = m.opts.ConnectTimeout
	}
	return out
}

// find returns the stream of namespace ns, or nil. Called with mu held.
func (m *Manager) find(ns string) *Stream {
	for _, st := range m.streams {
		if st.ns == ns {
			return st
		}
	}
	return nil
}

// routeTable is the reader's copy of the streams: the main namespace's
// apart, the others in a short list (a Manager holds a few).
type routeTable struct {
	main   *Stream
	others []*Stream
}

// publishRoutes gives the reader a fresh copy of the streams. Called with
// mu held.
func (m *Manager) publishRoutes() {
	r := &routeTable{}
	for _, st := range m.streams {
		if st.ns == "/" {
			r.main = st
		} else {
			r.others = append(r.others, st)
		}
	}
	m.routes.Store(r)
}

func (m *Manager) route(ns []byte) *Stream {
	r := m.routes.Load()
	if len(ns) == 0 || (len(ns) == 1 && ns[0] == '/') {
		return r.main
	}
	for _, st := range r.others {
		if st.ns == string(ns) {
			return st
		}
	}
	return nil
}

func (m *Manager) snapshot() []*Stream {
	r := m.routes.Load()
	list := make([]*Stream, 0, len(r.others)+1)
	if r.main != nil {
		list = append(list, r.main)
	}
	return append(list, r.others...)
}

// current returns the live connection, or nil.
func (m *Manager) current() *link {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.link
}

// joined notes that a namespace joined: the backoff starts over. Reader
// goroutine only.
func (m *Manager) joined() { m.failures = 0 }

// leaveGrace separates a DISCONNECT from a new CONNECT of the same
// namespace: the reference server handles a DISCONNECT a tick after it
// reads it, and closes the whole connection on a CONNECT that arrives
// before ("invalid state").
const leaveGrace = 50 * time.Millisecond

// noteLeft records that ns was left on the live connection. Called with
// mu held.
func (m *Manager) noteLeft(ns string) {
	if m.left == nil {
		m.left = map[string]time.Time{}
	}
	m.left[ns] = time.Now()
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

// leave forgets st, which has ended; joined is the link it was joined on,
// if any. When no stream is left it stops the reader goroutine, closes
// the connection politely (a DISCONNECT for st when it was joined on it,
// then a WebSocket close) and, with wait, waits for the goroutine. Else it
// sends the DISCONNECT alone.
func (m *Manager) leave(st *Stream, joined *link, wait bool) {
	m.mu.Lock()
	if i := slices.Index(m.streams, st); i >= 0 {
		m.streams = slices.Delete(m.streams, i, i+1)
		m.publishRoutes()
	}
	r, l := m.run, m.link
	last := len(m.streams) == 0 && r != nil
	if last {
		m.run, m.link = nil, nil
		m.setState(managerIdle)
		r.halt()
	} else if joined != nil && joined == l {
		m.noteLeft(st.ns)
	}
	m.mu.Unlock()
	var final *engine.Frame
	if joined != nil && joined == l {
		final = disconnectFrame(st.ns)
	}
	switch {
	case last && l != nil:
		l.conn.Leave(final, time.Second)
	case last:
	case final != nil && l.conn.Send(final) != nil:
		final.Release()
	}
	if last && wait {
		<-r.done
	}
}

// Close closes every stream of the manager and its connection, and waits
// for its goroutines. Later Dials fail with ErrClosed.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.state == managerClosed {
		m.mu.Unlock()
		return nil
	}
	m.setState(managerClosed)
	for _, cancel := range m.inflight {
		cancel(ErrClosed)
	}
	m.inflight = nil
	list := slices.Clone(m.streams)
	r := m.run
	m.mu.Unlock()
	for _, st := range list {
		st.Close()
	}
	if r != nil {
		r.halt()
		<-r.done
	}
	return nil
}

// read is the reader goroutine: it reads the connection and, when it is
// lost, reconnects with backoff, until no stream is left.
func (m *Manager) read(r *runState, l *link) {
	defer m.exit(r)
	if l == nil { // Open: the first connect, retried with backoff
		l = m.reconnect(r, true)
	}
	for l != nil {
		err := l.conn.Serve(l)
		m.lost(r, l, err)
		l = m.reconnect(r, false)
	}
}

func (m *Manager) exit(r *runState) {
	m.mu.Lock()
	if m.run == r {
		m.run, m.link = nil, nil
		m.setState(managerIdle)
	}
	m.mu.Unlock()
	close(r.done)
}

// lost ends connection l for every stream.
func (m *Manager) lost(r *runState, l *link, err error) {
	reason, cause := endOf(err)
	if r.stopped() {
		reason, cause = ReasonClientDisconnect, ErrClosed
	}
	if l.joinTimer != nil {
		l.joinTimer.Stop()
	}
	rest := l.conn.Unsent()
	m.mu.Lock()
	if m.link == l {
		m.link = nil
	}
	if m.run == r && !r.stopped() {
		m.setState(managerReconnecting)
	}
	m.mu.Unlock()
	m.opts.Logger.Info("siostream: connection lost", "reason", string(reason), "err", cause)
	owners := map[*Stream][]*engine.Frame{}
	for _, f := range rest {
		st := f.Owner.(*Stream)
		owners[st] = append(owners[st], f)
	}
	for _, st := range m.snapshot() {
		st.connectionLost(l, reason, cause, owners[st])
		delete(owners, st)
	}
	for st, fs := range owners { // streams that ended meanwhile
		st.connectionLost(l, reason, cause, fs)
	}
	if m.opts.NoReconnect && !r.stopped() {
		for _, st := range m.snapshot() {
			st.end(nil, cause, nil)
		}
	}
}

// reconnect returns the next connection, or nil when the reader stops: no
// stream left, reconnection off, attempts exhausted, or Close. For the
// first connect of Open (first), the first attempt goes at once.
func (m *Manager) reconnect(r *runState, first bool) *link {
	for !r.stopped() && len(m.snapshot()) > 0 {
		m.failures++
		n := m.failures
		l, err := m.attempt(r, n, first && n == 1)
		if l != nil || r.stopped() {
			return l
		}
		for _, st := range m.snapshot() {
			st.attemptEvent(*lifecycleEvent(KindConnectError, eventMore{err: err, attempt: n}))
		}
		if max := m.opts.MaxReconnectAttempts; max > 0 && n >= max {
			for _, st := range m.snapshot() {
				st.end(nil, errors.Join(ErrReconnectFailed, err), nil)
			}
			return nil
		}
	}
	return nil
}

// attempt waits the backoff delay (none when now), then connects and
// sends CONNECT for every stream.
func (m *Manager) attempt(r *runState, n int, now bool) (*link, error) {
	if !now {
		d := backoffDelay(&m.opts, n)
		m.opts.Logger.Info("siostream: reconnecting", "attempt", n, "delay", d)
		for _, st := range m.snapshot() {
			st.attemptEvent(*lifecycleEvent(KindReconnecting, eventMore{attempt: n, delay: d}))
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.stop:
			t.Stop()
			return nil, ErrClosed
		}
	}
	ctx, cancel := context.WithTimeoutCause(r.ctx, m.opts.ConnectTimeout, errConnectTimeout)
	defer cancel()
	conn, err := m.dialEngine(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.run != r || r.stopped() {
		m.mu.Unlock()
		conn.Discard()
		return nil, ErrClosed
	}
	l := m.newLink(conn)
	m.setState(managerConnected)
	list := slices.Clone(m.streams)
	m.mu.Unlock()
	m.reconnects.Add(1)
	for _, st := range list {
		if err := st.sendConnect(ctx, l); err != nil && !errors.Is(err, ErrClosed) {
			st.attemptEvent(*lifecycleEvent(KindConnectError, eventMore{err: err, attempt: n}))
		}
	}
	l.joinTimer = time.AfterFunc(m.opts.ConnectTimeout, func() { l.checkJoined(list) })
	return l, nil
}

// checkJoined drops l when a stream whose CONNECT it carried got no
// answer: the reconnect then starts over with backoff.
func (l *link) checkJoined(list []*Stream) {
	for _, st := range list {
		if st.joinLink.Load() == l && st.active.Load() != l {
			l.conn.Abort(ErrJoinTimeout)
			return
		}
	}
}

// attemptEvent delivers a reconnect attempt's event to a stream waiting
// to rejoin.
func (st *Stream) attemptEvent(ev Event) {
	st.mu.Lock()
	if st.state == streamReconnecting {
		st.d.lifecycle(ev)
	}
	st.mu.Unlock()
}

// abandon ends a stream whose Dial failed: no event, the channel closes.
func (st *Stream) abandon(err error) {
	st.mu.Lock()
	if st.state != streamClosed {
		st.transition(streamClosed, nil, err, true)
	}
	st.mu.Unlock()
	st.m.leave(st, st.active.Load(), true)
}
