package siostream_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/faultproxy"
	"github.com/siostream/siostream/internal/sioserver"
)

// The reliability tests put a fault-injecting proxy between the client and
// the server: client -> faultproxy -> sioserver.

func newFaultProxy(t testing.TB, upstream string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(upstream)
	if err != nil {
		t.Fatalf("start proxy: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// echoRoundTrip emits "echo" with a marker and waits for it to come back.
func echoRoundTrip(t testing.TB, s *siostream.Stream, marker string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Emit(ctx, "echo", marker); err != nil {
		t.Fatalf("emit %s: %v", marker, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev := nextEvent(t, s, "echo", time.Until(deadline))
		var got string
		if ev.Decode(&got); got == marker {
			return
		}
	}
}

// isTransportLoss reports whether r is a reason for a connection that was
// closed or reset under the client.
func isTransportLoss(r siostream.Reason) bool {
	return r == siostream.ReasonTransportClose || r == siostream.ReasonTransportError
}

func TestReliabilityLatencyJitter(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	p := newFaultProxy(t, srv.Addr())
	lag := faultproxy.Faults{Latency: 50 * time.Millisecond, Jitter: 20 * time.Millisecond}
	p.SetFaults(lag, lag)
	s := dial(t, p.URL(), siostream.Options{})
	next(t, s, siostream.KindConnected, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Echoes come back in emit order.
	const n = 50
	for i := range n {
		if err := s.Emit(ctx, "echo", i, strings.Repeat("e", i*10)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		ev := nextEvent(t, s, "echo", 5*time.Second)
		var got int
		var pad string
		if err := ev.Decode(&got, &pad); err != nil || got != i || len(pad) != i*10 {
			t.Fatalf("echo %d: %s (%v)", i, truncated(ev.Args), err)
		}
	}

	// Concurrent acks each get their own reply.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			reply, err := s.EmitWithAck(ctx, "sum", i)
			if want := fmt.Sprintf("[%d]", i); err != nil || string(reply.Args) != want {
				t.Errorf("ack %d = %s %v", i, reply, err)
			}
		})
	}
	wg.Wait()

	// Sequential acks show the latency both ways.
	var rtts []time.Duration
	for i := range 5 {
		start := time.Now()
		reply, err := s.EmitWithAck(ctx, "seq", i)
		if want := fmt.Sprintf("[%d]", i); err != nil || string(reply.Args) != want {
			t.Fatalf("ack %d = %s %v", i, reply, err)
		}
		rtts = append(rtts, time.Since(start))
	}
	for _, d := range rtts {
		if d < 100*time.Millisecond || d > 2*time.Second {
			t.Fatalf("ack round trips %v: the injected latency (50 ms + up to 20 ms each way) is not visible", rtts)
		}
	}
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("reconnected under latency: %+v", st)
	}
	t.Logf("ack round trips under 50±20 ms latency each way: %v", rtts)
}

func TestReliabilitySplitWrites(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	p := newFaultProxy(t, srv.Addr())
	split := faultproxy.Faults{SplitMax: 7}
	p.SetFaults(split, split)
	s := dial(t, p.URL(), siostream.Options{})
	next(t, s, siostream.KindConnected, 5*time.Second)
	c := accept(t, srv)
	joinedOn(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Server to client: small text and binary events, multibyte text
	// included, arrive whole and in order.
	const n = 150
	text := func(i int) string { return strings.Repeat("ü€", i%9) + fmt.Sprint(i) }
	for i := range n {
		if i%10 == 9 {
			c.Emit("/", "bin", i, []byte{byte(i), 0, 0xff})
		} else {
			c.Emit("/", "txt", i, text(i))
		}
	}
	for i := range n {
		ev := next(t, s, siostream.KindEvent, 10*time.Second)
		var got int
		if i%10 == 9 {
			var blob []byte
			if err := ev.Decode(&got, &blob); err != nil || ev.Name != "bin" || got != i || string(blob) != string([]byte{byte(i), 0, 0xff}) {
				t.Fatalf("event %d: %s %s %v (%v)", i, ev.Name, ev.Args, ev.Attachments(), err)
			}
			continue
		}
		var s string
		if err := ev.Decode(&got, &s); err != nil || ev.Name != "txt" || got != i || s != text(i) {
			t.Fatalf("event %d: %s %s (%v)", i, ev.Name, ev.Args, err)
		}
	}

	// Client to server.
	for i := range n {
		var err error
		if i%10 == 9 {
			err = s.Emit(ctx, "up-bin", i, []byte{byte(i), 1})
		} else {
			err = s.Emit(ctx, "up", i, text(i))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		r := received(t, c, 10*time.Second)
		var got int
		if err := decodeArgs(r.Args, &got); err != nil || got != i {
			t.Fatalf("server packet %d: %s %s (%v)", i, r.Name, r.Args, err)
		}
		if i%10 == 9 && (len(r.Attachments) != 1 || string(r.Attachments[0]) != string([]byte{byte(i), 1})) {
			t.Fatalf("server packet %d attachments %v", i, r.Attachments)
		}
	}
	for i := range 10 {
		reply, err := s.EmitWithAck(ctx, "ack", i, text(i))
		if want := fmt.Sprintf("[%d,%q]", i, text(i)); err != nil || string(reply.Args) != want {
			t.Fatalf("ack %d = %s %v, want %s", i, reply, err, want)
		}
	}
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("reconnected with split writes: %+v", st)
	}
}

func TestReliabilityBandwidthCap(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	p := newFaultProxy(t, srv.Addr())
	const capacity = 32 << 10 // bytes per second
	slow := faultproxy.Faults{Bandwidth: capacity}
	p.SetFaults(slow, slow)
	s := dial(t, p.URL(), siostream.Options{})
	next(t, s, siostream.KindConnected, 5*time.Second)
	c := accept(t, srv)
	joinedOn(t, c)
	const events, size = 16, 4 << 10
	start := time.Now()
	go func() {
		for i := range events {
			c.Emit("/", "chunk", i, strings.Repeat("b", size))
		}
	}()
	for i := range events {
		ev := nextEvent(t, s, "chunk", 15*time.Second)
		var got int
		var pad string
		if err := ev.Decode(&got, &pad); err != nil || got != i || len(pad) != size {
			t.Fatalf("chunk %d: %v %d", i, err, got)
		}
	}
	took := time.Since(start)
	min := time.Duration(float64(events*size) / capacity * 0.7 * float64(time.Second))
	if took < min {
		t.Fatalf("%d KiB arrived in %v through a %d KiB/s cap", events*size>>10, took, capacity>>10)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	upStart := time.Now()
	reply, err := s.EmitWithAck(ctx, "up", strings.Repeat("u", 16<<10))
	if err != nil || len(reply.Args) < 16<<10 {
		t.Fatalf("ack of 16 KiB through the cap: %d bytes, %v", len(reply.Args), err)
	}
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("reconnected under the bandwidth cap: %+v", st)
	}
	t.Logf("%d KiB down in %v (%.1f KiB/s) and a 16 KiB ack round trip in %v through a %d KiB/s cap",
		events*size>>10, took.Round(time.Millisecond), float64(events*size)/1024/took.Seconds(), time.Since(upStart).Round(time.Millisecond), capacity>>10)
}

// TestReliabilityBlackhole: the proxy stops forwarding without closing (a
// half-open connection). The client must detect it within
// pingInterval + pingTimeout plus a margin, keep trying while the hole
// lasts, reconnect when it is lifted, and leave no goroutine behind.
func TestReliabilityBlackhole(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 200 * time.Millisecond
	margin := 700 * time.Millisecond
	if raceEnabled {
		margin = 1500 * time.Millisecond
	}
	for _, tc := range []struct {
		name     string
		up, down bool
		reasons  []siostream.Reason
	}{
		{"both directions", true, true, []siostream.Reason{siostream.ReasonPingTimeout}},
		{"server to client", false, true, []siostream.Reason{siostream.ReasonPingTimeout}},
		// The server misses the pongs and closes; the close reaches the client.
		{"client to server", true, false, []siostream.Reason{siostream.ReasonPingTimeout, siostream.ReasonTransportClose, siostream.ReasonTransportError}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, sioserver.Options{PingInterval: interval, PingTimeout: timeout})
			p := newFaultProxy(t, srv.Addr())
			s := dial(t, p.URL(), siostream.Options{ConnectTimeout: 500 * time.Millisecond})
			next(t, s, siostream.KindConnected, 5*time.Second)
			echoRoundTrip(t, s, "before")
			time.Sleep(100 * time.Millisecond)
			base := runtime.NumGoroutine()

			p.SetFaults(faultproxy.Faults{Blackhole: tc.up}, faultproxy.Faults{Blackhole: tc.down})
			start := time.Now()
			ev := next(t, s, siostream.KindDisconnected, interval+timeout+5*time.Second)
			detected := time.Since(start)
			ok := false
			for _, r := range tc.reasons {
				ok = ok || ev.Reason() == r
			}
			if !ok {
				t.Errorf("reason %q (%v), want one of %v", ev.Reason(), ev.Err(), tc.reasons)
			}
			if ev.Reason() == siostream.ReasonPingTimeout && !errors.Is(ev.Err(), siostream.ErrPingTimeout) {
				t.Errorf("ping timeout with cause %v", ev.Err())
			}
			if limit := interval + timeout + margin; detected > limit {
				t.Errorf("half-open connection detected after %v, want under %v", detected, limit)
			}

			// While the hole lasts, attempts time out.
			var attempts, failures int
			readUntil(s, 1200*time.Millisecond, func(ev siostream.Event) bool {
				switch ev.Kind {
				case siostream.KindReconnecting:
					attempts++
				case siostream.KindConnectError:
					failures++
				case siostream.KindConnected:
					t.Fatal("connected through a blackhole")
				}
				return false
			})
			p.SetFaults(faultproxy.Faults{}, faultproxy.Faults{})
			lifted := time.Now()
			next(t, s, siostream.KindConnected, 5*time.Second)
			back := time.Since(lifted)
			echoRoundTrip(t, s, "after")
			if failures == 0 {
				t.Errorf("no failed attempt reported during the blackhole (%d attempts)", attempts)
			}
			n := settleGoroutines(base+2, 5*time.Second)
			if n > base+2 {
				t.Errorf("goroutines: %d before the blackhole, %d after reconnecting", base, n)
			}
			t.Logf("detected after %v as %q; %d attempts, %d failed while blackholed; reconnected %v after lifting; goroutines %d -> %d",
				detected.Round(time.Millisecond), ev.Reason(), attempts, failures, back.Round(time.Millisecond), base, n)
		})
	}
}

func TestReliabilityResetAll(t *testing.T) {
	srv := newServer(t, sioserver.Options{Handler: func(*sioserver.Conn, *sioserver.Received) {}})
	p := newFaultProxy(t, srv.Addr())
	s := dial(t, p.URL(), siostream.Options{ReconnectDelay: 200 * time.Millisecond, ReconnectDelayMax: 200 * time.Millisecond})
	next(t, s, siostream.KindConnected, 5*time.Second)
	accept(t, srv)
	for round := range 3 {
		p.ResetAll()
		ev := next(t, s, siostream.KindDisconnected, 5*time.Second)
		if !isTransportLoss(ev.Reason()) {
			t.Fatalf("round %d: reason %q (%v)", round, ev.Reason(), ev.Err())
		}
		// Emits while disconnected are buffered and sent in order after the
		// reconnection.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for i := range 20 {
			if err := s.Emit(ctx, "queued", round, i); err != nil {
				t.Fatalf("emit while disconnected: %v", err)
			}
		}
		cancel()
		next(t, s, siostream.KindConnected, 5*time.Second)
		c := accept(t, srv)
		for i := range 20 {
			r := received(t, c, 5*time.Second)
			var gotRound, got int
			if err := decodeArgs(r.Args, &gotRound, &got); err != nil || gotRound != round || got != i {
				t.Fatalf("round %d packet %d: %s (%v)", round, i, r.Args, err)
			}
		}
		t.Logf("round %d: %q %v", round, ev.Reason(), ev.Err())
	}
	if st := p.Stats(); st.Resets < 3 {
		t.Fatalf("proxy stats %+v", st)
	}
}

func TestReliabilityDropAll(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	p := newFaultProxy(t, srv.Addr())
	s := dial(t, p.URL(), siostream.Options{})
	next(t, s, siostream.KindConnected, 5*time.Second)
	p.DropAll()
	ev := next(t, s, siostream.KindDisconnected, 5*time.Second)
	if ev.Reason() != siostream.ReasonTransportClose {
		t.Errorf("graceful close reported as %q (%v)", ev.Reason(), ev.Err())
	}
	next(t, s, siostream.KindConnected, 5*time.Second)
	echoRoundTrip(t, s, "after drop")
}

func TestReliabilityRefused(t *testing.T) {
	srv := newServer(t, sioserver.Options{})
	p := newFaultProxy(t, srv.Addr())
	o := fastOpts(siostream.Options{})
	s := dial(t, p.URL(), o)
	next(t, s, siostream.KindConnected, 5*time.Second)
	p.Refuse(true)
	p.ResetAll()
	next(t, s, siostream.KindDisconnected, 5*time.Second)
	var attempts, failures, lastAttempt int
	var maxDelay time.Duration
	var firstErr error
	readUntil(s, time.Second, func(ev siostream.Event) bool {
		switch ev.Kind {
		case siostream.KindReconnecting:
			attempts++
			if ev.Attempt() != lastAttempt+1 {
				t.Errorf("attempt %d after %d", ev.Attempt(), lastAttempt)
			}
			lastAttempt = ev.Attempt()
			maxDelay = max(maxDelay, ev.Delay())
		case siostream.KindConnectError:
			if failures++; failures == 1 {
				firstErr = ev.Err()
			}
		case siostream.KindConnected:
			t.Fatal("connected while refused")
		}
		return false
	})
	p.Refuse(false)
	next(t, s, siostream.KindConnected, 5*time.Second)
	echoRoundTrip(t, s, "after refusal")
	if attempts < 3 || failures < 3 {
		t.Errorf("%d attempts and %d failures in 1 s of refusal", attempts, failures)
	}
	if maxDelay > o.ReconnectDelayMax {
		t.Errorf("backoff delay %v over the %v cap", maxDelay, o.ReconnectDelayMax)
	}
	t.Logf("1 s of refused connections: %d attempts, %d connect errors (first: %v), max delay %v, proxy refused %d",
		attempts, failures, firstErr, maxDelay, p.Stats().Refused)
}

func TestReliabilityUpstreamRestart(t *testing.T) {
	first, err := sioserver.New(sioserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })
	p := newFaultProxy(t, first.Addr())
	s := dial(t, p.URL(), siostream.Options{ReconnectDelay: 100 * time.Millisecond})
	next(t, s, siostream.KindConnected, 5*time.Second)
	echoRoundTrip(t, s, "first")

	first.Close()
	ev := next(t, s, siostream.KindDisconnected, 5*time.Second)
	if !isTransportLoss(ev.Reason()) {
		t.Errorf("server shutdown reported as %q (%v)", ev.Reason(), ev.Err())
	}
	// The server is down for a while: attempts fail.
	next(t, s, siostream.KindConnectError, 5*time.Second)
	second := newServer(t, sioserver.Options{})
	p.SetUpstream(second.Addr())
	next(t, s, siostream.KindConnected, 5*time.Second)
	echoRoundTrip(t, s, "second")
	if n := second.Connections(); n != 1 {
		t.Fatalf("new server got %d connections", n)
	}
	t.Logf("server shutdown seen as %q (%v); reconnected to the new upstream", ev.Reason(), ev.Err())
}
