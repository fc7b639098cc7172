package siotest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/siotest"
)

func TestNext(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	s := dial(t, srv.URL(), siostream.Options{
		Namespace: "/chat",
		Auth: func(context.Context) (any, error) {
			return map[string]string{"user": "ada"}, nil
		},
	})
	c := accept(t, srv)
	if c.ID() == "" {
		t.Fatal("empty ID")
	}
	if err := c.WaitConnect(testContext(t), "/chat"); err != nil {
		t.Fatalf("WaitConnect: %v", err)
	}

	p := nextPacket(t, c)
	var auth struct{ User string }
	if p.Type != siotest.PacketConnect || p.Namespace != "/chat" || json.Unmarshal(p.Auth, &auth) != nil || auth.User != "ada" {
		t.Fatalf("first packet %v %s auth %s", p.Type, p.Namespace, p.Auth)
	}

	emit(t, s, "hello", 1, []byte{7, 8})
	p = nextPacket(t, c)
	if p.Type != siotest.PacketBinaryEvent || p.Namespace != "/chat" || p.Name != "hello" || p.HasAckID ||
		string(p.Args) != `[1,"Bwg="]` || len(p.Attachments) != 1 || !bytes.Equal(p.Attachments[0], []byte{7, 8}) {
		t.Fatalf("event packet %+v, args %s", p, p.Args)
	}
	var n int
	var b []byte
	if err := p.Decode(&n, &b); err != nil || n != 1 || !bytes.Equal(b, []byte{7, 8}) {
		t.Fatalf("Decode: %d %v %v", n, b, err)
	}

	emit(t, s, "plain", "text")
	if p = nextPacket(t, c); p.Type != siotest.PacketEvent || p.Name != "plain" || p.Attachments != nil {
		t.Fatalf("event packet %+v", p)
	}

	s.Close()
	if p = nextPacket(t, c); p.Type != siotest.PacketDisconnect || p.Namespace != "/chat" {
		t.Fatalf("packet after client Close %+v", p)
	}
	if err := waitDone(t, c); !errors.Is(err, siotest.ErrClientClosed) {
		t.Fatalf("Err = %v, want ErrClientClosed", err)
	}
	if _, err := c.Next(testContext(t)); !errors.Is(err, siotest.ErrClosed) {
		t.Fatalf("Next after the end = %v, want ErrClosed", err)
	}
	if _, err := c.NextEvent(testContext(t)); !errors.Is(err, siotest.ErrClosed) {
		t.Fatalf("NextEvent after the end = %v, want ErrClosed", err)
	}
}

func TestNextWaitsForContext(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	nextPacket(t, c) // CONNECT
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on a quiet connection = %v, want DeadlineExceeded", err)
	}
	if _, err := c.NextEvent(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NextEvent on a quiet connection = %v, want DeadlineExceeded", err)
	}
}

func TestNextEventSkipsOtherPackets(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	if _, err := s.EmitWithAck(testContext(t), "first"); err != nil {
		t.Fatal(err)
	}
	emit(t, s, "second")
	if p := nextServerEvent(t, c, "first"); !p.HasAckID {
		t.Fatal("first event has no ack id")
	}
	nextServerEvent(t, c, "second")
}

func TestEmitBinary(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	s := dial(t, srv.URL(), siostream.Options{Namespace: "/files"})
	c := accept(t, srv)
	if err := c.WaitConnect(testContext(t), "/files"); err != nil {
		t.Fatal(err)
	}
	if err := c.Emit("/files", "files", []byte("ab"), map[string]any{"name": "c", "body": []byte("c")}, "plain"); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	var a []byte
	var f struct {
		Name string
		Body []byte
	}
	var plain string
	decode(t, nextNamed(t, s, "files"), &a, &f, &plain)
	if string(a) != "ab" || f.Name != "c" || string(f.Body) != "c" || plain != "plain" {
		t.Fatalf("client decoded %q %+v %q", a, f, plain)
	}
	if err := c.Emit("/files", "bad", make(chan int)); err == nil {
		t.Fatal("Emit of a channel: no error")
	}
}

func TestEmitWithAck(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)

	type result struct {
		p   *siotest.Packet
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := c.EmitWithAck(testContext(t), "/", "question", "why")
		done <- result{p, err}
	}()
	ev := nextNamed(t, s, "question")
	var q string
	decode(t, ev, &q)
	if q != "why" {
		t.Fatalf("question %q", q)
	}
	ackClient(t, ev, "because", []byte{9})
	r := <-done
	if r.err != nil {
		t.Fatalf("EmitWithAck: %v", r.err)
	}
	var answer string
	var b []byte
	if r.p.Type != siotest.PacketBinaryAck || !r.p.HasAckID || len(r.p.Attachments) != 1 ||
		r.p.Decode(&answer, &b) != nil || answer != "because" || !bytes.Equal(b, []byte{9}) {
		t.Fatalf("reply %+v (%q %v)", r.p, answer, b)
	}
	nextPacket(t, c) // CONNECT
	if p := nextPacket(t, c); p.Type != siotest.PacketBinaryAck || p.AckID != r.p.AckID {
		t.Fatalf("Next after the reply: %+v", p)
	}
}

func TestEmitWithAckContext(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(ctx, "/", "unanswered")
		done <- err
	}()
	nextNamed(t, s, "unanswered")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("EmitWithAck after cancel = %v, want Canceled", err)
	}

	go func() {
		_, err := c.EmitWithAck(testContext(t), "/", "unanswered")
		done <- err
	}()
	nextNamed(t, s, "unanswered")
	c.Drop()
	if err := <-done; !errors.Is(err, siotest.ErrClosed) {
		t.Fatalf("EmitWithAck on a dropped connection = %v, want ErrClosed", err)
	}
}

func TestPacketAck(t *testing.T) {
	srv := newServer(t, siotest.Options{Handler: func(*siotest.Conn, *siotest.Packet) {}})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	if p := nextPacket(t, c); !errors.Is(p.Ack(), siotest.ErrNoAck) {
		t.Fatalf("Ack of a %v: no ErrNoAck", p.Type)
	}
	emit(t, s, "no ack wanted")
	if p := nextServerEvent(t, c, "no ack wanted"); !errors.Is(p.Ack(), siotest.ErrNoAck) {
		t.Fatal("Ack of an event without ack id: no ErrNoAck")
	}
	if !errors.Is(new(siotest.Packet).Ack(), siotest.ErrNoAck) {
		t.Fatal("Ack of a zero Packet: no ErrNoAck")
	}

	done := make(chan error, 1)
	go func() {
		_, err := s.EmitWithAck(testContext(t), "question", 1)
		done <- err
	}()
	p := nextServerEvent(t, c, "question")
	if !p.HasAckID {
		t.Fatal("question has no ack id")
	}
	if err := p.Ack("answer", []byte{1}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("client EmitWithAck: %v", err)
	}
	c.Drop()
	waitDone(t, c)
	if err := p.Ack("late"); !errors.Is(err, siotest.ErrClosed) {
		t.Fatalf("Ack after Drop = %v, want ErrClosed", err)
	}
}

func TestDisconnect(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	s := dial(t, srv.URL(), siostream.Options{Namespace: "/admin"})
	c := accept(t, srv)
	nextKind(t, s, siostream.KindConnected)
	if err := c.Disconnect("/admin"); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	nextKind(t, s, siostream.KindDisconnected)
	for range s.Events() {
	}
	if s.Err() == nil {
		t.Fatal("stream ended without error")
	}
}

func TestDrop(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	nextKind(t, s, siostream.KindConnected)
	c.Drop()
	if err := waitDone(t, c); !errors.Is(err, siotest.ErrDropped) {
		t.Fatalf("Err = %v, want ErrDropped", err)
	}
	nextKind(t, s, siostream.KindDisconnected)
	nextKind(t, s, siostream.KindConnected)
	c2 := accept(t, srv)
	if c2 == c || c2.ID() == c.ID() {
		t.Fatal("the reconnection has the dropped connection's Conn")
	}
	if err := c.Disconnect("/"); !errors.Is(err, siotest.ErrClosed) {
		t.Fatalf("Disconnect after Drop = %v, want ErrClosed", err)
	}
}

func TestPings(t *testing.T) {
	srv := newServer(t, siotest.Options{PingInterval: 30 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	nextKind(t, s, siostream.KindConnected)
	// Twelve pongs span more than PingInterval + PingTimeout: the client
	// stays connected while the server pings.
	waitFor(t, "twelve pongs", func() bool { return siotest.Pongs(c) >= 12 })
	select {
	case ev := <-s.Events():
		t.Fatalf("client event %v while the server pings", ev.Kind)
	default:
	}

	c.SetPings(false)
	nextKind(t, s, siostream.KindDisconnected)
	waitDone(t, c)
	c2 := accept(t, srv)
	nextKind(t, s, siostream.KindConnected)
	c2.SetPings(false)
	c2.SetPings(true)
	n := siotest.Pongs(c2)
	waitFor(t, "pings again", func() bool { return siotest.Pongs(c2) >= n+2 })
}

func TestSetReading(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	c.SetReading(false)

	chunk := strings.Repeat("x", 256<<10)
	sent := -1
	for i := range 400 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := s.Emit(ctx, "chunk", i, chunk)
		cancel()
		if err != nil {
			sent = i
			break
		}
	}
	if sent < 0 {
		t.Fatal("client writes never backed up while the server did not read")
	}

	c.SetReading(true)
	for want := 0; want < sent; want++ {
		p := nextServerEvent(t, c, "chunk")
		var i int
		if err := p.Decode(&i); err != nil || i != want {
			t.Fatalf("chunk %d (%v), want %d", i, err, want)
		}
	}
	emit(t, s, "after")
	for {
		p, err := c.NextEvent(testContext(t))
		if err != nil {
			t.Fatalf("NextEvent: %v", err)
		}
		if p.Name == "after" {
			break
		}
	}
}

func TestRecovery(t *testing.T) {
	srv := newServer(t, siotest.Options{Recovery: true})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	if err := c.Emit("/", "first", 1); err != nil {
		t.Fatal(err)
	}
	var n int
	decode(t, nextNamed(t, s, "first"), &n)
	if n != 1 {
		t.Fatalf("first %d", n)
	}

	c.Drop()
	waitDone(t, c)
	if err := srv.Broadcast("/", "missed", 2); err != nil {
		t.Fatal(err)
	}
	nextKind(t, s, siostream.KindDisconnected)
	decode(t, nextNamed(t, s, "missed"), &n)
	if n != 2 {
		t.Fatalf("missed %d", n)
	}

	c2 := accept(t, srv)
	p := nextPacket(t, c2)
	var auth struct{ PID, Offset string }
	if p.Type != siotest.PacketConnect || json.Unmarshal(p.Auth, &auth) != nil || auth.PID == "" || auth.Offset == "" {
		t.Fatalf("reconnect CONNECT %v auth %s, want pid and offset", p.Type, p.Auth)
	}
}
