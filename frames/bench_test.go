package frames

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// eventPayload returns an EVENT on /admin with ack id 12 whose arguments
// take about size bytes.
func eventPayload(size int) []byte {
	var args strings.Builder
	for i := 0; args.Len() < size; i++ {
		args.WriteString(`,{"id":` + strconv.Itoa(i) + `,"text":"hello \"world\"","ok":true,"tags":["a","b"]}`)
	}
	return []byte(`2/admin,12["message"` + args.String() + `]`)
}

func BenchmarkParsePacket(b *testing.B) {
	for _, c := range []struct {
		name    string
		payload []byte
	}{
		{"event-small", []byte(`2/admin,12["message","hi",1]`)},
		{"event-1KiB", eventPayload(1024)},
		{"ack", []byte(`3/admin,12[null,{"ok":true,"n":[1,2,3]}]`)},
		// An escape every 100 bytes: each must not cost a search to the
		// string's end (that made the scan quadratic in the length).
		{"event-escaped-100KiB", []byte(`2["ev","` + strings.Repeat(strings.Repeat("x", 99)+`\n`, 1000) + `"]`)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.payload)))
			var p Packet
			for b.Loop() {
				if err := ParsePacket(c.payload, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSplitEvent(b *testing.B) {
	data := eventPayload(1024)[10:]
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_, rest, err := SplitEvent(data)
		for err == nil && len(rest) > 0 {
			_, rest, err = NextValue(rest)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEngine(b *testing.B) {
	frame := []byte("2")
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, _, err := ParseEngine(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	h := Header{Type: Event, Namespace: "/admin", ID: 12, HasID: true}
	args := []json.RawMessage{json.RawMessage(`{"id":1,"text":"hello"}`), json.RawMessage(`[1,2,3]`), json.RawMessage(`"x"`)}
	dst := AppendEvent(nil, h, "message", args...)
	b.ReportAllocs()
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		dst = AppendEvent(dst[:0], h, "message", args...)
	}
}

func BenchmarkResolveBinary(b *testing.B) {
	data := []byte(`["upload",{"name":"a.png","file":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]`)
	atts := [][]byte{make([]byte, 512), make([]byte, 64)}
	dst, _ := ResolveBinary(nil, data, atts)
	b.ReportAllocs()
	b.SetBytes(int64(len(data) + len(atts[0]) + len(atts[1])))
	for b.Loop() {
		var err error
		if dst, err = ResolveBinary(dst[:0], data, atts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitLast(b *testing.B) {
	_, list, err := SplitEvent(eventPayload(1024)[10:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(list)))
	for b.Loop() {
		if _, _, err := SplitLast(list); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolveValue(b *testing.B) {
	data := []byte(`["upload",{"name":"a.png","meta":{"w":1,"h":2,"tags":["x","y"]},"file":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1},[1,2,3]]`)
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		b.Fatal(err)
	}
	atts := [][]byte{make([]byte, 512), make([]byte, 64)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ResolveValue(v, atts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseStringEvent parses the event shape of the receive
// benchmarks: one string argument of 64 B and of 1 KiB.
func BenchmarkParseStringEvent(b *testing.B) {
	for _, n := range []int{64, 1024} {
		payload := []byte(`2["ev","` + strings.Repeat("x", n) + `"]`)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			var p Packet
			for b.Loop() {
				if err := ParsePacket(payload, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendString64(b *testing.B) {
	s := strings.Repeat("x", 64)
	buf := make([]byte, 0, 128)
	b.SetBytes(64)
	for b.Loop() {
		buf = AppendString(buf[:0], s)
	}
}
