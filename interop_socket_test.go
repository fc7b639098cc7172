package siostream_test

import (
	"bytes"
	"context"
	"encoding/json"
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

func TestInteropEcho(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	many := make([]any, 30)
	for i := range many {
		many[i] = i * i
	}
	cases := []struct {
		name string
		args []any
	}{
		{"string", []any{"hello"}},
		{"empty string", []any{""}},
		{"integers", []any{0, -1, 42, int64(1 << 53)}},
		{"floats", []any{3.25, -0.5, 1e-7, 6.02e23}},
		{"bool and null", []any{true, false, nil}},
		{"object", []any{map[string]any{"a": 1, "b": "two", "c": []any{true, nil}, "d": map[string]any{}}}},
		{"nested arrays", []any{[]any{[]any{1, []any{2, []any{3, []any{}}}}, "x", []any{}}}},
		{"unicode", []any{"héllo wörld", "日本語", "🚀🎉", "\u2028\u2029", "\u00a0"}},
		{"escapes", []any{`a"b`, `back\slash`, "tab\tnew\nline", "\u0000\u001f", "</script>"}},
		{"struct", []any{struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}{"n", []string{"x", "y"}}}},
		{"raw JSON", []any{json.RawMessage(`{"k":[1,2,{"z":null}]}`)}},
		{"many args", many},
		{"no args", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			refRoundTrip(t, s, tc.args...)
		})
	}
}

// TestInteropEventNames sends events whose names need escaping or are not
// ASCII. The server ignores names it does not know but drops the
// connection on a frame it cannot parse, so the stream must stay up; the
// names also come back intact as arguments.
func TestInteropEventNames(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	refWelcomeOf(t, s)
	for _, name := range []string{`a"b`, "é", "🚀 launch", `back\slash`, "tab\there", "日本", "\u2028", "Connect"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			refEmit(t, s, name, name, 1)
			var got string
			if err := decodeArgs(refCall(t, s, "ack", name), &got); err != nil || got != name {
				t.Fatalf("ack %q (%v)", got, err)
			}
			refQuiet(t, s, 20*time.Millisecond)
		})
	}
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInteropBinary(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	refWelcomeOf(t, s)

	t.Run("event with nested attachments", func(t *testing.T) {
		refEmit(t, s, "binary")
		ev := nextEvent(t, s, "binary", refWait)
		var first struct {
			A      []byte `json:"a"`
			Nested struct {
				List []json.RawMessage `json:"list"`
			} `json:"nested"`
		}
		var second []byte
		if err := ev.Decode(&first, &second); err != nil {
			t.Fatal(err)
		}
		var l0 []byte
		var l1 string
		var l2 struct {
			Deep []byte `json:"deep"`
		}
		if len(first.Nested.List) != 3 {
			t.Fatalf("nested.list %s", ev.Args)
		}
		for i, v := range []any{&l0, &l1, &l2} {
			if err := json.Unmarshal(first.Nested.List[i], v); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(first.A, []byte{1, 2, 3}) || !bytes.Equal(l0, []byte{4, 5}) || l1 != "x" ||
			!bytes.Equal(l2.Deep, []byte{6}) || !bytes.Equal(second, []byte{7, 8}) {
			t.Fatalf("decoded a=%v list=%v,%q,%v second=%v", first.A, l0, l1, l2.Deep, second)
		}
		if want := [][]byte{{1, 2, 3}, {4, 5}, {6}, {7, 8}}; !reflect.DeepEqual(ev.Attachments(), want) {
			t.Fatalf("attachments %v", ev.Attachments())
		}
		vals, err := ev.Values()
		if err != nil {
			t.Fatal(err)
		}
		want := []any{
			map[string]any{"a": []byte{1, 2, 3}, "nested": map[string]any{
				"list": []any{[]byte{4, 5}, "x", map[string]any{"deep": []byte{6}}},
			}},
			[]byte{7, 8},
		}
		if !reflect.DeepEqual(vals, want) {
			t.Fatalf("Values %#v", vals)
		}
	})

	t.Run("binary ack", func(t *testing.T) {
		var got struct {
			Bin []byte `json:"bin"`
		}
		if err := decodeArgs(refCall(t, s, "binary-ack"), &got); err != nil || !bytes.Equal(got.Bin, []byte{9, 9, 9}) {
			t.Fatalf("binary-ack %v (%v)", got.Bin, err)
		}
	})

	t.Run("echo nested bytes", func(t *testing.T) {
		arg := map[string]any{
			"l1":   map[string]any{"l2": []byte{0, 1, 2, 255}, "s": "text"},
			"list": []any{[]byte{}, []byte("x")},
		}
		reply := refCall(t, s, "echo", []byte{42}, arg)
		ev := nextEvent(t, s, "echo", refWait)
		vals, err := ev.Values()
		if err != nil {
			t.Fatal(err)
		}
		want := []any{[]byte{42}, map[string]any{
			"l1":   map[string]any{"l2": []byte{0, 1, 2, 255}, "s": "text"},
			"list": []any{[]byte{}, []byte("x")},
		}}
		if !refSame(vals, want) || len(ev.Attachments()) != 4 {
			t.Fatalf("echo values %#v, %d attachments", vals, len(ev.Attachments()))
		}
		var top []byte
		var obj struct {
			L1 struct {
				L2 []byte `json:"l2"`
			} `json:"l1"`
		}
		if err := decodeArgs(reply, &top, &obj); err != nil || !bytes.Equal(top, []byte{42}) ||
			!bytes.Equal(obj.L1.L2, []byte{0, 1, 2, 255}) {
			t.Fatalf("echo ack %s (%v)", reply, err)
		}
	})

	t.Run("big binary", func(t *testing.T) {
		const n = 100 << 10
		refEmit(t, s, "big-binary", n)
		ev := nextEvent(t, s, "big-binary", refWait)
		var got []byte
		if err := ev.Decode(&got); err != nil || len(got) != n {
			t.Fatalf("big-binary: %d bytes (%v)", len(got), err)
		}
		for i, b := range got {
			if b != byte(i) {
				t.Fatalf("byte %d = %d", i, b)
			}
		}
	})
}

func TestInteropFlood(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	refWelcomeOf(t, s)
	const n = 5000
	refEmit(t, s, "flood", n)
	for i := range n {
		ev := refRecv(t, s, refWait)
		var got int
		var pad string
		if ev.Kind != siostream.KindEvent || ev.Name != "flood" || ev.Decode(&got, &pad) != nil || got != i || pad != "xxxxxxxxxx" {
			t.Fatalf("event %d: %v %s", i, ev.Kind, refDescribe(ev))
		}
	}
	ev := refRecv(t, s, refWait)
	if ev.Name != "flood-done" || string(ev.Args) != fmt.Sprintf("[%d]", n) {
		t.Fatalf("after the flood: %v %s", ev.Kind, refDescribe(ev))
	}
	if st := s.Stats(); st.Received < n+2 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInteropBigPayloads(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	refWelcomeOf(t, s)
	for _, n := range []int{40 << 10, 900_000} {
		t.Run(fmt.Sprintf("big %d", n), func(t *testing.T) {
			reply := refCall(t, s, "big", n)
			ev := nextEvent(t, s, "big", refWait)
			var got string
			if err := ev.Decode(&got); err != nil || got != refPattern(n) {
				t.Fatalf("big: %d chars (%v)", len(got), err)
			}
			if string(reply) != fmt.Sprintf("[%d]", n) {
				t.Fatalf("ack %s", reply)
			}
		})
		t.Run(fmt.Sprintf("echo %d", n), func(t *testing.T) {
			refRoundTrip(t, s, strings.Repeat("é", n/2))
		})
	}
}

func TestInteropPayloadLimit(t *testing.T) {
	srv := refserver.Shared(t, refserver.SmallBuf)
	s := dial(t, srv.URL, siostream.Options{})
	refWelcomeOf(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	// 42["echo","<s>"] is len(s)+13 bytes with the Engine.IO type; the
	// server takes messages of up to maxHttpBufferSize = 2000 bytes.
	const fits = 2000 - 13
	cases := []struct {
		name string
		arg  any
		ok   bool
	}{
		{"text at the limit", strings.Repeat("a", fits), true},
		{"text one byte over", strings.Repeat("a", fits+1), false},
		{"two-byte runes at the limit", strings.Repeat("é", fits/2) + "a", true},
		{"two-byte runes one byte over", strings.Repeat("é", fits/2+1), false},
		{"attachment at the limit", bytes.Repeat([]byte{7}, 2000), true},
		{"attachment one byte over", bytes.Repeat([]byte{7}, 2001), false},
		{"far over", strings.Repeat("z", 50_000), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats().Emitted
			err := s.Emit(ctx, "echo", tc.arg)
			if !tc.ok {
				if !errors.Is(err, siostream.ErrPayloadTooLarge) {
					t.Fatalf("Emit: %v", err)
				}
				if _, err := s.EmitWithAck(ctx, "ack", tc.arg); !errors.Is(err, siostream.ErrPayloadTooLarge) {
					t.Fatalf("EmitWithAck: %v", err)
				}
				if st := s.Stats(); st.Emitted != before {
					t.Fatalf("something was sent: %d packets before, %d after", before, st.Emitted)
				}
				refRoundTrip(t, s, "still connected")
				return
			}
			if err != nil {
				t.Fatalf("Emit: %v", err)
			}
			ev := nextEvent(t, s, "echo", refWait)
			vals, err := ev.Values()
			if err != nil || len(vals) != 1 || !reflect.DeepEqual(vals[0], tc.arg) {
				t.Fatalf("echo %s (%v)", truncated(ev.Args), err)
			}
		})
	}
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("stats %+v: the server closed the connection", st)
	}
}

func TestInteropReservedNames(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener", ""} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			if err := s.Emit(ctx, name, 1); !errors.Is(err, siostream.ErrReservedEvent) {
				t.Errorf("Emit: %v", err)
			}
			if _, err := s.EmitWithAck(ctx, name); !errors.Is(err, siostream.ErrReservedEvent) {
				t.Errorf("EmitWithAck: %v", err)
			}
			if err := s.EmitVolatile(ctx, name); !errors.Is(err, siostream.ErrReservedEvent) {
				t.Errorf("EmitVolatile: %v", err)
			}
		})
	}
	refRoundTrip(t, s, "still connected")
}

func TestInteropVolatileConnected(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	if err := s.EmitVolatile(ctx, "echo", "v", 1); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, s, "echo", refWait); string(ev.Args) != `["v",1]` {
		t.Fatalf("echo %s", ev.Args)
	}
}

func TestInteropRooms(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	room := refToken("room")
	opts := siostream.Options{Namespace: "/realtime"}
	a, b, c := dial(t, srv.URL, opts), dial(t, srv.URL, opts), dial(t, srv.URL, opts)
	for _, s := range []*siostream.Stream{a, b, c} {
		refWelcomeOf(t, s)
	}
	for _, s := range []*siostream.Stream{a, b} {
		if reply := refCall(t, s, "join", room); string(reply) != `[true]` {
			t.Fatalf("join: %s", reply)
		}
	}
	// onlySync checks that the next event of s is the echo asked for now:
	// per connection the server writes in order, so a broadcast that was
	// sent to s would come first.
	onlySync := func(s *siostream.Stream) {
		t.Helper()
		refEmit(t, s, "echo", "sync")
		if ev := next(t, s, siostream.KindEvent, refWait); ev.Name != "echo" {
			t.Fatalf("got %s before the sync echo", refDescribe(ev))
		}
	}

	if reply := refCall(t, a, "broadcast", room, "hi", 1); string(reply) != `[true]` {
		t.Fatalf("broadcast: %s", reply)
	}
	for _, s := range []*siostream.Stream{a, b} {
		if ev := next(t, s, siostream.KindEvent, refWait); ev.Name != "broadcast" || string(ev.Args) != `["hi",1]` {
			t.Fatalf("in the room: %s", refDescribe(ev))
		}
	}
	onlySync(c)

	refCall(t, b, "leave", room)
	refCall(t, c, "broadcast", room, "again")
	if ev := next(t, a, siostream.KindEvent, refWait); ev.Name != "broadcast" || string(ev.Args) != `["again"]` {
		t.Fatalf("in the room: %s", refDescribe(ev))
	}
	onlySync(b)
	onlySync(c)
}

func TestInteropEmitOrder(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	const n = 200
	want := make([]int, n)
	for i := range n {
		want[i] = i
		refEmit(t, s, "counted", i)
	}
	var count int
	var list []int
	if err := decodeArgs(refCall(t, s, "count"), &count, &list); err != nil {
		t.Fatal(err)
	}
	if count != n || !reflect.DeepEqual(list, want) {
		t.Fatalf("server counted %d: %v", count, list)
	}
}

func TestInteropEmitOrderConcurrent(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				refEmit(t, s, "counted", fmt.Sprintf("%d/%d", w, i))
			}
		})
	}
	wg.Wait()
	var count int
	var list []string
	if err := decodeArgs(refCall(t, s, "count"), &count, &list); err != nil || count != workers*each {
		t.Fatalf("server counted %d (%v)", count, err)
	}
	last := make([]int, workers)
	for i := range last {
		last[i] = -1
	}
	for _, id := range list {
		var w, i int
		if _, err := fmt.Sscanf(id, "%d/%d", &w, &i); err != nil || i != last[w]+1 {
			t.Fatalf("%q after %d/%d", id, w, last[w])
		}
		last[w] = i
	}
}
