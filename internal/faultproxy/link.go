package faultproxy

import (
	"net"
	"sync"
)

// link is one forwarded connection: the accepted client connection and the
// connection to the upstream server.
type link struct {
	p      *Proxy
	client *net.TCPConn
	server *net.TCPConn
	done   chan struct{} // closed when the link is closed
	once   sync.Once
}

// close closes both connections, abruptly when reset is set, and removes the
// link from the proxy. It reports whether this call closed the link.
func (l *link) close(reset bool) bool {
	closed := false
	l.once.Do(func() {
		if reset {
			_ = l.client.SetLinger(0)
			_ = l.server.SetLinger(0)
		}
		_ = l.client.Close()
		_ = l.server.Close()
		close(l.done)
		l.p.unregister(l)
		closed = true
	})
	return closed
}

// register adds l to the open links; it reports false once the proxy is
// closed.
func (p *Proxy) register(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.links[l] = struct{}{}
	return true
}

// unregister removes l from the open links.
func (p *Proxy) unregister(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// snapshotLocked returns the open links; p.mu must be held.
func (p *Proxy) snapshotLocked() []*link {
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	return links
}

// closeAll closes every open link and returns how many this call closed.
func (p *Proxy) closeAll(reset bool) int64 {
	p.mu.Lock()
	links := p.snapshotLocked()
	p.mu.Unlock()
	var n int64
	for _, l := range links {
		if l.close(reset) {
			n++
		}
	}
	return n
}

// ResetAll abruptly resets every open link: both the client and the server
// see a connection reset (linger 0, then close). New connections are still
// accepted.
func (p *Proxy) ResetAll() { p.resets.Add(p.closeAll(true)) }

// DropAll gracefully closes every open link: both the client and the server
// see the connection closed. New connections are still accepted.
func (p *Proxy) DropAll() { p.drops.Add(p.closeAll(false)) }
