package refserver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/refserver"
)

func TestEchoAndAck(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := open(t, srv, "/")

	c.send(`42["echo","x"]`)
	c.expect(`42["echo","x"]`)

	c.send(`42["echo",1,"2",{"3":[false]},null]`)
	c.expect(`42["echo",1,"2",{"3":[false]},null]`)

	c.send(`421["ack",1]`)
	c.expect(`431[1]`)

	c.send(`42456["ack",1,"2",{"3":[false]}]`)
	c.expect(`43456[1,"2",{"3":[false]}]`)

	// echo with an ack id: the event comes back and the ack carries the args.
	c.send(`427["echo","y"]`)
	c.expect(`42["echo","y"]`)
	c.expect(`437["y"]`)

	c.send(`422["ack-delay",50]`)
	c.expect(`432["late"]`)

	// no-ack is never answered; the next ack proves nothing was sent.
	c.send(`423["no-ack","z"]`)
	c.send(`424["ack"]`)
	c.expect(`434[]`)
}

func TestBinary(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := open(t, srv, "/")

	c.send(`42["binary"]`)
	c.expect(`454-["binary",{"a":{"_placeholder":true,"num":0},"nested":{"list":[{"_placeholder":true,"num":1},"x",{"deep":{"_placeholder":true,"num":2}}]}},{"_placeholder":true,"num":3}]`)
	for i, want := range [][]byte{{1, 2, 3}, {4, 5}, {6}, {7, 8}} {
		if got := c.readBinary(); !bytes.Equal(got, want) {
			t.Fatalf("attachment %d = %v, want %v", i, got, want)
		}
	}

	c.send(`421["binary-ack"]`)
	c.expect(`461-1[{"bin":{"_placeholder":true,"num":0}}]`)
	if got := c.readBinary(); !bytes.Equal(got, []byte{9, 9, 9}) {
		t.Fatalf("ack attachment %v", got)
	}

	// A binary event from the client is echoed with its attachments.
	c.send(`452-["echo",{"_placeholder":true,"num":0},"s",{"k":{"_placeholder":true,"num":1}}]`)
	c.sendBinary([]byte{0xde, 0xad})
	c.sendBinary([]byte{})
	c.expect(`452-["echo",{"_placeholder":true,"num":0},"s",{"k":{"_placeholder":true,"num":1}}]`)
	if got := c.readBinary(); !bytes.Equal(got, []byte{0xde, 0xad}) {
		t.Fatalf("echo attachment 0 = %v", got)
	}
	if got := c.readBinary(); len(got) != 0 {
		t.Fatalf("echo attachment 1 = %v", got)
	}

	// Binary through an ack.
	c.send(`451-3["ack",{"_placeholder":true,"num":0}]`)
	c.sendBinary([]byte{1})
	c.expect(`461-3[{"_placeholder":true,"num":0}]`)
	if got := c.readBinary(); !bytes.Equal(got, []byte{1}) {
		t.Fatalf("ack attachment = %v", got)
	}
}

func TestServerRequestsAck(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := open(t, srv, "/")

	c.send(`42["request-ack","q",2]`)
	rest := c.expectPrefix(`42`)
	i := strings.IndexByte(rest, '[')
	id, err := strconv.Atoi(rest[:i])
	if err != nil || rest[i:] != `["need-ack","q",2]` {
		t.Fatalf("need-ack frame 42%s", rest)
	}
	c.send(fmt.Sprintf(`43%d["r",{"ok":true}]`, id))
	c.expect(`42["got-ack","r",{"ok":true}]`)

	c.send(`42["request-ack-timeout",100,"t"]`)
	c.expectPrefix(`42`) // need-ack, left unanswered
	c.expect(`42["got-ack-timeout"]`)
}

func TestFloodAndBig(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	c := open(t, srv, "/")

	c.send(`42["flood",5,3]`)
	for i := 0; i < 5; i++ {
		c.expect(fmt.Sprintf(`42["flood",%d,"xxx"]`, i))
	}
	c.expect(`42["flood-done",5]`)

	c.send(`42["flood",2]`)
	c.expect(`42["flood",0,"xxxxxxxxxx"]`)
	c.expect(`42["flood",1,"xxxxxxxxxx"]`)
	c.expect(`42["flood-done",2]`)

	const n = 40000
	c.send(`42["big",` + strconv.Itoa(n) + `]`)
	var args []string
	if err := json.Unmarshal([]byte(c.expectPrefix(`42`)), &args); err != nil {
		t.Fatal(err)
	}
	if len(args) != 2 || args[0] != "big" || len(args[1]) != n {
		t.Fatalf("big: %d args, payload length %d", len(args), len(args[len(args)-1]))
	}
	for i := 0; i < n; i++ {
		if args[1][i] != byte('a'+i%26) {
			t.Fatalf("big: byte %d is %q", i, args[1][i])
		}
	}

	c.send(`42["big-binary",300]`)
	c.expect(`451-["big-binary",{"_placeholder":true,"num":0}]`)
	b := c.readBinary()
	if len(b) != 300 || b[0] != 0 || b[255] != 255 || b[256] != 0 || b[299] != 43 {
		t.Fatalf("big-binary: %d bytes", len(b))
	}
}

func TestRoomsAndCounters(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	room := fmt.Sprintf("room-%d", time.Now().UnixNano())
	a := open(t, srv, "/realtime")
	b := open(t, srv, "/realtime")

	a.send(`42/realtime,1["join","` + room + `"]`)
	a.expect(`43/realtime,1[true]`)
	b.send(`42/realtime,1["join","` + room + `"]`)
	b.expect(`43/realtime,1[true]`)

	a.send(`42/realtime,["broadcast","` + room + `","hi",1]`)
	a.expect(`42/realtime,["broadcast","hi",1]`)
	b.expect(`42/realtime,["broadcast","hi",1]`)

	b.send(`42/realtime,["counted","x"]`)
	b.send(`42/realtime,["counted",2]`)
	b.send(`42/realtime,5["count"]`)
	b.expect(`43/realtime,5[2,["x",2]]`)

	a.send(`42/realtime,6["stats"]`)
	var stats []struct{ Clients, Sockets int }
	if err := json.Unmarshal([]byte(a.expectPrefix(`43/realtime,6`)), &stats); err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || stats[0].Clients < 2 || stats[0].Sockets < 2 {
		t.Fatalf("stats %+v", stats)
	}

	a.send(`42/realtime,7["handshake"]`)
	var hs []struct {
		Auth    map[string]any
		Query   map[string]string
		Headers map[string]string
	}
	if err := json.Unmarshal([]byte(a.expectPrefix(`43/realtime,7`)), &hs); err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].Query["EIO"] != "4" || hs[0].Headers["upgrade"] != "websocket" {
		t.Fatalf("handshake %+v", hs)
	}

	a.send(`42/realtime,8["transport"]`)
	a.expect(`43/realtime,8["websocket"]`)
	a.send(`42/realtime,9["compressed?"]`)
	a.expect(`43/realtime,9[false]`)
}
