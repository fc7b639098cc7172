package frames

import (
	"math"
	"strconv"
)

// PacketType is the type of a Socket.IO packet, written as one ASCII digit
// at the start of an Engine.IO message.
type PacketType uint8

// Socket.IO packet types.
const (
	Connect      PacketType = iota // '0': join a namespace, or the server's reply
	Disconnect                     // '1': leave a namespace
	Event                          // '2': ["name", args...]
	Ack                            // '3': [args...] answering an EVENT's ack id
	ConnectError                   // '4': the server refused the CONNECT
	BinaryEvent                    // '5': EVENT followed by binary attachments
	BinaryAck                      // '6': ACK followed by binary attachments
)

var packetNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

// String returns the protocol's upper-case name of t, or "PacketType(N)"
// when t is not a known type.
func (t PacketType) String() string {
	if int(t) < len(packetNames) {
		return packetNames[t]
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// binary reports whether packets of type t carry attachments.
func (t PacketType) binary() bool { return t == BinaryEvent || t == BinaryAck }

// takesID reports whether packets of type t may carry an ack id.
func (t PacketType) takesID() bool { return t == Event || t == Ack || t.binary() }

// Packet is a decoded Socket.IO packet. Namespace and Data are views into
// the decoded input: they stay valid until the caller reuses that buffer.
type Packet struct {
	Type        PacketType
	Attachments int    // BINARY_EVENT / BINARY_ACK only
	Namespace   []byte // nil when absent (meaning "/"); e.g. "/admin" without the comma
	ID          uint64 // ack id, valid when HasID
	HasID       bool
	Data        []byte // raw JSON payload, nil when absent
}

// Limits bounds what ParsePacket accepts. The zero value applies the
// defaults.
type Limits struct {
	MaxAttachments int // attachments one packet may declare; 0 means DefaultMaxAttachments
	MaxDepth       int // JSON nesting depth; 0 means DefaultMaxDepth; values above 10000 are treated as 10000
}

// Default limits, matching the reference server's decoder.
const (
	DefaultMaxAttachments = 10
	DefaultMaxDepth       = 128
)

// ParsePacket is Limits{}.ParsePacket.
func ParsePacket(payload []byte, p *Packet) error {
	return Limits{}.ParsePacket(payload, p)
}

// ParsePacket decodes payload, an Engine.IO message payload without its
// '4', into p without allocating. It checks that:
//   - the type is known (ErrUnknownType);
//   - the "N-" attachment prefix is present exactly for binary types and
//     N is at most MaxAttachments (ErrBadAttachments, ErrTooManyAttachments);
//   - a namespace starts with '/' and ends at ',' or at the end of the
//     payload (ErrBadNamespace);
//   - an ack id fits a uint64 (ErrAckIDOverflow) and appears only on EVENT,
//     ACK, BINARY_EVENT and BINARY_ACK (ErrBadAckID);
//   - the data is one JSON value, optionally surrounded by whitespace, nested
//     at most MaxDepth deep (ErrInvalidJSON, ErrTooDeep);
//   - the data has the shape its type requires (ErrBadPayload): CONNECT an
//     object or none, DISCONNECT none, EVENT and BINARY_EVENT an array whose
//     first element is a string, ACK and BINARY_ACK an array, CONNECT_ERROR
//     an object or a string.
//
// Data excludes the surrounding whitespace. A namespace of exactly "/" is
// reported as nil. On error *p is the zero Packet.
func (l Limits) ParsePacket(payload []byte, p *Packet) error {
	*p = Packet{}
	var q Packet
	i, err := l.parsePrefix(payload, &q)
	if err == nil {
		i, err = parseNamespace(payload, i, &q)
	}
	if err == nil {
		i, err = parseAckID(payload, i, &q)
	}
	if err == nil {
		err = parseData(payload, i, clampDepth(l.MaxDepth), &q)
	}
	if err == nil {
		*p = q
	}
	return err
}

// parsePrefix decodes the type digit and, for binary types, the attachment
// count.
func (l Limits) parsePrefix(payload []byte, q *Packet) (int, error) {
	if len(payload) == 0 {
		return 0, syntaxError(ErrEmpty, payload, 0)
	}
	c := payload[0]
	if c < '0' || c > '0'+byte(BinaryAck) {
		return 0, syntaxError(ErrUnknownType, payload, 0)
	}
	q.Type = PacketType(c - '0')
	if !q.Type.binary() {
		return 1, nil
	}
	limit := l.MaxAttachments
	if limit <= 0 {
		limit = DefaultMaxAttachments
	}
	return parseAttachments(payload, limit, q)
}

// parseAttachments decodes "N-" after the type digit, stopping as soon as
// N exceeds limit so that it never overflows.
func parseAttachments(payload []byte, limit int, q *Packet) (int, error) {
	i, n := 1, 0
	for ; i < len(payload) && isDigit(payload[i]); i++ {
		d := int(payload[i] - '0')
		if d > limit || n > (limit-d)/10 {
			return i, syntaxError(ErrTooManyAttachments, payload, 1)
		}
		n = n*10 + d
	}
	if i == 1 || i >= len(payload) || payload[i] != '-' {
		return i, syntaxError(ErrBadAttachments, payload, i)
	}
	q.Attachments = n
	return i + 1, nil
}

// parseNamespace decodes "/nsp," (or "/nsp" at the end of the payload).
func parseNamespace(payload []byte, i int, q *Packet) (int, error) {
	if i >= len(payload) || payload[i] != '/' {
		return i, nil
	}
	j := i + 1
	for ; j < len(payload) && payload[j] != ','; j++ {
		if !isNamespaceByte(payload[j]) {
			return j, syntaxError(ErrBadNamespace, payload, j)
		}
	}
	if j > i+1 {
		q.Namespace = payload[i:j]
	}
	return min(j+1, len(payload)), nil
}

// isNamespaceByte reports whether c may appear in a namespace. Control
// characters and the bytes that start JSON strings, arrays and objects may
// not, so a missing comma is caught instead of eating the data.
func isNamespaceByte(c byte) bool {
	return c >= 0x20 && c != 0x7f && c != '"' && c != '[' && c != '{'
}

// parseAckID decodes the ack id digits, if any.
func parseAckID(payload []byte, i int, q *Packet) (int, error) {
	start := i
	var id uint64
	for ; i < len(payload) && isDigit(payload[i]); i++ {
		d := uint64(payload[i] - '0')
		if id > (math.MaxUint64-d)/10 {
			return i, syntaxError(ErrAckIDOverflow, payload, start)
		}
		id = id*10 + d
	}
	if i == start {
		return i, nil
	}
	if start == 1 && i < len(payload) && payload[i] == '-' {
		return i, syntaxError(ErrBadAttachments, payload, i)
	}
	if !q.Type.takesID() {
		return i, syntaxError(ErrBadAckID, payload, start)
	}
	q.ID, q.HasID = id, true
	return i, nil
}

// parseData validates the JSON data at payload[i:] and its shape.
func parseData(payload []byte, i, maxDepth int, q *Packet) error {
	if i < len(payload) {
		s, e, err := validValue(payload, i, maxDepth)
		if err != nil {
			return namespaceWithoutSlash(payload, i, err)
		}
		q.Data = payload[s:e]
	}
	if !shapeOK(q.Type, q.Data) {
		return syntaxError(ErrBadPayload, payload, i)
	}
	return nil
}

// namespaceWithoutSlash turns a JSON error into ErrBadNamespace when the
// data looks like a namespace missing its leading '/', as in "2chat,[...]".
func namespaceWithoutSlash(payload []byte, i int, err error) error {
	if c := payload[i] | 0x20; c < 'a' || c > 'z' {
		return err
	}
	for j := i; j < len(payload) && isNamespaceByte(payload[j]); j++ {
		if payload[j] == ',' {
			return syntaxError(ErrBadNamespace, payload, i)
		}
	}
	return err
}

// shapeOK reports whether data, a valid JSON value or nil, suits type t.
func shapeOK(t PacketType, data []byte) bool {
	if len(data) == 0 {
		return t == Connect || t == Disconnect
	}
	switch t {
	case Connect:
		return data[0] == '{'
	case Event, BinaryEvent:
		return data[0] == '[' && data[skipSpace(data, 1)] == '"'
	case Ack, BinaryAck:
		return data[0] == '['
	case ConnectError:
		return data[0] == '{' || data[0] == '"'
	}
	return false
}

// SplitEvent splits the EVENT array data, ["name",a,b], into the raw name
// (the string's bytes between its quotes, still JSON-escaped; decode it
// with AppendUnquote) and the remaining elements a,b with surrounding
// whitespace trimmed (nil when there are none). Both are views into data.
// It does not allocate. It validates enough never to panic: a value that is
// not an array, or whose first element is not a string, is ErrBadPayload;
// a malformed array is ErrInvalidJSON. The remaining elements themselves
// are only checked by NextValue.
func SplitEvent(data []byte) (rawName, rest []byte, err error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, nil, syntaxError(ErrBadPayload, data, i)
	}
	i = skipSpace(data, i+1)
	if i >= len(data) || data[i] != '"' {
		return nil, nil, syntaxError(ErrBadPayload, data, i)
	}
	end, err := scanString(data, i)
	if err != nil {
		return nil, nil, err
	}
	rest, err = eventRest(data, end)
	if err != nil {
		return nil, nil, err
	}
	return data[i+1 : end-1], rest, nil
}

// eventRest returns the elements after the name that ends at data[i].
func eventRest(data []byte, i int) ([]byte, error) {
	i = skipSpace(data, i)
	body := trimSpace(data[i:])
	if len(body) == 0 || body[len(body)-1] != ']' {
		return nil, syntaxError(ErrInvalidJSON, data, len(data))
	}
	if body[0] == ']' && len(body) == 1 {
		return nil, nil
	}
	rest := trimSpace(body[1 : len(body)-1])
	if body[0] != ',' || len(rest) == 0 {
		return nil, syntaxError(ErrInvalidJSON, data, i)
	}
	return rest, nil
}

// NextValue returns the first JSON value of list, a comma-separated list of
// values such as rest from SplitEvent, and what follows the comma after it.
// After the last value rest is empty. Both are views into list with
// surrounding whitespace trimmed. It does not allocate. An empty list, a
// malformed value or a trailing comma is ErrInvalidJSON.
func NextValue(list []byte) (value, rest []byte, err error) {
	start, end, next, err := listValue(list, 0)
	if err != nil {
		return nil, nil, err
	}
	if next == len(list) {
		return list[start:end], nil, nil
	}
	return list[start:end], list[next:], nil
}

// SplitLast splits the last value off list, a comma-separated list of
// values such as rest from SplitEvent (where a server recovering
// connection state appends its offset). It accepts exactly the lists that
// NextValue can walk to the end, whitespace included: NextValue over rest
// and then last gives the same values as over list. rest is the values
// before last, without the comma after them and with surrounding
// whitespace trimmed, nil when list holds one value; last is trimmed too.
// Both are views into list. It does not allocate. An empty list, a
// malformed value or a trailing comma is ErrInvalidJSON.
func SplitLast(list []byte) (rest, last []byte, err error) {
	first, restEnd := -1, 0
	for i := 0; ; {
		start, end, next, err := listValue(list, i)
		if err != nil {
			return nil, nil, err
		}
		if next == len(list) {
			if first >= 0 {
				rest = list[first:restEnd]
			}
			return rest, list[start:end], nil
		}
		if first < 0 {
			first = start
		}
		restEnd, i = end, next
	}
}

// listValue scans the value of a comma-separated list that starts after
// optional whitespace at list[i]. It returns the value's bounds and where
// the next value starts, which is len(list) after the last one.
func listValue(list []byte, i int) (start, end, next int, err error) {
	start = skipSpace(list, i)
	if end, err = scanValue(list, start, maxDepthCap); err != nil {
		return start, end, end, err
	}
	j := skipSpace(list, end)
	if j == len(list) {
		return start, end, j, nil
	}
	if list[j] != ',' {
		return start, end, j, syntaxError(ErrInvalidJSON, list, j)
	}
	next = skipSpace(list, j+1)
	if next == len(list) {
		return start, end, next, syntaxError(ErrInvalidJSON, list, next)
	}
	return start, end, next, nil
}

// ParseConnectReply decodes the data of the server's CONNECT reply,
// {"sid":"...","pid":"..."}. The sid is required and pid optional (it is
// sent when the server recovers connection state). Malformed JSON is
// ErrInvalidJSON; anything else unexpected is ErrBadPayload.
func ParseConnectReply(data []byte) (sid, pid string, err error) {
	err = eachMember(data, func(key, val []byte, at int) error {
		ok := true
		switch {
		case rawEquals(key, "sid"):
			sid, ok = rawString(val)
		case rawEquals(key, "pid") && string(val) != "null":
			pid, ok = rawString(val)
		}
		if !ok {
			return syntaxError(ErrBadPayload, data, at)
		}
		return nil
	})
	if err == nil && sid == "" {
		err = syntaxError(ErrBadPayload, data, 0)
	}
	if err != nil {
		return "", "", err
	}
	return sid, pid, nil
}

// ParseConnectError decodes the data of a CONNECT_ERROR packet: either
// {"message":"...","data":<any>}, where message is a required string and
// data is returned raw (a view into data, nil when absent), or a bare JSON
// string, sent by older servers, which becomes the message. Malformed JSON
// is ErrInvalidJSON; anything else unexpected is ErrBadPayload.
func ParseConnectError(data []byte) (message string, errData []byte, err error) {
	if s := skipSpace(data, 0); s < len(data) && data[s] == '"' {
		return bareMessage(data)
	}
	hasMessage := false
	err = eachMember(data, func(key, val []byte, at int) error {
		switch {
		case rawEquals(key, "message"):
			if message, hasMessage = rawString(val); !hasMessage {
				return syntaxError(ErrBadPayload, data, at)
			}
		case rawEquals(key, "data"):
			errData = val
		}
		return nil
	})
	if err == nil && !hasMessage {
		err = syntaxError(ErrBadPayload, data, 0)
	}
	if err != nil {
		return "", nil, err
	}
	return message, errData, nil
}

// bareMessage decodes a CONNECT_ERROR payload that is a JSON string.
func bareMessage(data []byte) (string, []byte, error) {
	s, e, err := validValue(data, 0, maxDepthCap)
	if err != nil {
		return "", nil, err
	}
	message, _ := rawString(data[s:e])
	return message, nil, nil
}
