package sioserver

import (
	"context"
	"testing"

	"github.com/siostream/siostream/frames"
)

func TestEcho(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	if err := c.WaitConnect(ctx, "/"); err != nil {
		t.Fatalf(
			"WaitConnect: %v",
			err,
		)
	}
	tc.send(`42["echo",1,"two",{"3":[false]}]`)
	tc.expect(`42["echo",1,"two",{"3":[false]}]`)
	if ev := nextReceived(t, c); ev.Type != frames.Connect {
		t.Fatalf(
			"first packet %+v, want CONNECT",
			ev,
		)
	}
	ev := nextReceived(t, c)
	if ev.Type != frames.Event || ev.Name != "echo" || string(ev.Args) != `[1,"two",{"3":[false]}]` || ev.Namespace != "/" {
		t.Fatalf(
			"received %+v",
			ev,
		)
	}
}

func TestEventForUnconnectedNamespaceIgnored(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	tc.connect("/", "")
	tc.connect("/admin", "")
	tc.send(`42/other,["echo","lost"]`)
	tc.send(`42/admin,["echo","admin"]`)
	tc.send(`42["echo","main"]`)
	tc.expect(`42/admin,["echo","admin"]`)
	tc.expect(`42["echo","main"]`)
}

func TestBinaryFromClient(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/admin", "")
	nextReceived(t, c)
	tc.send(`452-/admin,["echo",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]`)
	tc.sendBinary([]byte{1, 2, 3})
	tc.sendBinary([]byte{4, 5})
	tc.expect(`452-/admin,["echo",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]`)
	if a, b := tc.binary(), tc.binary(); string(a) != "\x01\x02\x03" || string(b) != "\x04\x05" {
		t.Fatalf(
			"attachments %q %q",
			a, b,
		)
	}
	ev := nextReceived(t, c)
	if ev.Type != frames.BinaryEvent || string(ev.Args) != `["AQID",{"x":"BAU="}]` || len(ev.Attachments) != 2 {
		t.Fatalf(
			"received %+v, args %s",
			ev, ev.Args,
		)
	}
}

func TestBinaryFromServer(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	if err := c.Emit("/", "files", []byte("ab"), map[string]any{"b": []byte("c")}); err != nil {
		t.Fatalf(
			"Emit: %v",
			err,
		)
	}
	tc.expect(`452-["files",{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}]`)
	if a, b := tc.binary(), tc.binary(); string(a) != "ab" || string(b) != "c" {
		t.Fatalf(
			"attachments %q %q",
			a, b,
		)
	}
}

func TestEmitAll(t *testing.T) {
	s := newServer(t, Options{})
	a, b, other := dialOpen(t, s), dialOpen(t, s), dialOpen(t, s)
	a.connect("/news", "")
	b.connect("/news", "")
	other.connect("/", "")
	if err := s.EmitAll("/news", "headline", "go 2"); err != nil {
		t.Fatal(err)
	}
	a.expect(`42/news,["headline","go 2"]`)
	b.expect(`42/news,["headline","go 2"]`)
	other.send(`42["echo","x"]`)
	other.expect(`42["echo","x"]`)
}

func TestEchoHandlerHasNoCommands(t *testing.T) {
	s := newServer(t, Options{Handler: EchoHandler})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	tc.send(`421["drop-me","x"]`)
	tc.expect(`431["x"]`)
	tc.send(`42["disconnect-me"]`)
	tc.send(`42["echo",{"a":1}]`)
	tc.expect(`42["echo",{"a":1}]`)
	if !c.Connected("/") {
		t.Fatal("EchoHandler ran a DefaultHandler command")
	}
}
