package engine

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// writer is the only goroutine that writes to a connection, and it runs
// only while there is something to write: Send (or a ping to answer)
// starts it when none runs, and it ends when the queue is empty. Whole
// frames are queued; pongs jump the queue at the next frame boundary, at
// most one of each kind pending (the latest WebSocket ping payload wins),
// so no flood of pings can grow memory.
type writer struct {
	nc      net.Conn
	timeout time.Duration
	deflate bool
	abort   func(error) // closes the socket, making err the reader's cause

	// mu guards the fields below it. Lock order: the owner's locks, then
	// mu; Owner.Written is called without mu.
	mu        sync.Mutex
	queue     []*Frame
	spare     []*Frame
	pong      bool // an Engine.IO pong is due
	wsPong    [125]byte
	wsPongLen int
	wsPongDue bool
	final     bool          // write a close frame after the queue, then stop
	err       error         // set once nothing more may be written
	running   bool          // a writer (goroutine, or a caller writing inline) runs
	exited    chan struct{} // made by whoever waits for the running writer; closed when it ends
	unsent    []*Frame      // frames a failed write handed back, oldest first

	due    atomic.Bool   // a pong is due: checked between frames
	writes atomic.Uint64 // successful writes to the socket, for Leave
}

func newWriter(nc net.Conn, timeout time.Duration, abort func(error)) *writer {
	return &writer{nc: nc, timeout: timeout, abort: abort}
}

// send queues f. It fails once the connection is closing or broken; f is
// then still the caller's.
func (w *writer) send(f *Frame) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.final {
		return ErrClosed
	}
	w.queue = append(w.queue, f)
	w.start()
	return nil
}

// start runs the writer goroutine unless a writer runs. Called with mu
// held.
func (w *writer) start() {
	if !w.running {
		w.running = true
		go w.run()
	}
}

// end ends the running writer: s goes back to its pool, then the end is
// signalled and mu released. Called with mu held.
func (w *writer) end(s *scratch) {
	putScratch(s)
	w.exit()
	w.mu.Unlock()
}

// exit ends the running writer. Called with mu held.
func (w *writer) exit() {
	w.running = false
	if w.exited != nil {
		close(w.exited)
		w.exited = nil
	}
}

// wait returns a channel closed once no writer runs. Called with mu held.
func (w *writer) wait() <-chan struct{} {
	if !w.running {
		return closedChan
	}
	if w.exited == nil {
		w.exited = make(chan struct{})
	}
	return w.exited
}

// pongEngine asks for an Engine.IO pong.
func (w *writer) pongEngine() {
	w.mu.Lock()
	if w.err == nil {
		w.pong = true
		w.due.Store(true)
		w.start()
	}
	w.mu.Unlock()
}

// pongWS asks for a WebSocket pong with payload p (at most 125 bytes);
// a later ping replaces an earlier one not yet answered.
func (w *writer) pongWS(p []byte) {
	w.mu.Lock()
	if w.err == nil {
		w.wsPongLen = copy(w.wsPong[:], p)
		w.wsPongDue = true
		w.due.Store(true)
		w.start()
	}
	w.mu.Unlock()
}

// finish makes the writer write what is queued, then f (if any), then a
// WebSocket close frame, and stop. Later sends fail. It returns a channel
// closed when the writer has stopped.
func (w *writer) finish(f *Frame) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil && !w.final {
		if f != nil {
			w.queue = append(w.queue, f)
		}
		w.final = true
		w.start()
	}
	return w.wait()
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// stop ends the writer for good (the socket is closed or about to be),
// waits for its goroutine and returns the frames never written, oldest
// first: frames with no owner and bound frames are dropped.
func (w *writer) stop(cause error) []*Frame {
	w.mu.Lock()
	if w.err == nil {
		w.err = cause
	}
	done := w.wait()
	w.mu.Unlock()
	<-done
	w.mu.Lock()
	rest := append(w.unsent, w.queue...)
	w.unsent, w.queue, w.spare = nil, nil, nil
	w.mu.Unlock()
	keep := rest[:0]
	for _, f := range rest {
		if f.Owner == nil || f.Bound {
			f.Release()
			continue
		}
		keep = append(keep, f)
	}
	clear(rest[len(keep):])
	return keep
}

// scratch is what a running writer needs; it is pooled so that idle
// connections hold none of it.
type scratch struct {
	out  []byte
	done []written
	run  []*Frame // frames of one owner, for Owner.Written
	keys [256]byte
	kpos int
	zbuf bytes.Buffer
	ping [125]byte
}

// written is a frame whose bytes all sit in out, ending at end.
type written struct {
	f   *Frame
	end int
}

const outSize = 64 << 10

var scratchPool = sync.Pool{New: func() any { return &scratch{out: make([]byte, 0, outSize), kpos: 256} }}

func (w *writer) run() {
	s := scratchPool.Get().(*scratch)
	for w.round(s) {
	}
}

func putScratch(s *scratch) {
	if s.zbuf.Cap() > outSize {
		s.zbuf = bytes.Buffer{}
	}
	scratchPool.Put(s)
}

// round writes one batch; it reports whether to go on. When it does not,
// the writer has ended: s is back in its pool and the end is signalled,
// the last things the writer does.
func (w *writer) round(s *scratch) bool {
	w.mu.Lock()
	if w.err != nil {
		w.end(s)
		return false
	}
	batch := w.queue
	w.queue, w.spare = w.spare[:0], nil
	final := w.final && len(batch) == 0
	if len(batch) == 0 && !w.pong && !w.wsPongDue && !final {
		w.end(s)
		return false
	}
	w.mu.Unlock()
	err := w.writeBatch(s, batch, final)
	if err == errFinished {
		w.nc.Close()
		w.mu.Lock()
		w.err = ErrClosed
		w.end(s)
		return false
	}
	if err != nil {
		w.fail(err)
		w.mu.Lock()
		w.end(s)
		return false
	}
	clear(batch)
	w.mu.Lock()
	w.spare = batch[:0]
	w.mu.Unlock()
	return true
}

// writeBatch writes pongs, then the frames of batch, then (when final) a
// close frame.
func (w *writer) writeBatch(s *scratch, batch []*Frame, final bool) error {
	s.out, s.done = s.out[:0], s.done[:0]
	for i, f := range batch {
		if err := w.pongs(s); err != nil {
			return w.unwritten(s, err, batch[i:])
		}
		if err := w.putFrame(s, f); err != nil {
			return w.unwritten(s, err, batch[i:])
		}
		s.done = append(s.done, written{f, len(s.out)})
	}
	if err := w.pongs(s); err != nil {
		return w.unwritten(s, err, nil)
	}
	if final {
		if err := w.put(s, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
			return w.unwritten(s, err, nil)
		}
	}
	if err := w.flush(s); err != nil {
		return w.unwritten(s, err, nil)
	}
	if final {
		return errFinished
	}
	return nil
}

// errFinished ends the writer after the close frame went out.
var errFinished = errors.New("close frame written")

// pongs puts the pongs that are due.
func (w *writer) pongs(s *scratch) error {
	if !w.due.Load() {
		return nil
	}
	w.mu.Lock()
	eio, n := w.pong, 0
	if w.wsPongDue {
		n = copy(s.ping[:], w.wsPong[:w.wsPongLen])
	}
	wsDue := w.wsPongDue
	w.pong, w.wsPongDue = false, false
	w.due.Store(false)
	w.mu.Unlock()
	if wsDue {
		if err := w.put(s, ws.OpPong, s.ping[:n]); err != nil {
			return err
		}
	}
	if eio {
		return w.put(s, ws.OpText, pongPacket)
	}
	return nil
}

var pongPacket = []byte{'3'}

func (w *writer) putFrame(s *scratch, f *Frame) error {
	if err := w.put(s, ws.OpText, f.Data); err != nil {
		return err
	}
	for _, a := range f.Atts {
		if err := w.put(s, ws.OpBinary, a); err != nil {
			return err
		}
	}
	return nil
}

var rsv1 = ws.Rsv(true, false, false)

// put appends one masked frame with payload p to out, writing out to the
// socket whenever it fills; p is left as it was.
func (w *writer) put(s *scratch, op ws.OpCode, p []byte) error {
	var rsv byte
	if w.deflate && op.IsData() && len(p) >= compressMin {
		p, rsv = deflate(&s.zbuf, p), rsv1
	}
	if cap(s.out)-len(s.out) < ws.MaxHeaderSize {
		if err := w.flush(s); err != nil {
			return err
		}
	}
	mask := s.mask()
	s.out = appendHeader(s.out, op, rsv, len(p), mask)
	for pos := 0; pos < len(p); {
		if len(s.out) == cap(s.out) {
			if err := w.flush(s); err != nil {
				return err
			}
		}
		start := len(s.out)
		n := min(cap(s.out)-start, len(p)-pos)
		s.out = append(s.out, p[pos:pos+n]...)
		ws.Cipher(s.out[start:], mask, pos)
		pos += n
	}
	return nil
}

// appendHeader appends a client frame header (FIN set, masked).
func appendHeader(b []byte, op ws.OpCode, rsv byte, n int, mask [4]byte) []byte {
	b = append(b, 0x80|rsv<<4|byte(op))
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, mask[:]...)
}

// flush writes out and tells the owners of the frames it completed.
func (w *writer) flush(s *scratch) error {
	if len(s.out) == 0 {
		return nil
	}
	w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	n, err := w.nc.Write(s.out)
	if err != nil {
		return w.writeError(s, n, err)
	}
	w.writes.Add(1)
	w.wrote(s, len(s.done))
	s.out, s.done = s.out[:0], s.done[:0]
	return nil
}

// writeError keeps, in s.done, only the frames that did not reach the
// socket in full.
func (w *writer) writeError(s *scratch, n int, err error) error {
	i := 0
	for i < len(s.done) && s.done[i].end <= n {
		i++
	}
	w.wrote(s, i)
	s.done = append(s.done[:0], s.done[i:]...)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrWriteTimeout
	}
	return err
}

// wrote tells the owners of the first n frames of s.done that they are
// on the wire, a run of one owner's frames at a time, and recycles them.
func (w *writer) wrote(s *scratch, n int) {
	run := s.run[:0]
	for i := 0; i < n; i++ {
		f := s.done[i].f
		s.done[i] = written{}
		if len(run) > 0 && run[0].Owner != f.Owner {
			tell(run)
			run = run[:0]
		}
		run = append(run, f)
	}
	tell(run)
	clear(run)
	s.run = run[:0]
}

func tell(run []*Frame) {
	if len(run) == 0 {
		return
	}
	if o := run[0].Owner; o != nil {
		o.Written(run)
	}
	for _, f := range run {
		f.Release()
	}
}

// unwritten hands back, oldest first, the frames a failed write left:
// those that sat in out, then rest (whose first frame may be partly
// written: the server never sees a partial frame as a message).
func (w *writer) unwritten(s *scratch, err error, rest []*Frame) error {
	var back []*Frame
	for i, d := range s.done {
		back = append(back, d.f)
		s.done[i] = written{}
	}
	s.done = s.done[:0]
	back = append(back, rest...)
	w.mu.Lock()
	w.unsent = append(w.unsent, back...)
	w.mu.Unlock()
	return err
}

// fail records a write error and closes the socket: a connection that
// cannot be written is dead, and the reader reports it. The caller ends
// the writer.
func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.abort(err)
}

// mask returns a fresh masking key from crypto/rand, read 256 bytes at a
// time.
func (s *scratch) mask() (m [4]byte) {
	if s.kpos+4 > len(s.keys) {
		rand.Read(s.keys[:])
		s.kpos = 0
	}
	copy(m[:], s.keys[s.kpos:])
	s.kpos += 4
	return m
}
