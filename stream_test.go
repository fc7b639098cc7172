package siostream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/sioserver"
)

func TestConnectAndReceiveInOrder(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{Namespace: "/realtime"})
	ev := next(t, s, siostream.KindConnected, time.Second)
	if ev.SocketID() == "" || s.Namespace() != "/realtime" || ev.Recovered() {
		t.Fatalf("connected event = %+v", ev)
	}
	c := accept(t, srv)
	if err := c.WaitConnect(context.Background(), "/realtime"); err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		if err := c.Emit("/realtime", "seq", i, map[string]any{"s": "x"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		ev := next(t, s, siostream.KindEvent, 5*time.Second)
		var got int
		var obj struct{ S string }
		if err := ev.Decode(&got, &obj); err != nil {
			t.Fatal(err)
		}
		if ev.Name != "seq" || got != i || obj.S != "x" {
			t.Fatalf("event %d = %s %s", i, ev.Name, ev.Args)
		}
	}
}

func TestEventOnOtherNamespaceIgnored(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{Namespace: "/a"})
	c := accept(t, srv)
	c.WaitConnect(context.Background(), "/a")
	c.WriteText(`42/b,["other"]`)
	c.WriteText(`42["main"]`)
	c.Emit("/a", "mine")
	if ev := next(t, s, siostream.KindEvent, 2*time.Second); ev.Name != "mine" {
		t.Fatalf("got %q", ev.Name)
	}
}

func TestConcurrentEmitNoInterleaving(t *testing.T) {
	srv := newServer(t, sioserver.Options{Handler: func(*sioserver.Conn, *sioserver.Received) {}})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	const workers, each = 16, 100
	big := strings.Repeat("b", 3000) // frames larger than the write buffer
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := s.Emit(context.Background(), "w", w, i, big); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	last := make([]int, workers)
	for i := range last {
		last[i] = -1
	}
	for range workers * each {
		r := received(t, c, 5*time.Second)
		var w, i int
		var pad string
		if err := decodeArgs(r.Args, &w, &i, &pad); err != nil || len(pad) != len(big) {
			t.Fatalf("frame %s: %v", truncated(r.Args), err)
		}
		if i != last[w]+1 {
			t.Fatalf("worker %d: got %d after %d", w, i, last[w])
		}
		last[w] = i
	}
}

func TestTokenRotationAcrossReconnects(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := newServer(t, sioserver.Options{Authorize: func(ns string, auth json.RawMessage) *sioserver.Reject {
		var a struct{ Token string }
		json.Unmarshal(auth, &a)
		mu.Lock()
		defer mu.Unlock()
		if a.Token == "" || seen[a.Token] {
			return &sioserver.Reject{Message: "token reused", Data: map[string]string{"token": a.Token}}
		}
		seen[a.Token] = true
		return nil
	}})
	var calls int
	var callsMu sync.Mutex
	auth := map[string]any{"user": "ann"}
	s := dial(t, srv.URL(), siostream.Options{Auth: func(context.Context) (any, error) {
		callsMu.Lock()
		defer callsMu.Unlock()
		calls++
		auth["token"] = fmt.Sprintf("tok-%d", calls)
		return auth, nil
	}})
	next(t, s, siostream.KindConnected, time.Second)
	for range 3 {
		accept(t, srv).Drop()
		ev := next(t, s, siostream.KindDisconnected, 5*time.Second)
		if ev.Reason() != siostream.ReasonTransportClose && ev.Reason() != siostream.ReasonTransportError {
			t.Fatalf("reason %q", ev.Reason())
		}
		next(t, s, siostream.KindConnected, 5*time.Second)
	}
	auths := srv.Auths("/")
	if len(auths) != 4 {
		t.Fatalf("%d CONNECTs, want 4: %s", len(auths), auths)
	}
	for i, a := range auths {
		if want := fmt.Sprintf(`{"token":"tok-%d","user":"ann"}`, i+1); string(a) != want {
			t.Errorf("auth %d = %s, want %s", i, a, want)
		}
	}
}

func TestDeadServerDetected(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 100 * time.Millisecond
	srv := newServer(t, sioserver.Options{PingInterval: interval, PingTimeout: timeout})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	next(t, s, siostream.KindConnected, time.Second)
	c.SetPings(false)
	start := time.Now()
	ev := next(t, s, siostream.KindDisconnected, 5*time.Second)
	took := time.Since(start)
	if ev.Reason() != siostream.ReasonPingTimeout || !errors.Is(ev.Err(), siostream.ErrPingTimeout) {
		t.Fatalf("reason %q err %v", ev.Reason(), ev.Err())
	}
	if limit := interval + timeout + 500*time.Millisecond; took > limit {
		t.Fatalf("dead server detected after %v, want under %v", took, limit)
	}
	t.Logf("dead server detected after %v (pingInterval+pingTimeout = %v)", took, interval+timeout)
	next(t, s, siostream.KindConnected, 5*time.Second)
}

func TestHeartbeatKeepsConnection(t *testing.T) {
	srv := newServer(t, sioserver.Options{PingInterval: 50 * time.Millisecond, PingTimeout: time.Second})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	// 10 ping rounds: each pong must arrive for the next ping to go out.
	start := time.Now()
	for c.Pongs() < 10 && time.Since(start) < 5*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	if c.Pongs() < 10 {
		t.Fatalf("%d pongs in %v; conns %d, stats %+v, conn err %v", c.Pongs(), time.Since(start), srv.Connections(), s.Stats(), c.Err())
	}
	select {
	case <-c.Closed():
		t.Fatalf("server closed the connection: %v", c.Err())
	default:
	}
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("%d reconnects", st.Reconnects)
	}
}

func TestBufferedEmitsAfterAbruptClose(t *testing.T) {
	srv := newServer(t, sioserver.Options{Handler: func(*sioserver.Conn, *sioserver.Received) {}})
	s := dial(t, srv.URL(), siostream.Options{ReconnectDelay: 300 * time.Millisecond, RandomizationFactor: -1})
	c1 := accept(t, srv)
	next(t, s, siostream.KindConnected, time.Second)
	c1.Drop()
	next(t, s, siostream.KindDisconnected, 5*time.Second)
	ctx := context.Background()
	for i := range 50 {
		if err := s.Emit(ctx, "queued", i); err != nil {
			t.Fatalf("emit %d while disconnected: %v", i, err)
		}
	}
	if err := s.EmitVolatile(ctx, "volatile"); !errors.Is(err, siostream.ErrNotConnected) {
		t.Fatalf("volatile emit while disconnected: %v", err)
	}
	c2 := accept(t, srv)
	for i := range 50 {
		r := received(t, c2, 5*time.Second)
		var got int
		if err := decodeArgs(r.Args, &got); err != nil || r.Name != "queued" || got != i {
			t.Fatalf("packet %d: %s %s (%v)", i, r.Name, r.Args, err)
		}
	}
	select {
	case r := <-c2.Received():
		if r.Type != frames.Connect {
			t.Fatalf("extra packet %s %s", r.Name, r.Args)
		}
	case <-time.After(100 * time.Millisecond):
	}
}

func TestConnectErrorSurfaced(t *testing.T) {
	srv := newServer(t, sioserver.Options{Authorize: func(ns string, auth json.RawMessage) *sioserver.Reject {
		if ns == "/nodata" {
			return &sioserver.Reject{Message: "Not authorized"}
		}
		return &sioserver.Reject{Message: "Not authorized", Data: map[string]any{"code": 4001}}
	}})
	ctx := context.Background()
	_, err := siostream.Dial(ctx, srv.URL(), siostream.Options{Namespace: "/secure"})
	var ce *siostream.ConnectError
	if !errors.As(err, &ce) || ce.Message != "Not authorized" || string(ce.Data) != `{"code":4001}` || ce.Namespace != "/secure" {
		t.Fatalf("err = %#v", err)
	}
	_, err = siostream.Dial(ctx, srv.URL(), siostream.Options{Namespace: "/nodata"})
	if !errors.As(err, &ce) || ce.Message != "Not authorized" || ce.Data != nil {
		t.Fatalf("err = %#v", err)
	}
}

func TestMalformedFrameReconnects(t *testing.T) {
	bad := []string{`42{}`, `4abc`, `9`, `42["x"`, `451-["b",{"_placeholder":true,"num":0}]`}
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	next(t, s, siostream.KindConnected, time.Second)
	for _, frame := range bad {
		c := accept(t, srv)
		c.WriteText(frame)
		if frame[0] == '4' && frame[1] == '5' {
			c.WriteText(`42["x"]`) // text while an attachment is pending
		}
		ev := next(t, s, siostream.KindDisconnected, 5*time.Second)
		var pe *siostream.ProtocolError
		if ev.Reason() != siostream.ReasonParseError || !errors.As(ev.Err(), &pe) {
			t.Fatalf("%s: reason %q err %v", frame, ev.Reason(), ev.Err())
		}
		t.Logf("%s: %v", frame, ev.Err())
		next(t, s, siostream.KindConnected, 5*time.Second)
	}
}

func TestServerDisconnectEndsStream(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	c.WaitConnect(context.Background(), "/")
	c.Disconnect("/")
	ev := next(t, s, siostream.KindDisconnected, 5*time.Second)
	if ev.Reason() != siostream.ReasonServerDisconnect {
		t.Fatalf("reason %q", ev.Reason())
	}
	if _, ok := <-s.Events(); ok {
		t.Fatal("events channel still open")
	}
	if !errors.Is(s.Err(), siostream.ErrServerDisconnect) {
		t.Fatalf("Err() = %v", s.Err())
	}
	if err := s.Emit(context.Background(), "x"); !errors.Is(err, siostream.ErrClosed) {
		t.Fatalf("emit after end: %v", err)
	}
}

func TestSlowConsumerStaysConnected(t *testing.T) {
	const timeout = 100 * time.Millisecond
	srv := newServer(t, sioserver.Options{PingInterval: 100 * time.Millisecond, PingTimeout: timeout})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	next(t, s, siostream.KindConnected, time.Second)
	for i := range 50 {
		c.Emit("/", "e", i)
	}
	time.Sleep(3*timeout + 200*time.Millisecond) // the consumer reads nothing
	select {
	case <-c.Closed():
		t.Fatalf("server dropped a slow consumer: %v", c.Err())
	default:
	}
	for i := range 50 {
		var got int
		ev := next(t, s, siostream.KindEvent, time.Second)
		if ev.Decode(&got); got != i {
			t.Fatalf("event %d has %d", i, got)
		}
	}
	if st := s.Stats(); st.Reconnects != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSlowConsumerDropNewest(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	// The budget holds a handful of these events; the consumer reads
	// nothing until the server has sent them all.
	const budget = 4 << 10
	s := dial(t, srv.URL(), siostream.Options{MaxBufferedBytes: budget, SlowConsumer: siostream.DropNewest})
	c := accept(t, srv)
	c.WaitConnect(context.Background(), "/")
	pad := strings.Repeat("p", 200)
	const n = 100
	for i := range n {
		c.Emit("/", "e", i, pad)
	}
	waitFor(t, func() bool { return s.Stats().Received == n })
	st := s.Stats()
	if st.Dropped == 0 || st.Received != st.Delivered+st.Dropped+uint64(st.Waiting) || st.WaitingBytes > budget+1<<10 {
		t.Fatalf("stats after the flood %+v", st)
	}
	c.Emit("/", "after")
	last, total := -1, uint64(0)
	for {
		ev := next(t, s, siostream.KindEvent, time.Second)
		total += ev.Dropped()
		if ev.Name == "after" {
			break
		}
		var got int
		if ev.Decode(&got); got <= last {
			t.Fatalf("event %d after %d", got, last)
		}
		last = got
	}
	if st := s.Stats(); total != st.Dropped || st.Received != st.Delivered+st.Dropped || st.Received != n+1 {
		t.Fatalf("dropped %d reported on events, stats %+v", total, st)
	}
}

// TestSlowConsumerDisconnect waits for the overflow without reading the
// channel (reading it would make the room whose lack it waits for), then
// reads what was delivered and the final event.
func TestSlowConsumerDisconnect(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{MaxBufferedBytes: 2 << 10, SlowConsumer: siostream.DisconnectSlowConsumer})
	c := accept(t, srv)
	c.WaitConnect(context.Background(), "/")
	pad := strings.Repeat("p", 200)
	for i := range 50 {
		c.Emit("/", "e", i, pad)
	}
	waitFor(t, func() bool { return s.Err() != nil })
	if !errors.Is(s.Err(), siostream.ErrSlowConsumer) {
		t.Fatalf("Err() = %v", s.Err())
	}
	var last siostream.Event
	events := 0
	for ev := range s.Events() {
		if ev.Kind == siostream.KindEvent {
			events++
		}
		last = ev
	}
	if last.Kind != siostream.KindDisconnected || last.Reason() != siostream.ReasonSlowConsumer {
		t.Fatalf("last event %v %q", last.Kind, last.Reason())
	}
	if st := s.Stats(); events == 0 || st.Delivered != uint64(events) || st.Received != st.Delivered+st.Dropped {
		t.Fatalf("%d events read, stats %+v", events, st)
	}
}

func TestCloseDuringBackoff(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{ReconnectDelay: time.Hour, ReconnectDelayMax: time.Hour})
	accept(t, srv).Drop()
	next(t, s, siostream.KindReconnecting, 5*time.Second)
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	if !errors.Is(s.Err(), siostream.ErrClosed) {
		t.Fatalf("Err() = %v", s.Err())
	}
}

func TestDialCancelled(t *testing.T) {
	// A server that never answers CONNECT: Dial must return when ctx ends.
	srv := newServer(t, sioserver.Options{Authorize: func(string, json.RawMessage) *sioserver.Reject {
		time.Sleep(500 * time.Millisecond)
		return nil
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := siostream.Dial(ctx, srv.URL(), siostream.Options{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("Dial: %v after %v", err, time.Since(start))
	}
}

func TestCloseIdempotentAndConcurrent(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{Namespace: "/x"})
	c := accept(t, srv)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { s.Close() })
	}
	wg.Wait()
	r := received(t, c, 2*time.Second)
	if r.Type.String() != "DISCONNECT" || r.Namespace != "/x" {
		t.Fatalf("server got %v on %s, want DISCONNECT", r.Type, r.Namespace)
	}
	var last siostream.Event
	for ev := range s.Events() {
		last = ev
	}
	if last.Kind != siostream.KindDisconnected || last.Reason() != siostream.ReasonClientDisconnect {
		t.Fatalf("last event %+v", last)
	}
}

func TestReservedAndOversizeEmits(t *testing.T) {
	srv := newServer(t, sioserver.Options{MaxPayload: 1000})
	s := dial(t, srv.URL(), siostream.Options{})
	ctx := context.Background()
	for _, name := range []string{"connect", "disconnect", "connect_error", "newListener", ""} {
		if err := s.Emit(ctx, name); !errors.Is(err, siostream.ErrReservedEvent) {
			t.Errorf("emit %q: %v", name, err)
		}
	}
	if err := s.Emit(ctx, "big", strings.Repeat("a", 1000)); !errors.Is(err, siostream.ErrPayloadTooLarge) {
		t.Errorf("oversize emit: %v", err)
	}
	if err := s.Emit(ctx, "ok", strings.Repeat("a", 900)); err != nil {
		t.Errorf("emit under the limit: %v", err)
	}
}

func TestStreamGoroutines(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	s := dial(t, srv.URL(), siostream.Options{ReconnectDelay: time.Hour, ReconnectDelayMax: time.Hour})
	// Idle and connected: the reader alone. The writer ends once the
	// CONNECT is written, and nothing waits behind the Events channel.
	waitFor(t, func() bool { return clientGoroutines() == 1 })
	c := accept(t, srv)
	c.Emit("/", "e", 1)
	next(t, s, siostream.KindEvent, 5*time.Second)
	if err := s.Emit(context.Background(), "ping"); err != nil {
		t.Fatal(err)
	}
	received(t, c, 5*time.Second)
	waitFor(t, func() bool { return clientGoroutines() == 1 })
	c.Drop()
	next(t, s, siostream.KindReconnecting, 5*time.Second)
	waitFor(t, func() bool { return clientGoroutines() == 1 })
	s.Close()
	if n := clientGoroutines(); n != 0 {
		t.Fatalf("%d client goroutines after Close", n)
	}
}

// clientGoroutines counts the goroutines of the client: the reader, the
// writer and the delivery pump.
func clientGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "siostream.(*Manager).read(") +
		strings.Count(string(buf), "engine.(*writer).run(") +
		strings.Count(string(buf), "siostream.(*delivery).pump(")
}
