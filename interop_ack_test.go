package siostream_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/refserver"
)

func TestInteropAck(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{Namespace: "/admin"})
	cases := []struct {
		name string
		args []any
		want string
	}{
		{"no args", nil, `[]`},
		{"one number", []any{1}, `[1]`},
		{"mixed", []any{1, "2", map[string]any{"3": []any{false}}}, `[1,"2",{"3":[false]}]`},
		{"unicode", []any{"é🚀"}, `["é🚀"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := refCall(t, s, "ack", tc.args...); !reflect.DeepEqual(refJSON(t, string(got)), refJSON(t, tc.want)) {
				t.Fatalf("ack %s, want %s", got, tc.want)
			}
		})
	}
}

func TestInteropAckConcurrent(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				reply, err := s.EmitWithAck(ctx, "ack", g, i, "pad")
				if want := fmt.Sprintf(`[%d,%d,"pad"]`, g, i); err != nil || string(reply.Args) != want {
					t.Errorf("ack %d/%d = %s, %v; want %s", g, i, reply, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestInteropAckTimeouts(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})

	t.Run("ack-delay longer than ctx", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.EmitWithAck(ctx, "ack-delay", 500)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
			t.Fatalf("EmitWithAck: %v after %v", err, time.Since(start))
		}
	})

	t.Run("ack-delay shorter than ctx", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), refWait)
		defer cancel()
		start := time.Now()
		reply, err := s.EmitWithAck(ctx, "ack-delay", 100)
		if err != nil || string(reply.Args) != `["late"]` {
			t.Fatalf("EmitWithAck: %s, %v", reply, err)
		}
		if took := time.Since(start); took < 100*time.Millisecond {
			t.Fatalf("ack after %v, before the server's delay", took)
		}
	})

	t.Run("no-ack", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := s.EmitWithAck(ctx, "no-ack", 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("EmitWithAck: %v", err)
		}
	})

	// The late ack of the first subtest arrives for an ack id nobody
	// waits for any more; it must be ignored.
	time.Sleep(500 * time.Millisecond)
	refRoundTrip(t, s, "after the timeouts")
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInteropServerAckRequest(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{Namespace: "/realtime"})
	refWelcomeOf(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()

	needAck := func(t *testing.T, event string, args ...any) siostream.Event {
		t.Helper()
		if reply := refCall(t, s, event, args...); string(reply) != `[]` {
			t.Fatalf("%s ack %s", event, reply)
		}
		ev := nextEvent(t, s, "need-ack", refWait)
		if !ev.WantsAck() {
			t.Fatal("need-ack does not want an ack")
		}
		return ev
	}

	t.Run("reply", func(t *testing.T) {
		ev := needAck(t, "request-ack", "q", 1)
		if string(ev.Args) != `["q",1]` {
			t.Fatalf("need-ack args %s", ev.Args)
		}
		if err := ev.Ack(ctx, "reply", 7); err != nil {
			t.Fatal(err)
		}
		if got := nextEvent(t, s, "got-ack", refWait); string(got.Args) != `["reply",7]` {
			t.Fatalf("got-ack %s", got.Args)
		}
	})

	t.Run("binary reply", func(t *testing.T) {
		ev := needAck(t, "request-ack")
		if err := ev.Ack(ctx, "r", []byte{1, 2, 3}, map[string]any{"b": []byte{4}}); err != nil {
			t.Fatal(err)
		}
		got := nextEvent(t, s, "got-ack", refWait)
		vals, err := got.Values()
		if err != nil {
			t.Fatal(err)
		}
		want := []any{"r", []byte{1, 2, 3}, map[string]any{"b": []byte{4}}}
		if !reflect.DeepEqual(vals, want) || len(got.Attachments()) != 2 {
			t.Fatalf("got-ack values %#v, %d attachments", vals, len(got.Attachments()))
		}
	})

	t.Run("twice", func(t *testing.T) {
		ev := needAck(t, "request-ack", "once")
		if err := ev.Ack(ctx, "first"); err != nil {
			t.Fatal(err)
		}
		if err := ev.Ack(ctx, "second"); !errors.Is(err, siostream.ErrAckTwice) {
			t.Fatalf("second Ack: %v", err)
		}
		if got := nextEvent(t, s, "got-ack", refWait); string(got.Args) != `["first"]` {
			t.Fatalf("got-ack %s", got.Args)
		}
		refEmit(t, s, "echo", "sync")
		if ev := nextEvent(t, s, "echo", refWait); string(ev.Args) != `["sync"]` {
			t.Fatalf("after one ack: %s", refDescribe(ev))
		}
	})

	t.Run("server times out", func(t *testing.T) {
		ev := needAck(t, "request-ack-timeout", 200, "z")
		if string(ev.Args) != `["z"]` {
			t.Fatalf("need-ack args %s", ev.Args)
		}
		got := nextEvent(t, s, "got-ack-timeout", refWait)
		if string(got.Args) != `[]` {
			t.Fatalf("got-ack-timeout args %s", got.Args)
		}
		// A late answer is written; the server drops it without harm.
		if err := ev.Ack(ctx, "late"); err != nil {
			t.Fatal(err)
		}
		refRoundTrip(t, s, "after a late ack")
	})

	t.Run("not requested", func(t *testing.T) {
		refEmit(t, s, "echo", "plain")
		ev := nextEvent(t, s, "echo", refWait)
		if ev.WantsAck() {
			t.Fatal("echo event wants an ack")
		}
		if err := ev.Ack(ctx, 1); !errors.Is(err, siostream.ErrNoAck) {
			t.Fatalf("Ack: %v", err)
		}
	})
}

func TestInteropAckStaleAfterReconnect(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	refWelcomeOf(t, s)
	refCall(t, s, "request-ack-timeout", 3000, "q")
	ev := nextEvent(t, s, "need-ack", refWait)
	refEmit(t, s, "drop-me")
	refExpectLifecycle(t, s, siostream.KindDisconnected, siostream.KindReconnecting, siostream.KindConnected)
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	if err := ev.Ack(ctx, "too late"); !errors.Is(err, siostream.ErrAckStale) {
		t.Fatalf("Ack after reconnect: %v", err)
	}
	refRoundTrip(t, s, "after a stale ack")
	for _, ev := range refQuiet(t, s, 100*time.Millisecond) {
		if strings.HasPrefix(ev.Name, "got-ack") {
			t.Fatalf("the new socket got an answer: %s", refDescribe(ev))
		}
	}
}

// TestInteropAckAfterLocalRefusal: an Ack refused before anything was sent
// (the reply is over the server's maxPayload) leaves the request open, so
// a smaller reply can still answer it.
func TestInteropAckAfterLocalRefusal(t *testing.T) {
	srv := refserver.Shared(t, refserver.SmallBuf)
	s := dial(t, srv.URL, siostream.Options{})
	refCall(t, s, "request-ack-timeout", 2000, "q")
	ev := nextEvent(t, s, "need-ack", refWait)
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	if err := ev.Ack(ctx, strings.Repeat("a", 3000)); !errors.Is(err, siostream.ErrPayloadTooLarge) {
		t.Fatalf("oversize Ack: %v", err)
	}
	if err := ev.Ack(ctx, "small"); err != nil {
		t.Fatalf("Ack after a refused one: %v", err)
	}
	for {
		got := next(t, s, siostream.KindEvent, refWait)
		if got.Name == "got-ack-timeout" {
			t.Fatal("the server never got the ack")
		}
		if got.Name == "got-ack" {
			if string(got.Args) != `["small"]` {
				t.Fatalf("got-ack %s", got.Args)
			}
			return
		}
	}
}
