package siostream_test

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// TestHostileServerStopsReading: the server stops reading while the client
// emits; emits are pushed back and fail with their context, memory stays
// bounded, and everything flows again when the server reads again.
func TestHostileServerStopsReading(t *testing.T) {
	var got atomic.Int64
	srv, s, c := hostileRig(t, sioserver.Options{Handler: func(c *sioserver.Conn, r *sioserver.Received) {
		if r.Name == "load" {
			got.Add(1)
		}
		if r.HasID {
			c.Ack(r.Namespace, r.ID, "ok")
		}
	}}, siostream.Options{EmitBufferBytes: 4 << 20})
	_ = srv
	runtime.GC()
	before := readMem()
	c.SetReadPaused(true)
	payload := strings.Repeat("p", 16<<10)
	const emitters, maxEach = 4, 2000
	var ok, timedOut atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range emitters {
		wg.Go(func() {
			for range maxEach {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				err := s.Emit(ctx, "load", payload)
				cancel()
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					timedOut.Add(1)
					return
				default:
					t.Errorf("emit: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	mid := readMem()
	pushedBack := time.Since(start)
	if timedOut.Load() == 0 {
		t.Fatalf("%d emits of 16 KiB all written while the server did not read", ok.Load())
	}
	grow := int64(mid.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("server not reading: %d emits written (%.1f MiB, kernel buffers) before push-back after %v, %d timed out; client heap %+.2f MiB",
		ok.Load(), float64(ok.Load()*16<<10)/oneMiB, pushedBack.Round(time.Millisecond), timedOut.Load(), float64(grow)/oneMiB)
	if grow > 6*oneMiB { // EmitBufferBytes and some slack
		t.Errorf("client heap grew by %.1f MiB while pushed back", float64(grow)/oneMiB)
	}
	time.Sleep(300 * time.Millisecond)
	c.SetReadPaused(false)
	// Emits that timed out may still be sent: the server sees at least
	// the successful ones, and the stream works as before.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := s.EmitWithAck(ctx, "probe")
	if err != nil || string(reply.Args) != `["ok"]` {
		t.Fatalf("ack after resume: %s %v", reply, err)
	}
	if got.Load() < ok.Load() {
		t.Fatalf("server got %d loads, client wrote %d", got.Load(), ok.Load())
	}
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("reconnected: %+v", st)
	}
	t.Logf("after resume the server got %d loads (%d reported written, %d timed out)", got.Load(), ok.Load(), timedOut.Load())
}

// TestHostileAbandonedEmitsBounded: against a server that does not read,
// emits whose context has ended must not pile up without bound.
func TestHostileAbandonedEmitsBounded(t *testing.T) {
	_, s, c := hostileRig(t, sioserver.Options{Handler: func(*sioserver.Conn, *sioserver.Received) {}}, siostream.Options{})
	c.SetReadPaused(true)
	defer c.SetReadPaused(false)
	payload := strings.Repeat("q", 16<<10)
	// Fill the socket buffers first.
	for i := 0; i < 20000; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := s.Emit(ctx, "fill", payload)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
	}
	runtime.GC()
	before := readMem()
	const abandoned = 2000
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var refused int
	for range abandoned {
		if err := s.Emit(ctx, "abandoned", payload); err != nil {
			refused++
		}
	}
	runtime.GC()
	after := readMem()
	grow := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d emits of 16 KiB with an ended context against a server that does not read: heap %+.1f MiB",
		abandoned, float64(grow)/oneMiB)
	if limit := int64(8 * oneMiB); grow > limit {
		t.Fatalf("emits whose context has ended stay queued for the writer; "+
			"the queue of a connected stream has no bound (EmitBufferCount/Bytes apply only while disconnected): "+
			"%d abandoned 16 KiB emits hold %.1f MiB", abandoned, float64(grow)/oneMiB)
	}
}

// TestHostileWriteStalled: the server keeps pinging but stops reading for
// longer than the client's write deadline (pingInterval + pingTimeout).
// The client cannot send anything any more; it must give the connection up
// (transport error) and reconnect rather than keep a dead writer.
func TestHostileWriteStalled(t *testing.T) {
	const interval, timeout = 300 * time.Millisecond, 300 * time.Millisecond
	const writeTimeout = 500 * time.Millisecond
	var got atomic.Int64
	_, s, c := hostileRig(t, sioserver.Options{PingInterval: interval, PingTimeout: timeout,
		Handler: func(c *sioserver.Conn, r *sioserver.Received) {
			got.Add(1)
			if r.HasID {
				c.Ack(r.Namespace, r.ID)
			}
		}}, siostream.Options{WriteTimeout: writeTimeout, EmitBufferBytes: 1 << 20})
	c.SetReadPaused(true)
	stopPings := make(chan struct{})
	var pinger sync.WaitGroup
	pinger.Go(func() { // the server stays alive in the client's eyes
		for i := 0; i < 100; i++ {
			select {
			case <-stopPings:
				return
			case <-time.After(100 * time.Millisecond):
			}
			c.PingNow()
		}
	})
	defer func() {
		close(stopPings)
		pinger.Wait()
	}()
	payload := strings.Repeat("w", 16<<10)
	start := time.Now()
	for i := 0; i < 20000 && time.Since(start) < 3*time.Second; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := s.Emit(ctx, "stall", payload)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
	}
	stalled := time.Now()
	ev, _ := readUntil(s, writeTimeout+5*time.Second, func(e siostream.Event) bool { return e.Kind == siostream.KindDisconnected })
	took := time.Since(stalled)
	if ev.Kind == siostream.KindDisconnected {
		t.Logf("stalled writer detected %v after the stall: %q %v", took.Round(time.Millisecond), ev.Reason(), ev.Err())
		if ev.Reason() == siostream.ReasonPingTimeout {
			t.Errorf("a stalled write reported as a ping timeout while the server was pinging")
		}
		if !errors.Is(ev.Err(), siostream.ErrWriteTimeout) {
			t.Errorf("cause %v, want ErrWriteTimeout", ev.Err())
		}
		c.SetReadPaused(false)
		next(t, s, siostream.KindConnected, 5*time.Second)
		return
	}
	// What the stream does instead.
	id := s.ID()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	emitErr := s.Emit(ctx, "after-stall", 1)
	cancel()
	st := s.Stats()
	close(stopPings)
	pinger.Wait()
	stopPings = make(chan struct{})
	c.SetReadPaused(false)
	recoverStart := time.Now()
	next(t, s, siostream.KindConnected, 10*time.Second) // the server times out the missing pongs
	t.Fatalf("a write that misses the write deadline (%v) stops the writer goroutine but not the connection: "+
		"no KindDisconnected %v after the stall while the server kept pinging; the stream still looked connected (ID %q), "+
		"a new emit returned %v and Stats were %+v; pongs were no longer sent, and it recovered only %v after the server read again "+
		"and closed the connection for missing pongs",
		interval+timeout, took.Round(time.Millisecond), id, emitErr, st, time.Since(recoverStart).Round(time.Millisecond))
}

// setDurationField sets the time.Duration field name of o, if Options has
// one, and reports whether it did.
func setDurationField(o *siostream.Options, name string, d time.Duration) bool {
	f := reflect.ValueOf(o).Elem().FieldByName(name)
	if !f.IsValid() || f.Type() != reflect.TypeFor[time.Duration]() {
		return false
	}
	f.Set(reflect.ValueOf(d))
	return true
}

// TestHostile2WriteDeadline: the server advertises pingInterval and
// pingTimeout of 24 hours each, then stops reading. The client's only write
// deadline is pingInterval + pingTimeout, 48 hours, so a write into full
// socket buffers waits that long. A client-side bound is missing: an
// Options.WriteTimeout. This test sets it to 5 s when Options has such a
// field; without it, it asserts that the stuck Emit is released within
// 30 s.
func TestHostile2WriteDeadline(t *testing.T) {
	const day = 24 * time.Hour
	const bound = 30 * time.Second
	o := siostream.Options{}
	hasOption := setDurationField(&o, "WriteTimeout", 5*time.Second)
	_, s, c := hostileRig(t, sioserver.Options{PingInterval: day, PingTimeout: day,
		Handler: func(*sioserver.Conn, *sioserver.Received) {}}, o)
	c.SetReadPaused(true)
	payload := strings.Repeat("w", 64<<10)
	var inFlight atomic.Int64 // start of the emit in progress (UnixNano), 0 between emits
	var written atomic.Int64
	var lastErr atomic.Pointer[error]
	ended := make(chan struct{})
	var emitter sync.WaitGroup
	emitter.Go(func() {
		defer close(ended)
		for range 4000 {
			inFlight.Store(time.Now().UnixNano())
			err := s.Emit(context.Background(), "fill", payload)
			inFlight.Store(0)
			if err != nil {
				lastErr.Store(&err)
				return
			}
			written.Add(1)
		}
	})
	// The stall: one emit has been waiting for 2 s.
	var stuckAt time.Time
	if !pollUntil(20*time.Second, func() bool {
		if t0 := inFlight.Load(); t0 != 0 && time.Since(time.Unix(0, t0)) > 2*time.Second {
			stuckAt = time.Unix(0, t0)
			return true
		}
		select {
		case <-ended:
			return true
		default:
			return false
		}
	}) || stuckAt.IsZero() {
		s.Close()
		emitter.Wait()
		t.Fatalf("no stalled emit: %d emits of 64 KiB written, last error %v", written.Load(), lastErr.Load())
	}
	t.Logf("writes stalled after %d emits of 64 KiB (%.1f MiB in socket buffers); WriteTimeout option present: %v",
		written.Load(), float64(written.Load())/16, hasOption)
	timer := time.NewTimer(time.Until(stuckAt.Add(bound)))
	defer timer.Stop()
	released := false
	select {
	case <-ended:
		released = true
	case <-timer.C:
	}
	waited := time.Since(stuckAt)
	st, id := s.Stats(), s.ID()
	closeStart := time.Now()
	s.Close()
	closeTook := time.Since(closeStart)
	emitter.Wait()
	c.SetReadPaused(false)
	var err error
	if p := lastErr.Load(); p != nil {
		err = *p
	}
	if released {
		t.Logf("the stuck emit returned %v after %v", err, waited.Round(time.Millisecond))
		if err == nil {
			t.Errorf("the stuck emit returned nil")
		}
		return
	}
	t.Logf("the stuck emit was still waiting %v after it started (stream ID %q, stats %+v); Close took %v and released it with %v",
		waited.Round(time.Millisecond), id, st, closeTook.Round(time.Millisecond), err)
	t.Errorf("an Emit stuck in a write was not released within %v: the only write deadline is pingInterval + pingTimeout "+
		"(dial.go connectEngine stores c.deadline, 48 h here, as the writer's per-batch timeout in write.go writeBatch); "+
		"no client-side write bound (an Options.WriteTimeout) exists", bound)
}

// TestHostileEmitWithAckCtx: with a server that stopped reading, every
// EmitWithAck returns once its ctx ends, while the write it queued is
// stuck: the caller never becomes the one blocked in the write, which
// only WriteTimeout would end.
func TestHostileEmitWithAckCtx(t *testing.T) {
	_, s, c := hostileRig(t, sioserver.Options{Handler: func(*sioserver.Conn, *sioserver.Received) {}},
		siostream.Options{WriteTimeout: 30 * time.Second, EmitBufferBytes: 64 << 20})
	c.SetReadPaused(true)
	defer c.SetReadPaused(false)
	payload := strings.Repeat("a", 256<<10)
	var worst time.Duration
	for range 48 { // 12 MiB: far more than the socket buffers hold
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		start := time.Now()
		_, err := s.EmitWithAck(ctx, "fill", payload)
		took := time.Since(start)
		cancel()
		worst = max(worst, took)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("EmitWithAck = %v, want its ctx's deadline", err)
		}
		if took > 10*time.Second {
			t.Fatalf("EmitWithAck with a 20 ms ctx took %v: it was blocked in a write", took)
		}
	}
	t.Logf("the slowest of 48 EmitWithAck with a 20 ms ctx took %v", worst.Round(time.Millisecond))
}
