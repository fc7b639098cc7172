package siotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/siostream/siostream/internal/sioserver"
)

func TestEndErr(t *testing.T) {
	for _, tc := range []struct {
		in   error
		is   []error
		text string
	}{
		{in: nil},
		{in: sioserver.ErrDropped, is: []error{ErrDropped}, text: "siotest: connection dropped"},
		{in: sioserver.ErrServerClosed, is: []error{ErrServerClosed}, text: "siotest: server closed"},
		{in: sioserver.ErrClientClosed, is: []error{ErrClientClosed}, text: "siotest: closed by the client"},
		{in: sioserver.ErrPingTimeout, is: []error{ErrPingTimeout}, text: "siotest: ping timeout"},
		{in: sioserver.ErrConnectTimeout, is: []error{ErrConnectTimeout}, text: "siotest: connect timeout"},
		{
			in:   fmt.Errorf("%w: unmasked client frame", sioserver.ErrProtocol),
			is:   []error{ErrProtocol},
			text: "siotest: protocol error: unmasked client frame",
		},
		{
			in:   fmt.Errorf("%w: 2000 bytes", sioserver.ErrTooLarge),
			is:   []error{ErrTooLarge},
			text: "siotest: message too large: 2000 bytes",
		},
		{
			in:   fmt.Errorf("sioserver: read: %w", io.ErrUnexpectedEOF),
			is:   []error{ErrConnLost, io.ErrUnexpectedEOF},
			text: "siotest: connection lost: unexpected EOF",
		},
	} {
		got := endErr(tc.in)
		if tc.in == nil {
			if got != nil {
				t.Errorf("endErr(nil) = %v", got)
			}
			continue
		}
		for _, want := range tc.is {
			if !errors.Is(got, want) {
				t.Errorf("endErr(%v) = %v, not %v", tc.in, got, want)
			}
		}
		if got.Error() != tc.text {
			t.Errorf("endErr(%v) says %q, want %q", tc.in, got, tc.text)
		}
	}
}

func TestOpErrPassesOthers(t *testing.T) {
	for _, err := range []error{nil, context.Canceled, io.EOF} {
		if got := opErr(err); got != err {
			t.Errorf("opErr(%v) = %v", err, got)
		}
	}
	if got := opErr(sioserver.ErrClosed); got != ErrClosed {
		t.Errorf("opErr(sioserver.ErrClosed) = %v", got)
	}
}

func TestPacketDecode(t *testing.T) {
	p := &Packet{Args: []byte(`[1,"two",{"three":3}]`)}
	var one int
	var three struct{ Three int }
	if err := p.Decode(&one, nil, &three); err != nil || one != 1 || three.Three != 3 {
		t.Fatalf("Decode: %v %d %+v", err, one, three)
	}
	extra := "untouched"
	if err := p.Decode(nil, nil, nil, &extra); err != nil || extra != "untouched" {
		t.Fatalf("Decode past the args: %v %q", err, extra)
	}
	if err := p.Decode(&extra); err == nil {
		t.Fatal("Decode of a number into a string: no error")
	}
	if err := new(Packet).Decode(&one); err != nil {
		t.Fatalf("Decode without args: %v", err)
	}
	if err := (&Packet{Args: []byte(`{}`)}).Decode(&one); err == nil {
		t.Fatal("Decode of an object: no error")
	}
}

func TestPacketTypeString(t *testing.T) {
	for typ, want := range map[PacketType]string{
		PacketConnect:      "CONNECT",
		PacketDisconnect:   "DISCONNECT",
		PacketEvent:        "EVENT",
		PacketAck:          "ACK",
		PacketConnectError: "CONNECT_ERROR",
		PacketBinaryEvent:  "BINARY_EVENT",
		PacketBinaryAck:    "BINARY_ACK",
		9:                  "PacketType(9)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("PacketType(%d).String() = %q, want %q", typ, got, want)
		}
	}
}

func TestDefaultHandlerIgnoresBuiltPackets(t *testing.T) {
	DefaultHandler(nil, nil)
	DefaultHandler(&Conn{}, &Packet{Name: "echo"})
}
