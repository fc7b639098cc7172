package siostream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/sioserver"
)

func TestEmitWithAckConcurrent(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				reply, err := s.EmitWithAck(context.Background(), "sum", g, i)
				if want := fmt.Sprintf("[%d,%d]", g, i); err != nil || string(reply.Args) != want {
					t.Errorf("ack %d/%d = %s, %v; want %s", g, i, reply, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestEmitWithAckTimeoutAndDisconnect(t *testing.T) {
	srv := newServer(t, sioserver.Options{Handler: func(*sioserver.Conn, *sioserver.Received) {}})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "never"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered ack: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.EmitWithAck(context.Background(), "pending")
		done <- err
	}()
	received(t, c, 2*time.Second) // "never"
	received(t, c, 2*time.Second) // "pending"
	c.Drop()
	select {
	case err := <-done:
		if !errors.Is(err, siostream.ErrDisconnected) {
			t.Fatalf("pending ack after drop: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pending ack not failed after the connection dropped")
	}
}

func TestServerAckRequest(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	c.WaitConnect(context.Background(), "/")
	replies := make(chan json.RawMessage, 1)
	go func() {
		r, err := c.EmitWithAck(context.Background(), "/", "question", 41)
		if err != nil {
			t.Error(err)
		}
		replies <- r
	}()
	ev := nextEvent(t, s, "question", 2*time.Second)
	if !ev.WantsAck() {
		t.Fatal("event does not want an ack")
	}
	if err := ev.Ack(context.Background(), 42, "yes", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := ev.Ack(context.Background(), 43); !errors.Is(err, siostream.ErrAckTwice) {
		t.Fatalf("second ack: %v", err)
	}
	if r := <-replies; string(r) != `[42,"yes","AQI="]` {
		t.Fatalf("server got ack %s", r)
	}
	plain := siostream.Event{}
	if err := plain.Ack(context.Background()); !errors.Is(err, siostream.ErrNoAck) {
		t.Fatalf("ack without request: %v", err)
	}
}

func TestAckAfterReconnectRefused(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	c.WaitConnect(context.Background(), "/")
	c.WriteText(`427["question"]`)
	ev := nextEvent(t, s, "question", 2*time.Second)
	c.Drop()
	next(t, s, siostream.KindConnected, 5*time.Second)
	c2 := accept(t, srv)
	if err := ev.Ack(context.Background(), "late"); !errors.Is(err, siostream.ErrAckStale) {
		t.Fatalf("ack after reconnect: %v", err)
	}
	select {
	case r := <-c2.Received():
		if r.Type == frames.Ack {
			t.Fatalf("stale ack reached the new connection: %s", r.Args)
		}
	case <-time.After(100 * time.Millisecond):
	}
}

func TestAtLeastOnceAcrossReconnect(t *testing.T) {
	var mu sync.Mutex
	var got []int
	dropped := false
	srv := newServer(t, sioserver.Options{Handler: func(c *sioserver.Conn, r *sioserver.Received) {
		var i int
		json.Unmarshal(r.Args[1:len(r.Args)-1], &i)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, i)
		if i == 5 && !dropped { // lose the first ack of packet 5
			dropped = true
			c.Drop()
			return
		}
		c.Ack(r.Namespace, r.ID)
	}})
	s := dial(t, srv.URL(), siostream.Options{Retries: 3, AckTimeout: time.Second})
	for i := range 10 {
		if err := s.Emit(context.Background(), "n", i); err != nil {
			t.Fatalf("emit %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []int{0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("server saw %v, want %v", got, want)
	}
}

func TestAtLeastOnceTimeoutRetries(t *testing.T) {
	var mu sync.Mutex
	tries := 0
	srv := newServer(t, sioserver.Options{Handler: func(c *sioserver.Conn, r *sioserver.Received) {
		mu.Lock()
		defer mu.Unlock()
		if tries++; tries == 3 {
			c.Ack(r.Namespace, r.ID, "third")
		}
	}})
	s := dial(t, srv.URL(), siostream.Options{Retries: 2, AckTimeout: 50 * time.Millisecond})
	reply, err := s.EmitWithAck(context.Background(), "x")
	if err != nil || string(reply.Args) != `["third"]` {
		t.Fatalf("reply %s, %v", reply, err)
	}
	mu.Lock()
	tries = -100 // never ack again
	mu.Unlock()
	if err := s.Emit(context.Background(), "y"); !errors.Is(err, siostream.ErrRetriesExhausted) {
		t.Fatalf("exhausted: %v", err)
	}
}

func TestBinaryBothWays(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	nested := map[string]any{"a": []byte{1, 2, 3}, "list": []any{"x", map[string]any{"deep": []byte{4, 5}}}}
	if err := s.Emit(context.Background(), "echo", nested, []byte{6}); err != nil {
		t.Fatal(err)
	}
	r := received(t, c, 2*time.Second)
	if r.Type != frames.BinaryEvent || len(r.Attachments) != 3 {
		t.Fatalf("server got %v with %d attachments", r.Type, len(r.Attachments))
	}
	ev := nextEvent(t, s, "echo", 2*time.Second)
	var obj struct {
		A    []byte
		List []json.RawMessage
	}
	var top []byte
	if err := ev.Decode(&obj, &top); err != nil {
		t.Fatal(err)
	}
	var deep struct{ Deep []byte }
	json.Unmarshal(obj.List[1], &deep)
	if !bytes.Equal(obj.A, []byte{1, 2, 3}) || !bytes.Equal(deep.Deep, []byte{4, 5}) || !bytes.Equal(top, []byte{6}) {
		t.Fatalf("decoded %+v %v %v", obj, deep, top)
	}
	vals, err := ev.Values()
	if err != nil {
		t.Fatal(err)
	}
	inner := vals[0].(map[string]any)["list"].([]any)[1].(map[string]any)["deep"]
	if b, ok := inner.([]byte); !ok || !bytes.Equal(b, []byte{4, 5}) {
		t.Fatalf("Values deep = %#v", inner)
	}
	if len(ev.Attachments()) != 3 {
		t.Fatalf("%d attachments", len(ev.Attachments()))
	}
}

func TestBinaryAttachmentLimits(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{MaxAttachments: 2})
	c := accept(t, srv)
	c.WaitConnect(context.Background(), "/")
	c.WriteText(`453-["b",{"_placeholder":true,"num":0}]`)
	ev := next(t, s, siostream.KindDisconnected, 2*time.Second)
	if !errors.Is(ev.Err(), frames.ErrTooManyAttachments) {
		t.Fatalf("too many attachments: %v", ev.Err())
	}
	c = accept(t, srv)
	c.WaitConnect(context.Background(), "/")
	c.WriteBinary([]byte{1})
	if ev := next(t, s, siostream.KindDisconnected, 2*time.Second); ev.Reason() != siostream.ReasonParseError {
		t.Fatalf("unexpected binary frame: %v %v", ev.Reason(), ev.Err())
	}
}

func TestTwoNamespacesOneConnection(t *testing.T) {
	srv := newServer(t, sioserver.Options{Authorize: func(ns string, _ json.RawMessage) *sioserver.Reject {
		if ns == "/secure" {
			return &sioserver.Reject{Message: "Not authorized"}
		}
		return nil
	}})
	m := refManager(t, srv.URL(), siostream.Options{})
	ctx := context.Background()
	a, err := m.Dial(ctx, siostream.Options{Namespace: "/a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Dial(ctx, siostream.Options{Namespace: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	var ce *siostream.ConnectError
	if _, err := m.Dial(ctx, siostream.Options{Namespace: "/secure"}); !errors.As(err, &ce) {
		t.Fatalf("secure: %v", err)
	}
	if _, err := m.Dial(ctx, siostream.Options{Namespace: "/a"}); err == nil {
		t.Fatal("joined /a twice")
	}
	if srv.Connections() != 1 {
		t.Fatalf("%d connections for 2 namespaces", srv.Connections())
	}
	a.Emit(ctx, "echo", "to a")
	b.Emit(ctx, "echo", "to b")
	if ev := nextEvent(t, a, "echo", 2*time.Second); string(ev.Args) != `["to a"]` {
		t.Fatalf("a got %s", ev.Args)
	}
	if ev := nextEvent(t, b, "echo", 2*time.Second); string(ev.Args) != `["to b"]` {
		t.Fatalf("b got %s", ev.Args)
	}
	// A reconnect rejoins both; closing one leaves the other working.
	accept(t, srv).Drop()
	next(t, a, siostream.KindConnected, 5*time.Second)
	next(t, b, siostream.KindConnected, 5*time.Second)
	a.Close()
	b.Emit(ctx, "echo", "still")
	if ev := nextEvent(t, b, "echo", 2*time.Second); string(ev.Args) != `["still"]` {
		t.Fatalf("b got %s", ev.Args)
	}
	if srv.Connections() != 2 {
		t.Fatalf("%d connections, want 2 (one reconnect)", srv.Connections())
	}
	b.Close()
}

func TestRecoveryDeliversMissedEventsOnce(t *testing.T) {
	srv := newServer(t, sioserver.Options{Recovery: true})
	auth := map[string]any{"token": "t"}
	s := dial(t, srv.URL(), siostream.Options{Auth: func(context.Context) (any, error) { return auth, nil }})
	first := next(t, s, siostream.KindConnected, time.Second)
	c := accept(t, srv)
	c.WaitConnect(context.Background(), "/")
	for i := range 3 {
		c.Emit("/", "n", i)
	}
	for i := range 3 {
		ev := nextEvent(t, s, "n", 2*time.Second)
		if string(ev.Args) != fmt.Sprintf("[%d]", i) || ev.Offset() == "" {
			t.Fatalf("event %d: args %s offset %q", i, ev.Args, ev.Offset())
		}
	}
	c.Drop()
	srv.EmitAll("/", "n", 3) // while the client is away
	srv.EmitAll("/", "n", 4)
	// Replayed events come after the connected event, as the reference
	// client delivers them.
	ev := next(t, s, siostream.KindConnected, 5*time.Second)
	if !ev.Recovered() || ev.SocketID() != first.SocketID() {
		t.Fatalf("reconnect not recovered: %+v", ev)
	}
	for i := 3; i < 5; i++ {
		ev := nextEvent(t, s, "n", 2*time.Second)
		if string(ev.Args) != fmt.Sprintf("[%d]", i) {
			t.Fatalf("replayed event %d: %s", i, ev.Args)
		}
	}
	c2 := accept(t, srv)
	c2.Emit("/", "n", 5)
	if ev := nextEvent(t, s, "n", 2*time.Second); string(ev.Args) != "[5]" {
		t.Fatalf("after recovery: %s (duplicate?)", ev.Args)
	}
	auths := srv.Auths("/")
	var a struct{ Token, Pid, Offset string }
	json.Unmarshal(auths[len(auths)-1], &a)
	if a.Token != "t" || a.Pid == "" || a.Offset == "" {
		t.Fatalf("reconnect auth %s", auths[len(auths)-1])
	}
	if len(auth) != 1 {
		t.Fatalf("user's auth map was changed: %v", auth)
	}
}
