package siostream_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// floodServer is a minimal Engine.IO/Socket.IO server that, once a client
// has joined the main namespace, writes one pre-encoded EVENT frame over
// and over until the client goes away. It costs next to nothing per
// event, so a receive benchmark measures the client.
type floodServer struct {
	ln    net.Listener
	chunk []byte
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// startFlood starts a flood of 42["ev","<size bytes>"] frames and returns
// the server's URL and the size of one Engine.IO message.
func startFlood(tb testing.TB, size int) (string, int) {
	tb.Helper()
	msg := []byte(`42["ev","` + strings.Repeat("x", size) + `"]`)
	return startFloodFrames(tb, ws.NewTextFrame(msg)), len(msg)
}

// startFloodFrames floods the given frames, in order, over and over.
func startFloodFrames(tb testing.TB, fs ...ws.Frame) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var frame bytes.Buffer
	for _, f := range fs {
		if err := ws.WriteFrame(&frame, f); err != nil {
			tb.Fatal(err)
		}
	}
	s := &floodServer{ln: ln, conns: make(map[net.Conn]struct{})}
	s.chunk = bytes.Repeat(frame.Bytes(), max(1, (64<<10)/frame.Len()))
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.close)
	return "http://" + ln.Addr().String()
}

func (s *floodServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer nc.Close()
			s.serve(nc)
		}()
	}
}

func (s *floodServer) serve(nc net.Conn) {
	if _, err := ws.Upgrade(nc); err != nil {
		return
	}
	open := `0{"sid":"flood","upgrades":[],"pingInterval":600000,"pingTimeout":20000,"maxPayload":1000000}`
	if err := wsutil.WriteServerText(nc, []byte(open)); err != nil {
		return
	}
	for {
		msg, err := wsutil.ReadClientText(nc)
		if err != nil {
			return
		}
		if bytes.HasPrefix(msg, []byte("40")) {
			break
		}
	}
	if err := wsutil.WriteServerText(nc, []byte(`40{"sid":"flood-1"}`)); err != nil {
		return
	}
	for {
		if _, err := nc.Write(s.chunk); err != nil {
			return
		}
	}
}

// close stops accepting, cuts every connection and waits for the
// server's goroutines.
func (s *floodServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// BenchmarkReceive measures one server event per op: read, decoded,
// delivered through Events and its Name read by the consumer.
func BenchmarkReceive(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprintf("payload=%dB", size), func(b *testing.B) {
			url, msgLen := startFlood(b, size)
			s := dial(b, url, siostream.Options{})
			next(b, s, siostream.KindConnected, 5*time.Second)
			events := s.Events()
			b.SetBytes(int64(msgLen))
			b.ReportAllocs()
			for b.Loop() {
				ev := <-events
				if ev.Kind != siostream.KindEvent || ev.Name != "ev" {
					b.Fatalf("got %v %q (%v)", ev.Kind, ev.Name, ev.Err())
				}
			}
		})
	}
}

// BenchmarkReceiveBinary measures one BINARY_EVENT with one 64-byte
// attachment received per op.
func BenchmarkReceiveBinary(b *testing.B) {
	text := ws.NewTextFrame([]byte(`451-["bin",{"data":{"_placeholder":true,"num":0}}]`))
	url := startFloodFrames(b, text, ws.NewBinaryFrame(bytes.Repeat([]byte{7}, 64)))
	s := dial(b, url, siostream.Options{})
	next(b, s, siostream.KindConnected, 5*time.Second)
	events := s.Events()
	b.ReportAllocs()
	for b.Loop() {
		ev := <-events
		if ev.Kind != siostream.KindEvent || len(ev.Attachments()) != 1 {
			b.Fatalf("got %v %q (%v)", ev.Kind, ev.Name, ev.Err())
		}
	}
}

// BenchmarkEmit measures one Emit of a 64-byte string per op, from one
// goroutine and from GOMAXPROCS goroutines sharing the stream.
func BenchmarkEmit(b *testing.B) {
	srv := newServer(b, sioserver.Options{})
	payload := strings.Repeat("x", 64)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		s := dial(b, srv.URL(), siostream.Options{})
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Emit(ctx, "ev", payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s := dial(b, srv.URL(), siostream.Options{})
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Emit(ctx, "ev", payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkEmitWithAck measures one acknowledged round trip per op
// against the in-process server, which acks with the same arguments.
func BenchmarkEmitWithAck(b *testing.B) {
	srv := newServer(b, sioserver.Options{})
	s := dial(b, srv.URL(), siostream.Options{})
	payload := strings.Repeat("x", 64)
	ctx := context.Background()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.EmitWithAck(ctx, "ack", payload); err != nil {
			b.Fatal(err)
		}
	}
}
