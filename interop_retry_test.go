package siostream_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/refserver"
)

func TestInteropRetries(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{Retries: 3, AckTimeout: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()

	t.Run("emit waits for the ack", func(t *testing.T) {
		for i := range 20 {
			if err := s.Emit(ctx, "ack", i); err != nil {
				t.Fatalf("emit %d: %v", i, err)
			}
		}
		reply, err := s.EmitWithAck(ctx, "ack", "x", 1)
		if err != nil || string(reply.Args) != `["x",1]` {
			t.Fatalf("EmitWithAck: %s, %v", reply, err)
		}
	})

	t.Run("in call order", func(t *testing.T) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 10 {
					if err := s.Emit(ctx, "counted", fmt.Sprintf("%d/%d", w, i)); err != nil {
						t.Errorf("emit: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		var n int
		var list []string
		reply, err := s.EmitWithAck(ctx, "count")
		if err != nil || reply.Decode(&n, &list) != nil || n != 40 {
			t.Fatalf("count %s (%v)", reply, err)
		}
		seen := map[string]bool{}
		last := map[int]int{0: -1, 1: -1, 2: -1, 3: -1}
		for _, id := range list {
			var w, i int
			fmt.Sscanf(id, "%d/%d", &w, &i)
			if seen[id] || i != last[w]+1 {
				t.Fatalf("%q out of order or repeated in %v", id, list)
			}
			seen[id] = true
			last[w] = i
		}
	})

	t.Run("slow ack is waited for", func(t *testing.T) {
		reply, err := s.EmitWithAck(ctx, "ack-delay", 100)
		if err != nil || string(reply.Args) != `["late"]` {
			t.Fatalf("EmitWithAck: %s, %v", reply, err)
		}
	})
}

func TestInteropRetriesExhausted(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{Retries: 2, AckTimeout: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	start := time.Now()
	err := s.Emit(ctx, "no-ack", 1)
	took := time.Since(start)
	if !errors.Is(err, siostream.ErrRetriesExhausted) {
		t.Fatalf("Emit: %v", err)
	}
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("gave up after %v; want three tries of 100 ms", took)
	}
	refRoundTrip(t, s, "still connected")
}

// TestInteropBufferedWhileDisconnected emits while the stream waits to
// reconnect; the emits reach the new socket in call order, once each.
func TestInteropBufferedWhileDisconnected(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{
		ReconnectDelay:      500 * time.Millisecond,
		ReconnectDelayMax:   500 * time.Millisecond,
		RandomizationFactor: -1,
		EmitBufferCount:     61,
	})
	refWelcomeOf(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	refEmit(t, s, "drop-me")
	refExpectLifecycle(t, s, siostream.KindDisconnected)
	prefix := refToken("buf")
	var want []string
	for i := range 60 {
		id := fmt.Sprintf("%s-%d", prefix, i)
		want = append(want, id)
		if err := s.Emit(ctx, "counted", id); err != nil {
			t.Fatalf("emit %d while disconnected: %v", i, err)
		}
	}
	if st := s.Stats(); st.Buffered != 60 {
		t.Fatalf("stats %+v, want 60 buffered", st)
	}
	// A call with an ack waits for the connection too, and goes out after
	// the buffered emits.
	type result struct {
		reply siostream.Reply
		err   error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.EmitWithAck(ctx, "count")
		done <- result{r, err}
	}()
	waitFor(t, func() bool { return s.Stats().Buffered == 61 })
	if err := s.Emit(ctx, "counted", "one too many"); !errors.Is(err, siostream.ErrBufferFull) {
		t.Fatalf("emit over EmitBufferCount: %v", err)
	}
	if err := s.EmitVolatile(ctx, "counted", "volatile"); !errors.Is(err, siostream.ErrNotConnected) {
		t.Fatalf("volatile emit while disconnected: %v", err)
	}
	refExpectLifecycle(t, s, siostream.KindReconnecting, siostream.KindConnected)
	r := <-done
	var n int
	var list []string
	if r.err != nil || r.reply.Decode(&n, &list) != nil {
		t.Fatalf("count: %s, %v", r.reply.Args, r.err)
	}
	if n != 60 || !reflect.DeepEqual(list, want) {
		t.Fatalf("server counted %d: %v", n, list)
	}
	if st := s.Stats(); st.Buffered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestInteropEmitRightAfterDrop emits while the server is closing the
// connection. An emit may fail with ErrDisconnected when the connection
// dies while it is written; the others reached the old socket or were
// kept for the new one, so the new socket sees a tail of the successful
// emits, in order and once each.
func TestInteropEmitRightAfterDrop(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	refWelcomeOf(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	prefix := refToken("race")
	refEmit(t, s, "drop-me")
	var sent []string
	failed := 0
	for i := range 100 {
		id := fmt.Sprintf("%s-%d", prefix, i)
		switch err := s.Emit(ctx, "counted", id); {
		case err == nil:
			sent = append(sent, id)
		case errors.Is(err, siostream.ErrDisconnected):
			failed++
		default:
			t.Fatalf("emit %d: %v", i, err)
		}
	}
	refExpectLifecycle(t, s, siostream.KindDisconnected, siostream.KindReconnecting, siostream.KindConnected)
	var n int
	var list []string
	if err := decodeArgs(refCall(t, s, "count"), &n, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) > len(sent) || !reflect.DeepEqual(list, sent[len(sent)-len(list):]) {
		t.Fatalf("new socket got %v, not a tail of the successful emits", list)
	}
	t.Logf("%d emits to the new connection, %d failed with ErrDisconnected", len(list), failed)
}

func TestInteropPendingAckOnDrop(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	refWelcomeOf(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	errs := make(chan error, 2)
	for _, ev := range []struct {
		name string
		args []any
	}{{"no-ack", nil}, {"ack-delay", []any{3000}}} {
		go func() {
			_, err := s.EmitWithAck(ctx, ev.name, ev.args...)
			errs <- err
		}()
	}
	// Both requests are on the wire once they were written.
	waitFor(t, func() bool { return s.Stats().Emitted >= 2 })
	refEmit(t, s, "drop-me")
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, siostream.ErrDisconnected) {
				t.Fatalf("pending EmitWithAck: %v", err)
			}
		case <-time.After(refWait):
			t.Fatal("pending EmitWithAck not failed after the drop")
		}
	}
	evs := refExpectLifecycle(t, s, siostream.KindDisconnected, siostream.KindReconnecting, siostream.KindConnected)
	if evs[0].Reason() != siostream.ReasonTransportClose {
		t.Fatalf("disconnect: %s", refDescribe(evs[0]))
	}
	refRoundTrip(t, s, "after the drop")
}

// TestInteropBufferedAcrossRejoin: emits made after the server's
// DISCONNECT, while ReconnectOnServerDisconnect waits to join again, reach
// the new socket in order.
func TestInteropBufferedAcrossRejoin(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{
		ReconnectOnServerDisconnect: true,
		ReconnectDelay:              300 * time.Millisecond,
		ReconnectDelayMax:           300 * time.Millisecond,
		RandomizationFactor:         -1,
	})
	refWelcomeOf(t, s)
	refEmit(t, s, "disconnect-me")
	if ev := refLifecycle(t, s, refWait); ev.Reason() != siostream.ReasonServerDisconnect {
		t.Fatalf("%v %s", ev.Kind, refDescribe(ev))
	}
	seen := time.Now() // the re-join's delay started before this
	want := make([]int, 20)
	for i := range want {
		want[i] = i
		refEmit(t, s, "counted", i)
	}
	// Until the delay has passed, nothing can have gone out. On a loaded
	// machine the emits may outlast it; the order check below still holds.
	if st := s.Stats(); st.Buffered != 20 && time.Since(seen) < 300*time.Millisecond {
		t.Fatalf("stats %+v, want 20 buffered", st)
	}
	refExpectLifecycle(t, s, siostream.KindReconnecting, siostream.KindConnected)
	var n int
	var list []int
	if err := decodeArgs(refCall(t, s, "count"), &n, &list); err != nil || n != 20 || !reflect.DeepEqual(list, want) {
		t.Fatalf("server counted %d: %v (%v)", n, list, err)
	}
}
