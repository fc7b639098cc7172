package siostream

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/gobwas/ws"
	"github.com/siostream/siostream/frames"
)

// Emit sends an event with args to the namespace. Each arg is encoded as
// JSON (json.RawMessage is sent verbatim); a []byte anywhere in args makes
// it a binary event. Emit returns when the packet is written, or when ctx
// ends (the packet may then still be sent). While disconnected the packet
// is buffered (see Options.EmitBufferCount), Emit returns nil at once, and
// the buffer is flushed in order after reconnection.
//
// Reserved event names fail with ErrReservedEvent and packets over the
// server's maxPayload with ErrPayloadTooLarge, before anything is sent.
func (st *Stream) Emit(ctx context.Context, event string, args ...any) error {
	if st.opts.Retries > 0 {
		_, err := st.emitReliable(ctx, event, args)
		return err
	}
	f, err := st.encodeEvent(event, args, nil)
	if err != nil {
		return err
	}
	return st.submit(ctx, f)
}

// EmitVolatile is Emit for events that may be lost: while disconnected
// they are dropped with ErrNotConnected instead of buffered.
func (st *Stream) EmitVolatile(ctx context.Context, event string, args ...any) error {
	f, err := st.encodeEvent(event, args, nil)
	if err != nil {
		return err
	}
	f.vol = true
	return st.submit(ctx, f)
}

// EmitWithAck sends an event asking the server to acknowledge it and
// returns the server's reply: a JSON array of its args (binary ones as
// base64 strings). ctx bounds the whole wait. If the connection is lost
// after the packet went out, it fails with an error matching
// ErrDisconnected; an emit buffered while disconnected waits for the next
// connection.
func (st *Stream) EmitWithAck(ctx context.Context, event string, args ...any) (json.RawMessage, error) {
	if st.opts.Retries > 0 {
		return st.emitReliable(ctx, event, args)
	}
	return st.emitAck(ctx, event, args, 0)
}

// emitAck sends an event with an ack id and waits for the reply. The
// ackTimeout clock (none when zero) starts once the packet is written.
func (st *Stream) emitAck(ctx context.Context, event string, args []any, ackTimeout time.Duration) (json.RawMessage, error) {
	p, err := st.acks.add()
	if err != nil {
		return nil, err
	}
	defer st.acks.remove(p)
	f, err := st.encodeEvent(event, args, p)
	if err != nil {
		return nil, err
	}
	f.done = donePool.Get().(chan error)
	if err := st.submit(ctx, f); err != nil {
		return nil, err
	}
	var timeout <-chan time.Time
	if ackTimeout > 0 {
		t := time.NewTimer(ackTimeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case r := <-p.ch:
		return r.args, r.err
	case <-timeout:
		return nil, context.DeadlineExceeded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var reserved = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true, "": true,
}

// encodeEvent builds the EVENT or BINARY_EVENT frame for an emit.
func (st *Stream) encodeEvent(event string, args []any, ack *pendingAck) (*outFrame, error) {
	if reserved[event] {
		return nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	h := frames.Header{Type: frames.Event, Namespace: st.ns}
	if ack != nil {
		h.ID, h.HasID = ack.id, true
	}
	f, err := st.encode(h, event, args)
	if err != nil {
		return nil, err
	}
	f.ack = ack
	return f, nil
}

// encode builds a frame: header, then a JSON array of the optional event
// name and args. []byte values become attachments.
func (st *Stream) encode(h frames.Header, event string, args []any) (*outFrame, error) {
	args, atts, err := extract(args)
	if err != nil {
		return nil, fmt.Errorf("siostream: encode args: %w", err)
	}
	if atts != nil {
		h.Type, h.Attachments = h.Type+frames.BinaryEvent-frames.Event, len(atts)
	}
	f := newFrame()
	b := frames.AppendHeader(append(f.data, '4'), h)
	b = append(b, '[')
	if h.Type == frames.Event || h.Type == frames.BinaryEvent {
		b = append(frames.AppendString(b, event), ',')
	}
	for _, a := range args {
		if b, err = appendJSON(b, a); err != nil {
			f.release()
			return nil, fmt.Errorf("siostream: encode args: %w", err)
		}
		b = append(b, ',')
	}
	if b[len(b)-1] == ',' {
		b = b[:len(b)-1]
	}
	f.op, f.data, f.atts, f.owner = ws.OpText, append(b, ']'), atts, st
	if err := st.checkSize(f); err != nil {
		f.release()
		return nil, err
	}
	return f, nil
}

// extract replaces []byte args by placeholders, skipping the walk when
// every arg is plainly not binary.
func extract(args []any) ([]any, [][]byte, error) {
	for _, a := range args {
		switch a.(type) {
		case nil, string, bool, int, int64, float64, json.RawMessage:
			continue
		}
		return frames.ExtractBinary(args)
	}
	return args, nil, nil
}

func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return frames.AppendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return b, fmt.Errorf("unsupported float value %v", x)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case json.RawMessage:
		if !json.Valid(x) {
			return b, fmt.Errorf("invalid json.RawMessage")
		}
		return append(b, x...), nil
	}
	j, err := json.Marshal(v)
	return append(b, j...), err
}

// checkSize rejects a frame that the server would refuse (its maxPayload
// applies to each WebSocket message).
func (st *Stream) checkSize(f *outFrame) error {
	limit := st.maxPayload.Load()
	if limit <= 0 {
		return nil
	}
	big := int64(len(f.data))
	for _, a := range f.atts {
		big = max(big, int64(len(a)))
	}
	if big > limit {
		return fmt.Errorf("%w: %d > %d bytes", ErrPayloadTooLarge, big, limit)
	}
	return nil
}

// submit hands f to the connection's writer, or buffers it while
// disconnected.
func (st *Stream) submit(ctx context.Context, f *outFrame) error {
	if err := ctx.Err(); err != nil {
		f.release()
		return err
	}
	st.mu.Lock()
	if st.err != nil || st.isClosing() {
		st.mu.Unlock()
		f.release()
		return ErrClosed
	}
	waitBuffered := f.done != nil // the caller waits for the write even if buffered
	if f.done == nil {
		f.done = donePool.Get().(chan error)
	}
	done := f.done // f belongs to the writer once queued
	if c := st.conn; c != nil {
		st.acks.bind(f.ack, c)
		ok, full := c.w.enqueueLimit(f, st.opts.EmitBufferBytes)
		if ok {
			st.mu.Unlock()
			return wait(ctx, done)
		}
		if full { // the server does not read and emitters gave up waiting
			st.mu.Unlock()
			f.release()
			return ErrBufferFull
		}
	}
	if !waitBuffered {
		donePool.Put(done)
		f.done, done = nil, nil
	}
	err := st.buffer(f)
	st.mu.Unlock()
	if err != nil || !waitBuffered {
		return err
	}
	return wait(ctx, done)
}

// buffer keeps f for the next connection. Called with s.mu held.
func (st *Stream) buffer(f *outFrame) error {
	switch {
	case f.vol:
		f.release()
		return ErrNotConnected
	case st.opts.EmitBufferCount < 0 || len(st.outbox) >= st.opts.EmitBufferCount ||
		st.outBytes+f.size() > st.opts.EmitBufferBytes:
		f.release()
		return ErrBufferFull
	}
	st.acks.bind(f.ack, nil)
	st.outbox = append(st.outbox, f)
	st.outBytes += f.size()
	return nil
}

func wait(ctx context.Context, done chan error) error {
	select {
	case err := <-done:
		donePool.Put(done)
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
