package siostream_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/siotest"
)

// Range over the events of a namespace until the stream ends. The
// siotest server stands in for a real one: it echoes "echo" events.
func ExampleDial() {
	srv := siotest.NewServer(siotest.Options{})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{Namespace: "/realtime"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.Emit(ctx, "echo", "hello", 42); err != nil {
		log.Fatal(err)
	}
	for ev := range s.Events() { // the loop ends when the stream does
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
			s.Close() // a final KindDisconnected follows, then the channel closes
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

// Select on the events beside other channels. A closed channel means that
// the stream has ended for good: check ok and stop, or the loop spins on
// zero Events.
func ExampleStream_Events() {
	srv := siotest.NewServer(siotest.Options{})
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
	for {
		select {
		case <-tick.C:
			if sent < 3 {
				sent++
				if err := s.Emit(ctx, "echo", sent); err != nil {
					log.Fatal(err)
				}
			}
		case ev, ok := <-s.Events():
			if !ok {
				fmt.Println("stream ended:", s.Err())
				return
			}
			switch ev.Kind {
			case siostream.KindEvent:
				fmt.Println(ev.Name, string(ev.Args))
				if got++; got == 3 {
					s.Close()
				}
			case siostream.KindDisconnected:
				fmt.Println("disconnected:", ev.Reason())
			}
		case <-ctx.Done():
			log.Fatal(ctx.Err())
		}
	}
	// Output:
	// echo [1]
	// echo [2]
	// echo [3]
	// disconnected: io client disconnect
	// stream ended: siostream: stream closed
}

// Answer a server that asks for an acknowledgement.
func ExampleEvent_Ack() {
	srv := siotest.NewServer(siotest.Options{})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// The server asks a question and waits for the client's answer.
	c, err := srv.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	answer := make(chan string, 1)
	go func() {
		reply, err := c.EmitWithAck(ctx, "/", "question", "6 x 7")
		if err != nil {
			answer <- err.Error()
			return
		}
		var n int
		if err := reply.Decode(&n); err != nil {
			answer <- err.Error()
			return
		}
		answer <- fmt.Sprint("the server got ", n)
	}()

	for ev := range s.Events() {
		if ev.Kind != siostream.KindEvent || !ev.WantsAck() {
			continue
		}
		var q string
		if err := ev.Decode(&q); err != nil {
			log.Fatal(err)
		}
		fmt.Println("asked:", q)
		if err := ev.Ack(ctx, 42); err != nil {
			log.Fatal(err)
		}
		break
	}
	fmt.Println(<-answer)
	// Output:
	// asked: 6 x 7
	// the server got 42
}

// Join two namespaces over one connection.
func ExampleManager() {
	srv := siotest.NewServer(siotest.Options{})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := siostream.NewManager(srv.URL(), siostream.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	chat, err := m.Dial(ctx, siostream.Options{Namespace: "/chat"})
	if err != nil {
		log.Fatal(err)
	}
	news, err := m.Dial(ctx, siostream.Options{Namespace: "/news"})
	if err != nil {
		log.Fatal(err)
	}

	// One connection reached the server, and joined both namespaces.
	c, err := srv.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, ns := range []string{"/chat", "/news"} {
		if err := c.WaitConnect(ctx, ns); err != nil {
			log.Fatal(err)
		}
	}
	if err := c.Emit("/chat", "message", "hi all"); err != nil {
		log.Fatal(err)
	}
	if err := c.Emit("/news", "headline", "Go 1.26 released"); err != nil {
		log.Fatal(err)
	}

	// Each stream gets the events of its namespace.
	for _, s := range []*siostream.Stream{chat, news} {
		for ev := range s.Events() {
			if ev.Kind == siostream.KindEvent {
				var text string
				if err := ev.Decode(&text); err != nil {
					log.Fatal(err)
				}
				fmt.Println(s.Namespace(), ev.Name, text)
				break
			}
		}
	}
	// Output:
	// /chat message hi all
	// /news headline Go 1.26 released
}

// Ask the server to acknowledge an event and decode its reply; ctx bounds
// the wait.
func ExampleStream_EmitWithAck() {
	srv := siotest.NewServer(siotest.Options{
		Handler: func(c *siotest.Conn, p *siotest.Packet) {
			var a, b int
			if p.Name == "sum" && p.Decode(&a, &b) == nil {
				_ = p.Ack(a+b, "ok")
			}
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

	actx, acancel := context.WithTimeout(ctx, time.Second)
	defer acancel()
	reply, err := s.EmitWithAck(actx, "sum", 1, 2)
	if err != nil {
		log.Fatal(err) // context.DeadlineExceeded when no reply came in time
	}
	var sum int
	var status string
	if err := reply.Decode(&sum, &status); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum, status, string(reply.Args))
	// Output: 3 ok [3,"ok"]
}

// Emit returns once the packet is queued; Flush waits until everything
// emitted before it is on the wire, so that closing loses nothing.
func ExampleStream_Flush() {
	srv := siotest.NewServer(siotest.Options{})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		if err := s.Emit(ctx, "log", "line", i); err != nil {
			log.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	s.Close()
	fmt.Println("unsent:", s.Stats().Unsent)

	// What the server received.
	c, err := srv.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		p, err := c.NextEvent(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(p.Name, string(p.Args))
	}
	// Output:
	// unsent: 0
	// log ["line",0]
	// log ["line",1]
	// log ["line",2]
}
