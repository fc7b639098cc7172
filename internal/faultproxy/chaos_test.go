package faultproxy

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestChaos(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		chaosClient(ctx, p)
	}()
	const interval = 25 * time.Millisecond
	counts := p.Chaos(ctx, interval, 42)
	wg.Wait()

	total := 0
	for name, n := range counts {
		if !slices.Contains(chaosFaults[:], name) {
			t.Errorf("unknown fault %q", name)
		}
		total += n
	}
	// Timers of loaded machines fire late and tickers drop ticks, so only a
	// loose lower bound is checked.
	if total < 1 || total > int(time.Second/interval)+1 {
		t.Fatalf("Chaos injected %d faults in 1 s at %v: %v", total, interval, counts)
	}
	t.Logf("faults: %v, stats: %+v", counts, p.Stats())
	if up, down := p.faults(); up != (Faults{}) || down != (Faults{}) {
		t.Fatalf("faults not restored: %+v %+v", up, down)
	}
	echo(t, dial(t, p), []byte("after chaos"))
}

// chaosClient keeps echoing small messages through p until ctx ends,
// reconnecting after every failure.
func chaosClient(ctx context.Context, p *Proxy) {
	var c net.Conn
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	msg := []byte("0123456789abcdef")
	buf := make([]byte, len(msg))
	for ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", p.Addr(), time.Second); err != nil {
				continue
			}
		}
		_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Write(msg); err == nil {
			_, err = io.ReadFull(c, buf)
			if err == nil {
				continue
			}
		}
		_ = c.Close()
		c = nil
	}
}

func TestChaosSequenceFollowsSeed(t *testing.T) {
	draw := func(seed uint64) []string {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		var names []string
		for range 50 {
			name, _, _, _ := pickFault(rng, Faults{}, Faults{}, 50*time.Millisecond)
			names = append(names, name)
		}
		return names
	}
	if !slices.Equal(draw(7), draw(7)) {
		t.Fatal("same seed gave different sequences")
	}
	if slices.Equal(draw(7), draw(8)) {
		t.Fatal("different seeds gave the same sequence")
	}
	for _, name := range chaosFaults {
		if !slices.Contains(draw(7), name) {
			t.Errorf("fault %q never drawn in 50 picks", name)
		}
	}
}

func TestChaosStopsWhenProxyCloses(t *testing.T) {
	p, err := New(newUpstream(t, "").addr())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan map[string]int)
	go func() { done <- p.Chaos(context.Background(), 10*time.Millisecond, 1) }()
	time.Sleep(50 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(ioTimeout):
		t.Fatal("Chaos still running after Close")
	}
}
