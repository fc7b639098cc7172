package engine

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// The permessage-deflate offer: no context takeover either way, so that
// each message is compressed and decompressed on its own and compressors
// can be pooled. A server that keeps its context anyway is handled with a
// dictionary.
var deflateOffer = wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}.Option()

// negotiated returns the deflate parameters the server accepted, if any.
func negotiated(hs ws.Handshake) (*wsflate.Parameters, error) {
	for _, opt := range hs.Extensions {
		if !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
			continue
		}
		var p wsflate.Parameters
		if err := p.Parse(opt); err != nil {
			return nil, fmt.Errorf("bad permessage-deflate response: %w", err)
		}
		return &p, nil
	}
	return nil, nil
}

func extensions(on bool) []httphead.Option {
	if !on {
		return nil
	}
	return []httphead.Option{deflateOffer}
}

// inflater decompresses the server's messages: one state per connection.
type inflater struct {
	fr        io.ReadCloser
	src       bytes.Reader
	out       []byte
	dict      []byte // last 32 KiB of output when the server keeps context
	keepState bool
}

// readTail ends every message with an empty final block, so that the
// decompressor reports io.EOF at the message's end.
var readTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

var errInflate = errors.New("bad compressed message")

// inflate returns the decompressed message, at most limit bytes; the
// result is valid until the next call or release. in is appended to.
func (z *inflater) inflate(in []byte, limit int64) ([]byte, error) {
	z.src.Reset(append(in, readTail...))
	if z.fr == nil {
		z.fr = flate.NewReaderDict(&z.src, z.dict)
	} else if err := z.fr.(flate.Resetter).Reset(&z.src, z.dict); err != nil {
		return nil, err
	}
	out, err := readAllLimit(z.fr, z.out[:0], limit)
	z.out = out
	if err != nil {
		return nil, err
	}
	if z.keepState {
		z.keepWindow(out)
	}
	return out, nil
}

// release drops an output buffer grown for a large message.
func (z *inflater) release() {
	if cap(z.out) > readBufMax {
		z.out = nil
	}
}

// readAllLimit reads r to EOF into dst, failing past limit bytes; dst
// grows as bytes arrive, never from a declared length.
func readAllLimit(r io.Reader, dst []byte, limit int64) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > limit {
			return nil, protoErr("websocket", fmt.Errorf("%w: decompressed message over %d bytes", ErrTooLarge, limit))
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, protoErr("websocket", fmt.Errorf("%w: %v", errInflate, err))
		}
	}
}

// window is the deflate window: the output a server that keeps its
// context may refer back to.
const window = 32 << 10

// keepWindow keeps the last window of output for the next message, in a
// buffer that never grows past two windows: a large message does not pin
// its size for the connection's life.
func (z *inflater) keepWindow(out []byte) {
	if len(out) >= window {
		z.dict = append(z.dict[:0], out[len(out)-window:]...)
		return
	}
	z.dict = append(z.dict, out...)
	if n := len(z.dict); n > window {
		z.dict = append(z.dict[:0], z.dict[n-window:]...)
	}
}

// deflaters are shared by all connections: with no client context
// takeover each message starts afresh.
var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// compressMin is the smallest message worth compressing.
const compressMin = 256

// deflate compresses p into dst for a message with RSV1 set.
func deflate(dst *bytes.Buffer, p []byte) []byte {
	fw := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(fw)
	dst.Reset()
	fw.Reset(dst)
	fw.Write(p)
	fw.Flush()
	return bytes.TrimSuffix(dst.Bytes(), readTail[:4])
}
