package frames_test

import (
	"encoding/json"
	"fmt"

	"github.com/siostream/siostream/frames"
)

// Decoding a text frame: the Engine.IO layer, then the Socket.IO packet,
// then the event name and its arguments.
func ExampleParsePacket() {
	frame := []byte(`42/admin,1["chat",{"text":"hi"},2]`)
	typ, payload, err := frames.ParseEngine(frame)
	if err != nil || typ != frames.EngineMessage {
		panic(err)
	}
	var p frames.Packet
	if err := frames.ParsePacket(payload, &p); err != nil {
		panic(err)
	}
	raw, args, _ := frames.SplitEvent(p.Data)
	name, _ := frames.AppendUnquote(nil, raw)
	fmt.Printf("%v on %s, ack %d: %s\n", p.Type, p.Namespace, p.ID, name)
	for len(args) > 0 {
		var v []byte
		v, args, _ = frames.NextValue(args)
		fmt.Printf("  arg %s\n", v)
	}
	// Output:
	// EVENT on /admin, ack 1: chat
	//   arg {"text":"hi"}
	//   arg 2
}

// Encoding an EVENT into a reused buffer, ready to be sent as a text frame.
func ExampleAppendEvent() {
	buf := make([]byte, 0, 128)
	buf = frames.AppendEngine(buf, frames.EngineMessage, nil)
	h := frames.Header{Type: frames.Event, Namespace: "/admin", ID: 7, HasID: true}
	buf = frames.AppendEvent(buf, h, "chat", json.RawMessage(`{"text":"<hi>"}`))
	fmt.Println(string(buf))
	// Output:
	// 42/admin,7["chat",{"text":"<hi>"}]
}

// Sending binary data: ExtractBinary replaces []byte by placeholders and
// returns the attachments, which follow the text frame as binary frames.
// The receiver resolves the placeholders again.
func ExampleExtractBinary() {
	args, atts, _ := frames.ExtractBinary([]any{map[string]any{"file": []byte("hi")}})
	data, _ := json.Marshal(args)
	h := frames.Header{Type: frames.BinaryEvent, Attachments: len(atts)}
	fmt.Printf("%s%s + %d binary frame(s)\n", frames.AppendHeader(nil, h), data, len(atts))

	resolved, _ := frames.ResolveBinary(nil, data, atts)
	var out []struct{ File []byte }
	_ = json.Unmarshal(resolved, &out)
	fmt.Printf("%s -> %q\n", resolved, out[0].File)
	// Output:
	// 51-[{"file":{"_placeholder":true,"num":0}}] + 1 binary frame(s)
	// [{"file":"aGk="}] -> "hi"
}

// Checking the placeholders of a BINARY_EVENT as soon as its text frame
// arrives, before buffering the attachments it declares.
func ExampleCheckPlaceholders() {
	var p frames.Packet
	for _, payload := range []string{
		`52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		`52-["up",{"_placeholder":true,"num":1},{"_placeholder":true,"num":1}]`,
		`52-["up",{"_placeholder":true,"num":1}]`,
	} {
		if err := frames.ParsePacket([]byte(payload), &p); err != nil {
			panic(err)
		}
		fmt.Println(frames.CheckPlaceholders(p.Data, p.Attachments))
	}
	// Output:
	// <nil>
	// frames: bad binary placeholder: attachment 1 referenced twice at offset 36 near "num\":1},{\"_place"
	// frames: bad binary placeholder: attachment 0 never referenced at offset 0 near "[\"up\",{\"_placeho"
}
