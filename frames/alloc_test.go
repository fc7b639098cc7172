package frames

import (
	"encoding/json"
	"strings"
	"testing"
)

// checkNoAllocs fails when f allocates.
func checkNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(100, f); n != 0 {
		t.Errorf("%s: %v allocations per run, want 0", name, n)
	}
}

func TestZeroAllocDecode(t *testing.T) {
	event := []byte(`2/admin,12["message",{"a":[1,2,{"b":"c\"d"}]},"x",true]`)
	ack := []byte(`3/admin,12[null,{"ok":true}]`)
	frame := []byte("2")
	data := event[10:]
	var p Packet
	var sink error
	checkNoAllocs(t, "ParsePacket EVENT", func() { sink = ParsePacket(event, &p) })
	checkNoAllocs(t, "ParsePacket ACK", func() { sink = ParsePacket(ack, &p) })
	checkNoAllocs(t, "ParseEngine", func() { _, _, sink = ParseEngine(frame) })
	checkNoAllocs(t, "SplitLast", func() { _, _, sink = SplitLast(data[1 : len(data)-1]) })
	checkNoAllocs(t, "SplitEvent+NextValue", func() {
		_, rest, err := SplitEvent(data)
		for err == nil && len(rest) > 0 {
			_, rest, err = NextValue(rest)
		}
		sink = err
	})
	if sink != nil {
		t.Fatal(sink)
	}
}

func TestZeroAllocEncode(t *testing.T) {
	dst := make([]byte, 0, 256)
	h := Header{Type: Event, Namespace: "/admin", ID: 12, HasID: true}
	a, b := json.RawMessage(`{"a":1}`), json.RawMessage(`"x"`)
	checkNoAllocs(t, "AppendEvent", func() { dst = AppendEvent(dst[:0], h, "mess<age>\u2028é", a, b) })
	checkNoAllocs(t, "AppendAck", func() { dst = AppendAck(dst[:0], h, a, b) })
	if string(dst) != `2/admin,12[{"a":1},"x"]` {
		t.Fatalf("encoded %s", dst)
	}
}

func TestZeroAllocResolveBinary(t *testing.T) {
	data := []byte(`["baz",{"_placeholder":true,"num":0},{"\u005fplaceholder":true,"num":1},{"a":[1]}]`)
	atts := [][]byte{make([]byte, 100), {1, 2, 3}}
	dst := make([]byte, 0, 1024)
	var err error
	checkNoAllocs(t, "ResolveBinary", func() { dst, err = ResolveBinary(dst[:0], data, atts) })
	if err != nil {
		t.Fatal(err)
	}
}

func TestZeroAllocCheckPlaceholders(t *testing.T) {
	data := []byte(placeholderArray(seq(smallAttachments)...))
	// A key whose decoding is three times longer than it.
	hostile := []byte(`[{"\u005f` + strings.Repeat("\xff", 60) + `":true,"num":0},{"_placeholder":true,"num":0}]`)
	var err, err2 error
	checkNoAllocs(t, "CheckPlaceholders", func() { err = CheckPlaceholders(data, smallAttachments) })
	checkNoAllocs(t, "CheckPlaceholders with a hostile key", func() { err2 = CheckPlaceholders(hostile, 1) })
	if err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
}
