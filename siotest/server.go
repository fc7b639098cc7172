package siotest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/siostream/siostream/internal/sioserver"
	"github.com/siostream/siostream/internal/testcert"
)

// certValidity is how long the certificate of a TLS server stays valid.
const certValidity = 365 * 24 * time.Hour

// Server is a Socket.IO server listening on a loopback port, for tests.
// Its methods are safe for concurrent use.
type Server struct {
	srv  *sioserver.Server
	cert *x509.Certificate // nil without TLS

	wrapMu sync.Mutex // makes one Conn per connection
}

// NewServer starts a server on 127.0.0.1, on a port the system chooses,
// and serves in the background until [Server.Close]. It panics if it
// cannot listen, as httptest.NewServer does.
func NewServer(opts Options) *Server {
	return start(opts, nil)
}

// NewTLSServer starts a server like [NewServer] that speaks TLS with a
// fresh self-signed certificate for 127.0.0.1. Its URL is https://; a
// client trusts it with [Server.ClientTLSConfig] or
// [Server.Certificate].
func NewTLSServer(opts Options) *Server {
	now := time.Now()
	cert, err := testcert.SelfSigned(now.Add(-time.Hour), now.Add(certValidity))
	if err != nil {
		panic(fmt.Sprintf("siotest: making a certificate: %v", err))
	}
	return start(opts, &cert)
}

func start(opts Options, cert *tls.Certificate) *Server {
	s := &Server{}
	o := opts.internal(s.wrap)
	if cert != nil {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
		s.cert = cert.Leaf
	}
	srv, err := sioserver.New(o)
	if err != nil {
		panic(fmt.Sprintf("siotest: failed to listen on a port: %v", err))
	}
	s.srv = srv
	return s
}

// wrap returns the Conn of c, the same for every call.
func (s *Server) wrap(c *sioserver.Conn) *Conn {
	s.wrapMu.Lock()
	defer s.wrapMu.Unlock()
	if w, ok := c.Value().(*Conn); ok {
		return w
	}
	w := &Conn{c: c}
	c.SetValue(w)
	return w
}

// URL returns the server's base URL, "http://127.0.0.1:PORT", or
// "https://127.0.0.1:PORT" for a TLS server: what siostream.Dial takes.
func (s *Server) URL() string { return s.srv.URL() }

// Close closes every connection, as a server going away does (clients
// see a WebSocket close and try to reconnect, in vain), stops listening,
// and waits for the server's goroutines to end. Close may be called more
// than once.
func (s *Server) Close() { _ = s.srv.Close() }

// Accept returns the next client connection, as soon as the server has
// sent its Engine.IO open packet: before the client joins a namespace, so
// call [Conn.WaitConnect] before emitting to one. Connections are served
// whether or not anyone accepts them; up to 64 wait for Accept, and past
// that the oldest is left out. Accept returns ctx.Err() when ctx ends
// first and [ErrServerClosed] after Close.
func (s *Server) Accept(ctx context.Context) (*Conn, error) {
	c, err := s.srv.Accept(ctx)
	if err != nil {
		return nil, opErr(err)
	}
	return s.wrap(c), nil
}

// Broadcast emits event with args, encoded as for [Conn.Emit], to every
// client connected to namespace ns. With [Options.Recovery] on, the event
// is also kept for the sessions of ns whose connection was lost, to be
// sent when they are restored. It returns only an error encoding args.
func (s *Server) Broadcast(ns, event string, args ...any) error {
	return opErr(s.srv.EmitAll(ns, event, args...))
}

// Certificate returns the certificate of a TLS server, nil for a server
// started by [NewServer].
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// ClientTLSConfig returns a new TLS configuration that trusts the
// server's certificate, for siostream.Options.TLSConfig; nil for a server
// started by [NewServer].
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.cert == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.cert)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
