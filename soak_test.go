package siostream_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/faultproxy"
	"github.com/siostream/siostream/internal/sioserver"
)

// The soak tests run by default in a short version sized for the race
// detector on a small machine. The long version:
//
//	go test -run Soak -soak=30m -soakstreams=1000 -timeout 0 .
var (
	soakFlag        = flag.Duration("soak", 0, "run the soak tests in their long version, the chaos phase lasting this long (0: short version)")
	soakStreamsFlag = flag.Int("soakstreams", 0, "streams in the soak tests (0: 1000 in the long version, fewer in the short one)")
	soakSeedFlag    = flag.Uint64("soakseed", 1, "seed of the fault sequence injected by the chaos soak")
)

// raceEnabled reports whether the test binary was built with -race.
var raceEnabled = func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}()

type soakConfig struct {
	long           bool
	chaos          time.Duration // how long faults are injected under traffic
	chaosEvery     time.Duration // one fault per interval
	streams        int           // streams under chaos
	restartStreams int           // streams when the server restarts
	pause          time.Duration // how long the slow consumer stops reading
	tickEvery      time.Duration // server broadcast period
	emitEvery      time.Duration // per stream emit period
}

func soakSettings() soakConfig {
	c := soakConfig{chaosEvery: 500 * time.Millisecond, tickEvery: 100 * time.Millisecond, emitEvery: 200 * time.Millisecond}
	switch {
	case *soakFlag > 0:
		c.long, c.chaos, c.streams, c.restartStreams, c.pause = true, *soakFlag, 1000, 1000, 60*time.Second
		c.tickEvery, c.emitEvery = 200*time.Millisecond, 250*time.Millisecond
	case testing.Short():
		c.chaos, c.streams, c.restartStreams, c.pause = 5*time.Second, 40, 100, 2*time.Second
	case raceEnabled:
		c.chaos, c.streams, c.restartStreams, c.pause = 30*time.Second, 250, 300, 5*time.Second
	default:
		c.chaos, c.streams, c.restartStreams, c.pause = 30*time.Second, 300, 300, 5*time.Second
	}
	if n := *soakStreamsFlag; n > 0 {
		c.streams, c.restartStreams = n, n
	}
	return c
}

// needTime fails at once when the test binary's deadline leaves less than d.
func needTime(t *testing.T, d time.Duration) {
	t.Helper()
	if dl, ok := t.Deadline(); ok && time.Until(dl) < d {
		t.Fatalf("this test needs about %v but the test deadline is in %v: run it with -timeout 0 (or a larger -timeout)", d, time.Until(dl).Round(time.Second))
	}
}

// memMonitor samples the runtime's memory statistics until stopped.
type memMonitor struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	peakSys  uint64
	peakUse  uint64
	peakHeap uint64
	samples  int
}

func startMemMonitor(every time.Duration) *memMonitor {
	m := &memMonitor{stop: make(chan struct{})}
	m.wg.Go(func() {
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			ms := readMem()
			m.mu.Lock()
			m.peakSys = max(m.peakSys, ms.Sys)
			m.peakUse = max(m.peakUse, ms.HeapInuse)
			m.peakHeap = max(m.peakHeap, ms.HeapAlloc)
			m.samples++
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-tk.C:
			}
		}
	})
	return m
}

func (m *memMonitor) finish() (sys, inuse, heap uint64) {
	close(m.stop)
	m.wg.Wait()
	return m.peakSys, m.peakUse, m.peakHeap
}

// forEach runs f(i) for i in [0, n) on at most par goroutines.
func soakForEach(n, par int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

func percentOf(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func inMiB(b uint64) float64 { return float64(b) / oneMiB }

// ---------------------------------------------------------------------------
// Soak 1: the server restarts under N connected streams. It runs first:
// the chaos soak churns through thousands of connections, and the sockets
// they leave in TIME_WAIT slow down the kernel's choice of ephemeral ports,
// which would blur the reconnection times measured here.

// timeWaitSockets returns the number of TCP sockets in TIME_WAIT on Linux,
// -1 elsewhere.
func timeWaitSockets() int {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "TCP:" {
			for i := 1; i+1 < len(f); i += 2 {
				if f[i] == "tw" {
					n, _ := strconv.Atoi(f[i+1])
					return n
				}
			}
		}
	}
	return -1
}

// ephemeralPorts returns the size of the kernel's ephemeral port range on
// Linux, -1 elsewhere.
func ephemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return -1
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return -1
	}
	return hi - lo + 1
}

// quietPorts waits (up to the 60 s a socket stays in TIME_WAIT) until at
// most two thirds of the ephemeral ports are held by sockets in TIME_WAIT,
// as left by earlier heavy loopback traffic: with more, connect() spends
// long searching for a free port and the reconnection times measure the
// kernel, not the backoff. It returns the count when it stopped waiting.
func quietPorts(t *testing.T) int {
	ports, tw := ephemeralPorts(), timeWaitSockets()
	limit := ports * 2 / 3
	if ports <= 0 || tw < 0 || tw <= limit {
		return tw
	}
	start := time.Now()
	for tw > limit && time.Since(start) < 65*time.Second {
		time.Sleep(500 * time.Millisecond)
		tw = timeWaitSockets()
	}
	t.Logf("waited %v for sockets in TIME_WAIT to expire: %d left, %d ephemeral ports", time.Since(start).Round(time.Second), tw, ports)
	return tw
}

func TestSoakRestart(t *testing.T) {
	cfg := soakSettings()
	n := cfg.restartStreams
	needTime(t, 4*time.Minute)
	tw := quietPorts(t)
	first, err := sioserver.New(sioserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	p, err := faultproxy.New(first.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	var restart atomic.Pointer[time.Time]
	back := make([]time.Duration, n)   // KindConnected after the restart, 0 while not back
	delays := make([]time.Duration, n) // first backoff delay after the restart
	reasons := make([]siostream.Reason, n)
	var mu sync.Mutex
	var reconnected atomic.Int64
	streams := make([]*siostream.Stream, n)
	var wg sync.WaitGroup
	var dialErrs atomic.Int64
	dialStart := time.Now()
	soakForEach(n, 32, func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := siostream.Dial(ctx, p.URL(), siostream.Options{}) // default backoff: 1 s doubling to 5 s, ±50 %
		if err != nil {
			dialErrs.Add(1)
			t.Errorf("dial %d: %v", i, err)
			return
		}
		streams[i] = s
		wg.Go(func() {
			for ev := range s.Events() {
				t0 := restart.Load()
				if t0 == nil {
					continue
				}
				mu.Lock()
				switch ev.Kind {
				case siostream.KindDisconnected:
					if reasons[i] == "" {
						reasons[i] = ev.Reason()
					}
				case siostream.KindReconnecting:
					if delays[i] == 0 {
						delays[i] = ev.Delay()
					}
				case siostream.KindConnected: // the initial one may be read late: count it only after a disconnect
					if back[i] == 0 && reasons[i] != "" {
						back[i] = time.Since(*t0)
						reconnected.Add(1)
					}
				}
				mu.Unlock()
			}
		})
	})
	defer func() {
		soakForEach(n, 64, func(i int) {
			if streams[i] != nil {
				streams[i].Close()
			}
		})
		wg.Wait()
	}()
	if dialErrs.Load() > 0 {
		t.FailNow()
	}
	dialTook := time.Since(dialStart)
	for time.Since(dialStart) < 30*time.Second && first.Connects("/") < n {
		time.Sleep(10 * time.Millisecond)
	}

	second, err := sioserver.New(sioserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	p.SetUpstream(second.Addr())
	t0 := time.Now()
	restart.Store(&t0)
	first.Close()
	closeTook := time.Since(t0)
	limit := 20 * time.Second
	for time.Since(t0) < limit && int(reconnected.Load()) < n {
		time.Sleep(10 * time.Millisecond)
	}

	mu.Lock()
	var times []time.Duration
	for _, d := range back {
		if d > 0 {
			times = append(times, d)
		}
	}
	firstDelays := slices.Clone(delays)
	rc := map[siostream.Reason]int{}
	for _, r := range reasons {
		rc[r]++
	}
	mu.Unlock()
	slices.Sort(times)
	slices.Sort(firstDelays)
	if len(times) == 0 {
		t.Fatalf("no stream reconnected within %v", limit)
	}
	q := func(list []time.Duration, f float64) time.Duration {
		return list[min(len(list)-1, int(f*float64(len(list))))].Round(time.Millisecond)
	}
	const window = 100 * time.Millisecond
	hist := map[int]int{}
	worst, worstAt := 0, 0
	for _, d := range times {
		w := int(d / window)
		hist[w]++
		if hist[w] > worst {
			worst, worstAt = hist[w], w
		}
	}
	var hl []string
	for _, w := range slices.Sorted(maps.Keys(hist)) {
		hl = append(hl, fmt.Sprintf("%.1f:%d", float64(w)*window.Seconds(), hist[w]))
	}
	var rl []string
	for _, r := range slices.Sorted(maps.Keys(rc)) {
		rl = append(rl, fmt.Sprintf("%q=%d", r, rc[r]))
	}
	t.Logf("restart soak: %d streams dialled in %v with the default backoff; old server closed in %v; disconnect reasons %s; %d sockets in TIME_WAIT at the start",
		n, dialTook.Round(time.Millisecond), closeTook.Round(time.Millisecond), strings.Join(rl, " "), tw)
	t.Logf("reconnected %d/%d after the restart: min %v p50 %v p90 %v max %v; first backoff delay min %v p50 %v max %v",
		len(times), n, times[0].Round(time.Millisecond), q(times, 0.5), q(times, 0.9), times[len(times)-1].Round(time.Millisecond),
		firstDelays[0].Round(time.Millisecond), q(firstDelays, 0.5), firstDelays[len(firstDelays)-1].Round(time.Millisecond))
	t.Logf("reconnections per 100 ms window (start s:count): %s; busiest window %.1f s with %d (%.1f%%)",
		strings.Join(hl, " "), float64(worstAt)*window.Seconds(), worst, percentOf(worst, len(times)))
	if len(times) < n {
		t.Errorf("%d of %d streams did not reconnect within %v", n-len(times), n, limit)
	}
	if worst > n/4 {
		t.Errorf("%d of %d reconnections in one 100 ms window: the backoff is not spread (first delays spread from %v to %v; %d sockets were in TIME_WAIT, which slows ephemeral port allocation)",
			worst, n, firstDelays[0].Round(time.Millisecond), firstDelays[len(firstDelays)-1].Round(time.Millisecond), tw)
	}
	if got := second.Connects("/"); got < len(times) {
		t.Errorf("new server accepted %d CONNECTs for %d reconnected streams", got, len(times))
	}
}

// ---------------------------------------------------------------------------
// Soak 2: a consumer that stops reading while the server keeps sending.

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

// readFor receives events for d, handing each to fs; it reports false when
// the channel closed.
func readEventsFor(s *siostream.Stream, d time.Duration, fs *flowSeen) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return false
			}
			fs.add(ev)
		case <-timer.C:
			return true
		}
	}
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
			deadline := time.Now().Add(10 * time.Second)
			for open && time.Now().Before(deadline) {
				ev, ok := <-s.Events()
				if !ok {
					open = false
					break
				}
				fs.add(ev)
				if ev.Kind == siostream.KindEvent && ev.Name == "marker" {
					break
				}
			}
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

// ---------------------------------------------------------------------------
// Soak 3: streams under chaos.

// soakServerLog records, per stream, the numbered events the server got.
type soakServerLog struct {
	mu      sync.Mutex
	streams map[int]*soakServerStream
	syncs   atomic.Int64
}

type soakServerStream struct {
	seen     map[int]int // seq -> times received
	last     int
	disorder int
}

func (l *soakServerLog) handle(c *sioserver.Conn, r *sioserver.Received) {
	var id, seq int
	if err := decodeArgs(r.Args, &id, &seq); err == nil && (r.Name == "rel" || r.Name == "plain") {
		l.mu.Lock()
		st := l.streams[id]
		if st == nil {
			st = &soakServerStream{seen: map[int]int{}, last: -1}
			l.streams[id] = st
		}
		st.seen[seq]++
		if st.seen[seq] == 1 {
			if seq < st.last {
				st.disorder++
			}
			st.last = max(st.last, seq)
		}
		l.mu.Unlock()
	}
	if r.Name == "sync" {
		l.syncs.Add(1)
	}
	if r.HasID {
		c.Ack(r.Namespace, r.ID, seq)
	}
}

// soakClient is one stream of the chaos soak and what it observed.
type soakClient struct {
	id       int
	reliable bool
	s        *siostream.Stream
	done     chan struct{} // closed when the consumer has seen the channel close

	// consumer side
	ticks, tickGaps, tickDups, tickDisorder int
	lastTick                                int
	connects, connectErrors                 int
	reasons                                 map[siostream.Reason]int
	parseErrors                             []string

	// emitter side
	ok         []int // seqs whose emit returned nil
	failed     map[string]int
	badReplies int
}

func (c *soakClient) consume() {
	defer close(c.done)
	c.lastTick = -1
	for ev := range c.s.Events() {
		switch ev.Kind {
		case siostream.KindEvent:
			if ev.Name != "tick" {
				continue
			}
			var n int
			if ev.Decode(&n) != nil {
				continue
			}
			c.ticks++
			switch {
			case n == c.lastTick:
				c.tickDups++
			case n < c.lastTick:
				c.tickDisorder++
			default:
				if c.lastTick >= 0 {
					c.tickGaps += n - c.lastTick - 1
				}
				c.lastTick = n
			}
		case siostream.KindConnected:
			c.connects++
		case siostream.KindConnectError:
			c.connectErrors++
		case siostream.KindDisconnected:
			c.reasons[ev.Reason()]++
			if ev.Reason() == siostream.ReasonParseError {
				c.parseErrors = append(c.parseErrors, fmt.Sprint(ev.Err()))
			}
		}
	}
}

// emit sends numbered events until stop is closed.
func (c *soakClient) emit(stop <-chan struct{}, every time.Duration) {
	c.failed = map[string]int{}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		var err error
		if c.reliable {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			if seq%2 == 0 {
				var reply siostream.Reply
				reply, err = c.s.EmitWithAck(ctx, "rel", c.id, seq)
				if err == nil && string(reply.Args) != fmt.Sprintf("[%d]", seq) {
					c.badReplies++
				}
			} else {
				err = c.s.Emit(ctx, "rel", c.id, seq)
			}
			cancel()
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = c.s.Emit(ctx, "plain", c.id, seq)
			cancel()
		}
		if err == nil {
			c.ok = append(c.ok, seq)
		} else {
			c.failed[errClass(err)]++
		}
	}
}

func errClass(err error) string {
	for _, e := range []error{siostream.ErrRetriesExhausted, siostream.ErrDisconnected, siostream.ErrBufferFull,
		siostream.ErrTooManyAcks, siostream.ErrClosed, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return strings.TrimPrefix(e.Error(), "siostream: ")
		}
	}
	return err.Error()
}

func TestSoakChaos(t *testing.T) {
	cfg := soakSettings()
	needTime(t, cfg.chaos+2*time.Minute)
	runtime.GC()
	runtime.GC()
	baseG := runtime.NumGoroutine()
	baseHeap := readMem().HeapAlloc
	mon := startMemMonitor(250 * time.Millisecond)
	chaosSoak(t, cfg)
	sys, inuse, heap := mon.finish()
	endG := settleGoroutines(baseG+5, 15*time.Second)
	runtime.GC()
	runtime.GC()
	endHeap := readMem().HeapAlloc
	t.Logf("memory: peak Sys %.1f MiB, peak HeapInuse %.1f MiB, peak HeapAlloc %.1f MiB; after closing everything heap %.1f -> %.1f MiB, goroutines %d -> %d",
		inMiB(sys), inMiB(inuse), inMiB(heap), inMiB(baseHeap), inMiB(endHeap), baseG, endG)
	if endG > baseG+5 {
		t.Errorf("goroutines: %d before, %d after everything closed", baseG, endG)
	}
	if endHeap > baseHeap+4*oneMiB {
		t.Errorf("heap: %.1f MiB before, %.1f MiB after everything closed", inMiB(baseHeap), inMiB(endHeap))
	}
}

// chaosSoak runs the chaos soak; everything it made is closed and
// unreachable when it returns.
func chaosSoak(t *testing.T, cfg soakConfig) {
	log := &soakServerLog{streams: map[int]*soakServerStream{}}
	srv, err := sioserver.New(sioserver.Options{PingInterval: 2 * time.Second, PingTimeout: 2 * time.Second, Handler: log.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p, err := faultproxy.New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Connect every stream.
	clients := make([]*soakClient, cfg.streams)
	dialStart := time.Now()
	var dialErrs atomic.Int64
	soakForEach(cfg.streams, 32, func(i int) {
		c := &soakClient{id: i, reliable: i%2 == 0, done: make(chan struct{}), reasons: map[siostream.Reason]int{}}
		o := siostream.Options{ReconnectDelay: 50 * time.Millisecond, ReconnectDelayMax: time.Second, ConnectTimeout: 5 * time.Second}
		if c.reliable {
			o.Retries, o.AckTimeout = 5, 2*time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := siostream.Dial(ctx, p.URL(), o)
		if err != nil {
			dialErrs.Add(1)
			t.Errorf("dial stream %d: %v", i, err)
			return
		}
		c.s = s
		go c.consume()
		clients[i] = c
	})
	defer func() {
		soakForEach(len(clients), 64, func(i int) {
			if c := clients[i]; c != nil && c.s != nil {
				c.s.Close()
			}
		})
	}()
	if dialErrs.Load() > 0 {
		t.FailNow()
	}
	dialTook := time.Since(dialStart)

	// Server broadcast.
	var ticksSent atomic.Int64
	stopTicks := make(chan struct{})
	var tickWG sync.WaitGroup
	tickWG.Go(func() {
		tk := time.NewTicker(cfg.tickEvery)
		defer tk.Stop()
		for n := 0; ; n++ {
			select {
			case <-stopTicks:
				return
			case <-tk.C:
			}
			srv.EmitAll("/", "tick", n)
			ticksSent.Add(1)
		}
	})
	stopTicking := func() {
		if stopTicks != nil {
			close(stopTicks)
			tickWG.Wait()
			stopTicks = nil
		}
	}
	defer stopTicking()

	// Client emits.
	stopEmits := make(chan struct{})
	var emitWG sync.WaitGroup
	for _, c := range clients {
		emitWG.Go(func() { c.emit(stopEmits, cfg.emitEvery) })
	}

	// Chaos.
	chaosStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.chaos)
	faults := p.Chaos(ctx, cfg.chaosEvery, *soakSeedFlag)
	cancel()
	chaosTook := time.Since(chaosStart)
	proxyStats := p.Stats()

	close(stopEmits)
	emitWG.Wait()

	// Quiet period: every stream connected again, then one acknowledged
	// event per stream, after which all its earlier packets have either
	// reached the server or been lost with their connection.
	settle := time.Now()
	for time.Since(settle) < 60*time.Second {
		up := 0
		for _, c := range clients {
			if c.s.ID() != "" && c.s.Stats().Buffered == 0 {
				up++
			}
		}
		if up == len(clients) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var syncFailures atomic.Int64
	soakForEach(len(clients), 64, func(i int) {
		c := clients[i]
		for try := 0; try < 3; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, err := c.s.EmitWithAck(ctx, "sync", c.id, -1)
			cancel()
			if err == nil {
				return
			}
		}
		syncFailures.Add(1)
	})
	settleTook := time.Since(settle)
	stopTicking()
	time.Sleep(cfg.tickEvery) // the last broadcast reaches the consumers

	// Compare.
	var (
		relEmitted, relAcked, relMissing, relDup, badReplies int
		plainEmitted, plainReceived, plainLost, plainDup     int
		plainFailed, plainFailedArrived, serverDisorder      int
		ticks, gaps, tickDups, tickDisorder, connects, cerrs int
		streamErrs                                           int
		reasons                                              = map[siostream.Reason]int{}
		failures                                             = map[string]int{}
		relFailures                                          = map[string]int{}
		parseErrors                                          []string
	)
	log.mu.Lock()
	for _, c := range clients {
		ss := log.streams[c.id]
		if ss == nil {
			ss = &soakServerStream{seen: map[int]int{}}
		}
		okSet := make(map[int]bool, len(c.ok))
		for _, seq := range c.ok {
			okSet[seq] = true
		}
		for e, n := range c.failed {
			failures[e] += n
			if c.reliable {
				relFailures[e] += n
			}
		}
		if c.reliable {
			relEmitted += len(c.ok)
			for _, seq := range c.ok {
				if ss.seen[seq] == 0 {
					relMissing++
				} else {
					relAcked++
				}
			}
			for _, n := range ss.seen {
				if n > 1 {
					relDup += n - 1
				}
			}
			badReplies += c.badReplies
		} else {
			plainEmitted += len(c.ok)
			for _, seq := range c.ok {
				if ss.seen[seq] == 0 {
					plainLost++
				} else {
					plainReceived++
				}
			}
			for seq, n := range ss.seen {
				if n > 1 {
					plainDup += n - 1
				}
				if !okSet[seq] {
					plainFailedArrived++
				}
			}
			for _, n := range c.failed {
				plainFailed += n
			}
			serverDisorder += ss.disorder
		}
		if c.s.Err() != nil {
			streamErrs++
		}
	}
	log.mu.Unlock()
	// Close every stream: the consumers finish.
	soakForEach(len(clients), 64, func(i int) { clients[i].s.Close() })
	for _, c := range clients {
		<-c.done
		ticks += c.ticks
		gaps += c.tickGaps
		tickDups += c.tickDups
		tickDisorder += c.tickDisorder
		connects += c.connects
		cerrs += c.connectErrors
		for r, n := range c.reasons {
			reasons[r] += n
		}
		parseErrors = append(parseErrors, c.parseErrors...)
	}
	p.Close()
	srv.Close()

	// Report.
	names := slices.Sorted(maps.Keys(faults))
	var fl []string
	total := 0
	for _, k := range names {
		fl = append(fl, fmt.Sprintf("%s=%d", k, faults[k]))
		total += faults[k]
	}
	var rl []string
	for _, r := range slices.Sorted(maps.Keys(reasons)) {
		rl = append(rl, fmt.Sprintf("%q=%d", r, reasons[r]))
	}
	var el []string
	for _, e := range slices.Sorted(maps.Keys(failures)) {
		el = append(el, fmt.Sprintf("%q=%d", e, failures[e]))
	}
	t.Logf("chaos soak: %d streams (%d at-least-once, %d plain), dialled in %v; chaos %v, one fault per %v, seed %d, race %v",
		len(clients), (len(clients)+1)/2, len(clients)/2, dialTook.Round(time.Millisecond), chaosTook.Round(time.Second), cfg.chaosEvery, *soakSeedFlag, raceEnabled)
	t.Logf("faults injected: %d (%s); proxy: %d links accepted, %d reset, %.1f MiB up, %.1f MiB down",
		total, strings.Join(fl, " "), proxyStats.Accepted, proxyStats.Resets, inMiB(uint64(proxyStats.BytesUp)), inMiB(uint64(proxyStats.BytesDown)))
	t.Logf("lifecycle: %d connects, %d connect errors, disconnects %s", connects, cerrs, strings.Join(rl, " "))
	t.Logf("at-least-once: %d emitted, %d acknowledged and seen by the server, %d missing, %d duplicates at the server, %d wrong ack replies",
		relEmitted, relAcked, relMissing, relDup, badReplies)
	t.Logf("plain: %d emitted, %d received, %d lost (%.2f%%), %d duplicated, %d out of order; %d emits failed, %d of those arrived anyway",
		plainEmitted, plainReceived, plainLost, percentOf(plainLost, plainEmitted), plainDup, serverDisorder, plainFailed, plainFailedArrived)
	t.Logf("emit errors: %s", strings.Join(el, " "))
	t.Logf("ticks: %d broadcast, %d received, %d missed (gaps, %.2f%%), %d duplicated, %d out of order",
		ticksSent.Load(), ticks, gaps, percentOf(gaps, ticks+gaps), tickDups, tickDisorder)
	t.Logf("after the chaos: all streams connected and synced in %v", settleTook.Round(time.Millisecond))

	// Verdicts.
	if relMissing > 0 || badReplies > 0 {
		t.Errorf("at-least-once: %d acknowledged emits the server never saw, %d wrong replies", relMissing, badReplies)
	}
	for e, n := range relFailures {
		t.Errorf("%d at-least-once emits failed with %q", n, e)
	}
	for e, n := range failures {
		if e != "connection lost" && relFailures[e] != n {
			t.Errorf("%d plain emits failed with %q", n-relFailures[e], e)
		}
	}
	if plainDup > 0 || serverDisorder > 0 {
		t.Errorf("plain emits: %d duplicated, %d out of order at the server", plainDup, serverDisorder)
	}
	if tickDups > 0 || tickDisorder > 0 {
		t.Errorf("ticks: %d duplicated, %d out of order", tickDups, tickDisorder)
	}
	if len(parseErrors) > 0 {
		t.Errorf("%d parse errors from faults that never corrupt bytes, first: %s", len(parseErrors), parseErrors[0])
	}
	if streamErrs > 0 || syncFailures.Load() > 0 {
		t.Errorf("%d streams ended during the soak, %d could not sync afterwards", streamErrs, syncFailures.Load())
	}
	if ticks == 0 || relEmitted == 0 || plainEmitted == 0 {
		t.Errorf("no traffic: %d ticks, %d + %d emits", ticks, relEmitted, plainEmitted)
	}
}
