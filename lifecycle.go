package siostream

import (
	"context"
	"errors"
	"sync"
	"time"
)

// onConnect handles the server's CONNECT reply on c: the stream is joined,
// its buffered emits are flushed in order, and KindConnected delivered.
func (st *Stream) onConnect(c *wireConn, sid, pid string) {
	st.mu.Lock()
	if st.err != nil || st.isClosing() {
		st.mu.Unlock()
		return
	}
	recovered := pid != "" && pid == st.pid
	if pid != st.pid {
		st.offset = ""
	}
	st.sid, st.pid, st.attempts = sid, pid, 0
	st.setConn(c)
	st.m.failures.Store(0) // the backoff starts over once a namespace joined
	st.maxPayload.Store(c.open.MaxPayload)
	for _, f := range st.outbox {
		st.acks.bind(f.ack, c)
		c.w.enqueue(f)
	}
	clear(st.outbox)
	st.outbox, st.outBytes = st.outbox[:0], 0
	st.mu.Unlock()
	st.m.opts.Logger.Info("siostream: connected", "namespace", st.ns, "sid", sid, "recovered", recovered)
	st.lifecycle(Event{Kind: KindConnected, Namespace: st.ns, SocketID: sid, Recovered: recovered}, c)
	st.flushEarly(c)
	select {
	case st.joined <- nil:
	default:
	}
}

// onConnectError handles the server's refusal. During Dial it goes back
// to the caller; later it ends the stream, or retries the join when
// ReconnectOnServerDisconnect is set.
func (st *Stream) onConnectError(ce *ConnectError) {
	if st.dialing.Load() {
		select {
		case st.joined <- ce:
		default:
		}
		return
	}
	st.lifecycle(Event{Kind: KindConnectError, Namespace: st.ns, Err: ce}, nil)
	st.mu.Lock()
	st.joinSent = nil
	st.mu.Unlock()
	if st.opts.ReconnectOnServerDisconnect {
		st.retryJoin()
		return
	}
	st.m.forget(st)
	st.finish(nil, ce)
}

// onServerDisconnect handles the server's DISCONNECT for the namespace.
func (st *Stream) onServerDisconnect(c *wireConn) {
	st.mu.Lock()
	st.setConn(nil)
	st.joinSent = nil // the server forgot the namespace: it may be joined again
	st.mu.Unlock()
	st.acks.failConn(c, errors.Join(ErrDisconnected, ErrServerDisconnect))
	ev := &Event{Kind: KindDisconnected, Reason: ReasonServerDisconnect, Err: ErrServerDisconnect}
	if st.opts.ReconnectOnServerDisconnect {
		ev.Namespace = st.ns
		st.lifecycle(*ev, c)
		st.retryJoin()
		return
	}
	st.m.forget(st)
	st.finish(ev, ErrServerDisconnect)
}

// endSlow ends a stream whose consumer fell behind under
// DisconnectSlowConsumer; the connection stays for the other streams.
func (st *Stream) endSlow(c *wireConn) {
	c.w.enqueue(&outFrame{op: opText, data: disconnectFrame(st.ns)})
	st.mu.Lock()
	st.setConn(nil)
	st.mu.Unlock()
	st.m.forget(st)
	st.finish(&Event{Kind: KindDisconnected, Reason: ReasonSlowConsumer, Err: ErrSlowConsumer}, ErrSlowConsumer)
}

// detach handles the loss of connection c: frames it never wrote go back
// to the outbox front, acks waiting on it fail, and KindDisconnected is
// delivered if the stream was joined on c.
func (st *Stream) detach(c *wireConn, reason Reason, cause error, rest []*outFrame) {
	st.mu.Lock()
	was := st.conn == c
	if was {
		st.setConn(nil)
	}
	waiting := !was && st.joinSent == c
	if st.joinSent == c {
		st.joinSent = nil
	}
	st.requeue(rest)
	st.mu.Unlock()
	if waiting { // lost before the CONNECT reply: a failed attempt
		st.joinFailed(cause)
	}
	clear(st.early)
	st.early, st.earlyBytes = st.early[:0], 0
	st.acks.failConn(c, errors.Join(ErrDisconnected, cause))
	if was {
		st.lifecycle(Event{Kind: KindDisconnected, Namespace: st.ns, Reason: reason, Err: cause}, nil)
	}
}

// joinFailed reports a connection lost before the namespace's CONNECT
// reply: to Dial while it waits, else as KindConnectError.
func (st *Stream) joinFailed(cause error) {
	if st.dialing.Load() {
		select {
		case st.joined <- cause:
		default:
		}
		return
	}
	st.lifecycle(Event{Kind: KindConnectError, Namespace: st.ns, Err: cause}, nil)
}

// waitingOn reports whether st sent CONNECT on c and has no answer yet.
func (st *Stream) waitingOn(c *wireConn) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.joinSent == c && st.conn != c && st.err == nil && !st.isClosing()
}

// requeue puts unwritten frames back in front of the outbox. Volatile
// frames are dropped. Called with st.mu held.
func (st *Stream) requeue(rest []*outFrame) {
	keep := rest[:0]
	for _, f := range rest {
		if f.vol {
			finishFrame(f, ErrNotConnected)
			continue
		}
		st.acks.bind(f.ack, nil)
		st.outBytes += f.size()
		keep = append(keep, f)
	}
	st.outbox = append(keep, st.outbox...)
}

// failOutbox fails every buffered emit. Called with st.mu held.
func (st *Stream) failOutbox(err error) {
	for _, f := range st.outbox {
		finishFrame(f, err)
	}
	clear(st.outbox)
	st.outbox, st.outBytes = nil, 0
}

// sendConnect calls the Auth function and queues CONNECT on c.
func (st *Stream) sendConnect(ctx context.Context, c *wireConn) error {
	auth, err := st.authPayload(ctx)
	if err != nil {
		return err
	}
	pkt := frameConnect(st.ns, auth)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.joinSent == c {
		return nil // one CONNECT per connection: a second one kills it
	}
	if !c.w.enqueue(&outFrame{op: opText, data: pkt}) {
		return ErrDisconnected
	}
	st.joinSent = c
	return nil
}

// retryTimer is a pending re-join; Close stops it and waits for it.
type retryTimer struct {
	t    *time.Timer
	done chan struct{}
	once sync.Once
}

// retryJoin sends CONNECT again after the backoff delay, on whatever
// connection is live then (a reconnect sends it anyway).
func (st *Stream) retryJoin() {
	st.mu.Lock()
	if st.isClosing() {
		st.mu.Unlock()
		return
	}
	st.attempts++
	n, d := st.attempts, backoffDelay(&st.m.opts, st.attempts)
	rt := &retryTimer{done: make(chan struct{})}
	rt.t = time.AfterFunc(d, func() {
		defer rt.once.Do(func() { close(rt.done) })
		ctx, cancel := context.WithTimeout(context.Background(), st.m.opts.ConnectTimeout)
		defer cancel()
		if c := st.m.current(); c != nil && !st.isClosing() {
			st.sendConnect(ctx, c)
		}
	})
	st.retry = rt
	st.mu.Unlock()
	st.lifecycle(Event{Kind: KindReconnecting, Namespace: st.ns, Attempt: n, Delay: d}, nil)
}

func (st *Stream) stopRetry() {
	st.mu.Lock()
	rt := st.retry
	st.mu.Unlock()
	if rt == nil {
		return
	}
	if rt.t.Stop() {
		rt.once.Do(func() { close(rt.done) })
	}
	<-rt.done
}
