package frames

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
)

// golden is one text WebSocket frame as it appears on the wire, with what
// it means. Valid frames have err == nil.
type golden struct {
	name  string
	frame string // the whole text WebSocket frame

	engine  EngineType
	payload string // payload of Engine.IO packets other than open and message
	open    *Open  // payload of an open packet

	// The Socket.IO packet inside an Engine.IO message.
	typ   PacketType
	atts  int
	nsp   string
	id    uint64
	hasID bool
	data  string // "" when absent

	// What the data means.
	event    string   // EVENT name, decoded
	args     []string // EVENT elements after the name, or ACK elements
	sid      string   // CONNECT reply
	pid      string
	message  string // CONNECT_ERROR
	errData  string
	binary   [][]byte // attachments following the frame
	resolved string   // data after ResolveBinary

	canonical string // the encoding of the decoded fields when frame is not canonical
	err       error  // the sentinel an invalid frame is rejected with
	detail    string // and the SyntaxError's Detail, when it has one
}

// goldens is every case: the valid frames (golden_valid_test.go), then
// the invalid ones (golden_invalid_test.go).
var goldens = slices.Concat(validGoldens, invalidGoldens)

// header returns the Header that encodes the case's Socket.IO prefix.
func (c golden) header() Header {
	return Header{Type: c.typ, Attachments: c.atts, Namespace: c.nsp, ID: c.id, HasID: c.hasID}
}

// packet returns the Packet the case's frame decodes to.
func (c golden) packet() Packet {
	p := Packet{Type: c.typ, Attachments: c.atts, ID: c.id, HasID: c.hasID}
	if c.nsp != "" {
		p.Namespace = []byte(c.nsp)
	}
	if c.data != "" {
		p.Data = []byte(c.data)
	}
	return p
}

// wire returns the canonical encoding of the frame.
func (c golden) wire() string {
	if c.canonical != "" {
		return c.canonical
	}
	return c.frame
}

func TestDecodeGolden(t *testing.T) {
	for _, c := range goldens {
		t.Run(c.name, func(t *testing.T) {
			err := decodeGolden(t, c)
			if c.err == nil && err != nil {
				t.Fatalf("%q: unexpected error %v", c.frame, err)
			}
			if c.err != nil && !errors.Is(err, c.err) {
				t.Fatalf("%q: error %v, want %v", c.frame, err, c.err)
			}
			var se *SyntaxError
			if c.err != nil && !errors.As(err, &se) {
				t.Fatalf("%q: error %T is not a *SyntaxError", c.frame, err)
			}
			if c.err != nil && se.Detail != c.detail {
				t.Fatalf("%q: detail %q, want %q", c.frame, se.Detail, c.detail)
			}
		})
	}
}

// decodeGolden decodes c.frame, checks what it finds and returns the first
// decoding error.
func decodeGolden(t *testing.T, c golden) error {
	typ, payload, err := ParseEngine([]byte(c.frame))
	if err != nil {
		return err
	}
	if typ != c.engine {
		t.Fatalf("engine type %v, want %v", typ, c.engine)
	}
	switch typ {
	case EngineOpen:
		o, err := ParseOpen(payload)
		if err == nil && !reflect.DeepEqual(&o, c.open) {
			t.Fatalf("open %+v, want %+v", o, *c.open)
		}
		return err
	case EngineMessage:
		return decodePacket(t, c, payload)
	}
	if string(payload) != c.payload {
		t.Fatalf("payload %q, want %q", payload, c.payload)
	}
	return nil
}

// decodePacket decodes a Socket.IO packet and the meaning of its data.
func decodePacket(t *testing.T, c golden, payload []byte) error {
	var p Packet
	if err := ParsePacket(payload, &p); err != nil {
		return err
	}
	if want := c.packet(); !reflect.DeepEqual(p, want) {
		t.Fatalf("packet %s, want %s", fmtPacket(p), fmtPacket(want))
	}
	switch p.Type {
	case Event, BinaryEvent:
		checkEvent(t, c, p.Data)
	case Ack, BinaryAck:
		checkArgs(t, c.args, p.Data[1:len(p.Data)-1])
	case Connect:
		checkConnectReply(t, c, p.Data)
	case ConnectError:
		checkConnectError(t, c, p.Data)
	}
	if c.binary != nil {
		checkResolve(t, c, p.Data)
	}
	return nil
}

func fmtPacket(p Packet) string {
	b, _ := json.Marshal(struct {
		Type        PacketType
		Attachments int
		Namespace   *string
		ID          uint64
		HasID       bool
		Data        *string
	}{p.Type, p.Attachments, ptrString(p.Namespace), p.ID, p.HasID, ptrString(p.Data)})
	return string(b)
}

func ptrString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func checkEvent(t *testing.T, c golden, data []byte) {
	t.Helper()
	raw, rest, err := SplitEvent(data)
	if err != nil {
		t.Fatalf("SplitEvent(%q): %v", data, err)
	}
	name, err := AppendUnquote(nil, raw)
	if err != nil || string(name) != c.event {
		t.Fatalf("event name %q (%v), want %q", name, err, c.event)
	}
	checkArgs(t, c.args, rest)
}

// checkArgs compares the elements of a comma-separated list with want.
func checkArgs(t *testing.T, want []string, list []byte) {
	t.Helper()
	got, err := splitList(list)
	if err != nil || !slicesEqual(got, want) {
		t.Fatalf("args %q (%v), want %q", got, err, want)
	}
}

func splitList(list []byte) ([]string, error) {
	var got []string
	for len(trimSpace(list)) > 0 {
		v, rest, err := NextValue(list)
		if err != nil {
			return got, err
		}
		got, list = append(got, string(v)), rest
	}
	return got, nil
}

func slicesEqual(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func checkConnectReply(t *testing.T, c golden, data []byte) {
	t.Helper()
	if c.sid == "" {
		return
	}
	sid, pid, err := ParseConnectReply(data)
	if err != nil || sid != c.sid || pid != c.pid {
		t.Fatalf("ParseConnectReply = %q, %q, %v; want %q, %q", sid, pid, err, c.sid, c.pid)
	}
}

func checkConnectError(t *testing.T, c golden, data []byte) {
	t.Helper()
	msg, errData, err := ParseConnectError(data)
	if err != nil || msg != c.message || string(errData) != c.errData {
		t.Fatalf("ParseConnectError = %q, %q, %v; want %q, %q", msg, errData, err, c.message, c.errData)
	}
}

func checkResolve(t *testing.T, c golden, data []byte) {
	t.Helper()
	if err := CheckPlaceholders(data, len(c.binary)); err != nil {
		t.Fatalf("CheckPlaceholders: %v", err)
	}
	got, err := ResolveBinary(nil, data, c.binary)
	if err != nil || string(got) != c.resolved {
		t.Fatalf("ResolveBinary = %s, %v; want %s", got, err, c.resolved)
	}
}

// TestEncodeGolden re-encodes every valid case from its fields.
func TestEncodeGolden(t *testing.T) {
	for _, c := range goldens {
		if c.err != nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			var payload []byte
			switch c.engine {
			case EngineOpen:
				payload = AppendOpen(nil, *c.open)
			case EngineMessage:
				payload = append(AppendHeader(nil, c.header()), c.data...)
			default:
				payload = []byte(c.payload)
			}
			if got := AppendEngine(nil, c.engine, payload); string(got) != c.wire() {
				t.Fatalf("encoded %s, want %s", got, c.wire())
			}
		})
	}
}

// TestEncodeMeaning encodes the valid EVENT, ACK and CONNECT cases from
// what they mean, with AppendEvent, AppendAck and AppendConnect.
func TestEncodeMeaning(t *testing.T) {
	for _, c := range goldens {
		got, ok := encodeMeaning(c)
		if c.err != nil || c.engine != EngineMessage || !ok {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			want := []byte(c.wire()[1:])
			if c.typ == Event || c.typ == BinaryEvent {
				want = canonicalEvent(t, c)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded %s, want %s", got, want)
			}
		})
	}
}

func encodeMeaning(c golden) ([]byte, bool) {
	args := make([]json.RawMessage, len(c.args))
	for i, a := range c.args {
		args[i] = json.RawMessage(a)
	}
	switch c.typ {
	case Event, BinaryEvent:
		return AppendEvent(nil, c.header(), c.event, args...), true
	case Ack, BinaryAck:
		return AppendAck(nil, c.header(), args...), true
	case Connect:
		return AppendConnect(nil, c.nsp, json.RawMessage(c.data)), true
	}
	return nil, false
}

// canonicalEvent is the event packet as encoding/json would write the name
// and the args without the whitespace between them.
func canonicalEvent(t *testing.T, c golden) []byte {
	name, err := json.Marshal(c.event)
	if err != nil {
		t.Fatal(err)
	}
	b := append(AppendHeader(nil, c.header()), '[')
	b = append(b, name...)
	for _, a := range c.args {
		b = append(append(b, ','), a...)
	}
	return append(b, ']')
}
