package siostream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// blockingAuthorize returns an Authorize function that accepts the first
// `free` CONNECTs at once and holds the later ones until release is closed
// or hold has passed, whichever comes first.
func blockingAuthorize(free int, hold time.Duration, release <-chan struct{}) func(string, json.RawMessage) *sioserver.Reject {
	var n atomic.Int64
	return func(string, json.RawMessage) *sioserver.Reject {
		if n.Add(1) <= int64(free) {
			return nil
		}
		t := time.NewTimer(hold)
		defer t.Stop()
		select {
		case <-release:
		case <-t.C:
		}
		return nil
	}
}

func TestHostileConnectReplyNeverComes(t *testing.T) {
	release := make(chan struct{})
	auth := blockingAuthorize(0, 3*time.Second, release)
	srv := newServer(t, sioserver.Options{Authorize: auth})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	const timeout = 200 * time.Millisecond
	start := time.Now()
	_, err := siostream.Dial(context.Background(), srv.URL(), siostream.Options{ConnectTimeout: timeout})
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want a timeout", err)
	}
	if took > timeout+time.Second {
		t.Fatalf("Dial gave up after %v with ConnectTimeout %v", took, timeout)
	}
	t.Logf("Dial failed after %v (ConnectTimeout %v): %v", took, timeout, err)
}

func TestHostileConnectReplyNeverComesOnReconnect(t *testing.T) {
	release := make(chan struct{})
	auth := blockingAuthorize(1, 4*time.Second, release)
	srv := newServer(t, sioserver.Options{Authorize: auth})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	const timeout = 200 * time.Millisecond
	s := dial(t, srv.URL(), siostream.Options{ConnectTimeout: timeout})
	next(t, s, siostream.KindConnected, 2*time.Second)
	accept(t, srv).Drop()
	next(t, s, siostream.KindDisconnected, 2*time.Second)
	start := time.Now()
	var connectErrors int
	var firstErr error
	_, end := readUntil(s, timeout+1500*time.Millisecond, func(ev siostream.Event) bool {
		switch ev.Kind {
		case siostream.KindConnectError:
			if connectErrors++; connectErrors == 1 {
				firstErr = ev.Err()
				t.Logf("first KindConnectError after %v: %v", time.Since(start), ev.Err())
			}
		case siostream.KindConnected:
			t.Fatal("connected while the server holds every CONNECT")
		}
		return connectErrors >= 2
	})
	if end == readClosed {
		t.Fatalf("stream ended: %v", s.Err())
	}
	free()
	next(t, s, siostream.KindConnected, 6*time.Second)
	if connectErrors == 0 {
		t.Fatalf("on reconnect the CONNECT reply is not bounded by ConnectTimeout (%v): "+
			"no KindConnectError in %v while the server held the CONNECT; the stream waited for the reply", timeout, time.Since(start))
	}
	if !errors.Is(firstErr, context.DeadlineExceeded) {
		t.Errorf("connect error %v, want a timeout", firstErr)
	}
}

// TestHostileConnectErrorOnReconnect: the server refuses the CONNECT of the
// first reconnection. Without ReconnectOnServerDisconnect the stream must
// report KindConnectError and end with the *ConnectError.
func TestHostileConnectErrorOnReconnect(t *testing.T) {
	var n atomic.Int64
	srv := newServer(t, sioserver.Options{Authorize: func(string, json.RawMessage) *sioserver.Reject {
		if n.Add(1) == 1 {
			return nil
		}
		return &sioserver.Reject{Message: "revoked", Data: map[string]any{"code": 403}}
	}})
	s := dial(t, srv.URL(), siostream.Options{})
	next(t, s, siostream.KindConnected, 2*time.Second)
	accept(t, srv).Drop()
	next(t, s, siostream.KindDisconnected, 2*time.Second)
	var got *siostream.ConnectError
	_, end := readUntil(s, 3*time.Second, func(ev siostream.Event) bool {
		if ev.Kind == siostream.KindConnectError && !errors.As(ev.Err(), &got) {
			t.Fatalf("connect error %v is not a *ConnectError", ev.Err())
		}
		return got != nil
	})
	switch end {
	case readClosed:
		t.Fatalf("stream ended without KindConnectError: %v", s.Err())
	case readTimeout:
		t.Fatalf("no KindConnectError within 3 s (%d CONNECTs seen, Err() %v, ID() %q): the refusal was swallowed",
			n.Load(), s.Err(), s.ID())
	}
	if got.Message != "revoked" || string(got.Data) != `{"code":403}` {
		t.Errorf("connect error %+v", got)
	}
	for range s.Events() {
	}
	if !errors.As(s.Err(), &got) {
		t.Fatalf("Err() = %v, want the *ConnectError", s.Err())
	}
}

// TestHostileConnectErrorThenAccepted: with ReconnectOnServerDisconnect a
// refused reconnection is retried until the server accepts again.
func TestHostileConnectErrorThenAccepted(t *testing.T) {
	var n atomic.Int64
	srv := newServer(t, sioserver.Options{Authorize: func(string, json.RawMessage) *sioserver.Reject {
		if k := n.Add(1); k == 1 || k >= 5 {
			return nil
		}
		return &sioserver.Reject{Message: "busy"}
	}})
	s := dial(t, srv.URL(), siostream.Options{ReconnectOnServerDisconnect: true})
	next(t, s, siostream.KindConnected, 2*time.Second)
	accept(t, srv).Drop()
	next(t, s, siostream.KindDisconnected, 2*time.Second)
	var refusals int
	_, end := readUntil(s, 5*time.Second, func(ev siostream.Event) bool {
		if ev.Kind == siostream.KindConnectError {
			refusals++
		}
		return ev.Kind == siostream.KindConnected
	})
	switch end {
	case readClosed:
		t.Fatalf("stream ended: %v", s.Err())
	case readTimeout:
		t.Fatalf("not connected within 5 s: %d CONNECTs, %d refusals reported, Err %v", n.Load(), refusals, s.Err())
	}
	t.Logf("accepted after %d refusals reported (%d CONNECTs sent)", refusals, n.Load())
	if n.Load() < 5 {
		t.Fatalf("connected after %d CONNECTs", n.Load())
	}
	if refusals < 3 {
		t.Fatalf("only %d of the 3 refusals reported as KindConnectError", refusals)
	}
}

// heldReconnect dials a stream, drops its connection and returns the
// server side of the reconnection while the server still holds its
// CONNECT; free releases it.
func heldReconnect(t *testing.T, o siostream.Options) (s *siostream.Stream, c *sioserver.Conn, free func()) {
	t.Helper()
	release := make(chan struct{})
	var once sync.Once
	free = func() { once.Do(func() { close(release) }) }
	srv := newServer(t, sioserver.Options{Authorize: blockingAuthorize(1, 5*time.Second, release)})
	t.Cleanup(free) // before the server closes
	s = dial(t, srv.URL(), o)
	next(t, s, siostream.KindConnected, 2*time.Second)
	accept(t, srv).Drop()
	next(t, s, siostream.KindDisconnected, 2*time.Second)
	c = accept(t, srv)
	time.Sleep(50 * time.Millisecond) // the CONNECT is in, held by Authorize
	return s, c, free
}

// lifecycleUntil collects the events of s until stop returns true or d
// passes; reconnecting events carry their attempt number.
func lifecycleUntil(s *siostream.Stream, d time.Duration, stop func(siostream.Event) bool) (seen []string, evs []siostream.Event) {
	evs, end := eventsUntil(s, d, stop)
	for _, ev := range evs {
		name := ev.Kind.String()
		if ev.Kind == siostream.KindReconnecting {
			name = fmt.Sprintf("reconnecting(attempt %d)", ev.Attempt())
		}
		seen = append(seen, name)
	}
	switch end {
	case readClosed:
		seen = append(seen, "closed")
	case readTimeout:
		seen = append(seen, "timeout")
	}
	return seen, evs
}

// TestHostileEventsBeforeConnectReply: on a reconnection the server sends
// events before its CONNECT reply (as a recovering server replays missed
// events). Within MaxBufferedBytes they are held and delivered right after
// KindConnected; past it they are delivered at once, ahead of
// KindConnected. Either way every one arrives, once, in order.
func TestHostileEventsBeforeConnectReply(t *testing.T) {
	for _, tc := range []struct {
		name     string
		early    int
		maxBytes int
	}{{"within MaxBufferedBytes", 5, 0}, {"past MaxBufferedBytes", 40, 4 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, free := heldReconnect(t, siostream.Options{MaxBufferedBytes: tc.maxBytes})
			pad := strings.Repeat("e", 200)
			for i := range tc.early {
				c.Emit("/", "early", i, pad)
			}
			time.Sleep(100 * time.Millisecond)
			free()
			var got []int
			connectedAt := -1
			seen, _ := lifecycleUntil(s, 5*time.Second, func(ev siostream.Event) bool {
				switch ev.Kind {
				case siostream.KindEvent:
					var i int
					ev.Decode(&i)
					got = append(got, i)
				case siostream.KindConnected:
					connectedAt = len(got)
				}
				return connectedAt >= 0 && len(got) == tc.early
			})
			if connectedAt < 0 {
				t.Fatalf("not connected: %v", seen)
			}
			for i, v := range got {
				if v != i {
					t.Fatalf("events %v", got)
				}
			}
			if len(got) != tc.early {
				t.Fatalf("%d of %d early events delivered: %v", len(got), tc.early, seen)
			}
			if tc.maxBytes == 0 && connectedAt != 0 {
				t.Errorf("%d events delivered before KindConnected", connectedAt)
			}
			t.Logf("%d events before the CONNECT reply: %d delivered ahead of KindConnected, the rest after", tc.early, connectedAt)
		})
	}
}

// TestHostileParseErrorBeforeConnectReply: a reconnection breaks (a
// protocol error) after the open packet but before the CONNECT reply. The
// failed attempt must show up, with its cause, before a later one
// succeeds.
func TestHostileParseErrorBeforeConnectReply(t *testing.T) {
	s, c, free := heldReconnect(t, siostream.Options{})
	c.WriteText("9")
	time.Sleep(100 * time.Millisecond)
	free()
	var failure error
	seen, _ := lifecycleUntil(s, 5*time.Second, func(ev siostream.Event) bool {
		if (ev.Kind == siostream.KindConnectError || ev.Kind == siostream.KindDisconnected) && failure == nil {
			failure = ev.Err()
		}
		return ev.Kind == siostream.KindConnected
	})
	if seen[len(seen)-1] != "connected" {
		t.Fatalf("not connected again: %v", seen)
	}
	if failure == nil {
		t.Fatalf("an attempt that fails after the open packet but before its CONNECT reply is not reported: "+
			"lifecycle %v has no KindConnectError (or KindDisconnected) carrying the *ProtocolError, only another KindReconnecting "+
			"with the attempt count starting again", seen)
	}
	var pe *siostream.ProtocolError
	if !errors.As(failure, &pe) {
		t.Errorf("attempt failure %v is not a *ProtocolError", failure)
	}
	t.Logf("lifecycle %v, failure %v", seen, failure)
}

// TestHostileHeldEventOffset: an event that came before the CONNECT reply
// of a recovering reconnect counts as handed over once it is released, so
// the next reconnect asks to resume after it; resuming before it would
// have the server replay it.
func TestHostileHeldEventOffset(t *testing.T) {
	var n atomic.Int32
	connects := make(chan string, 3)
	rs := newRawServer(t, func(nc net.Conn, done <-chan struct{}) {
		p, err := rawAccept(nc, rawOpen)
		if err != nil {
			return
		}
		msg, err := p.until("40")
		if err != nil {
			return
		}
		connects <- msg
		switch n.Add(1) {
		case 1: // a live event, then the connection is lost
			p.text(`40{"sid":"a","pid":"p1"}`)
			p.text(`42["ev",1,"off1"]`)
		case 2: // an event ahead of the reply, then lost again
			p.text(`42["ev",2,"off2"]`)
			p.text(`40{"sid":"b","pid":"p1"}`)
		default:
			p.text(`40{"sid":"c","pid":"p1"}`)
			<-done
		}
	})
	s := dial(t, rs.URL(), siostream.Options{ReconnectDelay: 10 * time.Millisecond,
		ReconnectDelayMax: 10 * time.Millisecond, RandomizationFactor: -1})
	var got []string
	for range 3 {
		select {
		case msg := <-connects:
			got = append(got, msg)
		case <-time.After(5 * time.Second):
			t.Fatalf("CONNECTs so far: %q", got)
		}
	}
	for i, want := range []string{"", `"offset":"off1"`, `"offset":"off2"`} {
		if want != "" && !strings.Contains(got[i], want) {
			t.Errorf("CONNECT %d = %s, want it to carry %s", i+1, got[i], want)
		}
	}
	var events []int
	for len(events) < 2 {
		ev := next(t, s, siostream.KindEvent, 5*time.Second)
		var v int
		ev.Decode(&v)
		events = append(events, v)
	}
	if events[0] != 1 || events[1] != 2 {
		t.Errorf("events %v, want [1 2]", events)
	}
}
