package siostream

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// outFrame is one packet to send: a text frame and the binary attachments
// that must follow it, written as one unit.
type outFrame struct {
	op    ws.OpCode
	data  []byte
	atts  [][]byte
	done  chan error // nil when nobody waits
	ack   *pendingAck
	owner *Stream // nil for connection-level frames
	pool  bool    // data came from framePool
	vol   bool    // volatile: dropped rather than buffered
}

func (f *outFrame) size() int {
	n := len(f.data)
	for _, a := range f.atts {
		n += len(a)
	}
	return n
}

// framePool recycles the frames Emit builds, with their buffers.
var framePool = sync.Pool{New: func() any { return &outFrame{data: make([]byte, 0, 512), pool: true} }}

var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

func newFrame() *outFrame { return framePool.Get().(*outFrame) }

// release recycles a pooled frame; nobody may touch f afterwards.
func (f *outFrame) release() {
	if !f.pool {
		return
	}
	data := f.data[:0]
	if cap(data) > 64<<10 {
		data = make([]byte, 0, 512)
	}
	*f = outFrame{data: data, pool: true}
	framePool.Put(f)
}

// writer is the only goroutine that writes to a connection. Whole frames
// are queued; pongs jump the queue.
type writer struct {
	nc      net.Conn
	bw      *bufio.Writer
	timeout atomic.Int64 // write deadline per batch, in nanoseconds

	mu     sync.Mutex
	queue  []*outFrame
	spare  []*outFrame
	pongs  int
	queued int  // bytes in queue
	final  bool // after the queue, send close and stop
	failed error

	wake chan struct{}
	done chan struct{}
	sent *atomic.Uint64 // counts frames written, when set

	deflate bool         // permessage-deflate negotiated
	zbuf    bytes.Buffer // compressed message scratch

	hdr  [ws.MaxHeaderSize]byte
	keys [256]byte
	kpos int
}

func newWriter(nc net.Conn, timeout time.Duration, sent *atomic.Uint64) *writer {
	w := &writer{
		nc:   nc,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		sent: sent,
		kpos: 256,
	}
	w.timeout.Store(int64(timeout))
	go w.loop()
	return w
}

// enqueue adds f; it reports false when the writer has stopped.
func (w *writer) enqueue(f *outFrame) bool {
	ok, _ := w.enqueueLimit(f, 0)
	return ok
}

// enqueueLimit adds f unless the bytes queued would pass limit (0: no
// limit); full reports that case.
func (w *writer) enqueueLimit(f *outFrame, limit int) (ok, full bool) {
	n := f.size()
	w.mu.Lock()
	ok = w.failed == nil && !w.final
	if full = limit > 0 && w.queued > 0 && w.queued+n > limit; ok && !full {
		w.queue = append(w.queue, f)
		w.queued += n
	}
	w.mu.Unlock()
	if ok && !full {
		w.signal()
	}
	return ok && !full, full
}

// pong asks for an Engine.IO pong, written before queued frames.
func (w *writer) pong() {
	w.mu.Lock()
	w.pongs++
	w.mu.Unlock()
	w.signal()
}

// finish asks the writer to send what is queued, then f, then a WebSocket
// close frame, and stop.
func (w *writer) finish(f *outFrame) {
	w.mu.Lock()
	if w.failed == nil && !w.final {
		if f != nil {
			w.queue = append(w.queue, f)
		}
		w.final = true
	}
	w.mu.Unlock()
	w.signal()
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// stop ends the writer (the connection is already closed or about to be)
// and returns the frames it never started to write.
func (w *writer) stop(err error) []*outFrame {
	w.mu.Lock()
	if w.failed == nil {
		w.failed = err
	}
	w.mu.Unlock()
	w.signal()
	<-w.done
	w.mu.Lock()
	rest := w.queue
	w.queue = nil
	w.mu.Unlock()
	return rest
}

func (w *writer) loop() {
	defer close(w.done)
	for range w.wake {
		w.bw = getBufWriter(w.nc) // held only while there is work
		more := w.drain()
		putBufWriter(w.bw)
		w.bw = nil
		if !more {
			return
		}
	}
}

// bufWriters lend write buffers to writers with work to do, so that idle
// connections hold none.
var bufWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

func getBufWriter(nc net.Conn) *bufio.Writer {
	bw := bufWriters.Get().(*bufio.Writer)
	bw.Reset(nc)
	return bw
}

func putBufWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	bufWriters.Put(bw)
}

// drain writes everything queued; it reports whether to keep running.
func (w *writer) drain() bool {
	for {
		w.mu.Lock()
		if w.failed != nil {
			w.mu.Unlock()
			return false
		}
		// queue and spare never share an array: take one, lend the other.
		batch, pongs, final := w.queue, w.pongs, w.final
		w.queue, w.spare, w.pongs, w.queued = w.spare[:0], nil, 0, 0
		w.mu.Unlock()
		if len(batch) == 0 && pongs == 0 {
			if final {
				w.writeClose()
				return false
			}
			return true
		}
		if err := w.writeBatch(batch, pongs); err != nil {
			w.mu.Lock()
			w.failed = err
			w.mu.Unlock()
			w.nc.Close() // a connection that cannot be written is dead: reconnect
			return false
		}
		clear(batch)
		w.spare = batch[:0]
	}
}

func (w *writer) writeBatch(batch []*outFrame, pongs int) error {
	w.nc.SetWriteDeadline(time.Now().Add(time.Duration(w.timeout.Load())))
	for ; pongs > 0; pongs-- {
		if err := w.writeFrame(ws.OpText, pongFrame[:]); err != nil {
			w.requeue(batch)
			return err
		}
	}
	for i, f := range batch {
		if err := w.writeOut(f); err != nil {
			// Frames up to f may be partly on the wire: their senders
			// get the error. The rest were never started.
			finishAll(batch[:i+1], err)
			w.requeue(batch[i+1:])
			return err
		}
	}
	err := w.bw.Flush()
	if err == nil && w.sent != nil {
		w.sent.Add(uint64(len(batch)))
	}
	finishAll(batch, err)
	return err
}

// requeue puts frames never started back at the queue's front, so that
// stop returns them in order.
func (w *writer) requeue(fs []*outFrame) {
	w.mu.Lock()
	w.queue = append(append([]*outFrame(nil), fs...), w.queue...)
	w.mu.Unlock()
}

func finishAll(fs []*outFrame, err error) {
	if err != nil {
		err = errors.Join(ErrDisconnected, err)
	}
	for _, f := range fs {
		finishFrame(f, err)
	}
}

var pongFrame = [1]byte{'3'}

func (w *writer) writeOut(f *outFrame) error {
	if err := w.writeFrame(f.op, f.data); err != nil {
		return err
	}
	for _, a := range f.atts {
		if err := w.writeFrame(ws.OpBinary, a); err != nil {
			return err
		}
	}
	return nil
}

// writeFrame writes one masked client frame. The payload is masked in a
// copy held by the bufio.Writer, so p is left as it was.
func (w *writer) writeFrame(op ws.OpCode, p []byte) error {
	var rsv byte
	if w.deflate && op.IsData() && len(p) >= compressMin {
		p, rsv = deflate(&w.zbuf, p), rsv1
	}
	h := ws.Header{Fin: true, Rsv: rsv, OpCode: op, Masked: true, Length: int64(len(p)), Mask: w.mask()}
	if err := ws.WriteHeaderBuffer(w.bw, h, w.hdr[:]); err != nil {
		return err
	}
	for pos := 0; pos < len(p); {
		if w.bw.Available() == 0 {
			if err := w.bw.Flush(); err != nil {
				return err
			}
		}
		buf := w.bw.AvailableBuffer()[:min(w.bw.Available(), len(p)-pos)]
		copy(buf, p[pos:])
		ws.Cipher(buf, h.Mask, pos)
		w.bw.Write(buf)
		pos += len(buf)
	}
	return nil
}

// mask returns a fresh masking key from crypto/rand, read 256 bytes at a
// time.
func (w *writer) mask() (m [4]byte) {
	if w.kpos+4 > len(w.keys) {
		rand.Read(w.keys[:])
		w.kpos = 0
	}
	copy(m[:], w.keys[w.kpos:])
	w.kpos += 4
	return m
}

func (w *writer) writeClose() {
	w.nc.SetWriteDeadline(time.Now().Add(time.Second))
	body := ws.NewCloseFrameBody(ws.StatusNormalClosure, "")
	if w.writeFrame(ws.OpClose, body) == nil {
		w.bw.Flush()
	}
	w.mu.Lock()
	w.failed = net.ErrClosed
	w.mu.Unlock()
}

func finishFrame(f *outFrame, err error) {
	done := f.done
	f.release()
	if done != nil {
		done <- err
	}
}
