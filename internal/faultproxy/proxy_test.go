package faultproxy

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

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
