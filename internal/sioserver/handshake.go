package sioserver

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gobwas/ws"
)

// handshakeTimeout bounds the TLS and HTTP upgrade exchange.
const handshakeTimeout = 10 * time.Second

// handshake upgrades raw to a WebSocket connection and returns it as a Conn.
func (s *Server) handshake(raw net.Conn) (*Conn, error) {
	nc := raw
	if s.opts.TLSConfig != nil {
		nc = tls.Server(raw, s.opts.TLSConfig)
	}
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	reqHeader := http.Header{}
	var hosts []string
	u := ws.Upgrader{
		OnRequest: s.checkRequest,
		OnHost: func(host []byte) error {
			hosts = append(hosts, string(host))
			return nil
		},
		OnHeader: func(k, v []byte) error {
			reqHeader.Add(string(k), string(v))
			return nil
		},
	}
	if len(s.opts.UpgradeHeader) > 0 {
		u.Header = ws.HandshakeHeaderHTTP(s.opts.UpgradeHeader)
	}
	_, err := u.Upgrade(nc)
	if err != nil {
		return nil, err
	}
	_ = raw.SetDeadline(time.Time{})
	c := newConn(s, raw, nc)
	c.reqHeader, c.hosts = reqHeader, hosts
	return c, nil
}

// checkRequest accepts only a fresh WebSocket-only Engine.IO v4 session
// on the configured path, answering 400 with the reference server's error
// bodies otherwise.
func (s *Server) checkRequest(uri []byte) error {
	u, err := url.ParseRequestURI(string(uri))
	if err != nil || !strings.HasPrefix(u.Path+"/", s.opts.Path) {
		return badRequest("unknown path")
	}
	q := u.Query()
	switch {
	case q.Get("EIO") != "4":
		return badRequest(`{"code":5,"message":"Unsupported protocol version"}`)
	case q.Get("transport") != "websocket":
		return badRequest(`{"code":0,"message":"Transport unknown"}`)
	case q.Has("sid"):
		return badRequest(`{"code":1,"message":"Session ID unknown"}`)
	}
	return nil
}

func badRequest(body string) error {
	return ws.RejectConnectionError(
		ws.RejectionStatus(http.StatusBadRequest),
		ws.RejectionReason(body),
	)
}
