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
	MaxPayload   int64         // largest message the server accepts; 0 when the server states no limit
}

// maxPing is the longest pingInterval or pingTimeout ParseOpen accepts.
const maxPing = 24 * time.Hour

// Deadline returns PingInterval + PingTimeout: how long the client may
// wait for the server's next ping before it considers the connection
// dead. For an Open from ParseOpen it is positive and never overflows,
// since ParseOpen accepts neither term above 24 hours.
func (o Open) Deadline() time.Duration {
	return o.PingInterval + o.PingTimeout
}

// ParseOpen decodes the JSON payload of an open packet. It requires a
// non-empty string sid and pingInterval and pingTimeout in whole
// milliseconds, above zero and at most 24 hours, so that neither they
// nor their sum (Deadline) can overflow a time.Duration. maxPayload, when
// present, must be an integer from 0 to math.MaxInt64; absent or 0, it
// means the server states no limit, and MaxPayload is 0. upgrades, when
// present, must be an array of strings. The
// numbers must be written with digits only: a sign, fraction or exponent
// is refused. Unknown fields are ignored. Malformed JSON is
// ErrInvalidJSON; a missing field or one of the wrong type or range is
// ErrBadOpen, with a Detail naming the field, such as "pingInterval is
// above 24 hours".
func ParseOpen(payload []byte) (Open, error) {
	var f openFields
	err := eachMember(payload, func(key, val []byte, at int) error {
		if detail := f.set(key, val); detail != "" {
			return detailError(ErrBadOpen, detail, payload, at)
		}
		return nil
	})
	if err != nil {
		return Open{}, asOpenError(err)
	}
	if detail := f.missing(); detail != "" {
		return Open{}, detailError(ErrBadOpen, detail, payload, 0)
	}
	f.open.PingInterval = time.Duration(f.interval) * time.Millisecond
	f.open.PingTimeout = time.Duration(f.timeout) * time.Millisecond
	return f.open, nil
}

// asOpenError reports a well-formed payload that is not an object as
// ErrBadOpen.
func asOpenError(err error) error {
	if se, ok := err.(*SyntaxError); ok && se.Err == ErrBadPayload {
		se.Err, se.Detail = ErrBadOpen, "not a JSON object"
	}
	return err
}

// openFields collects the members of an open packet.
type openFields struct {
	open              Open
	interval, timeout int64 // milliseconds, 0 until set
}

// maxPingMillis is maxPing in milliseconds.
const maxPingMillis = int64(maxPing / time.Millisecond)

// set decodes one member. It returns what is wrong with a known field,
// or "".
func (f *openFields) set(key, val []byte) string {
	switch {
	case rawEquals(key, "sid"):
		s, ok := rawString(val)
		if !ok {
			return "sid is not a string"
		}
		if f.open.SID = s; s == "" {
			return "sid is empty"
		}
	case rawEquals(key, "upgrades"):
		var ok bool
		if f.open.Upgrades, ok = parseStrings(val); !ok {
			return "upgrades is not an array of strings"
		}
	case rawEquals(key, "pingInterval"):
		return parseMillis("pingInterval", val, &f.interval)
	case rawEquals(key, "pingTimeout"):
		return parseMillis("pingTimeout", val, &f.timeout)
	case rawEquals(key, "maxPayload"):
		n, problem := parseCount(val, math.MaxInt64)
		if problem == countTooLarge {
			return "maxPayload overflows int64"
		}
		if problem != countOK {
			return "maxPayload " + problem.String()
		}
		f.open.MaxPayload = n
	}
	return ""
}

// missing names the first required field that is absent.
func (f *openFields) missing() string {
	switch {
	case f.open.SID == "":
		return "sid is missing"
	case f.interval == 0:
		return "pingInterval is missing"
	case f.timeout == 0:
		return "pingTimeout is missing"
	}
	return ""
}

// parseMillis decodes the value of the field name, a number of
// milliseconds from 1 to maxPingMillis, into *ms. It returns what is
// wrong, or "".
func parseMillis(name string, val []byte, ms *int64) string {
	n, problem := parseCount(val, maxPingMillis)
	switch {
	case problem == countTooLarge:
		return name + " is above 24 hours"
	case problem != countOK:
		return name + " " + problem.String()
	case n == 0:
		return name + " is zero"
	}
	*ms = n
	return ""
}

// countProblem says why a JSON value is not a count.
type countProblem uint8

const (
	countOK countProblem = iota
	countNotNumber
	countNegative
	countNotInteger
	countTooLarge
)

// String describes the problem after a field name.
func (p countProblem) String() string {
	switch p {
	case countNotNumber:
		return "is not a number"
	case countNegative:
		return "is negative"
	case countNotInteger:
		return "is not an integer"
	case countTooLarge:
		return "is too large"
	}
	return "is fine"
}

// parseCount decodes the validated JSON value val as an integer from 0 to
// limit written with digits only. It stops at the first digit that would
// take it past limit, so it never overflows.
func parseCount(val []byte, limit int64) (int64, countProblem) {
	switch {
	case val[0] == '-':
		return 0, countNegative
	case !isDigit(val[0]):
		return 0, countNotNumber
	case skipDigits(val, 0) != len(val):
		return 0, countNotInteger
	}
	var n int64
	for _, c := range val {
		d := int64(c - '0')
		if d > limit || n > (limit-d)/10 {
			return 0, countTooLarge
		}
		n = n*10 + d
	}
	return n, countOK
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
