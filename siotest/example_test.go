package siotest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/siotest"
)

// The default server echoes "echo" events.
func ExampleNewServer() {
	srv := siotest.NewServer(siotest.Options{})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.Emit(ctx, "echo", "hello", 42); err != nil {
		log.Fatal(err)
	}
	for ev := range s.Events() {
		if ev.Kind == siostream.KindEvent {
			var word string
			var n int
			if err := ev.Decode(&word, &n); err != nil {
				log.Fatal(err)
			}
			fmt.Println(ev.Name, word, n)
			break
		}
	}
	// Output: echo hello 42
}

// Script a connection: emit to the client, then read what it sent.
func ExampleServer_Accept() {
	srv := siotest.NewServer(siotest.Options{})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{Namespace: "/chat"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	c, err := srv.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.WaitConnect(ctx, "/chat"); err != nil {
		log.Fatal(err)
	}
	if err := c.Emit("/chat", "greeting", "ada"); err != nil {
		log.Fatal(err)
	}

	// The client answers the greeting with binary data.
	for ev := range s.Events() {
		if ev.Kind == siostream.KindEvent && ev.Name == "greeting" {
			var name string
			if err := ev.Decode(&name); err != nil {
				log.Fatal(err)
			}
			if err := s.Emit(ctx, "hello", "hi "+name, []byte{1, 2, 3}); err != nil {
				log.Fatal(err)
			}
			break
		}
	}

	p, err := c.NextEvent(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var text string
	var data []byte
	if err := p.Decode(&text, &data); err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Type, p.Namespace, p.Name, text, data)
	// Output: BINARY_EVENT /chat hello hi ada [1 2 3]
}

// Refuse a CONNECT with a message and data.
func ExampleOptions_authorize() {
	srv := siotest.NewServer(siotest.Options{
		Authorize: func(ns string, auth json.RawMessage) error {
			var a struct{ Token string }
			if err := json.Unmarshal(auth, &a); err != nil || a.Token != "secret" {
				return &siotest.ConnectError{Message: "unauthorized", Data: map[string]int{"code": 401}}
			}
			return nil
		},
	})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := siostream.Dial(ctx, srv.URL(), siostream.Options{
		Auth: func(context.Context) (any, error) {
			return map[string]string{"token": "guess"}, nil
		},
	})
	var ce *siostream.ConnectError
	if errors.As(err, &ce) {
		fmt.Println(ce.Message, string(ce.Data))
	}
	// Output: unauthorized {"code":401}
}

// Disconnect the client from a namespace, as a server that kicks it out.
func ExampleConn_Disconnect() {
	srv := siotest.NewServer(siotest.Options{})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	c, err := srv.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Disconnect("/"); err != nil {
		log.Fatal(err)
	}
	for ev := range s.Events() {
		switch ev.Kind {
		case siostream.KindConnected:
			fmt.Println("connected")
		case siostream.KindDisconnected:
			fmt.Println("disconnected")
		}
	}
	fmt.Println("stream ended:", s.Err() != nil)
	// Output:
	// connected
	// disconnected
	// stream ended: true
}

// Answer the client's events from a handler, leaving the others to
// DefaultHandler.
func ExampleOptions_handler() {
	srv := siotest.NewServer(siotest.Options{
		Handler: func(c *siotest.Conn, p *siotest.Packet) {
			if p.Name == "greet" {
				var name string
				_ = p.Decode(&name)
				_ = c.Emit(p.Namespace, "greeting", "hello "+name)
				return
			}
			siotest.DefaultHandler(c, p)
		},
	})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.Emit(ctx, "greet", "grace"); err != nil {
		log.Fatal(err)
	}
	for ev := range s.Events() {
		if ev.Kind == siostream.KindEvent {
			var text string
			if err := ev.Decode(&text); err != nil {
				log.Fatal(err)
			}
			fmt.Println(ev.Name, text)
			break
		}
	}
	// Output: greeting hello grace
}
