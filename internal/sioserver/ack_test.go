package sioserver

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/siostream/siostream/frames"
)

func TestAckFromServer(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	tc.connect("/admin", "")
	tc.send(`42/admin,456["message-with-ack",1,"2",{"3":[false]}]`)
	tc.expect(`43/admin,456[1,"2",{"3":[false]}]`)
}

func TestAckFromClient(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	type result struct {
		args json.RawMessage
		err  error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		args, err := c.EmitWithAck(ctx, "/", "question", "why")
		done <- result{args, err}
	}()
	tc.expect(`420["question","why"]`)
	tc.send(`430["because",42]`)
	r := <-done
	if r.err != nil || string(r.args) != `["because",42]` {
		t.Fatalf(
			"EmitWithAck = %s, %v",
			r.args, r.err,
		)
	}
}

func TestBinaryAckFromClient(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/", "")
	done := make(chan json.RawMessage, 1)
	go func() {
		args, _ := c.EmitWithAck(context.Background(), "/", "give")
		done <- args
	}()
	tc.expect(`420["give"]`)
	tc.send(`461-0[{"_placeholder":true,"num":0}]`)
	tc.sendBinary([]byte{0xff})
	select {
	case args := <-done:
		if string(args) != `["/w=="]` {
			t.Fatalf(
				"ack args %s",
				args,
			)
		}
	case <-time.After(readTimeout):
		t.Fatal("no ack")
	}
}

func TestEmitWithAckReply(t *testing.T) {
	s := newServer(t, Options{})
	tc := dialOpen(t, s)
	c := accept(t, s)
	tc.connect("/admin", "")
	type result struct {
		r   *Received
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		r, err := c.EmitWithAckReply(ctx, "/admin", "give", 1)
		done <- result{r, err}
	}()
	tc.expect(`42/admin,0["give",1]`)
	tc.send(`461-/admin,0["ok",{"_placeholder":true,"num":0}]`)
	tc.sendBinary([]byte{0xff, 0})
	res := <-done
	if res.err != nil {
		t.Fatalf(
			"EmitWithAckReply: %v",
			res.err,
		)
	}
	r := res.r
	if r.Type != frames.BinaryAck || r.Namespace != "/admin" || !r.HasID || r.ID != 0 ||
		string(r.Args) != `["ok","/wA="]` || len(r.Attachments) != 1 || string(r.Attachments[0]) != "\xff\x00" {
		t.Fatalf(
			"reply %+v, args %s",
			r, r.Args,
		)
	}
}
