package sioserver

import (
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream/frames"
)

func TestDemoTicks(t *testing.T) {
	s, err := NewDemo(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tc := dialOpen(t, s)
	tc.connect("/", "")
	start := time.Now()
	names := map[string]int{}
	for range 5 {
		raw, _, err := frames.SplitEvent([]byte(tc.next()[2:]))
		if err != nil {
			t.Fatal(err)
		}
		names[string(raw)]++
	}
	if d := time.Since(start); d > 3*time.Second || names["tick"] < 2 || names["chat"] < 1 {
		t.Fatalf(
			"5 events in %v: %v",
			d, names,
		)
	}
	tc.send(`421["hello"]`)
	tc.send(`42["hello",1]`)
	seen := map[string]bool{}
	for len(seen) < 2 {
		msg := tc.next()
		if msg == `431[]` || msg == `42["echo",1]` {
			seen[msg] = true
		}
	}
}

func TestDemoBlob(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 4 s for a blob")
	}
	s, err := NewDemo(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tc := dialOpen(t, s)
	tc.connect("/", "")
	for {
		msg := tc.next()
		if strings.HasPrefix(msg, `451-["blob",`) {
			break
		}
	}
	if b := tc.binary(); len(b) != 8 {
		t.Fatalf(
			"blob of %d bytes",
			len(b),
		)
	}
}
