package siostream_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// The slow consumer soak: a consumer that stops reading while the server
// keeps sending, under each SlowConsumerPolicy.

func TestSoakSlowConsumer(t *testing.T) {
	cfg := soakSettings()
	needTime(t, cfg.pause+time.Minute)
	for _, policy := range []siostream.SlowConsumerPolicy{siostream.BlockSlowConsumer, siostream.DropNewest, siostream.DisconnectSlowConsumer} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			slowConsumer(t, policy, cfg.pause)
		})
	}
}

// flowServer emits numbered "flow" events to every connection it
// accepts, one connection at a time, until stopped.
type flowServer struct {
	srv     *sioserver.Server
	stop    chan struct{}
	exited  chan struct{} // closed when no more flow event will be written
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []*sioserver.Conn
	written []int // per connection: emits that returned nil
}

func startFlow(srv *sioserver.Server, pad string, every time.Duration) *flowServer {
	f := &flowServer{srv: srv, stop: make(chan struct{}), exited: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	f.wg.Go(func() {
		<-f.stop
		cancel()
	})
	f.wg.Go(func() {
		defer close(f.exited)
		for k := 0; ; k++ {
			c, err := srv.Accept(ctx)
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.written = append(f.written, 0)
			f.mu.Unlock()
			wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
			c.WaitConnect(wctx, "/")
			wcancel()
			tk := time.NewTicker(every)
			for seq := 0; ; seq++ {
				select {
				case <-f.stop:
					tk.Stop()
					return
				case <-c.Closed():
				case <-tk.C:
				}
				select {
				case <-f.stop: // both were ready: stopping wins
					tk.Stop()
					return
				default:
				}
				if c.Emit("/", "flow", k, seq, pad) != nil {
					break
				}
				f.mu.Lock()
				f.written[k]++
				f.mu.Unlock()
			}
			tk.Stop()
		}
	})
	return f
}

// halt stops the flow; the server must be closed too if a write may block.
func (f *flowServer) halt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
}

// haltAndWait stops the flow and waits up to d for its last write.
func (f *flowServer) haltAndWait(d time.Duration) bool {
	f.halt()
	select {
	case <-f.exited:
		return true
	case <-time.After(d):
		return false
	}
}

func (f *flowServer) snapshot() ([]*sioserver.Conn, []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.conns), slices.Clone(f.written)
}

// flowSeen tracks the flow events the consumer got, per connection.
type flowSeen struct {
	got       map[int]int // connection -> events
	last      map[int]int
	gaps      map[int]int
	disorder  int
	dropped   uint64 // sum of Event.Dropped
	droppedOK bool   // each Event.Dropped matched the gap before it
	events    []siostream.Event
}

func newFlowSeen() *flowSeen {
	return &flowSeen{got: map[int]int{}, last: map[int]int{}, gaps: map[int]int{}, droppedOK: true}
}

func (fs *flowSeen) add(ev siostream.Event) {
	fs.dropped += ev.Dropped()
	if ev.Kind != siostream.KindEvent {
		fs.events = append(fs.events, ev)
		return
	}
	if ev.Name != "flow" {
		return
	}
	var k, seq int
	if ev.Decode(&k, &seq) != nil {
		return
	}
	last, ok := fs.last[k]
	if !ok {
		last = -1
	}
	if seq <= last {
		fs.disorder++
		return
	}
	gap := seq - last - 1
	fs.gaps[k] += gap
	if uint64(gap) != ev.Dropped() {
		fs.droppedOK = false
	}
	fs.last[k] = seq
	fs.got[k]++
}

// readEventsFor receives events for d, handing each to fs; it reports false when
// the channel closed.
func readEventsFor(s *siostream.Stream, d time.Duration, fs *flowSeen) bool {
	_, end := readUntil(s, d, func(ev siostream.Event) bool {
		fs.add(ev)
		return false
	})
	return end != readClosed
}

func slowConsumer(t *testing.T, policy siostream.SlowConsumerPolicy, pause time.Duration) {
	const interval, timeout = 500 * time.Millisecond, 500 * time.Millisecond
	const buffer, maxBytes = 64, 64 << 10
	pad := strings.Repeat("f", 512)
	srv, err := sioserver.New(sioserver.Options{PingInterval: interval, PingTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s := dial(t, srv.URL(), siostream.Options{MaxBufferedBytes: maxBytes, SlowConsumer: policy})
	flow := startFlow(srv, pad, time.Millisecond)
	defer func() {
		flow.halt()
		srv.Close() // unblocks a write to a client that does not read
		flow.wg.Wait()
	}()

	fs := newFlowSeen()
	if !readEventsFor(s, 500*time.Millisecond, fs) {
		t.Fatalf("stream ended before the pause: %v", s.Err())
	}
	conns, _ := flow.snapshot()
	if len(conns) == 0 {
		t.Fatal("no connection")
	}
	c0 := conns[0]
	pongs0 := c0.Pongs()
	runtime.GC()
	heap0 := readMem().HeapAlloc
	var heapPeak uint64
	var firstEnded time.Duration
	pauseStart := time.Now()
	for time.Since(pauseStart) < pause { // the consumer reads nothing
		time.Sleep(250 * time.Millisecond)
		runtime.GC()
		heapPeak = max(heapPeak, readMem().HeapAlloc)
		if firstEnded == 0 {
			select {
			case <-c0.Closed():
				firstEnded = time.Since(pauseStart)
			default:
			}
		}
	}
	pongsDuring := c0.Pongs() - pongs0
	statsPaused := s.Stats()

	// Resume, let the flow run a little, then stop it and drain.
	open := readEventsFor(s, 2*time.Second, fs)
	if !flow.haltAndWait(5 * time.Second) {
		t.Errorf("the server's flow did not stop: a write is blocked")
	}
	if open {
		switch policy {
		case siostream.DisconnectSlowConsumer:
			open = readEventsFor(s, 2*time.Second, fs)
		default:
			// A marker after the flow: every drop before it is reported.
			conns, _ = flow.snapshot()
			last := conns[len(conns)-1]
			last.Emit("/", "marker")
			_, end := readUntil(s, 10*time.Second, func(ev siostream.Event) bool {
				fs.add(ev)
				return ev.Kind == siostream.KindEvent && ev.Name == "marker"
			})
			open = end != readClosed
		}
	}
	st := s.Stats()
	conns, written := flow.snapshot()
	var connErrs []string
	for _, c := range conns {
		connErrs = append(connErrs, fmt.Sprint(c.Err()))
	}
	var lifecycle []string
	var pingTimeouts int
	for _, ev := range fs.events {
		d := ev.Kind.String()
		if ev.Kind == siostream.KindDisconnected {
			d += fmt.Sprintf("(%s: %v)", ev.Reason(), ev.Err())
			if ev.Reason() == siostream.ReasonPingTimeout {
				pingTimeouts++
			}
		}
		lifecycle = append(lifecycle, d)
	}
	var received int
	for _, n := range fs.got {
		received += n
	}
	totalWritten := 0
	for _, n := range written {
		totalWritten += n
	}
	growth := int64(heapPeak) - int64(heap0)
	t.Logf("%s: paused %v with pingInterval/pingTimeout %v/%v; server wrote %d events of %d B on %d connection(s) %v, consumer got %d (per connection %v), gaps %v, out of order %d",
		policy, pause, interval, timeout, totalWritten, len(pad), len(conns), written, received, fs.got, fs.gaps, fs.disorder)
	ended := "stayed open during the pause"
	if firstEnded > 0 {
		ended = fmt.Sprintf("ended %v into the pause", firstEnded.Round(time.Millisecond))
	}
	t.Logf("%s: lifecycle %v; server side ends %v; the first connection %s; pongs during the pause %d; written but not received on the first connection %d",
		policy, lifecycle, connErrs, ended, pongsDuring, written[0]-fs.got[0])
	t.Logf("%s: Stats paused %+v, final %+v; sum of Event.Dropped %d; heap during the pause %+.2f MiB (peak), Err %v",
		policy, statsPaused, st, fs.dropped, float64(growth)/oneMiB, s.Err())

	if pingTimeouts > 0 {
		t.Errorf("false ping timeout on the client while its consumer was slow")
	}
	if fs.disorder > 0 {
		t.Errorf("%d events duplicated or out of order", fs.disorder)
	}
	switch policy {
	case siostream.BlockSlowConsumer:
		for k, g := range fs.gaps {
			if g > 0 {
				t.Errorf("connection %d: %d events missing in the middle of what was delivered", k, g)
			}
		}
		if st.Dropped != 0 {
			t.Errorf("%d events dropped under BlockSlowConsumer", st.Dropped)
		}
		if s.Err() != nil {
			t.Errorf("stream ended: %v", s.Err())
		}
	case siostream.DropNewest:
		if len(conns) != 1 || srv.Connections() != 1 {
			t.Errorf("%d connections: DropNewest must keep the connection", srv.Connections())
		}
		for _, ev := range fs.events {
			if ev.Kind == siostream.KindDisconnected {
				t.Errorf("disconnected under DropNewest: %s %v", ev.Reason(), ev.Err())
			}
		}
		if pongsDuring == 0 {
			t.Errorf("no pong while the consumer was paused")
		}
		if st.Dropped == 0 {
			t.Errorf("nothing dropped: the pause did not overflow the buffer")
		}
		if fs.dropped != st.Dropped || !fs.droppedOK {
			t.Errorf("Stats.Dropped %d, sum of Event.Dropped %d, per-event counts match the gaps: %v", st.Dropped, fs.dropped, fs.droppedOK)
		}
		gaps := uint64(fs.gaps[0])
		if gaps != st.Dropped {
			t.Errorf("%d events missing from the flow, %d reported dropped", gaps, st.Dropped)
		}
		if st.Received != st.Delivered+st.Dropped || int(st.Received) != totalWritten+1 {
			t.Errorf("received %d, delivered %d, dropped %d, server wrote %d + marker", st.Received, st.Delivered, st.Dropped, totalWritten)
		}
		if growth > 2*oneMiB {
			t.Errorf("heap grew %.1f MiB while dropping (buffer %d events / %d bytes)", float64(growth)/oneMiB, buffer, maxBytes)
		}
	case siostream.DisconnectSlowConsumer:
		if open {
			t.Fatalf("stream still open after the pause: %v", s.Err())
		}
		if !errors.Is(s.Err(), siostream.ErrSlowConsumer) {
			t.Errorf("Err() = %v, want ErrSlowConsumer", s.Err())
		}
		if len(fs.events) == 0 {
			t.Fatal("no lifecycle event")
		}
		last := fs.events[len(fs.events)-1]
		if last.Kind != siostream.KindDisconnected || last.Reason() != siostream.ReasonSlowConsumer {
			t.Errorf("last event %v %q", last.Kind, last.Reason())
		}
		if srv.Connections() != 1 {
			t.Errorf("reconnected after ending for a slow consumer")
		}
	}
}
