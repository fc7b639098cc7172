package engine

import "sync"

// Frame is one packet to send: an Engine.IO text packet and the binary
// attachments that must follow it, written as one unit and never
// interleaved with another frame.
type Frame struct {
	// Data is the text frame: the Engine.IO type digit and its payload.
	Data []byte
	// Atts are binary frames written right after Data.
	Atts [][]byte
	// Owner is told once the frame is written in full; nil for none.
	Owner Owner
	// Seq and Tag are the owner's; this package never looks at them.
	Seq uint64
	Tag any
	// Bound marks a frame that only makes sense on this connection (an
	// ack to the server): if it is still unwritten when the connection
	// ends it is dropped rather than handed back by Unsent.
	Bound bool
	// Volatile is the owner's flag, kept with the frame.
	Volatile bool

	pooled bool
}

// Owner is told about the frames it queued, on the writer goroutine. It
// must not block and must not call back into the Conn.
type Owner interface {
	// Written reports that the frames fs, consecutive ones of this
	// owner, are on the wire (handed to the socket in full). They are
	// recycled once Written returns.
	Written(fs []*Frame)
}

// Size is the number of payload bytes the frame puts on the wire.
func (f *Frame) Size() int {
	n := len(f.Data)
	for _, a := range f.Atts {
		n += len(a)
	}
	return n
}

// Mem is the memory the frame holds, for budgets: its buffers' capacity.
func (f *Frame) Mem() int {
	n := cap(f.Data)
	for _, a := range f.Atts {
		n += cap(a)
	}
	return n
}

// frameData is the buffer a pooled frame starts with, and the largest it
// keeps when recycled.
const (
	frameData    = 512
	frameDataMax = 64 << 10
)

var framePool = sync.Pool{New: func() any { return &Frame{Data: make([]byte, 0, frameData), pooled: true} }}

// spareFrames sits in front of framePool. Frames are taken by emitters
// and given back by writers, on other processors: sync.Pool's
// per-processor caches then miss, and every garbage collection empties
// them. A bounded channel serves any processor and is not emptied; it
// holds at most its capacity of small frames (about 300 KiB).
var spareFrames = make(chan *Frame, 512)

// NewFrame returns an empty frame from a pool, with room for small
// packets in Data.
func NewFrame() *Frame {
	select {
	case f := <-spareFrames:
		return f
	default:
		return framePool.Get().(*Frame)
	}
}

// Release recycles a frame from NewFrame; nobody may use it afterwards.
// Frames made otherwise are left to the garbage collector.
func (f *Frame) Release() {
	if !f.pooled {
		return
	}
	data := f.Data[:0]
	if cap(data) > frameDataMax {
		data = make([]byte, 0, frameData)
	}
	*f = Frame{Data: data, pooled: true}
	if cap(data) > frameData {
		framePool.Put(f) // only small frames stay in spareFrames, for its bound
		return
	}
	select {
	case spareFrames <- f:
	default:
		framePool.Put(f)
	}
}
