package frames

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
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

var goldens = []golden{
	{
		name:   "open",
		frame:  `0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}`,
		engine: EngineOpen,
		open: &Open{
			SID:          "lv_VI97HAXpY6yYWAAAC",
			Upgrades:     []string{},
			PingInterval: 25 * time.Second,
			PingTimeout:  5 * time.Second,
			MaxPayload:   1000000,
		},
	},
	{
		name:   "open with upgrades, unknown fields and no maxPayload",
		frame:  `0{"extra":{"a":[1]},"sid":"a\"b","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200}`,
		engine: EngineOpen,
		open: &Open{
			SID:          `a"b`,
			Upgrades:     []string{"websocket"},
			PingInterval: 300 * time.Millisecond,
			PingTimeout:  200 * time.Millisecond,
		},
		canonical: `0{"sid":"a\"b","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":0}`,
	},
	{
		name:   "open with the longest ping and the largest maxPayload",
		frame:  `0{"sid":"x","upgrades":[],"pingInterval":86400000,"pingTimeout":86400000,"maxPayload":9223372036854775807}`,
		engine: EngineOpen,
		open: &Open{
			SID:          "x",
			Upgrades:     []string{},
			PingInterval: 24 * time.Hour,
			PingTimeout:  24 * time.Hour,
			MaxPayload:   math.MaxInt64,
		},
	},
	{
		name:   "open with the shortest ping and no payload limit",
		frame:  `0{"sid":"x","upgrades":[],"pingInterval":1,"pingTimeout":1,"maxPayload":0}`,
		engine: EngineOpen,
		open: &Open{
			SID:          "x",
			Upgrades:     []string{},
			PingInterval: time.Millisecond,
			PingTimeout:  time.Millisecond,
		},
	},
	{
		name:   "ping from the server",
		frame:  `2`,
		engine: EnginePing,
	},
	{
		name:   "pong from the client",
		frame:  `3`,
		engine: EnginePong,
	},
	{
		name:    "ping probe",
		frame:   `2probe`,
		engine:  EnginePing,
		payload: "probe",
	},
	{
		name:   "close",
		frame:  `1`,
		engine: EngineClose,
	},
	{
		name:   "upgrade",
		frame:  `5`,
		engine: EngineUpgrade,
	},
	{
		name:   "noop",
		frame:  `6`,
		engine: EngineNoop,
	},
	{
		name:   "CONNECT main namespace",
		frame:  `40`,
		engine: EngineMessage,
		typ:    Connect,
	},
	{
		name:   "CONNECT main namespace with auth",
		frame:  `40{"token":"123"}`,
		engine: EngineMessage,
		typ:    Connect,
		data:   `{"token":"123"}`,
	},
	{
		name:   "CONNECT accepted",
		frame:  `40{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
		engine: EngineMessage,
		typ:    Connect,
		data:   `{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
		sid:    "wZX3oN0bSVIhsaknAAAI",
	},
	{
		name:   "CONNECT custom namespace",
		frame:  `40/admin,`,
		engine: EngineMessage,
		typ:    Connect,
		nsp:    "/admin",
	},
	{
		name:   "CONNECT custom namespace accepted",
		frame:  `40/admin,{"sid":"-G5j-67EZFp-q59rADQM"}`,
		engine: EngineMessage,
		typ:    Connect,
		nsp:    "/admin",
		data:   `{"sid":"-G5j-67EZFp-q59rADQM"}`,
		sid:    "-G5j-67EZFp-q59rADQM",
	},
	{
		name:   "CONNECT reply with recovery on",
		frame:  `40{"sid":"GNpWD7LbGCBNCr8GAAAB","pid":"YHcX2sdAKkc7tDhgAAAD"}`,
		engine: EngineMessage,
		typ:    Connect,
		data:   `{"sid":"GNpWD7LbGCBNCr8GAAAB","pid":"YHcX2sdAKkc7tDhgAAAD"}`,
		sid:    "GNpWD7LbGCBNCr8GAAAB",
		pid:    "YHcX2sdAKkc7tDhgAAAD",
	},
	{
		name:      "CONNECT main namespace spelled out",
		frame:     `40/,`,
		engine:    EngineMessage,
		typ:       Connect,
		canonical: `40`,
	},
	{
		name:    "CONNECT_ERROR",
		frame:   `44{"message":"Not authorized"}`,
		engine:  EngineMessage,
		typ:     ConnectError,
		data:    `{"message":"Not authorized"}`,
		message: "Not authorized",
	},
	{
		name:    "CONNECT_ERROR unknown namespace",
		frame:   `44/random,{"message":"Invalid namespace"}`,
		engine:  EngineMessage,
		typ:     ConnectError,
		nsp:     "/random",
		data:    `{"message":"Invalid namespace"}`,
		message: "Invalid namespace",
	},
	{
		name:    "CONNECT_ERROR with data",
		frame:   `44{"message":"Not authorized","data":{"reason":"expired"}}`,
		engine:  EngineMessage,
		typ:     ConnectError,
		data:    `{"message":"Not authorized","data":{"reason":"expired"}}`,
		message: "Not authorized",
		errData: `{"reason":"expired"}`,
	},
	{
		name:    "CONNECT_ERROR from older servers",
		frame:   `44"Invalid namespace"`,
		engine:  EngineMessage,
		typ:     ConnectError,
		data:    `"Invalid namespace"`,
		message: "Invalid namespace",
	},
	{
		name:   "EVENT",
		frame:  `42["hey","Jude"]`,
		engine: EngineMessage,
		typ:    Event,
		data:   `["hey","Jude"]`,
		event:  "hey",
		args:   []string{`"Jude"`},
	},
	{
		name:   "EVENT on /admin asking for ack 1",
		frame:  `42/admin,1["tellme"]`,
		engine: EngineMessage,
		typ:    Event,
		nsp:    "/admin",
		id:     1,
		hasID:  true,
		data:   `["tellme"]`,
		event:  "tellme",
	},
	{
		name:   "ACK 1 on /admin",
		frame:  `43/admin,1["bar"]`,
		engine: EngineMessage,
		typ:    Ack,
		nsp:    "/admin",
		id:     1,
		hasID:  true,
		data:   `["bar"]`,
		args:   []string{`"bar"`},
	},
	{
		name:   "EVENT asking for ack 456",
		frame:  `42456["message-with-ack",1,"2",{"3":[false]}]`,
		engine: EngineMessage,
		typ:    Event,
		id:     456,
		hasID:  true,
		data:   `["message-with-ack",1,"2",{"3":[false]}]`,
		event:  "message-with-ack",
		args:   []string{`1`, `"2"`, `{"3":[false]}`},
	},
	{
		name:   "ACK 456",
		frame:  `43456[1,"2",{"3":[false]}]`,
		engine: EngineMessage,
		typ:    Ack,
		id:     456,
		hasID:  true,
		data:   `[1,"2",{"3":[false]}]`,
		args:   []string{`1`, `"2"`, `{"3":[false]}`},
	},
	{
		name:     "BINARY_EVENT",
		frame:    `451-["baz",{"_placeholder":true,"num":0}]`,
		engine:   EngineMessage,
		typ:      BinaryEvent,
		atts:     1,
		data:     `["baz",{"_placeholder":true,"num":0}]`,
		event:    "baz",
		args:     []string{`{"_placeholder":true,"num":0}`},
		binary:   [][]byte{{1, 2, 3, 4}},
		resolved: `["baz","AQIDBA=="]`,
	},
	{
		name:     "BINARY_EVENT with two attachments on /admin",
		frame:    `452-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		engine:   EngineMessage,
		typ:      BinaryEvent,
		atts:     2,
		nsp:      "/admin",
		data:     `["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		event:    "baz",
		args:     []string{`{"_placeholder":true,"num":0}`, `{"_placeholder":true,"num":1}`},
		binary:   [][]byte{{1, 2}, {3}},
		resolved: `["baz","AQI=","Aw=="]`,
	},
	{
		name:     "BINARY_ACK",
		frame:    `461-/admin,1[{"_placeholder":true,"num":0}]`,
		engine:   EngineMessage,
		typ:      BinaryAck,
		atts:     1,
		nsp:      "/admin",
		id:       1,
		hasID:    true,
		data:     `[{"_placeholder":true,"num":0}]`,
		args:     []string{`{"_placeholder":true,"num":0}`},
		binary:   [][]byte{{0xff}},
		resolved: `["/w=="]`,
	},
	{
		name:   "BINARY_EVENT without attachments",
		frame:  `450-["x"]`,
		engine: EngineMessage,
		typ:    BinaryEvent,
		data:   `["x"]`,
		event:  "x",
	},
	{
		name:   "DISCONNECT",
		frame:  `41`,
		engine: EngineMessage,
		typ:    Disconnect,
	},
	{
		name:   "DISCONNECT /admin",
		frame:  `41/admin,`,
		engine: EngineMessage,
		typ:    Disconnect,
		nsp:    "/admin",
	},
	{
		name:      "DISCONNECT /admin without comma",
		frame:     `41/admin`,
		engine:    EngineMessage,
		typ:       Disconnect,
		nsp:       "/admin",
		canonical: `41/admin,`,
	},
	{
		name:   "EVENT with recovery offset",
		frame:  `42["foo","MzUPkW0"]`,
		engine: EngineMessage,
		typ:    Event,
		data:   `["foo","MzUPkW0"]`,
		event:  "foo",
		args:   []string{`"MzUPkW0"`},
	},
	{
		name:   "EVENT on namespace with two-digit ack id",
		frame:  `42/realtime,12["ev",{}]`,
		engine: EngineMessage,
		typ:    Event,
		nsp:    "/realtime",
		id:     12,
		hasID:  true,
		data:   `["ev",{}]`,
		event:  "ev",
		args:   []string{`{}`},
	},
	{
		name:   "EVENT with the largest ack id",
		frame:  `4218446744073709551615["max"]`,
		engine: EngineMessage,
		typ:    Event,
		id:     18446744073709551615,
		hasID:  true,
		data:   `["max"]`,
		event:  "max",
	},
	{
		name:      "EVENT with leading zeros in the ack id",
		frame:     `42007["x"]`,
		engine:    EngineMessage,
		typ:       Event,
		id:        7,
		hasID:     true,
		data:      `["x"]`,
		event:     "x",
		canonical: `427["x"]`,
	},
	{
		name:      "EVENT with whitespace around the data",
		frame:     "42 [ \"x\" , 1 ]\n",
		engine:    EngineMessage,
		typ:       Event,
		data:      `[ "x" , 1 ]`,
		event:     "x",
		args:      []string{`1`},
		canonical: `42[ "x" , 1 ]`,
	},
	{
		name:   "EVENT name with an escaped quote",
		frame:  `42["a\"b"]`,
		engine: EngineMessage,
		typ:    Event,
		data:   `["a\"b"]`,
		event:  `a"b`,
	},
	{
		name:   "EVENT name with a \\u escape",
		frame:  `42["\u00e9t\u00E9"]`,
		engine: EngineMessage,
		typ:    Event,
		data:   `["\u00e9t\u00E9"]`,
		event:  "été",
	},
	{
		name:   "EVENT name with a surrogate pair",
		frame:  `42["\ud83d\ude00",1]`,
		engine: EngineMessage,
		typ:    Event,
		data:   `["\ud83d\ude00",1]`,
		event:  "😀",
		args:   []string{`1`},
	},
	{
		name:   "EVENT name with a lone surrogate",
		frame:  `42["\ud800x"]`,
		engine: EngineMessage,
		typ:    Event,
		data:   `["\ud800x"]`,
		event:  "\ufffdx",
	},
	{
		name:   "EVENT name with HTML characters",
		frame:  `42["\u003ca\u003e\u0026\u2028"]`,
		engine: EngineMessage,
		typ:    Event,
		data:   `["\u003ca\u003e\u0026\u2028"]`,
		event:  "<a>&\u2028",
	},

	// Invalid frames.
	{
		name:   "empty frame",
		frame:  ``,
		engine: EngineMessage,
		err:    ErrEmpty,
	},
	{
		name:   "unknown Engine.IO type",
		frame:  `7`,
		engine: EngineMessage,
		err:    ErrUnknownType,
	},
	{
		name:   "empty message",
		frame:  `4`,
		engine: EngineMessage,
		err:    ErrEmpty,
	},
	{
		name:   "Socket.IO payload abc",
		frame:  `4abc`,
		engine: EngineMessage,
		err:    ErrUnknownType,
	},
	{
		name:   "unknown Socket.IO type",
		frame:  `47[]`,
		engine: EngineMessage,
		err:    ErrUnknownType,
	},
	{
		name:   "EVENT with an object",
		frame:  `42{}`,
		engine: EngineMessage,
		err:    ErrBadPayload,
	},
	{
		name:   "EVENT with garbage before the array",
		frame:  `42abc["x"]`,
		engine: EngineMessage,
		err:    ErrInvalidJSON,
	},
	{
		name:   "EVENT with garbage after the array",
		frame:  `42["a"]trailing`,
		engine: EngineMessage,
		err:    ErrInvalidJSON,
	},
	{
		name:   "EVENT with only whitespace",
		frame:  `42 `,
		engine: EngineMessage,
		err:    ErrInvalidJSON,
	},
	{
		name:   "EVENT with a trailing comma",
		frame:  `42["x",]`,
		engine: EngineMessage,
		err:    ErrInvalidJSON,
	},
	{
		name:   "EVENT with an unterminated array",
		frame:  `42["x"`,
		engine: EngineMessage,
		err:    ErrInvalidJSON,
	},
	{
		name:   "EVENT with an empty array",
		frame:  `42[]`,
		engine: EngineMessage,
		err:    ErrBadPayload,
	},
	{
		name:   "EVENT with a number for a name",
		frame:  `42[1]`,
		engine: EngineMessage,
		err:    ErrBadPayload,
	},
	{
		name:   "EVENT with a string",
		frame:  `42"x"`,
		engine: EngineMessage,
		err:    ErrBadPayload,
	},
	{
		name:   "EVENT without data",
		frame:  `42`,
		engine: EngineMessage,
		err:    ErrBadPayload,
	},
	{
		name:   "EVENT nested too deeply",
		frame:  `42["x",` + strings.Repeat("[", DefaultMaxDepth) + strings.Repeat("]", DefaultMaxDepth+1),
		engine: EngineMessage,
		err:    ErrTooDeep,
	},
	{
		name:   "BINARY_EVENT without attachment count",
		frame:  `45-["x"]`,
		engine: EngineMessage,
		err:    ErrBadAttachments,
	},
	{
		name:   "BINARY_EVENT without attachment prefix",
		frame:  `45["x"]`,
		engine: EngineMessage,
		err:    ErrBadAttachments,
	},
	{
		name:   "BINARY_EVENT without dash",
		frame:  `451["x"]`,
		engine: EngineMessage,
		err:    ErrBadAttachments,
	},
	{
		name:   "BINARY_EVENT with too many attachments",
		frame:  `4511-["x"]`,
		engine: EngineMessage,
		err:    ErrTooManyAttachments,
	},
	{
		name:   "BINARY_ACK with a huge attachment count",
		frame:  `4699999999999999999999999-[]`,
		engine: EngineMessage,
		err:    ErrTooManyAttachments,
	},
	{
		name:   "EVENT with an attachment count",
		frame:  `421-["x"]`,
		engine: EngineMessage,
		err:    ErrBadAttachments,
	},
	{
		name:   "EVENT with an ack id above the largest uint64",
		frame:  `4218446744073709551616["x"]`,
		engine: EngineMessage,
		err:    ErrAckIDOverflow,
	},
	{
		name:   "ACK with a 30-digit ack id",
		frame:  `43123456789012345678901234567890[]`,
		engine: EngineMessage,
		err:    ErrAckIDOverflow,
	},
	{
		name:   "CONNECT with an ack id",
		frame:  `401`,
		engine: EngineMessage,
		err:    ErrBadAckID,
	},
	{
		name:   "DISCONNECT with an ack id",
		frame:  `41/admin,1`,
		engine: EngineMessage,
		err:    ErrBadAckID,
	},
	{
		name:   "CONNECT_ERROR with an ack id",
		frame:  `441{"message":"x"}`,
		engine: EngineMessage,
		err:    ErrBadAckID,
	},
	{
		name:   "CONNECT with an array",
		frame:  `40[]`,
		engine: EngineMessage,
		err:    ErrBadPayload,
	},
	{
		name:   "DISCONNECT with data",
		frame:  `41{}`,
		engine: EngineMessage,
		err:    ErrBadPayload,
	},
	{
		name:   "ACK with an object",
		frame:  `43{}`,
		engine: EngineMessage,
		err:    ErrBadPayload,
	},
	{
		name:   "CONNECT_ERROR without data",
		frame:  `44`,
		engine: EngineMessage,
		err:    ErrBadPayload,
	},
	{
		name:   "CONNECT_ERROR with an array",
		frame:  `44[]`,
		engine: EngineMessage,
		err:    ErrBadPayload,
	},
	{
		name:   "namespace without slash",
		frame:  `42admin,["x"]`,
		engine: EngineMessage,
		err:    ErrBadNamespace,
	},
	{
		name:   "namespace without comma before the data",
		frame:  `42/admin["x"]`,
		engine: EngineMessage,
		err:    ErrBadNamespace,
	},
	{
		name:   "open without fields",
		frame:  `0{}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "sid is missing",
	},
	{
		name:   "open with zero pingInterval",
		frame:  `0{"sid":"x","pingInterval":0,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingInterval is zero",
	},
	{
		name:   "open with fractional pingTimeout",
		frame:  `0{"sid":"x","pingInterval":1,"pingTimeout":1.5}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingTimeout is not an integer",
	},
	{
		name:   "open with negative maxPayload",
		frame:  `0{"sid":"x","pingInterval":1,"pingTimeout":1,"maxPayload":-1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "maxPayload is negative",
	},
	{
		name:   "open with a numeric sid",
		frame:  `0{"sid":1,"pingInterval":1,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "sid is not a string",
	},
	{
		name:   "open with an array",
		frame:  `0[]`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "not a JSON object",
	},
	{
		name:   "open with an empty sid",
		frame:  `0{"sid":"","pingInterval":1,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "sid is empty",
	},
	{
		name:   "open without pingInterval",
		frame:  `0{"sid":"x","pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingInterval is missing",
	},
	{
		name:   "open without pingTimeout",
		frame:  `0{"sid":"x","pingInterval":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingTimeout is missing",
	},
	{
		name:   "open with negative pingInterval",
		frame:  `0{"sid":"x","pingInterval":-1,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingInterval is negative",
	},
	{
		name:   "open with negative pingTimeout",
		frame:  `0{"sid":"x","pingInterval":1,"pingTimeout":-25000}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingTimeout is negative",
	},
	{
		name:   "open with negative zero pingInterval",
		frame:  `0{"sid":"x","pingInterval":-0,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingInterval is negative",
	},
	{
		name:   "open with zero pingTimeout",
		frame:  `0{"sid":"x","pingInterval":1,"pingTimeout":0}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingTimeout is zero",
	},
	{
		name:   "open with pingInterval above 24 hours",
		frame:  `0{"sid":"x","pingInterval":86400001,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingInterval is above 24 hours",
	},
	{
		name:   "open with pingTimeout above 24 hours",
		frame:  `0{"sid":"x","pingInterval":1,"pingTimeout":86400001}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingTimeout is above 24 hours",
	},
	{
		name:   "open with pingInterval overflowing time.Duration",
		frame:  `0{"sid":"x","pingInterval":9223372036855,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingInterval is above 24 hours",
	},
	{
		name:   "open with pingTimeout overflowing int64",
		frame:  `0{"sid":"x","pingInterval":1,"pingTimeout":9223372036854775808}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingTimeout is above 24 hours",
	},
	{
		name:   "open with a 40-digit pingInterval",
		frame:  `0{"sid":"x","pingInterval":1234567890123456789012345678901234567890,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingInterval is above 24 hours",
	},
	{
		name:   "open with pingInterval in exponent form",
		frame:  `0{"sid":"x","pingInterval":2.5e4,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingInterval is not an integer",
	},
	{
		name:   "open with pingTimeout in exponent form",
		frame:  `0{"sid":"x","pingInterval":1,"pingTimeout":1e400}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingTimeout is not an integer",
	},
	{
		name:   "open with pingInterval with a zero fraction",
		frame:  `0{"sid":"x","pingInterval":25000.0,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingInterval is not an integer",
	},
	{
		name:   "open with a string pingInterval",
		frame:  `0{"sid":"x","pingInterval":"25000","pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "pingInterval is not a number",
	},
	{
		name:   "open with maxPayload overflowing int64",
		frame:  `0{"sid":"x","pingInterval":1,"pingTimeout":1,"maxPayload":9223372036854775808}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "maxPayload overflows int64",
	},
	{
		name:   "open with maxPayload in exponent form",
		frame:  `0{"sid":"x","pingInterval":1,"pingTimeout":1,"maxPayload":1e6}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "maxPayload is not an integer",
	},
	{
		name:   "open with a null maxPayload",
		frame:  `0{"sid":"x","pingInterval":1,"pingTimeout":1,"maxPayload":null}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "maxPayload is not a number",
	},
	{
		name:   "open with upgrades not an array",
		frame:  `0{"sid":"x","upgrades":"websocket","pingInterval":1,"pingTimeout":1}`,
		engine: EngineOpen,
		err:    ErrBadOpen,
		detail: "upgrades is not an array of strings",
	},
	{
		name:   "open with truncated JSON",
		frame:  `0{"sid":"x"`,
		engine: EngineOpen,
		err:    ErrInvalidJSON,
	},
}

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
