package siostream

import (
	"errors"
	"testing"

	"github.com/siostream/siostream/frames"
)

// TestSplitOffset: a server recovering connection state appends the
// event's offset, a JSON string, to its arguments; splitOffset takes it
// off the list of arguments (without brackets). Whether the event may
// carry an offset at all (no ack id, not volatile) is the caller's
// question: see TestEventOffset.
func TestSplitOffset(t *testing.T) {
	cases := []struct {
		name   string
		list   string
		rest   string
		offset string
		found  bool // an offset was taken off
		err    error
	}{
		{name: "no arguments", list: ``, rest: ``},
		{name: "offset after one value", list: `1,"off"`, rest: `1`, offset: `off`, found: true},
		{name: "offset alone", list: `"off"`, rest: ``, offset: `off`, found: true},
		{name: "spaces between tokens", list: ` 1 , "off" `, rest: `1`, offset: `off`, found: true},
		{name: "newlines and tabs", list: "\n\t1\t,\r\n\"off\"\n", rest: `1`, offset: `off`, found: true},
		{name: "string before the offset", list: `"a" , "off"`, rest: `"a"`, offset: `off`, found: true},
		{name: "several values before", list: `1,{"k":[2,"x"]},"off"`, rest: `1,{"k":[2,"x"]}`, offset: `off`, found: true},
		{name: "escaped quote stays escaped", list: `1,"a\"b"`, rest: `1`, offset: `a\"b`, found: true},
		{name: "comma inside the offset", list: `1,"a,b"`, rest: `1`, offset: `a,b`, found: true},
		{name: "empty offset", list: `1,""`, rest: `1`, offset: ``, found: true},
		{name: "number last", list: `"s",1`, rest: `"s",1`},
		{name: "object last", list: `1,{"a":"b"}`, rest: `1,{"a":"b"}`},
		{name: "array last", list: `1,["x"]`, rest: `1,["x"]`},
		{name: "null last", list: `1,null`, rest: `1,null`},
		{name: "one number", list: `1`, rest: `1`},
		{name: "trailing comma", list: `1,`, err: frames.ErrInvalidJSON},
		{name: "unterminated offset", list: `1,"off`, err: frames.ErrInvalidJSON},
		{name: "missing comma", list: `1 "off"`, err: frames.ErrInvalidJSON},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rest, offset, err := splitOffset([]byte(tc.list))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("splitOffset(%q) error %v, want %v", tc.list, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("splitOffset(%q): %v", tc.list, err)
			}
			if string(rest) != tc.rest || string(offset) != tc.offset || (offset != nil) != tc.found {
				t.Fatalf("splitOffset(%q) = %q, %q (found %v); want %q, %q (found %v)",
					tc.list, rest, offset, offset != nil, tc.rest, tc.offset, tc.found)
			}
		})
	}
}

// TestEventOffset runs EVENT packets through the connection's handler: with
// connection state recovery on, the offset comes off an event without ack
// id, and stays an argument of an event with one, of a volatile event, and
// of any event when recovery is off.
func TestEventOffset(t *testing.T) {
	cases := []struct {
		name     string
		recovery bool
		packet   string // a Socket.IO packet, as the engine hands it over
		offset   string
		args     string
		wantsAck bool
	}{
		{name: "offset taken", recovery: true, packet: `2["ev",1,"off"]`, offset: "off", args: `[1]`},
		{name: "offset alone", recovery: true, packet: `2["ev","off"]`, offset: "off", args: `[]`},
		{name: "whitespace", recovery: true, packet: `2[ "ev" , 1 , "off" ]`, offset: "off", args: `[1]`},
		{name: "escaped offset decoded", recovery: true, packet: `2["ev",1,"a\"b"]`, offset: `a"b`, args: `[1]`},
		{name: "no string last", recovery: true, packet: `2["ev",1]`, args: `[1]`},
		{name: "no arguments", recovery: true, packet: `2["ev"]`, args: `[]`},
		{name: "ack id keeps a trailing string", recovery: true, packet: `217["ev",1,"keep"]`, args: `[1,"keep"]`, wantsAck: true},
		{name: "ack id and whitespace", recovery: true, packet: `218["ev", 1 , "keep" ]`, args: `[1 , "keep"]`, wantsAck: true},
		{name: "volatile event keeps it", recovery: true, packet: `2["vol",1,"keep"]`, args: `[1,"keep"]`},
		{name: "recovery off keeps it", recovery: false, packet: `2["ev",1,"keep"]`, args: `[1,"keep"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, st := bareStream(t, Options{}, Options{VolatileEvents: func(name string) bool { return name == "vol" }})
			l := &link{m: m, gen: 1}
			m.routes.Store(&routeTable{main: st})
			st.active.Store(l)
			st.recovery.Store(tc.recovery)
			if err := l.Message([]byte(tc.packet), false); err != nil {
				t.Fatalf("Message(%s): %v", tc.packet, err)
			}
			var ev Event
			select {
			case ev = <-st.Events():
			default:
				t.Fatalf("Message(%s) delivered nothing", tc.packet)
			}
			if ev.Kind != KindEvent || ev.Offset() != tc.offset || string(ev.Args) != tc.args || ev.WantsAck() != tc.wantsAck {
				t.Fatalf("Message(%s) delivered %v: offset %q, args %s, wants ack %v; want offset %q, args %s, wants ack %v",
					tc.packet, ev.Kind, ev.Offset(), ev.Args, ev.WantsAck(), tc.offset, tc.args, tc.wantsAck)
			}
		})
	}
}
