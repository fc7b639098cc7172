package frames

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// sentinels are the errors decoders may wrap.
var sentinels = []error{
	ErrEmpty, ErrUnknownType, ErrBadNamespace, ErrBadAckID, ErrAckIDOverflow,
	ErrBadAttachments, ErrTooManyAttachments, ErrInvalidJSON, ErrTooDeep,
	ErrBadPayload, ErrBadPlaceholder, ErrBadOpen,
}

// checkDecodeError fails unless err is a *SyntaxError wrapping a sentinel,
// quoting at most nearLen bytes.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) || !slices.Contains(sentinels, se.Err) || len(se.Near) > nearLen {
		t.Fatalf("malformed error %#v", err)
	}
}

// sameError fails unless two decoding errors are identical.
func sameError(t *testing.T, a, b error) {
	t.Helper()
	var x, y *SyntaxError
	if !errors.As(a, &x) || !errors.As(b, &y) || *x != *y {
		t.Fatalf("rejected differently when re-parsed: %v then %v", a, b)
	}
}

// maxSeed is the largest table input used as a fuzz seed: minimizing
// what the fuzzer derives from larger ones takes most of a short run.
const maxSeed = 4 << 10

// messagePayloads returns the Socket.IO payloads of the golden cases.
func messagePayloads() [][]byte {
	var out [][]byte
	for _, c := range goldens {
		if len(c.frame) > 0 && c.frame[0] == '4' {
			out = append(out, []byte(c.frame[1:]))
		}
	}
	return out
}

func FuzzParseEngine(f *testing.F) {
	for _, c := range goldens {
		f.Add([]byte(c.frame))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		typ, payload, err := ParseEngine(frame)
		if err != nil {
			checkDecodeError(t, err)
			_, _, again := ParseEngine(frame)
			sameError(t, err, again)
			return
		}
		if got := AppendEngine(nil, typ, payload); !bytes.Equal(got, frame) {
			t.Fatalf("re-encoded %q as %q", frame, got)
		}
		if typ.String() != engineNames[typ] {
			t.Fatalf("type %d named %q", typ, typ.String())
		}
	})
}

func FuzzParsePacket(f *testing.F) {
	for _, p := range messagePayloads() {
		f.Add(p)
	}
	for _, c := range limitCases {
		f.Add([]byte(c.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkScannerDifferential(t, payload)
		checkAttachmentCount(t, payload)
		var p Packet
		err := ParsePacket(payload, &p)
		if err != nil {
			checkDecodeError(t, err)
			sameError(t, err, ParsePacket(payload, &p))
			if !reflect.DeepEqual(p, Packet{}) {
				t.Fatalf("packet %+v left after an error", p)
			}
			return
		}
		checkPacketStable(t, p)
		checkPacketMeaning(t, p)
	})
}

// checkAttachmentCount compares the attachment count decoded with the
// largest limit with strconv.
func checkAttachmentCount(t *testing.T, payload []byte) {
	var p Packet
	if (Limits{MaxAttachments: math.MaxInt}).ParsePacket(payload, &p) != nil || !p.Type.binary() {
		return
	}
	digits := payload[1:bytes.IndexByte(payload, '-')]
	if n, err := strconv.ParseInt(string(digits), 10, 64); err != nil || int(n) != p.Attachments {
		t.Fatalf("%q: %d attachments, strconv says %d (%v)", payload, p.Attachments, n, err)
	}
}

// checkScannerDifferential compares the scanner with json.Valid.
func checkScannerDifferential(t *testing.T, in []byte) {
	_, _, err := validValue(in, 0, maxDepthCap)
	if errors.Is(err, ErrTooDeep) {
		return
	}
	if got, want := err == nil, json.Valid(in); got != want {
		t.Fatalf("scanner says valid=%v (%v), encoding/json says %v for %q", got, err, want, in)
	}
}

// checkPacketStable re-encodes p from its fields and decodes it again.
func checkPacketStable(t *testing.T, p Packet) {
	h := Header{Type: p.Type, Attachments: p.Attachments, Namespace: string(p.Namespace), ID: p.ID, HasID: p.HasID}
	enc := append(AppendHeader(nil, h), p.Data...)
	var q Packet
	if err := ParsePacket(enc, &q); err != nil {
		t.Fatalf("re-encoded %+v as %q, which fails: %v", p, enc, err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("decoded %+v, re-encoded %q, decoded %+v", p, enc, q)
	}
	if p.Data != nil && !json.Valid(p.Data) {
		t.Fatalf("accepted invalid JSON %q", p.Data)
	}
}

// checkPacketMeaning decodes the data of an accepted packet the way a
// client would.
func checkPacketMeaning(t *testing.T, p Packet) {
	switch p.Type {
	case Event, BinaryEvent:
		checkEventStable(t, p)
	case Ack, BinaryAck:
		if _, err := splitList(p.Data[1 : len(p.Data)-1]); err != nil {
			t.Fatalf("ACK %q: %v", p.Data, err)
		}
	case Connect:
		ParseConnectReply(p.Data)
	case ConnectError:
		if _, _, err := ParseConnectError(p.Data); err != nil {
			checkDecodeError(t, err)
		}
	}
	if p.Data != nil {
		ResolveBinary(nil, p.Data, [][]byte{{1}})
	}
}

// checkEventStable splits an accepted EVENT, re-encodes it with
// AppendEvent and checks that it decodes to the same name and arguments.
func checkEventStable(t *testing.T, p Packet) {
	name, args := decodeEvent(t, p.Data)
	raw := make([]json.RawMessage, len(args))
	for i, a := range args {
		raw[i] = json.RawMessage(a)
	}
	h := Header{Type: p.Type, Attachments: p.Attachments, Namespace: string(p.Namespace), ID: p.ID, HasID: p.HasID}
	enc := AppendEvent(nil, h, name, raw...)
	var q Packet
	if err := ParsePacket(enc, &q); err != nil {
		t.Fatalf("AppendEvent wrote %q, which fails: %v", enc, err)
	}
	name2, args2 := decodeEvent(t, q.Data)
	if name2 != name || !slicesEqual(args, args2) {
		t.Fatalf("event %q %q re-encoded as %q", name, args, enc)
	}
}

// decodeEvent returns the decoded name and the raw arguments of an EVENT.
func decodeEvent(t *testing.T, data []byte) (string, []string) {
	raw, rest, err := SplitEvent(data)
	if err != nil {
		t.Fatalf("SplitEvent(%q): %v", data, err)
	}
	name, err := AppendUnquote(nil, raw)
	if err != nil || !utf8.Valid(name) {
		t.Fatalf("event name %q: %q, %v", raw, name, err)
	}
	var want string
	err = json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &want)
	if err != nil || want != string(name) {
		t.Fatalf("event name %q decoded as %q, encoding/json says %q (%v)", raw, name, want, err)
	}
	args, err := splitList(rest)
	if err != nil {
		t.Fatalf("arguments %q: %v", rest, err)
	}
	return string(name), args
}

func FuzzParseOpen(f *testing.F) {
	for _, c := range goldens {
		if c.engine == EngineOpen {
			f.Add([]byte(c.frame[1:]))
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		o, err := ParseOpen(payload)
		if err != nil {
			checkDecodeError(t, err)
			_, again := ParseOpen(payload)
			sameError(t, err, again)
			var se *SyntaxError
			if errors.As(err, &se) && se.Err == ErrBadOpen && se.Detail == "" {
				t.Fatalf("%q: %v says nothing of the field", payload, err)
			}
			return
		}
		checkOpenRange(t, o)
		enc := AppendOpen(nil, o)
		o2, err := ParseOpen(enc)
		if o.Upgrades == nil {
			o.Upgrades = []string{}
		}
		if err != nil || !reflect.DeepEqual(o, o2) {
			t.Fatalf("decoded %+v, re-encoded %s, decoded %+v (%v)", o, enc, o2, err)
		}
	})
}

// checkOpenRange checks the numbers of an accepted open packet.
func checkOpenRange(t *testing.T, o Open) {
	ok := func(d time.Duration) bool { return d > 0 && d <= 24*time.Hour && d%time.Millisecond == 0 }
	if !ok(o.PingInterval) || !ok(o.PingTimeout) || o.MaxPayload < 0 {
		t.Fatalf("accepted %+v", o)
	}
	if d := o.Deadline(); d < o.PingInterval || d < o.PingTimeout {
		t.Fatalf("Deadline of %+v overflowed to %v", o, d)
	}
}

func FuzzResolveBinary(f *testing.F) {
	for _, c := range goldens {
		if c.err == nil && c.data != "" {
			f.Add([]byte(c.data), uint8(len(c.binary)))
		}
	}
	for _, c := range placeholderCases {
		if len(c.data) <= maxSeed {
			f.Add([]byte(c.data), uint8(c.atts))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		atts := make([][]byte, n%8)
		for i := range atts {
			atts[i] = bytes.Repeat([]byte{byte(i)}, i+1)
		}
		checkResolveValueOnce(t, data, atts)
		out, err := ResolveBinary([]byte("x"), data, atts)
		if err != nil {
			checkDecodeError(t, err)
			if errors.Is(err, ErrInvalidJSON) && json.Valid(data) {
				t.Fatalf("rejected valid JSON %q: %v", data, err)
			}
			if string(out) != "x" {
				t.Fatalf("dst changed to %q on error", out)
			}
			return
		}
		if !json.Valid(out[1:]) {
			t.Fatalf("resolved %q to invalid JSON %q", data, out[1:])
		}
		if !json.Valid(data) {
			t.Fatalf("resolved invalid JSON %q", data)
		}
		if limit := len(data) + base64Len(atts); len(out[1:]) > limit {
			t.Fatalf("resolved %d bytes into %d, more than %d", len(data), len(out[1:]), limit)
		}
	})
}

// checkResolveValueOnce checks that ResolveValue puts no attachment
// twice in its result.
func checkResolveValueOnce(t *testing.T, data []byte, atts [][]byte) {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return
	}
	got, err := ResolveValue(v, atts)
	if err != nil {
		return
	}
	seen := map[*byte]bool{}
	stack := []any{got}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch x := x.(type) {
		case []byte:
			if seen[&x[0]] {
				t.Fatalf("ResolveValue(%s) holds attachment %d twice", data, x[0])
			}
			seen[&x[0]] = true
		case []any:
			stack = append(stack, x...)
		case map[string]any:
			for _, e := range x {
				stack = append(stack, e)
			}
		}
	}
}

// base64Len is the length of the base64 of all of atts.
func base64Len(atts [][]byte) int {
	n := 0
	for _, a := range atts {
		n += base64.StdEncoding.EncodedLen(len(a))
	}
	return n
}

// FuzzCheckPlaceholders checks that CheckPlaceholders accepts exactly
// what ResolveBinary resolves with each attachment used once, and that
// what it accepts resolves within the size of data and the attachments.
func FuzzCheckPlaceholders(f *testing.F) {
	for _, c := range goldens {
		if c.err == nil && c.data != "" {
			f.Add([]byte(c.data), uint8(len(c.binary)))
		}
	}
	for _, c := range placeholderCases {
		if len(c.data) <= maxSeed {
			f.Add([]byte(c.data), uint8(c.atts))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		atts := make([][]byte, n)
		for i := range atts {
			atts[i] = bytes.Repeat([]byte{byte(i)}, i%7)
		}
		err := CheckPlaceholders(data, len(atts))
		out, rerr := ResolveBinary(nil, data, atts)
		if err == nil {
			if rerr != nil {
				t.Fatalf("CheckPlaceholders accepted %q, ResolveBinary failed: %v", data, rerr)
			}
			if limit := len(data) + base64Len(atts); len(out) > limit {
				t.Fatalf("resolved %d bytes into %d, more than %d", len(data), len(out), limit)
			}
			return
		}
		checkDecodeError(t, err)
		var se *SyntaxError
		errors.As(err, &se)
		switch {
		case strings.HasSuffix(se.Detail, " never referenced"):
			if rerr != nil {
				t.Fatalf("%q: %v, but ResolveBinary failed: %v", data, err, rerr)
			}
		case strings.Contains(se.Detail, " but room for "):
			if n <= smallAttachments || int(n) <= len(data)/minPlaceholderLen {
				t.Fatalf("%q with %d attachments: %v", data, n, err)
			}
		case strings.HasSuffix(se.Detail, " referenced twice") && rerr == nil:
			t.Fatalf("%q: %v, but ResolveBinary succeeded", data, err)
		default:
			sameError(t, err, rerr)
		}
	})
}

// FuzzSplitLast checks SplitLast against NextValue: walking list gives
// the values of rest followed by last, and both reject the same lists at
// the same offset.
func FuzzSplitLast(f *testing.F) {
	for _, c := range listCases {
		if len(c.list) <= maxSeed {
			f.Add([]byte(c.list))
		}
	}
	for _, c := range goldens {
		if _, rest, err := SplitEvent([]byte(c.data)); err == nil {
			f.Add(rest)
		}
	}
	f.Fuzz(func(t *testing.T, list []byte) {
		want, werr := walkList(list)
		rest, last, err := SplitLast(list)
		if werr != nil || err != nil {
			checkSameListError(t, list, werr, err)
			return
		}
		got := []string{}
		if rest != nil {
			if got, err = walkList(rest); err != nil {
				t.Fatalf("SplitLast(%q) left rest %q: %v", list, rest, err)
			}
		}
		if got = append(got, string(last)); !slicesEqual(got, want) || (rest == nil) != (len(want) == 1) {
			t.Fatalf("SplitLast(%q) = %q, %q; NextValue finds %q", list, rest, last, want)
		}
		if !bytes.Equal(trimSpace(rest), rest) || !bytes.Equal(trimSpace(last), last) {
			t.Fatalf("SplitLast(%q) = %q, %q, not trimmed", list, rest, last)
		}
	})
}

// checkSameListError fails unless walking list with NextValue (werr) and
// SplitLast (err) fail alike.
func checkSameListError(t *testing.T, list []byte, werr, err error) {
	var w, s *SyntaxError
	if !errors.As(werr, &w) || !errors.As(err, &s) || w.Err != s.Err {
		t.Fatalf("%q: NextValue says %v, SplitLast %v", list, werr, err)
	}
	if consumed := len(list) - len(failingTail(list)); w.Offset+consumed != s.Offset {
		t.Fatalf("%q: NextValue says %v after %d bytes, SplitLast %v", list, werr, consumed, err)
	}
}

// failingTail returns the list NextValue was given when it failed.
func failingTail(list []byte) []byte {
	for {
		_, rest, err := NextValue(list)
		if err != nil || len(rest) == 0 {
			return list
		}
		list = rest
	}
}

func FuzzSplitEvent(f *testing.F) {
	for _, c := range goldens {
		f.Add([]byte(c.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStringDifferential(t, string(data))
		raw, rest, err := SplitEvent(data)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkRawEquals(t, raw)
		if !bytes.Contains(data, raw) || !bytes.Contains(data, rest) {
			t.Fatalf("SplitEvent(%q) returned %q, %q", data, raw, rest)
		}
		var p Packet
		if ParsePacket(append([]byte{'2'}, data...), &p) == nil {
			decodeEvent(t, p.Data)
		}
	})
}

// checkRawEquals compares rawEquals with decoding raw by AppendUnquote,
// for the wants rawEquals allows.
func checkRawEquals(t *testing.T, raw []byte) {
	dec, err := AppendUnquote(nil, raw)
	for _, want := range []string{string(dec), "_placeholder", "num", string(dec) + "x", string(raw)} {
		if !utf8.ValidString(want) || strings.ContainsRune(want, utf8.RuneError) {
			continue
		}
		if got := rawEquals(raw, want); got != (err == nil && string(dec) == want) {
			t.Fatalf("rawEquals(%q, %q) = %v, AppendUnquote gives %q, %v", raw, want, got, dec, err)
		}
	}
}

// checkStringDifferential compares AppendString with encoding/json and
// checks that AppendUnquote undoes it.
func checkStringDifferential(t *testing.T, s string) {
	want, _ := json.Marshal(s)
	got := AppendString(nil, s)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendString(%q) = %s, encoding/json says %s", s, got, want)
	}
	dec, err := AppendUnquote(nil, got[1:len(got)-1])
	if err != nil || (utf8.ValidString(s) && string(dec) != s) {
		t.Fatalf("AppendUnquote(%s) = %q, %v", got, dec, err)
	}
}
