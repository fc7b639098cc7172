package sioserver

import (
	"encoding/json"

	"github.com/siostream/siostream/frames"
)

// onConnect answers a CONNECT: CONNECT_ERROR when Authorize refuses it,
// else the missed events of a restored session and the CONNECT reply.
func (c *Conn) onConnect(ev *Received) error {
	ns := ev.Namespace
	ev.Auth = ev.RawData
	c.push(ev)
	c.s.connectSeen(ns, ev.Auth)
	if rej := c.authorize(ns, ev.Auth); rej != nil {
		return c.connectError(ns, rej)
	}
	if err := c.accept(ns, ev.Auth); err != nil {
		return err
	}
	c.markConnected(ns)
	signal(c.connectSig)
	if f := c.s.opts.OnConnect; f != nil {
		f(c, ns)
	}
	return nil
}

func (c *Conn) authorize(ns string, auth json.RawMessage) *Reject {
	if f := c.s.opts.Authorize; f != nil {
		return f(ns, auth)
	}
	return nil
}

// connectError sends CONNECT_ERROR for ns.
func (c *Conn) connectError(ns string, rej *Reject) error {
	body := struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{rej.Message, rej.Data}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	h := frames.Header{Type: frames.ConnectError, Namespace: nsField(ns)}
	return c.writeText(append(frames.AppendHeader([]byte{'4'}, h), data...))
}

// accept opens (or restores) the namespace connection and answers the
// CONNECT, with no other write in between.
func (c *Conn) accept(ns string, auth json.RawMessage) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	st, missed := c.s.openSession(c, ns, auth)
	c.setNamespace(ns, st)
	for _, e := range missed {
		if err := c.writeLocked(e.text, e.atts); err != nil {
			return err
		}
	}
	reply := struct {
		SID string `json:"sid"`
		PID string `json:"pid,omitempty"`
	}{SID: st.sid}
	if st.sess != nil {
		reply.PID = st.sess.pid
	}
	data, _ := json.Marshal(reply)
	c.s.connectAccepted(ns) // counted before the reply: a client that has it sees the count
	h := frames.Header{Type: frames.Connect, Namespace: nsField(ns)}
	return c.writeLocked(append(frames.AppendHeader([]byte{'4'}, h), data...), nil)
}

// setNamespace records the client's connection to ns, replacing (and
// ending) an earlier one.
func (c *Conn) setNamespace(ns string, st *nsState) {
	c.mu.Lock()
	old := c.nsps[ns]
	c.nsps[ns] = st
	c.mu.Unlock()
	if old == nil {
		return
	}
	close(old.done)
	if old.sess != nil && old.sess != st.sess {
		c.s.discard(c, old.sess)
	}
}

// endNamespace forgets the client's connection to ns and its recovery
// session.
func (c *Conn) endNamespace(ns string) {
	c.mu.Lock()
	st := c.nsps[ns]
	delete(c.nsps, ns)
	c.mu.Unlock()
	if st == nil {
		return
	}
	close(st.done)
	if st.sess != nil {
		c.s.discard(c, st.sess)
	}
}

// markConnected releases the WaitConnect calls for ns.
func (c *Conn) markConnected(ns string) {
	ch := c.waiter(ns)
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// sessionOf returns the recovery session of the client's connection to ns.
func (c *Conn) sessionOf(ns string) *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.nsps[ns]; st != nil {
		return st.sess
	}
	return nil
}

// namespaceDone returns the channel closed when the client's current
// connection to ns ends, or nil when it is not connected.
func (c *Conn) namespaceDone(ns string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.nsps[ns]; st != nil {
		return st.done
	}
	return nil
}
