// Package faultproxy is a fault-injecting TCP proxy for reliability tests.
//
// A test points its client at [Proxy.URL] (or [Proxy.Addr]); every
// connection the proxy accepts is forwarded to an upstream server on the
// loopback interface. While traffic flows, the test can add latency and
// jitter, cap the bandwidth, split writes at random byte boundaries, stop
// forwarding without closing (a half-open connection), reset or close every
// connection, refuse new connections, or move the upstream to another port.
// [Proxy.Chaos] injects a seeded random sequence of such faults.
//
// # Loopback only
//
// The listener binds 127.0.0.1:0 and the upstream must be a loopback IP
// address with a port, such as "127.0.0.1:8080" or "[::1]:8080".
//
// # Goroutines
//
// The proxy runs one accepting goroutine and two goroutines per forwarded
// connection, one per direction. They end when either side closes, when the
// connection is reset or dropped, or when [Proxy.Close] is called; Close waits
// for all of them. [Proxy.Chaos] runs in the caller's goroutine.
//
// # Memory
//
// Each direction of a connection holds at most one read buffer of 32 KiB.
// While a direction is blackholed the proxy keeps the bytes it has already
// read and stops reading, so TCP flow control pushes back on the sender.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// dialTimeout bounds the connection attempt to the upstream server.
const dialTimeout = 5 * time.Second

// Proxy forwards loopback TCP connections to an upstream server and injects
// faults into them. Create it with [New]; all methods are safe for concurrent
// use.
type Proxy struct {
	ln     *net.TCPListener
	ctx    context.Context // canceled by Close; bounds upstream dials
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	upstream string
	links    map[*link]struct{}
	up, down Faults
	changed  chan struct{} // closed and replaced whenever the faults change

	refuse       atomic.Bool
	accepted     atomic.Int64
	refused      atomic.Int64
	dialFailures atomic.Int64
	resets       atomic.Int64
	drops        atomic.Int64
	bytes        [2]atomic.Int64 // indexed by direction
}

// Stats is a snapshot of the proxy's counters, returned by [Proxy.Stats].
type Stats struct {
	Accepted     int64 // connections accepted by the listener, refused ones included
	Links        int   // links currently open
	Refused      int64 // connections reset on accept because Refuse was on
	DialFailures int64 // connections reset because the upstream could not be reached
	Resets       int64 // links reset by ResetAll (directly or through Chaos)
	Drops        int64 // links closed by DropAll
	BytesUp      int64 // bytes written to upstream servers (client to server)
	BytesDown    int64 // bytes written to clients (server to client)
}

// New listens on 127.0.0.1:0 and forwards each accepted connection to
// upstream, which must be a loopback address such as "127.0.0.1:PORT".
func New(upstream string) (*Proxy, error) {
	if err := checkLoopback(upstream); err != nil {
		return nil, err
	}
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		ln:       ln,
		ctx:      ctx,
		cancel:   cancel,
		upstream: upstream,
		links:    make(map[*link]struct{}),
		changed:  make(chan struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// checkLoopback reports an error unless addr is "IP:PORT" with a loopback IP
// literal and a valid port number.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("faultproxy: upstream %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("faultproxy: upstream %q is not a loopback address", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("faultproxy: upstream %q has an invalid port", addr)
	}
	return nil
}

// Addr returns the listening address, "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns the listening address as an HTTP URL, "http://127.0.0.1:PORT".
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Close stops listening, closes every link and waits for all goroutines of
// the proxy to end. Calling it again returns nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	links := p.snapshotLocked()
	p.mu.Unlock()

	p.cancel()
	err := p.ln.Close()
	for _, l := range links {
		l.close(false)
	}
	p.wg.Wait()
	return err
}

// SetUpstream makes connections accepted from now on go to addr; open links
// keep their server. It panics if addr is not a loopback address, since that
// is a mistake in the calling test.
func (p *Proxy) SetUpstream(addr string) {
	if err := checkLoopback(addr); err != nil {
		panic(err)
	}
	p.mu.Lock()
	p.upstream = addr
	p.mu.Unlock()
}

// Refuse sets whether new connections are refused: while on, each accepted
// connection is reset at once, as a client sees when the server is down.
// Open links are not affected.
func (p *Proxy) Refuse(on bool) { p.refuse.Store(on) }

// Links returns the number of links currently open.
func (p *Proxy) Links() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Accepted returns the number of connections accepted so far, including the
// ones reset because of [Proxy.Refuse] or an unreachable upstream.
func (p *Proxy) Accepted() int { return int(p.accepted.Load()) }

// Stats returns a snapshot of the proxy's counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		Accepted:     p.accepted.Load(),
		Links:        p.Links(),
		Refused:      p.refused.Load(),
		DialFailures: p.dialFailures.Load(),
		Resets:       p.resets.Load(),
		Drops:        p.drops.Load(),
		BytesUp:      p.bytes[dirUp].Load(),
		BytesDown:    p.bytes[dirDown].Load(),
	}
}

// acceptLoop accepts connections until the listener is closed and hands each
// one to its own goroutine.
func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || !p.pause(5*time.Millisecond) {
				return
			}
			continue
		}
		p.accepted.Add(1)
		if p.refuse.Load() {
			resetConn(c)
			p.refused.Add(1)
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// pause waits for d and reports false if the proxy was closed meanwhile.
func (p *Proxy) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// serve dials the upstream for client and forwards both directions; this
// goroutine carries the client-to-server direction.
func (p *Proxy) serve(client *net.TCPConn) {
	defer p.wg.Done()
	p.mu.Lock()
	upstream := p.upstream
	p.mu.Unlock()

	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(p.ctx, "tcp", upstream)
	if err != nil {
		resetConn(client)
		p.dialFailures.Add(1)
		return
	}
	l := &link{p: p, client: client, server: c.(*net.TCPConn), done: make(chan struct{})}
	if !p.register(l) {
		l.close(true)
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		newPipe(l, dirDown).run()
	}()
	newPipe(l, dirUp).run()
}

// resetConn closes c so that the peer sees a connection reset.
func resetConn(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}
