package siostream_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// Range over the events of a namespace until the stream ends.
func ExampleDial() {
	srv, err := sioserver.New(sioserver.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{Namespace: "/realtime"})
	if err != nil {
		log.Fatal(err)
	}
	// The test server echoes "echo" events back, then we close.
	if err := s.Emit(ctx, "echo", "hello", 42); err != nil {
		log.Fatal(err)
	}
	for ev := range s.Events() {
		switch ev.Kind {
		case siostream.KindConnected:
			fmt.Println("connected to", s.Namespace())
		case siostream.KindEvent:
			var word string
			var n int
			if err := ev.Decode(&word, &n); err != nil {
				log.Fatal(err)
			}
			fmt.Println(ev.Name, word, n)
			go s.Close()
		case siostream.KindDisconnected:
			fmt.Println("disconnected:", ev.Reason())
		}
	}
	fmt.Println("done:", s.Err())
	// Output:
	// connected to /realtime
	// echo hello 42
	// disconnected: io client disconnect
	// done: siostream: stream closed
}

// Select on the events channel beside a ticker and a context.
func ExampleStream_Events_select() {
	srv, err := sioserver.New(sioserver.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sent, got := 0, 0
	for got < 3 {
		select {
		case <-tick.C:
			if sent < 3 {
				sent++
				s.Emit(ctx, "echo", sent)
			}
		case ev := <-s.Events():
			if ev.Kind == siostream.KindEvent {
				got++
				fmt.Println(ev.Name, string(ev.Args))
			}
		case <-ctx.Done():
			log.Fatal(ctx.Err())
		}
	}
	// Output:
	// echo [1]
	// echo [2]
	// echo [3]
}

// Ask the server to acknowledge an event and read its reply.
func ExampleStream_EmitWithAck() {
	srv, err := sioserver.New(sioserver.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	// The test server acknowledges with the event's own args.
	reply, err := s.EmitWithAck(ctx, "sum", 1, 2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply.Args))
	// Output: [1,2]
}
