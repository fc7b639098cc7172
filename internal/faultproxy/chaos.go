package faultproxy

import (
	"context"
	"math/rand/v2"
	"time"
)

// Names of the faults [Proxy.Chaos] injects, the keys of the map it returns.
const (
	FaultReset     = "reset"     // ResetAll
	FaultBlackhole = "blackhole" // one or both directions blackholed for a while
	FaultLatency   = "latency"   // latency spike with jitter in both directions
	FaultSplit     = "split"     // writes split into pieces of a few bytes
	FaultBandwidth = "bandwidth" // low bandwidth cap in both directions
)

// chaosFaults lists the faults Chaos picks from, in a fixed order so that a
// seed always yields the same sequence.
var chaosFaults = [...]string{FaultReset, FaultBlackhole, FaultLatency, FaultSplit, FaultBandwidth}

const (
	defaultChaosInterval = 100 * time.Millisecond
	maxLatencySpike      = 250 * time.Millisecond
	minLatencySpike      = 5 * time.Millisecond
	minChaosBandwidth    = 2 << 10
	maxChaosBandwidth    = 64 << 10
	maxChaosSplit        = 16
)

// Chaos injects random faults until ctx ends or the proxy is closed, and
// returns how many times each fault was injected, keyed by the Fault*
// names. Every interval (100 ms when not positive) it picks one fault: a
// reset of all links, or a blackhole, latency spike, split writes or
// bandwidth cap that lasts between a quarter and a half of the interval
// before the faults in place when Chaos started are restored. The sequence
// of faults and their parameters is determined by seed. Chaos runs in the
// calling goroutine and overrides [Proxy.SetFaults] while it runs; on return
// the faults in place when it started are restored.
func (p *Proxy) Chaos(ctx context.Context, interval time.Duration, seed uint64) map[string]int {
	if interval <= 0 {
		interval = defaultChaosInterval
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	baseUp, baseDown := p.faults()
	defer p.SetFaults(baseUp, baseDown)

	counts := make(map[string]int)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return counts
		case <-p.ctx.Done():
			return counts
		case <-tick.C:
		}
		name, up, down, hold := pickFault(rng, baseUp, baseDown, interval)
		counts[name]++
		if name == FaultReset {
			p.ResetAll()
			continue
		}
		p.SetFaults(up, down)
		if !p.hold(ctx, hold) {
			return counts
		}
		p.SetFaults(baseUp, baseDown)
	}
}

// hold waits for d and reports false if ctx ended or the proxy was closed.
func (p *Proxy) hold(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-p.ctx.Done():
		return false
	}
}

// pickFault draws the next chaos fault: its name, the faults of both
// directions derived from the base ones, and how long they last.
func pickFault(rng *rand.Rand, up, down Faults, interval time.Duration) (string, Faults, Faults, time.Duration) {
	name := chaosFaults[rng.IntN(len(chaosFaults))]
	hold := interval/4 + randDuration(rng, interval/4)
	switch name {
	case FaultBlackhole:
		switch rng.IntN(3) {
		case 0:
			up.Blackhole = true
		case 1:
			down.Blackhole = true
		default:
			up.Blackhole, down.Blackhole = true, true
		}
	case FaultLatency:
		spike := max(minLatencySpike, min(interval/2, maxLatencySpike))
		latency := minLatencySpike + randDuration(rng, spike-minLatencySpike)
		up.Latency, up.Jitter = up.Latency+latency, up.Jitter+latency/2
		down.Latency, down.Jitter = down.Latency+latency, down.Jitter+latency/2
	case FaultSplit:
		up.SplitMax, down.SplitMax = 1+rng.IntN(maxChaosSplit), 1+rng.IntN(maxChaosSplit)
	case FaultBandwidth:
		bw := minChaosBandwidth + rng.IntN(maxChaosBandwidth-minChaosBandwidth+1)
		up.Bandwidth, down.Bandwidth = lowerCap(up.Bandwidth, bw), lowerCap(down.Bandwidth, bw)
	}
	return name, up, down, hold
}

// randDuration returns a uniform random duration in [0, d].
func randDuration(rng *rand.Rand, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rng.Int64N(int64(d) + 1))
}

// lowerCap returns the stricter of the bandwidth caps cur and bw, where 0
// means unlimited.
func lowerCap(cur, bw int) int {
	if cur > 0 && cur < bw {
		return cur
	}
	return bw
}
