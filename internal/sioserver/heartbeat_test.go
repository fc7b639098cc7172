package sioserver

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHeartbeat(t *testing.T) {
	s := newServer(t, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	tc := dialOpen(t, s)
	c := accept(t, s)
	for range 3 {
		expectPing(t, tc)
		tc.send("3")
	}
	deadline := time.Now().Add(readTimeout)
	for c.Pongs() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if c.Pongs() != 3 {
		t.Fatalf(
			"Pongs() = %d, want 3",
			c.Pongs(),
		)
	}
	if err := c.PingNow(); err != nil {
		t.Fatalf(
			"PingNow: %v",
			err,
		)
	}
	expectPing(t, tc)
}

func expectPing(t *testing.T, tc *testClient) {
	t.Helper()
	if got := tc.text(); got != "2" {
		t.Fatalf(
			"got %q, want a ping",
			got,
		)
	}
}

func TestPongTimeoutCloses(t *testing.T) {
	s := newServer(t, Options{PingInterval: 30 * time.Millisecond, PingTimeout: 60 * time.Millisecond})
	tc := dialOpen(t, s)
	c := accept(t, s)
	expectPing(t, tc)
	if err := waitClosed(t, c); !errors.Is(err, ErrPingTimeout) {
		t.Fatalf(
			"Err() = %v, want ErrPingTimeout",
			err,
		)
	}
	if err := tc.readUntilError(); !isClosedErr(err) {
		t.Fatalf(
			"client read error %v",
			err,
		)
	}
}

func TestSetPingsOff(t *testing.T) {
	s := newServer(t, Options{PingInterval: 30 * time.Millisecond, PingTimeout: 30 * time.Millisecond})
	tc := dialOpen(t, s)
	c := accept(t, s)
	c.SetPings(false)
	tc.connect("/", "")
	time.Sleep(150 * time.Millisecond)
	tc.send(`42["echo","still here"]`)
	got := tc.text()
	if got == "2" {
		got = tc.text()
	}
	if got != `42["echo","still here"]` {
		t.Fatalf(
			"got %q after silence",
			got,
		)
	}
	select {
	case <-c.Closed():
		t.Fatalf(
			"closed while pings were off: %v",
			c.Err(),
		)
	default:
	}
}

func TestPingTimeoutWhileWriteBlocked(t *testing.T) {
	s := newServer(t, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	big := strings.Repeat("x", 64<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c.Emit("/", "flood", big) == nil {
		}
	}()
	if err := waitClosed(t, c); !errors.Is(err, ErrPingTimeout) {
		t.Fatalf(
			"Err() = %v, want ErrPingTimeout",
			err,
		)
	}
	<-done
}
