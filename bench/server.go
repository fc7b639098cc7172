package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// serverConfig is what the load server does with every connection.
type serverConfig struct {
	Mode    string // flood, echo, sink or idle
	N       int    // flood: events per connection
	Size    int    // flood: payload bytes
	Variant string // flood: "", floodAck or floodRecovery
}

// Flood variants.
const (
	// floodAck sends every event with an ack id: 42<id>["ev","<payload>"].
	floodAck = "ack"
	// floodRecovery turns connection state recovery on: the CONNECT reply
	// carries a pid and every event a last argument with its offset,
	// 42["ev","<payload>","<offset>"].
	floodRecovery = "recovery"
)

const (
	// longPing keeps heartbeats out of the throughput and latency runs.
	longPing    = 10 * time.Minute
	idlePing    = 25 * time.Second
	pingTimeout = 20 * time.Second
	// connLife bounds how long the server keeps any one connection.
	connLife = 10 * time.Minute
)

// runServer serves until stdin reaches end-of-file (the parent process
// went away or closed it), printing {"port":N} once it listens.
func runServer(cfg serverConfig) error {
	switch cfg.Mode {
	case "flood", "echo", "sink", "idle":
	default:
		return fmt.Errorf("unknown server mode %q", cfg.Mode)
	}
	switch cfg.Variant {
	case "", floodAck, floodRecovery:
	default:
		return fmt.Errorf("unknown flood variant %q", cfg.Variant)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	out, _ := json.Marshal(map[string]int{"port": ln.Addr().(*net.TCPAddr).Port})
	fmt.Println(string(out))
	srv := &loadServer{cfg: cfg}
	if cfg.Mode == "flood" {
		srv.chunk, srv.frameLen, srv.tail = floodChunks(cfg)
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go srv.handle(nc)
	}
}

type loadServer struct {
	cfg      serverConfig
	ids      atomic.Uint64
	chunk    []byte // flood: whole frames, written repeatedly
	frameLen int    // flood: bytes of one frame in chunk
	tail     []byte // flood: the done frame
}

// floodChunks pre-encodes the flood: a chunk of about 256 KiB of EVENT
// frames of one length and the final done frame.
func floodChunks(cfg serverConfig) (chunk []byte, frameLen int, tail []byte) {
	payload := payloadString(cfg.Size)
	frameLen = len(floodFrame(cfg, payload, 0))
	perChunk := max(1, (256<<10)/frameLen)
	chunk = make([]byte, 0, perChunk*frameLen)
	for i := range perChunk {
		chunk = append(chunk, floodFrame(cfg, payload, i)...)
	}
	if len(chunk) != perChunk*frameLen {
		panic("flood frames differ in length")
	}
	tail = appendServerFrame(nil, ws.OpText, []byte(`42["done"]`))
	return chunk, frameLen, tail
}

// floodFrame is frame i of the flood chunk. Ack ids and offsets have a
// fixed width, so that every frame has the same length; they repeat from
// one chunk to the next.
func floodFrame(cfg serverConfig, payload string, i int) []byte {
	var msg []byte
	switch cfg.Variant {
	case floodAck:
		msg = appendEventWithID(nil, 1_000_000+i, "ev", payload)
	case floodRecovery:
		msg = []byte(fmt.Sprintf(`42["ev","%s","%08d"]`, payload, i))
	default:
		msg = eventFrame("ev", payload)
	}
	return appendServerFrame(nil, ws.OpText, msg)
}

func (s *loadServer) handle(nc net.Conn) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(connLife))
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			if !bytes.HasPrefix(uri, []byte("/socket.io/")) {
				return ws.RejectConnectionError(ws.RejectionStatus(404))
			}
			return nil
		},
	}
	if _, err := u.Upgrade(nc); err != nil {
		return
	}
	bufSize := 64 << 10
	if s.cfg.Mode == "idle" {
		bufSize = 2048
	}
	c := &serverConn{nc: nc, bw: bufio.NewWriterSize(nc, bufSize)}
	c.fr = frameReader{br: bufio.NewReaderSize(nc, bufSize), onControl: c.control}
	id := s.ids.Add(1)
	ping := longPing
	if s.cfg.Mode == "idle" {
		ping = idlePing
	}
	c.write(openPacket(fmt.Sprintf("e%015d", id), int(ping/time.Millisecond), int(pingTimeout/time.Millisecond)))
	if !c.awaitConnect(id, s.cfg.Variant == floodRecovery) {
		return
	}
	switch s.cfg.Mode {
	case "flood":
		s.flood(c)
	case "echo", "sink":
		s.echo(c, s.cfg.Mode == "sink")
	case "idle":
		s.idle(c)
	}
}

// serverConn is one client connection; writes are serialised by mu.
type serverConn struct {
	nc net.Conn
	fr frameReader
	mu sync.Mutex
	bw *bufio.Writer
}

func (c *serverConn) write(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := writeServerFrame(c.bw, ws.OpText, p); err != nil {
		return err
	}
	return c.bw.Flush()
}

func (c *serverConn) control(op ws.OpCode, body []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch op {
	case ws.OpPing:
		writeServerFrame(c.bw, ws.OpPong, body)
	case ws.OpClose:
		writeServerFrame(c.bw, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	}
	return c.bw.Flush()
}

// awaitConnect reads until the client's CONNECT and answers it, with a
// recovery pid when recovery is on.
func (c *serverConn) awaitConnect(id uint64, recovery bool) bool {
	for {
		op, p, err := c.fr.next()
		if err != nil {
			return false
		}
		if op != ws.OpText || len(p) < 2 || p[0] != '4' || p[1] != '0' {
			continue
		}
		pk := parseSIO(p[1:])
		reply := fmt.Sprintf(`40%s{"sid":"s%015d"}`, pk.ns, id)
		if recovery {
			reply = fmt.Sprintf(`40%s{"sid":"s%015d","pid":"p%015d"}`, pk.ns, id, id)
		}
		return c.write([]byte(reply)) == nil
	}
}

// flood waits for the client's first event, then writes N events and the
// done event as fast as the socket takes them.
func (s *loadServer) flood(c *serverConn) {
	for {
		op, p, err := c.fr.next()
		if err != nil {
			return
		}
		if op == ws.OpText && bytes.HasPrefix(p, []byte("42")) {
			break
		}
	}
	// From now on only discard what the client sends; a closed client
	// makes the writes below fail.
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			if _, _, err := c.fr.next(); err != nil {
				c.nc.Close()
				return
			}
		}
	}()
	perChunk := len(s.chunk) / s.frameLen
	left := s.cfg.N
	for left >= perChunk {
		if _, err := c.nc.Write(s.chunk); err != nil {
			return
		}
		left -= perChunk
	}
	if _, err := c.nc.Write(s.chunk[:left*s.frameLen]); err != nil {
		return
	}
	if _, err := c.nc.Write(s.tail); err != nil {
		return
	}
	<-readerDone
}

// echo answers EVENTs that carry an ack id with an ACK of the same
// arguments; other EVENTs are sent back as they came (echo) or dropped
// (sink). In sink mode the ack of "done" carries the count of events
// received on the connection instead.
func (s *loadServer) echo(c *serverConn, sink bool) {
	count := 0
	for {
		op, p, err := c.fr.next()
		if err != nil {
			return
		}
		if op != ws.OpText || len(p) < 2 || p[0] != '4' {
			continue
		}
		pk := parseSIO(p[1:])
		switch {
		case pk.typ == '1':
			return
		case pk.typ != '2':
			continue
		}
		count++
		c.mu.Lock()
		if len(pk.id) > 0 {
			name, args, ok := splitName(pk.data)
			if !ok {
				c.mu.Unlock()
				return
			}
			if sink && name == "done" {
				args = []byte("[" + itoa(count-1) + "]")
			}
			err = writeServerFrame(c.bw, ws.OpText, ackFrame(pk.ns, pk.id, args))
		} else if !sink {
			err = writeServerFrame(c.bw, ws.OpText, p)
		}
		// Flush once the client's burst is consumed: one write per batch.
		if err == nil && c.fr.br.Buffered() == 0 {
			err = c.bw.Flush()
		}
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// idle pings every 25 s and otherwise only reads (pongs).
func (s *loadServer) idle(c *serverConn) {
	var t *time.Timer
	var stopped atomic.Bool
	var ping func()
	ping = func() {
		if stopped.Load() || c.write([]byte("2")) != nil {
			return
		}
		t.Reset(idlePing)
	}
	t = time.AfterFunc(idlePing, ping)
	defer func() { stopped.Store(true); t.Stop() }()
	for {
		if _, _, err := c.fr.next(); err != nil {
			return
		}
	}
}

// serverArgs renders cfg as the child's command line.
func serverArgs(cfg serverConfig) []string {
	return []string{"-serve", cfg.Mode, "-serve-n", itoa(cfg.N), "-serve-size", itoa(cfg.Size), "-serve-variant", cfg.Variant}
}
