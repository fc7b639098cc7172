package sioserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream/frames"
)

func TestProtocolViolationsClose(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
		want  error
		raw   bool
	}{
		{
			name:  "client ping",
			frame: []byte("2"),
			want:  ErrProtocol,
		},
		{
			name:  "malformed packet",
			frame: []byte("42{}"),
			want:  ErrProtocol,
		},
		{
			name:  "reserved event",
			frame: []byte(`42["disconnect"]`),
			want:  ErrProtocol,
		},
		{
			name:  "too large",
			frame: []byte("4" + strings.Repeat("x", 200)),
			want:  ErrTooLarge,
		},
		{
			name:  "unmasked frame",
			frame: []byte{0x81, 0x01, '3'},
			want:  ErrProtocol,
			raw:   true,
		},
		{
			name:  "engine close",
			frame: []byte("1"),
			want:  ErrClientClosed,
		},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{MaxPayload: 100})
			tc := dialOpen(t, s)
			c := accept(t, s)
			tc.connect("/", "")
			if tt.raw {
				_, _ = tc.conn.Write(tt.frame)
			} else {
				tc.send(string(tt.frame))
			}
			if err := waitClosed(t, c); !errors.Is(err, tt.want) {
				t.Fatalf(
					"Err() = %v, want %v",
					err, tt.want,
				)
			}
		})
	}
}

func TestDisconnect(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/admin", "")
	tc.connect("/", "")
	if err := c.Disconnect("/admin"); err != nil {
		t.Fatalf(
			"Disconnect: %v",
			err,
		)
	}
	tc.expect("41/admin,")
	if c.Connected("/admin") || !c.Connected("/") {
		t.Fatal("namespace state not updated")
	}
	tc.send(`42["disconnect-me"]`)
	tc.expect("41")
	tc.connect("/admin", "")
	tc.send("41/admin,")
	tc.send(`42["echo"]`)
	for {
		ev := nextReceived(t, c)
		if ev.Type == frames.Disconnect {
			break
		}
	}
	if c.Connected("/admin") {
		t.Fatal("client DISCONNECT not applied")
	}
}

func TestDrop(t *testing.T) {
	for _, viaEvent := range []bool{false, true} {
		t.Run(fmt.Sprint("event=", viaEvent), func(t *testing.T) {
			s := newServer(t, Options{})
			tc := dialOpen(t, s)
			c := accept(t, s)
			tc.connect("/", "")
			if viaEvent {
				tc.send(`42["drop-me"]`)
			} else {
				c.Drop()
			}
			if err := waitClosed(t, c); !errors.Is(err, ErrDropped) {
				t.Fatalf(
					"Err() = %v, want ErrDropped",
					err,
				)
			}
			if err := tc.readUntilError(); !isClosedErr(err) {
				t.Fatalf(
					"client read error %v",
					err,
				)
			}
		})
	}
}

func TestCloseWithStuckClient(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	big := strings.Repeat("x", 64<<10)
	go func() {
		for c.Emit("/", "flood", big) == nil {
		}
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	_ = s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf(
			"Close took %v",
			d,
		)
	}
	if _, err := s.Accept(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf(
			"Accept after Close: %v",
			err,
		)
	}
	if !errors.Is(c.Err(), ErrServerClosed) {
		t.Fatalf(
			"Err() = %v",
			c.Err(),
		)
	}
}
