package frames

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// jsonCases are checked against json.Valid.
var jsonCases = []string{
	`0`, `-0`, `-`, `01`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1E-7`, `-12.5e+3`, `1x`,
	`true`, `tru`, `truex`, `null`, `nul`, `false`,
	`""`, `"`, `"\"`, `"\u00e9"`, `"\u00g9"`, `"\x"`, "\"\x01\"", "\"\xff\"", `"\/\b\f\n\r\t"`,
	`[]`, `[`, `]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[[]`, `[]]`,
	`{}`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":[{"b":{}}]}`,
	`{"a":1]`, `[1}`, ` [ 1 , { "a" : [ ] } ] `, ``, ` `, `[] []`,
}

func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range jsonCases {
		_, _, err := validValue([]byte(in), 0, maxDepthCap)
		if got, want := err == nil, json.Valid([]byte(in)); got != want {
			t.Errorf("%q: valid %v, encoding/json says %v (%v)", in, got, want, err)
		}
	}
}

func TestDeepNesting(t *testing.T) {
	deep := "2" + strings.Repeat("[", 100000)
	var p Packet
	for _, l := range []Limits{{}, {MaxDepth: 1 << 30}} {
		if err := l.ParsePacket([]byte(deep), &p); !errors.Is(err, ErrTooDeep) {
			t.Fatalf("%+v: error %v, want ErrTooDeep", l, err)
		}
	}
	ok := `["x",` + strings.Repeat("[", 9999) + strings.Repeat("]", 10000)
	if err := (Limits{MaxDepth: 20000}).ParsePacket([]byte("2"+ok), &p); err != nil {
		t.Fatalf("depth 10000: %v", err)
	}
	if _, err := ResolveBinary(nil, []byte(deep[1:]), nil); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("ResolveBinary: %v, want ErrTooDeep", err)
	}
}

func TestDepthLimit(t *testing.T) {
	in := []byte(`2["x",[[1]]]`) // depth 3
	var p Packet
	if err := (Limits{MaxDepth: 3}).ParsePacket(in, &p); err != nil {
		t.Fatal(err)
	}
	if err := (Limits{MaxDepth: 2}).ParsePacket(in, &p); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("error %v, want ErrTooDeep", err)
	}
}

func TestAppendUnquote(t *testing.T) {
	for _, raw := range []string{
		`plain`, `a\"b`, `\\\/\b\f\n\r\t`, `\u00e9`, `\u00E9`, `\ud83d\ude00`,
		`\ud800`, `\udc00`, `\ud800\u0041`, `\ud83d\ud83d\ude00`, "\xff", "a\xc3", `é\n`,
	} {
		var want string
		if err := json.Unmarshal([]byte(`"`+raw+`"`), &want); err != nil {
			t.Fatal(err)
		}
		got, err := AppendUnquote([]byte("pre"), []byte(raw))
		if err != nil || string(got) != "pre"+want {
			t.Errorf("%q: got %q (%v), want %q", raw, got, err, want)
		}
	}
}

func TestAppendUnquoteErrors(t *testing.T) {
	for _, raw := range []string{`\`, `\x`, `\u12`, `\u12g4`, `a\`} {
		if _, err := AppendUnquote(nil, []byte(raw)); !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("%q: error %v, want ErrInvalidJSON", raw, err)
		}
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	var all strings.Builder
	for c := range 0x80 {
		all.WriteByte(byte(c))
	}
	for _, s := range []string{
		"", "plain", all.String(), "<a href=\"x\">&amp;</a>", "\u2028\u2029\u2027",
		"é😀", "\xff", "a\xc3", "\xed\xa0\x80", "\u007f\u0080",
	} {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

// TestRawEquals compares rawEquals with decoding by AppendUnquote.
func TestRawEquals(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{`num`, "num"},
		{`nu`, "num"},
		{`numb`, "num"},
		{`\u006eum`, "num"},
		{`\u006Eu\u006d`, "num"},
		{`\u006eu`, "num"},
		{`\u006eumm`, "num"},
		{`\u005fplaceholder`, "_placeholder"},
		{`\ud83d\ude00`, "😀"},
		{"\\n\xff", "\nx"},
		{"\\n\xff", "\n"},
		{`\x`, "x"},
		{`\u00`, "\x00"},
		{"\xff", "x"},
		{"a\x93", "a?"},
		{`\ud83d`, "?"},
		{`\"\\\/`, `"\/`},
		{`\u00e9`, "é"},
		{`\u00e9`, "e"},
		{`\u0000`, ""},
	} {
		dec, err := AppendUnquote(nil, []byte(c.raw))
		want := err == nil && string(dec) == c.want
		if got := rawEquals([]byte(c.raw), c.want); got != want {
			t.Errorf("rawEquals(%q, %q) = %v, want %v", c.raw, c.want, got, want)
		}
	}
}

func TestSplitEventErrors(t *testing.T) {
	for in, want := range map[string]error{
		``:            ErrBadPayload,
		`{}`:          ErrBadPayload,
		`[1]`:         ErrBadPayload,
		`[]`:          ErrBadPayload,
		`["x`:         ErrInvalidJSON,
		`["x",]`:      ErrInvalidJSON,
		`["x"`:        ErrInvalidJSON,
		`["x"1]`:      ErrInvalidJSON,
		`["x"] ]`:     ErrInvalidJSON,
		`["x",1]junk`: ErrInvalidJSON,
	} {
		if _, _, err := SplitEvent([]byte(in)); !errors.Is(err, want) {
			t.Errorf("%q: error %v, want %v", in, err, want)
		}
	}
}

func TestNextValue(t *testing.T) {
	got, err := splitList([]byte(` 1 , "a,b" ,{"c":[2,3]},null `))
	want := []string{`1`, `"a,b"`, `{"c":[2,3]}`, `null`}
	if err != nil || !slicesEqual(got, want) {
		t.Fatalf("got %q (%v), want %q", got, err, want)
	}
	for _, in := range []string{``, ` `, `1,`, `1 2`, `[`} {
		if _, _, err := NextValue([]byte(in)); !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("%q: error %v, want ErrInvalidJSON", in, err)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	in := []byte(`2["x",` + strings.Repeat(" ", 100) + `?]`)
	var p Packet
	err := ParsePacket(in, &p)
	var se *SyntaxError
	if !errors.As(err, &se) || !errors.Is(err, ErrInvalidJSON) {
		t.Fatalf("error %#v", err)
	}
	if se.Offset != 106 || len(se.Near) > nearLen || !strings.Contains(se.Near, "?") {
		t.Fatalf("offset %d near %q", se.Offset, se.Near)
	}
	want := `frames: invalid JSON at offset 106 near "        ?]"`
	if err.Error() != want {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
}

func TestTypeNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{EngineOpen.String(), "open"},
		{EngineNoop.String(), "noop"},
		{EngineType(7).String(), "EngineType(7)"},
		{Connect.String(), "CONNECT"},
		{ConnectError.String(), "CONNECT_ERROR"},
		{BinaryAck.String(), "BINARY_ACK"},
		{PacketType(9).String(), "PacketType(9)"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestParseConnectErrors(t *testing.T) {
	for _, in := range []string{`{}`, `{"sid":1}`, `{"sid":""}`, `{"sid":"a","pid":2}`, `[]`, `"x"`} {
		if _, _, err := ParseConnectReply([]byte(in)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("ParseConnectReply(%s): %v, want ErrBadPayload", in, err)
		}
	}
	for _, in := range []string{`{}`, `{"message":1}`, `[]`, `1`, `{"data":1}`} {
		if _, _, err := ParseConnectError([]byte(in)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("ParseConnectError(%s): %v, want ErrBadPayload", in, err)
		}
	}
	if _, _, err := ParseConnectError([]byte(`"x" 1`)); !errors.Is(err, ErrInvalidJSON) {
		t.Errorf("bare string with trailing data: %v", err)
	}
}

func TestEncodeHelpers(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{string(AppendConnect(nil, "/admin", json.RawMessage(`{"a":1}`))), `0/admin,{"a":1}`},
		{string(AppendConnect(nil, "/", nil)), `0`},
		{string(AppendEvent(nil, Header{Type: Event}, "e", nil)), `2["e",null]`},
		{string(AppendAck(nil, Header{Type: Ack, ID: 3, HasID: true})), `33[]`},
		{string(AppendHeader(nil, Header{Type: BinaryAck, Attachments: 2, Namespace: "/n", ID: 0, HasID: true})), `62-/n,0`},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	if !utf8.ValidString(string(AppendString(nil, "\xff"))) {
		t.Error("invalid UTF-8 escaped")
	}
}

// listCase is a comma-separated list of JSON values, as SplitEvent
// returns after the event name, with its values and how SplitLast splits
// it.
type listCase struct {
	name   string
	list   string
	values []string // what NextValue finds, in order
	rest   string   // SplitLast's rest, nil when there is one value
	last   string
	err    error // the sentinel both reject list with
}

var listCases = []listCase{
	{
		name:   "recovery offset alone",
		list:   `"MzUPkW0"`,
		values: []string{`"MzUPkW0"`},
		last:   `"MzUPkW0"`,
	},
	{
		name:   "arguments then the offset",
		list:   `"hello",{"n":1},"MzUPkW0"`,
		values: []string{`"hello"`, `{"n":1}`, `"MzUPkW0"`},
		rest:   `"hello",{"n":1}`,
		last:   `"MzUPkW0"`,
	},
	{
		name:   "whitespace everywhere",
		list:   " 1 ,\t{\"a\" : [ 2 , 3 ] } ,\n \"off\" \r\n",
		values: []string{`1`, `{"a" : [ 2 , 3 ] }`, `"off"`},
		rest:   "1 ,\t{\"a\" : [ 2 , 3 ] }",
		last:   `"off"`,
	},
	{
		name:   "commas inside strings and containers",
		list:   `"a,b",[1,2],{"c":","}`,
		values: []string{`"a,b"`, `[1,2]`, `{"c":","}`},
		rest:   `"a,b",[1,2]`,
		last:   `{"c":","}`,
	},
	{
		name:   "escaped quote before a comma",
		list:   `1,"a\",b"`,
		values: []string{`1`, `"a\",b"`},
		rest:   `1`,
		last:   `"a\",b"`,
	},
	{
		name:   "literals and numbers",
		list:   `true,null,-1.5e3`,
		values: []string{`true`, `null`, `-1.5e3`},
		rest:   `true,null`,
		last:   `-1.5e3`,
	},
	{
		name: "empty",
		list: ``,
		err:  ErrInvalidJSON,
	},
	{
		name: "whitespace only",
		list: " \n",
		err:  ErrInvalidJSON,
	},
	{
		name: "trailing comma",
		list: `1,`,
		err:  ErrInvalidJSON,
	},
	{
		name: "trailing comma and whitespace",
		list: `1 , `,
		err:  ErrInvalidJSON,
	},
	{
		name: "leading comma",
		list: `,1`,
		err:  ErrInvalidJSON,
	},
	{
		name: "two commas",
		list: `1,,2`,
		err:  ErrInvalidJSON,
	},
	{
		name: "missing comma",
		list: `1 2`,
		err:  ErrInvalidJSON,
	},
	{
		name: "malformed value in the middle",
		list: `1,tru,3`,
		err:  ErrInvalidJSON,
	},
	{
		name: "unterminated last value",
		list: `1,["x"`,
		err:  ErrInvalidJSON,
	},
	{
		name: "last value nested too deeply",
		list: `1,` + strings.Repeat("[", maxDepthCap+1) + strings.Repeat("]", maxDepthCap+1),
		err:  ErrTooDeep,
	},
}

func TestListCases(t *testing.T) {
	for _, c := range listCases {
		t.Run(c.name, func(t *testing.T) {
			values, err := walkList([]byte(c.list))
			if !errors.Is(err, c.err) || (c.err == nil && err != nil) {
				t.Fatalf("NextValue: error %v, want %v", err, c.err)
			}
			if c.err == nil && !slicesEqual(values, c.values) {
				t.Fatalf("NextValue found %q, want %q", values, c.values)
			}
			rest, last, err := SplitLast([]byte(c.list))
			if !errors.Is(err, c.err) || (c.err == nil && err != nil) {
				t.Fatalf("SplitLast: error %v, want %v", err, c.err)
			}
			if c.err == nil && (string(rest) != c.rest || (rest == nil) != (len(c.values) == 1) || string(last) != c.last) {
				t.Fatalf("SplitLast = %q, %q; want %q, %q", rest, last, c.rest, c.last)
			}
		})
	}
}

// walkList returns the values NextValue finds in list, stopping at the
// first error.
func walkList(list []byte) ([]string, error) {
	var got []string
	for {
		v, rest, err := NextValue(list)
		if err != nil {
			return got, err
		}
		got = append(got, string(v))
		if len(rest) == 0 {
			return got, nil
		}
		list = rest
	}
}
