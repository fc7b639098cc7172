package faultproxy

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

func TestSplitMax(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	for _, tc := range []struct {
		split, size int
	}{{1, 200}, {7, 1000}} {
		p.SetFaults(Faults{SplitMax: tc.split}, Faults{SplitMax: tc.split})
		c := dial(t, p)
		echo(t, c, randomBytes(tc.size, uint64(tc.split)))
	}
}

func TestSplitMaxWritesSmallPieces(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	c := dial(t, p)
	echo(t, c, []byte("warm-up"))
	p.SetFaults(Faults{}, Faults{SplitMax: 1})
	payload := randomBytes(64, 3)
	// Reading slowly lets pieces pile up in the socket buffer, so only the
	// first read is checked: it must not see the whole payload at once.
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(payload))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n == len(payload) {
		t.Fatalf("first read got all %d bytes; want a split write", n)
	}
	if _, err := io.ReadFull(c, buf[n:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, payload) {
		t.Fatal("split payload differs")
	}
}

func TestLatencyAndJitterPreserveOrder(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	const latency = 20 * time.Millisecond
	f := Faults{Latency: latency, Jitter: 15 * time.Millisecond}
	p.SetFaults(f, f)
	c := dial(t, p)

	start := time.Now()
	echo(t, c, []byte("ping"))
	if rtt := time.Since(start); rtt < 2*latency {
		t.Fatalf("round trip took %v, want at least %v", rtt, 2*latency)
	}

	var want []byte
	var msgs [][]byte
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range 100 {
		m := randomBytes(1+rng.IntN(200), uint64(i))
		msgs = append(msgs, m)
		want = append(want, m...)
	}
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	expectRead(t, c, want, writeAsync(c, time.Millisecond, msgs...))
}

func TestLoweringLatencyReleasesBytes(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	c := dial(t, p)
	echo(t, c, []byte("warm-up"))
	p.SetFaults(Faults{Latency: time.Hour}, Faults{})
	if _, err := c.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := p.Stats().BytesUp; got != int64(len("warm-up")) {
		t.Fatalf("BytesUp = %d during an hour of latency", got)
	}
	p.SetFaults(Faults{}, Faults{})
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "late" {
		t.Fatalf("after lowering the latency: %q, %v", got, err)
	}
}

func TestBandwidthCap(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	c := dial(t, p)
	echo(t, c, []byte("warm-up"))
	const bandwidth, size = 40000, 20000 // 0.5 s of traffic
	p.SetFaults(Faults{}, Faults{Bandwidth: bandwidth})
	want := time.Duration(size) * time.Second / bandwidth

	// Going faster than the cap is a failure at once. Going slower can be
	// timers firing late on a busy machine, so that is tried a few times.
	var elapsed time.Duration
	for attempt := range 3 {
		start := time.Now()
		echo(t, c, randomBytes(size, uint64(attempt)))
		elapsed = time.Since(start)
		if elapsed < want*7/10 {
			t.Fatalf("%d bytes at %d B/s took only %v, want %v", size, bandwidth, elapsed, want)
		}
		if elapsed <= want*13/10 {
			return
		}
		t.Logf("attempt %d took %v", attempt+1, elapsed)
	}
	t.Fatalf("%d bytes at %d B/s took %v, want %v ±30%%", size, bandwidth, elapsed, want)
}

func TestBlackholeHoldsAndResumes(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	c := dial(t, p)
	echo(t, c, []byte("warm-up"))

	p.SetFaults(Faults{Blackhole: true}, Faults{})
	const before = int64(len("warm-up"))
	waitFor(t, "the warm-up count", func() bool { return p.Stats().BytesUp == before })
	// Far more than the socket buffers hold: the writer must be pushed back.
	if err := c.(*net.TCPConn).SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	payload := randomBytes(4<<20, 6)
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	errc := writeAsync(c, 0, payload)

	expectSilent(t, c, 300*time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("write of %d bytes finished while blackholed (err %v)", len(payload), err)
	default:
	}
	if got := p.Stats().BytesUp; got != before {
		t.Fatalf("%d bytes forwarded while blackholed", got-before)
	}
	if p.Links() != 1 {
		t.Fatalf("Links() = %d while blackholed, want 1", p.Links())
	}

	p.SetFaults(Faults{}, Faults{})
	expectRead(t, c, payload, errc)
}

func TestBlackholeDown(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	c := dial(t, p)
	p.SetFaults(Faults{}, Faults{Blackhole: true})
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bytes to reach the server", func() bool { return p.Stats().BytesUp == 4 })
	expectSilent(t, c, 200*time.Millisecond)
	p.SetFaults(Faults{}, Faults{})
	expectRead(t, c, []byte("held"), writeAsync(c, 0))
}
