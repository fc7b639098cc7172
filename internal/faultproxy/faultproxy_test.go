package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ioTimeout bounds every blocking read or write of the tests.
const ioTimeout = 10 * time.Second

// upstream is a loopback echo server that optionally greets each client.
type upstream struct {
	ln       net.Listener
	greeting string
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// newUpstream starts an echo server that first writes greeting to every
// connection; it stops when the test ends.
func newUpstream(t *testing.T, greeting string) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{ln: ln, greeting: greeting, conns: make(map[net.Conn]struct{})}
	u.wg.Add(1)
	go u.accept()
	t.Cleanup(u.close)
	return u
}

// addr returns the server's address.
func (u *upstream) addr() string { return u.ln.Addr().String() }

// accept serves every connection until the listener closes.
func (u *upstream) accept() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		u.conns[c] = struct{}{}
		u.mu.Unlock()
		u.wg.Add(1)
		go u.serve(c)
	}
}

// serve greets c and echoes it until either side closes.
func (u *upstream) serve(c net.Conn) {
	defer u.wg.Done()
	defer func() {
		u.mu.Lock()
		delete(u.conns, c)
		u.mu.Unlock()
		_ = c.Close()
	}()
	if _, err := io.WriteString(c, u.greeting); err != nil {
		return
	}
	_, _ = io.Copy(c, c)
}

// close stops the server and every connection, waiting for its goroutines.
func (u *upstream) close() {
	_ = u.ln.Close()
	u.mu.Lock()
	for c := range u.conns {
		_ = c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// newProxy starts a proxy to addr, closed when the test ends.
func newProxy(t *testing.T, addr string) *Proxy {
	t.Helper()
	p, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// dial connects to the proxy; the connection is closed when the test ends.
func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// echo writes payload on c while reading the same number of bytes back,
// and fails the test unless they match.
func echo(t *testing.T, c net.Conn, payload []byte) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	expectRead(t, c, payload, writeAsync(c, 0, payload))
}

// writeAsync writes msgs on c in order from another goroutine, pausing gap
// after each, and reports the outcome on the returned channel.
func writeAsync(c net.Conn, gap time.Duration, msgs ...[]byte) <-chan error {
	errc := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if _, err := c.Write(m); err != nil {
				errc <- err
				return
			}
			time.Sleep(gap)
		}
		errc <- nil
	}()
	return errc
}

// expectRead fails the test unless the next len(want) bytes read from c are
// want and the writer reporting on errc succeeded.
func expectRead(t *testing.T, c net.Conn, want []byte, errc <-chan error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	got := make([]byte, len(want))
	_, rerr := io.ReadFull(c, got)
	if werr := <-errc; werr != nil {
		t.Fatalf("write: %v", werr)
	}
	if rerr != nil {
		t.Fatalf("read: %v", rerr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%d bytes read differ from those written", len(want))
	}
}

// expectSilent fails the test unless nothing can be read from c for d.
func expectSilent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	if n, err := c.Read(make([]byte, 1024)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: n=%d err=%v, want a timeout", n, err)
	}
}

// expectClosed fails the test unless reading c soon reports a reset or EOF.
func expectClosed(t *testing.T, c net.Conn) error {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after close: got %v, want EOF or connection reset", err)
	}
	return err
}

// expectRefused fails the test unless a connection to p is reset or
// closed at once, either while connecting or on the first read.
func expectRefused(t *testing.T, p *Proxy) {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), ioTimeout)
	if err != nil {
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("dial: %v, want success or connection reset", err)
		}
		return
	}
	defer func() { _ = c.Close() }()
	expectClosed(t, c)
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAddrAndURL(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") || strings.HasSuffix(p.Addr(), ":0") {
		t.Fatalf("Addr() = %q", p.Addr())
	}
	if p.URL() != "http://"+p.Addr() {
		t.Fatalf("URL() = %q", p.URL())
	}
}

func TestPassThrough(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	c := dial(t, p)
	payload := randomBytes(1<<20, 1)
	echo(t, c, payload)
	// The counters move just after each write, so they may trail the reader.
	want := int64(len(payload))
	waitFor(t, "byte counters", func() bool {
		st := p.Stats()
		return st.BytesUp == want && st.BytesDown == want
	})
	if p.Links() != 1 || p.Accepted() != 1 {
		t.Fatalf("Links() = %d, Accepted() = %d, want 1 and 1", p.Links(), p.Accepted())
	}
}

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

func TestResetAll(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	c1, c2 := dial(t, p), dial(t, p)
	echo(t, c1, []byte("one"))
	echo(t, c2, []byte("two"))
	p.ResetAll()
	expectClosed(t, c1)
	expectClosed(t, c2)
	if st := p.Stats(); st.Resets != 2 || st.Links != 0 {
		t.Fatalf("stats after ResetAll = %+v, want 2 resets and no links", st)
	}
	echo(t, dial(t, p), []byte("new link"))
}

func TestResetAllWhileBlackholed(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	c := dial(t, p)
	echo(t, c, []byte("warm-up"))
	p.SetFaults(Faults{Blackhole: true}, Faults{Blackhole: true})
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	p.ResetAll()
	expectClosed(t, c)
	waitFor(t, "the link to go", func() bool { return p.Links() == 0 })
}

func TestDropAll(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	c := dial(t, p)
	echo(t, c, []byte("hello"))
	p.DropAll()
	if err := expectClosed(t, c); !errors.Is(err, io.EOF) {
		t.Fatalf("read after DropAll: %v, want EOF", err)
	}
	if st := p.Stats(); st.Drops != 1 || st.Links != 0 {
		t.Fatalf("stats after DropAll = %+v", st)
	}
}

func TestServerCloseEndsLink(t *testing.T) {
	u := newUpstream(t, "")
	p := newProxy(t, u.addr())
	c := dial(t, p)
	echo(t, c, []byte("hello"))
	u.close()
	expectClosed(t, c)
	waitFor(t, "the link to go", func() bool { return p.Links() == 0 })
}

func TestSetUpstream(t *testing.T) {
	a, b := newUpstream(t, "A"), newUpstream(t, "B")
	p := newProxy(t, a.addr())
	greeting := func(c net.Conn) string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
		buf := make([]byte, 1)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		return string(buf)
	}
	c1 := dial(t, p)
	if g := greeting(c1); g != "A" {
		t.Fatalf("first link greeted by %q, want A", g)
	}
	p.SetUpstream(b.addr())
	c2 := dial(t, p)
	if g := greeting(c2); g != "B" {
		t.Fatalf("link after SetUpstream greeted by %q, want B", g)
	}
	echo(t, c1, []byte("still on A"))
	echo(t, c2, []byte("on B"))
}

func TestUnreachableUpstream(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	p := newProxy(t, addr)
	expectRefused(t, p)
	waitFor(t, "the dial failure", func() bool { return p.Stats().DialFailures == 1 })
	if p.Links() != 0 {
		t.Fatalf("Links() = %d, want 0", p.Links())
	}
}

func TestRefuse(t *testing.T) {
	p := newProxy(t, newUpstream(t, "").addr())
	p.Refuse(true)
	for range 3 {
		expectRefused(t, p)
	}
	waitFor(t, "refusals", func() bool { return p.Stats().Refused == 3 })
	if p.Accepted() != 3 || p.Links() != 0 {
		t.Fatalf("Accepted() = %d, Links() = %d, want 3 and 0", p.Accepted(), p.Links())
	}
	p.Refuse(false)
	echo(t, dial(t, p), []byte("back up"))
}

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

func TestNonLoopbackUpstreamRefused(t *testing.T) {
	for _, addr := range []string{
		"10.0.0.1:80", "192.168.1.1:8080", "0.0.0.0:80", "example.com:80",
		"localhost:80", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:http", "",
	} {
		if p, err := New(addr); err == nil {
			_ = p.Close()
			t.Errorf("New(%q) succeeded", addr)
		}
	}
	p := newProxy(t, "[::1]:9")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("SetUpstream to a non-loopback address did not panic")
			}
		}()
		p.SetUpstream("8.8.8.8:53")
	}()
	p.SetUpstream("127.0.0.2:9")
}

func TestCloseEndsEverything(t *testing.T) {
	p, err := New(newUpstream(t, "").addr())
	if err != nil {
		t.Fatal(err)
	}
	p.SetFaults(Faults{Latency: time.Hour}, Faults{Blackhole: true})
	c1, c2 := dial(t, p), dial(t, p)
	_, _ = c1.Write([]byte("stuck in latency"))
	_, _ = c2.Write([]byte("stuck too"))
	waitFor(t, "links", func() bool { return p.Links() == 2 })

	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	expectClosed(t, c1)
	expectClosed(t, c2)
	if p.Links() != 0 {
		t.Fatalf("Links() = %d after Close", p.Links())
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("dial succeeded after Close")
	}
}
