package sioserver

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"time"
)

// acceptQueueSize bounds the connections waiting for [Server.Accept].
const acceptQueueSize = 64

// Server is a running Engine.IO / Socket.IO server on a loopback port.
// Its methods are safe for concurrent use.
type Server struct {
	opts   Options
	ln     net.Listener
	scheme string
	queue  chan *Conn
	done   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	raws     map[net.Conn]struct{}
	live     map[*Conn]struct{}
	total    int
	connects map[string]int
	auths    map[string][]json.RawMessage
	sessions map[string]*session
	offset   uint64
}

// New starts a server on 127.0.0.1 with a port chosen by the system and
// serves in the background until [Server.Close].
func New(opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:     opts.withDefaults(),
		ln:       ln,
		scheme:   "http",
		queue:    make(chan *Conn, acceptQueueSize),
		done:     make(chan struct{}),
		raws:     make(map[net.Conn]struct{}),
		live:     make(map[*Conn]struct{}),
		connects: make(map[string]int),
		auths:    make(map[string][]json.RawMessage),
		sessions: make(map[string]*session),
	}
	if s.opts.TLSConfig != nil {
		s.scheme = "https"
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// URL returns the server's base URL, "http://127.0.0.1:PORT" or, with
// TLS, "https://127.0.0.1:PORT".
func (s *Server) URL() string { return s.scheme + "://" + s.Addr() }

// Addr returns the listening address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening, closes every connection and waits for all the
// server's goroutines to end. It does not wait for stuck clients: their
// sockets are closed under them. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	close(s.done)
	conns := s.liveLocked()
	raws := make([]net.Conn, 0, len(s.raws))
	for r := range s.raws {
		raws = append(raws, r)
	}
	s.mu.Unlock()
	err := s.ln.Close()
	for _, c := range conns {
		c.shutdown(ErrServerClosed, closeGoingAway)
	}
	for _, r := range raws {
		_ = r.Close()
	}
	s.wg.Wait()
	return err
}

// Accept returns the next Engine.IO connection, once its open packet was
// sent. Connections nobody accepts wait in a bounded queue; when it is
// full the oldest is dropped from the queue (not closed). Accept returns
// ctx.Err() when ctx ends and ErrServerClosed after Close.
func (s *Server) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-s.queue:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, ErrServerClosed
	}
}

// Connections returns how many WebSocket connections were accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Connects returns how many CONNECT packets for ns were accepted so far.
func (s *Server) Connects(ns string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects[normNS(ns)]
}

// Auths returns the auth payload of every CONNECT seen for ns, accepted or
// not, in arrival order; a CONNECT without payload is a nil entry.
func (s *Server) Auths(ns string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.auths[normNS(ns)]...)
}

// EmitAll sends event with args to every client connected to ns. With
// Recovery on, the event is also logged for the sessions of ns whose
// transport was lost, to be replayed when they are restored. It returns
// only an error encoding args; write errors of single connections are
// ignored.
func (s *Server) EmitAll(ns, event string, args ...any) error {
	m, err := encodeArgs(args)
	if err != nil {
		return err
	}
	ns = normNS(ns)
	s.mu.Lock()
	conns := s.liveLocked()
	s.mu.Unlock()
	for _, c := range conns {
		if c.Connected(ns) {
			_ = c.emitEncoded(ns, event, m, 0, false)
		}
	}
	if s.opts.Recovery {
		s.logDetached(ns, event, m)
	}
	return nil
}

func (s *Server) liveLocked() []*Conn {
	conns := make([]*Conn, 0, len(s.live))
	for c := range s.live {
		conns = append(conns, c)
	}
	return conns
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		raw, err := s.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			s.logf("sioserver: accept: %v", err)
			if !s.sleep(10 * time.Millisecond) {
				return
			}
			continue
		}
		if !s.track(raw) {
			_ = raw.Close()
			return
		}
		go s.serve(raw)
	}
}

// sleep waits d and reports false when the server closes first.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// track registers a freshly accepted socket and the goroutine that will
// serve it; it reports false when the server is closing.
func (s *Server) track(raw net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.raws[raw] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) serve(raw net.Conn) {
	defer s.wg.Done()
	defer s.untrack(raw)
	c, err := s.handshake(raw)
	if err != nil {
		s.logf("sioserver: handshake from %s: %v", raw.RemoteAddr(), err)
		_ = raw.Close()
		return
	}
	c.run()
}

func (s *Server) untrack(raw net.Conn) {
	s.mu.Lock()
	delete(s.raws, raw)
	s.mu.Unlock()
}

// register makes c visible to EmitAll and Accept.
func (s *Server) register(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	s.live[c] = struct{}{}
	select {
	case s.queue <- c:
		return
	default:
	}
	select {
	case <-s.queue:
	default:
	}
	select {
	case s.queue <- c:
	default:
	}
}

// unregister forgets c and detaches its recovery sessions.
func (s *Server) unregister(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, c)
	s.detachLocked(c)
}

// connectSeen records the auth of a CONNECT for ns.
func (s *Server) connectSeen(ns string, auth json.RawMessage) {
	s.mu.Lock()
	s.auths[ns] = append(s.auths[ns], auth)
	s.mu.Unlock()
}

// connectAccepted counts an accepted CONNECT for ns.
func (s *Server) connectAccepted(ns string) {
	s.mu.Lock()
	s.connects[ns]++
	s.mu.Unlock()
}
