package siostream_test

import (
	"context"
	"fmt"
	"maps"
	"os"
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

// The restart soak: the server restarts under N connected streams. It runs
// before the chaos soak (go test runs files in name order, and
// soak_restart_test.go sorts before soak_under_chaos_test.go): the chaos
// soak churns through thousands of connections, and the sockets
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
