package sioserver

import (
	"testing"
	"time"
)

func TestReadPaused(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	nextReceived(t, c)
	c.SetReadPaused(true)
	// The frame being waited for when the pause began may still be handled.
	tc.send(`42["echo","first"]`)
	tc.send(`42["echo","second"]`)
	for {
		msg, err := tc.readWithin(200 * time.Millisecond)
		if err != nil {
			break
		}
		if msg != `42["echo","first"]` {
			t.Fatalf(
				"got %q while reading was paused",
				msg,
			)
		}
	}
	c.SetReadPaused(false)
	for tc.next() != `42["echo","second"]` {
	}
}

func TestRawWrites(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	if err := c.WriteText(`42["x"`); err != nil {
		t.Fatal(err)
	}
	tc.expect(`42["x"`)
	if err := c.WriteBinary([]byte{9}); err != nil {
		t.Fatal(err)
	}
	if b := tc.binary(); string(b) != "\x09" {
		t.Fatalf(
			"binary %q",
			b,
		)
	}
	if err := c.WriteRaw([]byte{0x81, 0x02, 'h', 'i'}); err != nil {
		t.Fatal(err)
	}
	tc.expect("hi")
}

func TestValue(t *testing.T) {
	s := newServer(t, Options{})
	dialOpen(t, s)
	c := accept(t, s)
	if v := c.Value(); v != nil {
		t.Fatalf(
			"Value before SetValue = %v",
			v,
		)
	}
	c.SetValue("mine")
	if v := c.Value(); v != "mine" {
		t.Fatalf(
			"Value = %v, want mine",
			v,
		)
	}
}
