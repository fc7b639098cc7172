package siostream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/engine"
)

// Emit sends an event with args to the namespace. Each arg is encoded as
// JSON (json.RawMessage is sent verbatim); a []byte anywhere in args makes
// it a binary event. Emit validates and encodes at once: reserved names
// fail with ErrReservedEvent, packets over the server's maxPayload with
// ErrPayloadTooLarge, and nothing is sent. It returns once the packet is
// in the stream's outgoing buffer, in order after the packets emitted
// before it on this stream; the writer then puts it on the wire. Flush
// waits until it is there.
//
// The buffer is bounded by Options.EmitBufferBytes: while connected, Emit
// waits for room (a server that does not read pushes back) or for ctx.
// While disconnected the packet waits for the next connection and Emit
// returns at once, or fails with ErrBufferFull past the bounds.
//
// A packet whose write fails after Emit returned is neither lost silently
// nor sent twice: unless it reached the socket in full before the
// connection broke, it goes out again after reconnection, in order; if
// the stream ends first it is counted in Stats.Unsent. A packet that did
// reach the socket may still be lost with the connection: use
// EmitWithAck or Options.Retries when the server must have it.
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
// they fail with ErrNotConnected instead of waiting, and those not yet
// written when the connection is lost are dropped (Stats.Unsent).
func (st *Stream) EmitVolatile(ctx context.Context, event string, args ...any) error {
	f, err := st.encodeEvent(event, args, nil)
	if err != nil {
		return err
	}
	f.Volatile = true
	return st.submit(ctx, f)
}

// EmitWithAck sends an event asking the server to acknowledge it and
// returns the server's reply. ctx bounds the whole wait. If the
// connection is lost after the packet was written, it fails with an error
// matching ErrDisconnected; a packet not yet written waits for the next
// connection.
func (st *Stream) EmitWithAck(ctx context.Context, event string, args ...any) (Reply, error) {
	if st.opts.Retries > 0 {
		return st.emitReliable(ctx, event, args)
	}
	return st.emitAck(ctx, event, args, 0)
}

// Flush waits until every packet emitted on this stream before the call
// is on the wire (handed to the socket in full), or settled otherwise:
// volatile packets dropped with a lost connection count as settled. It
// returns ctx's error when ctx ends first and ErrClosed when the stream
// ends with such packets unsent.
func (st *Stream) Flush(ctx context.Context) error {
	st.mu.Lock()
	target := st.nextSeq
	st.mu.Unlock()
	for st.doneSeq.Load() < target {
		ch := st.sendWait.arm()
		if st.doneSeq.Load() >= target {
			st.sendWait.disarm()
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			st.sendWait.disarm()
			return ctx.Err()
		case <-st.closing:
			st.sendWait.disarm()
			if st.doneSeq.Load() >= target {
				return nil
			}
			return ErrClosed
		}
		st.sendWait.disarm()
	}
	return nil
}

// emitAck sends an event with an ack id and waits for the reply. The
// ackTimeout clock (none when zero) starts once the packet is queued.
func (st *Stream) emitAck(ctx context.Context, event string, args []any, ackTimeout time.Duration) (Reply, error) {
	p, err := st.acks.add()
	if err != nil {
		return Reply{}, err
	}
	defer st.acks.remove(p)
	f, err := st.encodeEvent(event, args, p)
	if err != nil {
		return Reply{}, err
	}
	if err := st.submit(ctx, f); err != nil {
		return Reply{}, err
	}
	var timeout <-chan time.Time
	if ackTimeout > 0 {
		t := time.NewTimer(ackTimeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case r := <-p.ch:
		return r.reply, r.err
	case <-timeout:
		return Reply{}, context.DeadlineExceeded
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
}

var reserved = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true, "": true,
}

// encodeEvent builds the EVENT or BINARY_EVENT frame for an emit.
func (st *Stream) encodeEvent(event string, args []any, ack *pendingAck) (*engine.Frame, error) {
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
	if ack != nil {
		f.Tag = ack
	}
	return f, nil
}

// encode builds a frame: header, then a JSON array of the optional event
// name and args. []byte values become attachments, copied: the caller may
// change them once Emit returns.
func (st *Stream) encode(h frames.Header, event string, args []any) (*engine.Frame, error) {
	args, atts, err := extract(args)
	if err != nil {
		return nil, fmt.Errorf("siostream: encode args: %w", err)
	}
	if atts != nil {
		h.Type, h.Attachments = h.Type+frames.BinaryEvent-frames.Event, len(atts)
	}
	f := engine.NewFrame()
	b := frames.AppendHeader(append(f.Data, '4'), h)
	b = append(b, '[')
	if h.Type == frames.Event || h.Type == frames.BinaryEvent {
		b = append(frames.AppendString(b, event), ',')
	}
	for _, a := range args {
		if b, err = appendJSON(b, a); err != nil {
			f.Data = b
			f.Release()
			return nil, fmt.Errorf("siostream: encode args: %w", err)
		}
		b = append(b, ',')
	}
	if b[len(b)-1] == ',' {
		b = b[:len(b)-1]
	}
	f.Data = append(b, ']')
	f.Atts = copyAttachments(atts)
	if err := st.checkSize(f); err != nil {
		f.Release()
		return nil, err
	}
	return f, nil
}

// copyAttachments copies the attachments into one allocation.
func copyAttachments(atts [][]byte) [][]byte {
	if atts == nil {
		return nil
	}
	n := 0
	for _, a := range atts {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(atts))
	for i, a := range atts {
		buf = append(buf, a...)
		out[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	return out
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
	return appendMarshal(b, v)
}

// jsonEncoder is a pooled encoding/json encoder with its buffer, so that
// encoding a struct allocates nothing once warm.
type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &jsonEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

// appendMarshal appends v as json.Marshal encodes it.
func appendMarshal(b []byte, v any) ([]byte, error) {
	e := encoders.Get().(*jsonEncoder)
	e.buf.Reset()
	err := e.enc.Encode(v)
	if err == nil {
		out := e.buf.Bytes()
		b = append(b, out[:len(out)-1]...) // Encode adds a newline
	}
	if e.buf.Cap() > 64<<10 {
		e.buf = bytes.Buffer{}
	}
	encoders.Put(e)
	return b, err
}

// checkSize rejects a frame that the server would refuse (its maxPayload
// applies to each WebSocket message).
func (st *Stream) checkSize(f *engine.Frame) error {
	limit := st.maxPayload.Load()
	if limit <= 0 {
		return nil
	}
	big := int64(len(f.Data))
	for _, a := range f.Atts {
		big = max(big, int64(len(a)))
	}
	if big > limit {
		return fmt.Errorf("%w: %d > %d bytes", ErrPayloadTooLarge, big, limit)
	}
	return nil
}

// submit puts f in the stream's outgoing buffer: on the live connection
// while joined, else in the outbox for the next one.
func (st *Stream) submit(ctx context.Context, f *engine.Frame) error {
	if err := ctx.Err(); err != nil {
		f.Release()
		return err
	}
	size := int64(f.Mem())
	st.mu.Lock()
	for st.state == streamConnected {
		if u := st.unwritten.Load(); u == 0 || u+size <= int64(st.opts.EmitBufferBytes) {
			l := st.active.Load()
			st.queue(l, f, size)
			st.mu.Unlock()
			return nil
		}
		ch := st.sendWait.arm()
		st.mu.Unlock()
		if u := st.unwritten.Load(); u != 0 && u+size > int64(st.opts.EmitBufferBytes) {
			select {
			case <-ch:
			case <-ctx.Done():
				st.sendWait.disarm()
				f.Release()
				return ctx.Err()
			}
		}
		st.sendWait.disarm()
		st.mu.Lock()
	}
	defer st.mu.Unlock()
	if st.state == streamClosed {
		f.Release()
		return ErrClosed
	}
	return st.buffer(f)
}

// number gives f the stream's next sequence number. Called with mu held.
func (st *Stream) number(f *engine.Frame) {
	st.nextSeq++
	f.Seq, f.Owner = st.nextSeq, st
}

// queue hands f to the writer of l. Called with mu held, joined on l.
func (st *Stream) queue(l *link, f *engine.Frame, size int64) {
	if f.Seq == 0 {
		st.number(f)
	}
	if p, ok := f.Tag.(*pendingAck); ok {
		st.acks.sentOn(p, l.gen)
	}
	st.unwritten.Add(size)
	if err := l.conn.Send(f); err != nil {
		// The connection is ending: the frame waits for the next one,
		// after those the connection hands back; a volatile one is
		// dropped, as those it hands back are.
		st.unwritten.Add(-size)
		if f.Volatile {
			st.unsent++
			f.Release()
			return
		}
		st.outbox = append(st.outbox, f)
		st.outBytes += int(size)
	}
}

// buffer keeps f for the next connection. Called with mu held.
func (st *Stream) buffer(f *engine.Frame) error {
	size := f.Mem()
	switch {
	case f.Volatile:
		f.Release()
		return ErrNotConnected
	case st.opts.EmitBufferCount < 0 || len(st.outbox) >= st.opts.EmitBufferCount ||
		st.outBytes+size > st.opts.EmitBufferBytes:
		f.Release()
		return ErrBufferFull
	}
	st.number(f)
	if p, ok := f.Tag.(*pendingAck); ok {
		st.acks.sentOn(p, 0)
	}
	st.outbox = append(st.outbox, f)
	st.outBytes += size
	return nil
}

// flushOutbox hands the buffered emits to l's writer, in order. Called
// with mu held, just joined on l.
func (st *Stream) flushOutbox(l *link) {
	box := st.outbox
	st.outbox, st.outBytes = nil, 0
	for _, f := range box {
		st.queue(l, f, int64(f.Mem()))
	}
	clear(box)
}

// Written is called by the writer once the frames fs are on the wire.
func (st *Stream) Written(fs []*engine.Frame) {
	var mem int64
	for _, f := range fs {
		mem += int64(f.Mem())
		if f.Tag != nil {
			if p, ok := f.Tag.(*pendingAck); ok {
				p.written.Store(true)
			}
		}
	}
	st.unwritten.Add(-mem)
	st.doneSeq.Store(fs[len(fs)-1].Seq)
	st.emitted.Add(uint64(len(fs)))
	st.sendWait.wake()
}

// requeue takes back the frames a lost connection never wrote: they go in
// front of the outbox, volatile ones are dropped. Called with mu held.
func (st *Stream) requeue(rest []*engine.Frame) {
	keep := rest[:0]
	for _, f := range rest {
		st.unwritten.Add(-int64(f.Mem()))
		if f.Volatile || st.state == streamClosed {
			st.unsent++
			f.Release()
			continue
		}
		if p, ok := f.Tag.(*pendingAck); ok {
			st.acks.sentOn(p, 0)
		}
		st.outBytes += f.Mem()
		keep = append(keep, f)
	}
	st.outbox = append(keep, st.outbox...)
	if len(st.outbox) > 0 {
		st.doneSeq.Store(max(st.doneSeq.Load(), st.outbox[0].Seq-1))
		// Every emit numbered after the newest kept one was dropped (a
		// volatile one): writing that one settles them all for Flush.
		st.outbox[len(st.outbox)-1].Seq = st.nextSeq
	} else {
		st.doneSeq.Store(st.nextSeq)
	}
	st.sendWait.wake()
}
