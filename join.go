package siostream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/engine"
)

// This file holds what a stream does as its connection comes and goes:
// CONNECT and the server's answers, a lost connection, a re-join after a
// refusal. All of it runs on the Manager's reader goroutine, except
// sendConnect from Dial and from a re-join timer.

// sendConnect calls the Auth function and queues CONNECT on l, once per
// connection (a second one makes the server close it).
func (st *Stream) sendConnect(ctx context.Context, l *link) error {
	if st.joinLink.Load() == l {
		return nil
	}
	auth, err := st.authPayload(ctx)
	if err != nil {
		return err
	}
	f := engine.NewFrame()
	f.Data = frames.AppendConnect(append(f.Data, '4'), st.ns, auth)
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.state == streamClosed:
		f.Release()
		return ErrClosed
	case st.joinLink.Load() == l:
		f.Release()
		return nil
	}
	st.ackMore.Store(&eventMore{st: st, gen: l.gen})
	if err := l.conn.Send(f); err != nil {
		f.Release()
		return errors.Join(ErrDisconnected, err)
	}
	st.joinLink.Store(l)
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
	pid, offset := st.pid, st.d.lastOffset()
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

func disconnectFrame(ns string) *engine.Frame {
	f := engine.NewFrame()
	f.Data = frames.AppendHeader(append(f.Data, '4'), frames.Header{Type: frames.Disconnect, Namespace: ns})
	return f
}

// onConnect handles the server's CONNECT reply on l: the stream is
// joined, KindConnected delivered, its buffered emits and the events that
// came before the reply follow in order.
func (st *Stream) onConnect(l *link, data []byte) error {
	sid, pid, err := frames.ParseConnectReply(data)
	if err != nil {
		return protoErr("socket.io", err)
	}
	st.mu.Lock()
	if st.state == streamClosed || st.joinLink.Load() != l || st.active.Load() == l {
		st.mu.Unlock()
		return nil // an answer to nothing we asked on l, or a repeated one
	}
	recovered := pid != "" && pid == st.pid
	if pid != st.pid {
		st.d.resetOffset()
	}
	st.sid, st.pid = sid, pid
	st.recovery.Store(pid != "")
	st.maxPayload.Store(l.conn.Open().MaxPayload)
	first := st.state == streamJoining
	st.active.Store(l)
	st.transition(streamConnected, lifecycleEvent(KindConnected, eventMore{socketID: sid, recovered: recovered}), nil, false)
	st.flushOutbox(l)
	st.mu.Unlock()
	st.d.release()
	st.m.joined()
	st.m.opts.Logger.Info("siostream: connected", "namespace", st.ns, "sid", sid, "recovered", recovered)
	if first {
		select {
		case st.joined <- nil:
		default:
		}
	}
	return nil
}

// onConnectError handles the server's refusal. During Dial it goes back
// to the caller; later it ends the stream, or retries the join when
// ReconnectOnServerDisconnect is set.
func (st *Stream) onConnectError(l *link, data []byte) error {
	msg, errData, err := frames.ParseConnectError(data)
	if err != nil {
		return protoErr("socket.io", err)
	}
	ce := &ConnectError{Namespace: st.ns, Message: msg, Data: append(json.RawMessage(nil), errData...)}
	st.mu.Lock()
	if st.state == streamClosed || st.joinLink.Load() != l {
		st.mu.Unlock()
		return nil
	}
	st.joinLink.Store(nil)
	st.d.discardHeld()
	if st.state == streamJoining {
		st.mu.Unlock()
		select {
		case st.joined <- ce:
		default:
		}
		return nil
	}
	st.attempts++
	st.d.lifecycle(*lifecycleEvent(KindConnectError, eventMore{err: ce, attempt: st.attempts}))
	if st.opts.ReconnectOnServerDisconnect {
		st.retryJoin()
		st.mu.Unlock()
		return nil
	}
	st.mu.Unlock()
	st.end(nil, ce, nil)
	return nil
}

// onServerDisconnect handles the server's DISCONNECT for the namespace.
func (st *Stream) onServerDisconnect(l *link) {
	st.mu.Lock()
	if st.active.Load() != l {
		st.mu.Unlock()
		return
	}
	st.joinLink.Store(nil) // the server forgot the namespace: it may be joined again
	st.acks.failWritten(l.gen, errors.Join(ErrDisconnected, ErrServerDisconnect))
	ev := lifecycleEvent(KindDisconnected, eventMore{reason: ReasonServerDisconnect, err: ErrServerDisconnect})
	if st.opts.ReconnectOnServerDisconnect {
		st.transition(streamReconnecting, ev, nil, false)
		st.retryJoin()
		st.mu.Unlock()
		return
	}
	st.mu.Unlock()
	st.end(ev, ErrServerDisconnect, nil)
}

// endSlow ends a stream whose consumer fell behind under
// DisconnectSlowConsumer; the connection stays for the other streams.
func (st *Stream) endSlow(l *link) {
	st.end(lifecycleEvent(KindDisconnected, eventMore{reason: ReasonSlowConsumer, err: ErrSlowConsumer}), ErrSlowConsumer, l)
}

// connectionLost handles the end of l: the frames it never wrote go back
// to the outbox front, acks written on it fail, and the stream reports
// the loss: KindDisconnected if it was joined on l, a failed join if its
// CONNECT went out on l without an answer.
func (st *Stream) connectionLost(l *link, reason Reason, cause error, rest []*engine.Frame) {
	st.mu.Lock()
	st.requeue(rest)
	if st.state == streamClosed {
		st.mu.Unlock()
		return
	}
	st.d.discardHeld()
	st.acks.failWritten(l.gen, errors.Join(ErrDisconnected, cause))
	waiting := st.joinLink.Load() == l && st.active.Load() != l
	if st.joinLink.Load() == l {
		st.joinLink.Store(nil)
	}
	switch {
	case st.active.Load() == l:
		st.transition(streamReconnecting, lifecycleEvent(KindDisconnected, eventMore{reason: reason, err: cause}), nil, false)
	case waiting && st.state == streamJoining:
		st.mu.Unlock()
		var pe *ProtocolError
		if !errors.As(cause, &pe) { // say where the connection was lost
			cause = &DialError{Step: "Socket.IO CONNECT", URL: engine.Redact(l.m.endpoint) + " namespace " + st.ns, Err: cause}
		}
		select {
		case st.joined <- cause:
		default:
		}
		return
	case waiting:
		st.d.lifecycle(*lifecycleEvent(KindConnectError, eventMore{err: cause}))
	}
	st.mu.Unlock()
}

// retryTimer is a pending re-join; Close stops it and waits for it.
// done closes when the timer's function has returned or will never run.
type retryTimer struct {
	t    *time.Timer
	done chan struct{}
	once sync.Once
}

// stop keeps the timer from firing; if it was still pending, done closes
// now, else it closes when the running function returns.
func (rt *retryTimer) stop() {
	if rt.t.Stop() {
		rt.once.Do(func() { close(rt.done) })
	}
}

// retryJoin sends CONNECT again after the backoff delay, on whatever
// connection is live then (a reconnect sends it anyway). Called with mu
// held.
func (st *Stream) retryJoin() {
	if st.state == streamClosed {
		return
	}
	if st.retry != nil {
		st.retry.stop() // one pending re-join at a time
	}
	n := st.attempts + 1
	d := backoffDelay(&st.m.opts, n)
	rt := &retryTimer{done: make(chan struct{})}
	rt.t = time.AfterFunc(d, func() {
		defer rt.once.Do(func() { close(rt.done) })
		ctx, cancel := st.m.bounded(st.life, st.m.opts.ConnectTimeout) // Close cancels it
		defer cancel()
		if l := st.m.current(); l != nil {
			if err := st.sendConnect(ctx, l); err != nil && !errors.Is(err, ErrClosed) {
				st.lifecycle(*lifecycleEvent(KindConnectError, eventMore{err: err, attempt: n}))
			}
		}
	})
	st.retry = rt
	st.d.lifecycle(*lifecycleEvent(KindReconnecting, eventMore{attempt: n, delay: d}))
}

// stopRetry stops a pending re-join and waits for one that has started.
func (st *Stream) stopRetry() {
	st.mu.Lock()
	rt := st.retry
	st.retry = nil
	st.mu.Unlock()
	if rt == nil {
		return
	}
	rt.stop()
	<-rt.done
}
