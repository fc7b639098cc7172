package siostream

import (
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

// connectEngine dials and reads the Engine.IO open packet; ctx bounds both.
func (m *Manager) connectEngine(ctx context.Context) (*wireConn, error) {
	c, err := m.dial(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	err = c.readOpen()
	if !stop() || ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		c.close(err)
		return nil, err
	}
	c.nc.SetDeadline(time.Time{})
	c.w.timeout.Store(int64(c.deadline))
	c.resetHeartbeat()
	return c, nil
}

func (m *Manager) dial(ctx context.Context) (*wireConn, error) {
	d := ws.Dialer{TLSConfig: m.opts.TLSConfig, NetDial: m.opts.NetDial, Extensions: extensions(m.opts.Compression)}
	if m.opts.Header != nil {
		h, err := m.opts.Header(ctx)
		if err != nil {
			return nil, fmt.Errorf("siostream: header function: %w", err)
		}
		d.Header = ws.HandshakeHeaderHTTP(h)
	}
	nc, br, hs, err := d.Dial(ctx, m.endpoint.String())
	if err != nil {
		return nil, fmt.Errorf("siostream: dial %s: %w", redactURL(m.endpoint), err)
	}
	fl, err := negotiated(hs)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &wireConn{nc: nc, br: newConnReader(nc, br), limit: m.opts.ReadLimit}
	c.w = newWriter(nc, 30*time.Second, &m.emitted)
	if fl != nil {
		c.inf = &inflater{keepState: !fl.ServerNoContextTakeover}
		c.w.deflate = true
	}
	return c, nil
}

func (m *Manager) current() *wireConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conn
}

// redactURL drops the query (it may carry credentials) from log and error
// text.
func redactURL(u *url.URL) string {
	v := *u
	v.RawQuery, v.User = "", nil
	return v.String()
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

// authPayload calls the Auth function and merges the recovery session, on
// a fresh copy: the user's value is never changed.
func (st *Stream) authPayload(ctx context.Context) (json.RawMessage, error) {
	var auth json.RawMessage
	if st.opts.Auth != nil {
		v, err := st.opts.Auth(ctx)
		if err != nil {
			return nil, fmt.Errorf("siostream: auth function: %w", err)
		}
		if auth, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("siostream: auth payload: %w", err)
		}
		if string(auth) == "null" {
			auth = nil
		} else if auth[0] != '{' {
			return nil, errors.New("siostream: auth payload must be a JSON object")
		}
	}
	st.mu.Lock()
	pid, offset := st.pid, st.offset
	st.mu.Unlock()
	if pid == "" {
		return auth, nil
	}
	return mergeSession(auth, pid, offset), nil
}

// mergeSession adds "pid" and "offset" in front of the fields of a JSON
// object (or makes one). A field of the same name in auth comes later and
// wins, as with the reference client.
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

func frameConnect(ns string, auth json.RawMessage) []byte {
	return frames.AppendConnect(append(make([]byte, 0, 64+len(auth)), '4'), ns, auth)
}

func disconnectFrame(ns string) []byte {
	return frames.AppendHeader([]byte{'4'}, frames.Header{Type: frames.Disconnect, Namespace: ns})
}

// send queues one text frame and waits up to d for it to be written.
func (c *wireConn) send(frame []byte, d time.Duration) {
	f := &outFrame{op: opText, data: frame, done: make(chan error, 1)}
	if !c.w.enqueue(f) {
		return
	}
	select {
	case <-f.done:
	case <-time.After(d):
	}
}

// leave writes final (if any) and a WebSocket close frame, waiting up to a
// second, then closes the socket.
func (c *wireConn) leave(final []byte) {
	var f *outFrame
	if final != nil {
		f = &outFrame{op: opText, data: final}
	}
	c.w.finish(f)
	select {
	case <-c.w.done:
	case <-time.After(time.Second):
	}
	c.nc.Close()
}

// close ends a connection that never became the manager's.
func (c *wireConn) close(err error) {
	c.nc.Close()
	c.w.stop(err)
}
