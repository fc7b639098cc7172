package siostream_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/faultproxy"
	"github.com/siostream/siostream/internal/sioserver"
)

// The chaos soak: streams emit and receive while a proxy between them and
// the server injects faults (resets, blackholes, latency spikes, split
// writes, bandwidth caps); afterwards every acknowledged emit must have
// reached the server and nothing may arrive twice or out of order.

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
	baseHeap := heapAfterGC().HeapAlloc
	baseG := runtime.NumGoroutine()
	mon := startMemMonitor(250 * time.Millisecond)
	chaosSoak(t, cfg)
	sys, inuse, heap := mon.finish()
	endG := settleGoroutines(baseG+5, 15*time.Second)
	endHeap := heapAfterGC().HeapAlloc
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
