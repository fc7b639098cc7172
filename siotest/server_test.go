package siotest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/siotest"
)

func TestDefaultHandlerEchoes(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	s := dial(t, srv.URL(), siostream.Options{Namespace: "/chat"})
	nextKind(t, s, siostream.KindConnected)

	emit(t, s, "other", "not echoed")
	emit(t, s, "echo", "hello", []byte{1, 2}, map[string]any{"b": []byte{3}})
	ev := nextNamed(t, s, "echo")
	var text string
	var b []byte
	var m struct{ B []byte }
	decode(t, ev, &text, &b, &m)
	if text != "hello" || !bytes.Equal(b, []byte{1, 2}) || !bytes.Equal(m.B, []byte{3}) {
		t.Fatalf("echo decoded as %q %v %v", text, b, m.B)
	}
}

func TestDefaultHandlerAcks(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	ctx := testContext(t)
	if _, err := s.EmitWithAck(ctx, "sum", 1, 2); err != nil {
		t.Fatalf("client EmitWithAck: %v", err)
	}
	if _, err := s.EmitWithAck(ctx, "echo", "both"); err != nil {
		t.Fatalf("client EmitWithAck echo: %v", err)
	}
	var word string
	decode(t, nextNamed(t, s, "echo"), &word)
	if word != "both" {
		t.Fatalf("echo %q", word)
	}
	p := nextServerEvent(t, c, "sum")
	if !p.HasAckID || string(p.Args) != "[1,2]" {
		t.Fatalf("server got %+v", p)
	}
}

func TestAuthorize(t *testing.T) {
	type seen struct {
		ns   string
		auth string
	}
	var mu sync.Mutex
	var calls []seen
	srv := newServer(t, siotest.Options{
		Authorize: func(ns string, auth json.RawMessage) error {
			mu.Lock()
			calls = append(calls, seen{ns, string(auth)})
			mu.Unlock()
			var a struct{ Token string }
			_ = json.Unmarshal(auth, &a)
			switch {
			case ns == "/closed":
				return errors.New("closed for today")
			case ns == "/admin" && a.Token != "secret":
				return &siotest.ConnectError{Message: "unauthorized", Data: map[string]int{"code": 401}}
			}
			return nil
		},
	})
	auth := func(token string) func(context.Context) (any, error) {
		return func(context.Context) (any, error) { return map[string]string{"token": token}, nil }
	}

	for _, tc := range []struct {
		name, ns, token string
		message, data   string // want a refusal when message is set
	}{
		{name: "main namespace", ns: "/"},
		{name: "good token", ns: "/admin", token: "secret"},
		{name: "bad token", ns: "/admin", token: "guess", message: "unauthorized", data: `{"code":401}`},
		{name: "plain error", ns: "/closed", message: "closed for today"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := siostream.Options{Namespace: tc.ns}
			if tc.token != "" {
				opts.Auth = auth(tc.token)
			}
			s, err := siostream.Dial(testContext(t), srv.URL(), opts)
			if tc.message == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Dial accepted")
			}
			var ce *siostream.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("Dial error %v (%T), want a *siostream.ConnectError", err, err)
			}
			if ce.Message != tc.message || string(ce.Data) != tc.data {
				t.Fatalf("refused with message %q data %s, want %q %s", ce.Message, ce.Data, tc.message, tc.data)
			}
		})
	}

	mu.Lock()
	defer mu.Unlock()
	want := []seen{{"/", ""}, {"/admin", `{"token":"secret"}`}, {"/admin", `{"token":"guess"}`}, {"/closed", ""}}
	if len(calls) != len(want) {
		t.Fatalf("Authorize calls %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("Authorize call %d got %v, want %v", i, calls[i], want[i])
		}
	}
}

func TestHandler(t *testing.T) {
	conns := make(chan *siotest.Conn, 1)
	srv := newServer(t, siotest.Options{
		Handler: func(c *siotest.Conn, p *siotest.Packet) {
			switch p.Name {
			case "ping":
				select {
				case conns <- c:
				default:
				}
				_ = c.Emit(p.Namespace, "pong", p.Namespace)
			case "question":
				_ = p.Ack("answer")
			default:
				siotest.DefaultHandler(c, p)
			}
		},
	})
	s := dial(t, srv.URL(), siostream.Options{Namespace: "/game"})
	c := accept(t, srv)

	emit(t, s, "ping")
	var ns string
	decode(t, nextNamed(t, s, "pong"), &ns)
	if ns != "/game" {
		t.Fatalf("pong from namespace %q", ns)
	}
	if hc := <-conns; hc != c {
		t.Fatal("the handler and Accept gave different Conns for one connection")
	}
	if _, err := s.EmitWithAck(testContext(t), "question"); err != nil {
		t.Fatalf("client EmitWithAck: %v", err)
	}
	emit(t, s, "echo", "fallback")
	var word string
	decode(t, nextNamed(t, s, "echo"), &word)
	if word != "fallback" {
		t.Fatalf("echo %q", word)
	}
}

func TestBroadcast(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	room1 := dial(t, srv.URL(), siostream.Options{Namespace: "/room"})
	room2 := dial(t, srv.URL(), siostream.Options{Namespace: "/room"})
	lobby := dial(t, srv.URL(), siostream.Options{})
	if err := srv.Broadcast("/room", "news", "for the room"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Broadcast("", "news", "for the lobby"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    *siostream.Stream
		want string
	}{{room1, "for the room"}, {room2, "for the room"}, {lobby, "for the lobby"}} {
		var got string
		decode(t, nextNamed(t, c.s, "news"), &got)
		if got != c.want {
			t.Errorf("got news %q, want %q", got, c.want)
		}
	}
	if err := srv.Broadcast("/", "bad", func() {}); err == nil {
		t.Error("Broadcast of a func: no error")
	}
}

func TestPath(t *testing.T) {
	srv := newServer(t, siotest.Options{Path: "/custom/"})
	s := dial(t, srv.URL(), siostream.Options{Path: "/custom/"})
	emit(t, s, "echo", 1)
	nextNamed(t, s, "echo")

	_, err := siostream.Dial(testContext(t), srv.URL(), siostream.Options{})
	if err == nil {
		t.Fatal("Dial on the default path succeeded")
	}
}

func TestMaxPayload(t *testing.T) {
	srv := newServer(t, siotest.Options{MaxPayload: 1000})
	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	if err := s.Emit(testContext(t), "big", strings.Repeat("x", 2000)); err == nil {
		t.Fatal("client Emit of 2000 bytes to a server with MaxPayload 1000: no error")
	}
	emit(t, s, "small", "x")
	nextServerEvent(t, c, "small")
}

func TestAcceptAndClose(t *testing.T) {
	srv := siotest.NewServer(siotest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := srv.Accept(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Accept with a canceled context: %v", err)
	}

	s := dial(t, srv.URL(), siostream.Options{})
	c := accept(t, srv)
	emit(t, s, "before", 1)
	nextServerEvent(t, c, "before")
	srv.Close()
	srv.Close()
	if err := waitDone(t, c); !errors.Is(err, siotest.ErrServerClosed) {
		t.Fatalf("Err after Close = %v, want ErrServerClosed", err)
	}
	if _, err := srv.Accept(testContext(t)); !errors.Is(err, siotest.ErrServerClosed) {
		t.Fatalf("Accept after Close = %v, want ErrServerClosed", err)
	}
	if err := c.Emit("/", "late"); !errors.Is(err, siotest.ErrClosed) {
		t.Fatalf("Emit after Close = %v, want ErrClosed", err)
	}
	if err := c.WaitConnect(testContext(t), "/other"); !errors.Is(err, siotest.ErrClosed) {
		t.Fatalf("WaitConnect after Close = %v, want ErrClosed", err)
	}
	for {
		_, err := c.Next(testContext(t))
		if errors.Is(err, siotest.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("Next after Close = %v, want packets then ErrClosed", err)
		}
	}
	nextKind(t, s, siostream.KindDisconnected)
}
