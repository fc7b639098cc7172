package frames

import (
	"math"
	"strconv"
	"time"
)

// EngineType is the type of an Engine.IO packet, written as one ASCII
// digit at the start of a text WebSocket frame.
type EngineType uint8

// Engine.IO packet types.
const (
	EngineOpen    EngineType = iota // '0': handshake, sent by the server
	EngineClose                     // '1': close the transport
	EnginePing                      // '2': heartbeat from the server
	EnginePong                      // '3': heartbeat reply from the client
	EngineMessage                   // '4': carries a Socket.IO packet
	EngineUpgrade                   // '5': transport upgrade
	EngineNoop                      // '6': no operation
)

var engineNames = [...]string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

// String returns the lower-case name of t, or "EngineType(N)" when t is not
// a known type.
func (t EngineType) String() string {
	if int(t) < len(engineNames) {
		return engineNames[t]
	}
	return "EngineType(" + strconv.Itoa(int(t)) + ")"
}

// ParseEngine splits a text WebSocket frame into its Engine.IO type and
// payload. The payload is a view into frame. An empty frame is ErrEmpty and
// a first byte outside '0'..'6' is ErrUnknownType.
func ParseEngine(frame []byte) (EngineType, []byte, error) {
	if len(frame) == 0 {
		return 0, nil, syntaxError(ErrEmpty, frame, 0)
	}
	c := frame[0]
	if c < '0' || c > '0'+byte(EngineNoop) {
		return 0, nil, syntaxError(ErrUnknownType, frame, 0)
	}
	return EngineType(c - '0'), frame[1:], nil
}

// AppendEngine appends the Engine.IO packet of type t with payload to dst.
func AppendEngine(dst []byte, t EngineType, payload []byte) []byte {
	dst = append(dst, '0'+byte(t))
	return append(dst, payload...)
}

// Open is the payload of the Engine.IO open packet.
type Open struct {
	SID          string        // session id
	Upgrades     []string      // transports the session may upgrade to
	PingInterval time.Duration // how often the server pings
	PingTimeout  time.Duration // how long the server waits for a pong
	MaxPayload   int64         // largest message the server accepts; 0 when absent
}

// maxMillis is the largest millisecond count a time.Duration can hold.
const maxMillis = math.MaxInt64 / int64(time.Millisecond)

// ParseOpen decodes the JSON payload of an open packet. It requires a
// non-empty string sid, integer millisecond pingInterval and pingTimeout
// greater than zero, and, when present, an integer maxPayload of zero or
// more; upgrades, when present, must be an array of strings. Unknown fields
// are ignored. Malformed JSON is ErrInvalidJSON; a missing or ill-typed
// field is ErrBadOpen.
func ParseOpen(payload []byte) (Open, error) {
	var o Open
	var interval, timeout int64
	err := eachMember(payload, func(key, val []byte, at int) error {
		if !o.setField(key, val, &interval, &timeout) {
			return syntaxError(ErrBadOpen, payload, at)
		}
		return nil
	})
	if err != nil {
		return Open{}, asOpenError(err)
	}
	return o.finish(payload, interval, timeout)
}

// asOpenError reports a well-formed payload that is not an object as
// ErrBadOpen.
func asOpenError(err error) error {
	if se, ok := err.(*SyntaxError); ok && se.Err == ErrBadPayload {
		se.Err = ErrBadOpen
	}
	return err
}

// setField decodes one member; it reports false when a known field has the
// wrong type or range.
func (o *Open) setField(key, val []byte, interval, timeout *int64) bool {
	ok := true
	switch {
	case rawEquals(key, "sid"):
		o.SID, ok = rawString(val)
	case rawEquals(key, "upgrades"):
		o.Upgrades, ok = parseStrings(val)
	case rawEquals(key, "pingInterval"):
		*interval, ok = parseMillis(val)
	case rawEquals(key, "pingTimeout"):
		*timeout, ok = parseMillis(val)
	case rawEquals(key, "maxPayload"):
		o.MaxPayload, ok = parseUint63(val)
	}
	return ok
}

// finish checks the required fields and converts the durations.
func (o *Open) finish(payload []byte, interval, timeout int64) (Open, error) {
	if o.SID == "" || interval <= 0 || timeout <= 0 {
		return Open{}, syntaxError(ErrBadOpen, payload, 0)
	}
	o.PingInterval = time.Duration(interval) * time.Millisecond
	o.PingTimeout = time.Duration(timeout) * time.Millisecond
	return *o, nil
}

// parseStrings decodes a validated JSON array of strings.
func parseStrings(val []byte) ([]string, bool) {
	if val[0] != '[' {
		return nil, false
	}
	list := []string{}
	e := elements{buf: val, pos: 1}
	for {
		v, ok, err := e.next()
		if err != nil || !ok {
			return list, err == nil
		}
		s, ok := rawString(v)
		if !ok {
			return nil, false
		}
		list = append(list, s)
	}
}

// parseMillis decodes a non-negative integer number of milliseconds that
// fits a time.Duration.
func parseMillis(val []byte) (int64, bool) {
	n, ok := parseUint63(val)
	return n, ok && n <= maxMillis
}

// parseUint63 decodes a JSON integer in [0, math.MaxInt64] written with
// digits only.
func parseUint63(val []byte) (int64, bool) {
	if len(val) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range val {
		if !isDigit(c) || n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// AppendOpen appends the JSON payload of an open packet (without the type
// digit) to dst. Durations are written in whole milliseconds and nil
// Upgrades as [].
func AppendOpen(dst []byte, o Open) []byte {
	dst = append(dst, `{"sid":`...)
	dst = AppendString(dst, o.SID)
	dst = append(dst, `,"upgrades":[`...)
	for i, u := range o.Upgrades {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, u)
	}
	dst = append(dst, `],"pingInterval":`...)
	dst = strconv.AppendInt(dst, o.PingInterval.Milliseconds(), 10)
	dst = append(dst, `,"pingTimeout":`...)
	dst = strconv.AppendInt(dst, o.PingTimeout.Milliseconds(), 10)
	dst = append(dst, `,"maxPayload":`...)
	dst = strconv.AppendInt(dst, o.MaxPayload, 10)
	return append(dst, '}')
}
