package siostream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/siostream/siostream/frames"
)

const opText = ws.OpText

// endpointURL turns the user's URL into the Engine.IO WebSocket URL.
func endpointURL(raw, path string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("siostream: bad URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("siostream: bad URL scheme %q (want http, https, ws or wss)", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("siostream: URL has no host")
	}
	if path == "" {
		path = u.Path
	}
	if path == "" || path == "/" {
		path = "/socket.io/"
	}
	u.Path, u.RawPath, u.Fragment = path, "", ""
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	return u, nil
}

// connect dials, reads the open packet and joins the namespace. It returns
// the connection and its KindConnected event.
func (s *Stream) connect(ctx context.Context) (*wireConn, Event, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout)
	defer cancel()
	auth, err := s.authPayload(ctx)
	if err != nil {
		return nil, Event{}, err
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil, Event{}, err
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	ev, err := s.handshake(c, auth)
	if !stop() || ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		c.close(err)
		return nil, Event{}, err
	}
	c.nc.SetDeadline(time.Time{})
	c.resetHeartbeat()
	return c, ev, nil
}

func (s *Stream) dial(ctx context.Context) (*wireConn, error) {
	d := ws.Dialer{TLSConfig: s.opts.TLSConfig, NetDial: s.opts.NetDial}
	if s.opts.Header != nil {
		h, err := s.opts.Header(ctx)
		if err != nil {
			return nil, fmt.Errorf("siostream: header function: %w", err)
		}
		d.Header = ws.HandshakeHeaderHTTP(h)
	}
	nc, br, _, err := d.Dial(ctx, s.endpoint.String())
	if err != nil {
		return nil, fmt.Errorf("siostream: dial %s: %w", redactURL(s.endpoint), err)
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, 4096)
	}
	c := &wireConn{nc: nc, br: br, limit: s.opts.ReadLimit}
	c.w = newWriter(nc, 30*time.Second, &s.stats.emitted)
	return c, nil
}

// redactURL drops the query (it may carry credentials) from log and error
// text.
func redactURL(u *url.URL) string {
	v := *u
	v.RawQuery, v.User = "", nil
	return v.String()
}

// handshake reads the Engine.IO open packet, sends CONNECT and waits for
// the server's answer.
func (s *Stream) handshake(c *wireConn, auth json.RawMessage) (Event, error) {
	if err := c.readOpen(); err != nil {
		return Event{}, err
	}
	c.w.timeout.Store(int64(c.deadline))
	pkt := frames.AppendConnect(append(make([]byte, 0, 64+len(auth)), '4'), s.opts.Namespace, auth)
	c.w.enqueue(&outFrame{op: opText, data: pkt})
	for {
		t, p, bin, err := c.readEngine()
		if err != nil {
			return Event{}, err
		}
		if bin || t != frames.EngineMessage {
			if t == frames.EnginePing && !bin {
				c.w.pong()
			}
			continue
		}
		if ev, done, err := s.connectReply(p); done {
			return ev, err
		}
	}
}

func (c *wireConn) readOpen() error {
	t, p, bin, err := c.readEngine()
	if err != nil {
		return err
	}
	if bin || t != frames.EngineOpen {
		return protoErr("engine.io", errors.New("first packet is not an open packet"))
	}
	if c.open, err = frames.ParseOpen(p); err != nil {
		return protoErr("engine.io", err)
	}
	c.deadline = c.open.PingInterval + c.open.PingTimeout
	return nil
}

// connectReply interprets a Socket.IO packet received while joining.
func (s *Stream) connectReply(p []byte) (Event, bool, error) {
	var pkt frames.Packet
	if err := frames.ParsePacket(p, &pkt); err != nil {
		return Event{}, true, protoErr("socket.io", err)
	}
	if !s.ours(pkt.Namespace) {
		return Event{}, false, nil
	}
	switch pkt.Type {
	case frames.Connect:
		sid, pid, err := frames.ParseConnectReply(pkt.Data)
		if err != nil {
			return Event{}, true, protoErr("socket.io", err)
		}
		return s.connected(sid, pid), true, nil
	case frames.ConnectError:
		msg, data, err := frames.ParseConnectError(pkt.Data)
		if err != nil {
			return Event{}, true, protoErr("socket.io", err)
		}
		return Event{}, true, &ConnectError{Namespace: s.opts.Namespace, Message: msg, Data: append(json.RawMessage(nil), data...)}
	}
	return Event{}, false, nil
}

// connected records the session ids and builds the KindConnected event.
func (s *Stream) connected(sid, pid string) Event {
	s.mu.Lock()
	recovered := pid != "" && pid == s.pid
	s.sid = sid
	if pid != s.pid {
		s.offset = ""
	}
	s.pid = pid
	s.mu.Unlock()
	return Event{Kind: KindConnected, Namespace: s.opts.Namespace, SocketID: sid, Recovered: recovered}
}

func (s *Stream) ours(ns []byte) bool {
	if len(ns) == 0 {
		return s.opts.Namespace == "/"
	}
	return string(ns) == s.opts.Namespace
}

// authPayload calls the Auth function and merges the recovery session, on
// a fresh copy: the user's value is never changed.
func (s *Stream) authPayload(ctx context.Context) (json.RawMessage, error) {
	var auth json.RawMessage
	if s.opts.Auth != nil {
		v, err := s.opts.Auth(ctx)
		if err != nil {
			return nil, fmt.Errorf("siostream: auth function: %w", err)
		}
		if auth, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("siostream: auth payload: %w", err)
		}
		if string(auth) == "null" {
			auth = nil
		} else if len(auth) == 0 || auth[0] != '{' {
			return nil, errors.New("siostream: auth payload must be a JSON object")
		}
	}
	s.mu.Lock()
	pid, offset := s.pid, s.offset
	s.mu.Unlock()
	if pid == "" {
		return auth, nil
	}
	return mergeSession(auth, pid, offset), nil
}

// mergeSession adds "pid" and "offset" to a JSON object (or makes one).
func mergeSession(auth json.RawMessage, pid, offset string) json.RawMessage {
	out := append(make([]byte, 0, len(auth)+len(pid)+len(offset)+32), `{"pid":`...)
	out = frames.AppendString(out, pid)
	if offset != "" {
		out = frames.AppendString(append(out, `,"offset":`...), offset)
	}
	body := strings.TrimSpace(string(auth))
	if len(body) > 2 && strings.TrimSpace(body[1:len(body)-1]) != "" {
		return append(append(out, ','), body[1:]...)
	}
	return append(out, '}')
}

func disconnectFrame(ns string) []byte {
	return frames.AppendHeader([]byte{'4'}, frames.Header{Type: frames.Disconnect, Namespace: ns})
}

// close ends a connection that never became the stream's.
func (c *wireConn) close(err error) {
	c.nc.Close()
	c.w.stop(err)
}
