package siostream

import (
	"errors"
	"time"
)

// attach makes c the stream's connection, flushes the emits buffered
// while disconnected, in order, and delivers the connected event.
func (s *Stream) attach(c *wireConn, ev Event) bool {
	s.mu.Lock()
	if s.isClosing() {
		s.mu.Unlock()
		c.close(ErrClosed)
		return false
	}
	s.conn = c
	s.maxPayload.Store(c.open.MaxPayload)
	for _, f := range s.outbox {
		s.acks.bind(f.ack, c)
		c.w.enqueue(f)
	}
	clear(s.outbox)
	s.outbox, s.outBytes = s.outbox[:0], 0
	s.mu.Unlock()
	s.opts.Logger.Info("siostream: connected", "namespace", s.opts.Namespace, "sid", ev.SocketID, "recovered", ev.Recovered)
	s.lifecycle(ev, c)
	return true
}

// detach ends c: frames it never wrote go back to the outbox front, acks
// waiting on it fail, and the disconnected event is delivered. It returns
// the final reason: Close overrides what the reader saw.
func (s *Stream) detach(c *wireConn, reason Reason, cause error) (Reason, error) {
	if s.isClosing() {
		reason, cause = ReasonClientDisconnect, ErrClosed
	}
	c.nc.Close()
	rest := c.w.stop(cause)
	s.mu.Lock()
	s.conn = nil
	s.requeue(rest)
	s.mu.Unlock()
	s.acks.failConn(c, errors.Join(ErrDisconnected, cause))
	s.opts.Logger.Info("siostream: disconnected", "namespace", s.opts.Namespace, "reason", string(reason), "err", cause)
	s.lifecycle(Event{Kind: KindDisconnected, Namespace: s.opts.Namespace, Reason: reason, Err: cause}, nil)
	return reason, cause
}

// requeue puts unwritten frames back in front of the outbox. Volatile
// frames are dropped. Called with s.mu held.
func (s *Stream) requeue(rest []*outFrame) {
	keep := rest[:0]
	for _, f := range rest {
		if f.volatile() {
			finishFrame(f, ErrNotConnected)
			continue
		}
		s.acks.bind(f.ack, nil)
		s.outBytes += f.size()
		keep = append(keep, f)
	}
	s.outbox = append(keep, s.outbox...)
}

// reconnect decides whether to reconnect after reason and does so with
// backoff. It returns the new connection, or the error that ends the
// stream.
func (s *Stream) reconnect(reason Reason, cause error) (*wireConn, error) {
	switch {
	case reason == ReasonClientDisconnect:
		return nil, ErrClosed
	case s.opts.NoReconnect:
		return nil, cause
	case reason == ReasonSlowConsumer:
		return nil, ErrSlowConsumer
	case reason == ReasonServerDisconnect && !s.opts.ReconnectOnServerDisconnect:
		return nil, ErrServerDisconnect
	}
	for attempt := 1; ; attempt++ {
		c, err := s.attempt(attempt)
		if err == nil {
			s.stats.reconnects.Add(1)
			return c, nil
		}
		if stop := s.giveUp(attempt, err); stop != nil {
			return nil, stop
		}
	}
}

// attempt waits the backoff delay, then connects once.
func (s *Stream) attempt(n int) (*wireConn, error) {
	d := backoffDelay(&s.opts, n)
	s.opts.Logger.Info("siostream: reconnecting", "namespace", s.opts.Namespace, "attempt", n, "delay", d)
	s.lifecycle(Event{Kind: KindReconnecting, Namespace: s.opts.Namespace, Attempt: n, Delay: d}, nil)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.closing:
		return nil, ErrClosed
	}
	c, ev, err := s.connect(s.ctx)
	if err != nil {
		return nil, err
	}
	if !s.attach(c, ev) {
		return nil, ErrClosed
	}
	return c, nil
}

// giveUp reports the failed attempt and returns non-nil when the stream
// must end.
func (s *Stream) giveUp(n int, err error) error {
	if s.isClosing() {
		return ErrClosed
	}
	s.lifecycle(Event{Kind: KindConnectError, Namespace: s.opts.Namespace, Err: err, Attempt: n}, nil)
	var ce *ConnectError
	if errors.As(err, &ce) && !s.opts.ReconnectOnServerDisconnect {
		return err
	}
	if m := s.opts.MaxReconnectAttempts; m > 0 && n >= m {
		return errors.Join(ErrReconnectFailed, err)
	}
	return nil
}

// failOutbox fails every buffered emit. Called with s.mu held.
func (s *Stream) failOutbox(err error) {
	for _, f := range s.outbox {
		finishFrame(f, err)
	}
	clear(s.outbox)
	s.outbox, s.outBytes = nil, 0
}
