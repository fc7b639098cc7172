package main

import (
	"context"
	"fmt"
	"time"

	"github.com/siostream/siostream"
)

func sioDial(ctx context.Context, url string) (*siostream.Stream, error) {
	return siostream.Dial(ctx, url, siostream.Options{NoReconnect: true})
}

func runSiostream(ctx context.Context, t task) (result, error) {
	switch t.Kind {
	case "receive":
		return sioReceive(ctx, t)
	case "emit":
		return sioEmit(ctx, t)
	case "ack":
		return sioAck(ctx, t)
	case "idle":
		return idleMeasure(ctx, t, func(ctx context.Context) error {
			_, err := sioDial(ctx, t.URL)
			return err
		})
	}
	return result{}, fmt.Errorf("siostream: no %s task", t.Kind)
}

// sioReceive ranges over Events and reads each event's Name. It never
// acks, even when the server asks for it.
func sioReceive(ctx context.Context, t task) (result, error) {
	s, err := sioOpen(ctx, t.URL)
	if err != nil {
		return result{}, err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	count := 0
	m0 := readMem()
	start := time.Now()
	if err := sioSendNow(ctx, s, "start"); err != nil {
		return result{}, err
	}
	finished := false
	for ev := range s.Events() {
		name, ok := sioServerEvent(&ev)
		if !ok {
			continue
		}
		if name == "done" {
			finished = true
			break
		}
		if name == "ev" {
			count++
		}
	}
	r := result{Events: count, Seconds: time.Since(start).Seconds()}
	r.setMem(m0, readMem())
	if !finished {
		return r, fmt.Errorf("stream ended early: %v", s.Err())
	}
	return r, checkCount(count, t.N)
}

// sioEmit emits N events from W goroutines, then asks the sink server
// for its count with an ack. The server reads in order, so its ack of
// done means it has read every event, whether Emit returns once the
// packet is written or once it is queued.
func sioEmit(ctx context.Context, t task) (result, error) {
	s, err := sioOpen(ctx, t.URL)
	if err != nil {
		return result{}, err
	}
	defer s.Close()
	payload := payloadString(t.Size)
	emit := func(int) error { return s.Emit(ctx, "ev", payload) }
	if t.Struct {
		emit = func(i int) error { return s.Emit(ctx, "ev", smallStruct{A: i, B: payload}) }
	}
	m0 := readMem()
	start := time.Now()
	if err := emitSpread(t.N, t.Workers, emit); err != nil {
		return result{}, err
	}
	raw, err := s.EmitWithAck(ctx, "done")
	if err != nil {
		return result{}, err
	}
	r := result{Events: t.N, Seconds: time.Since(start).Seconds()}
	r.setMem(m0, readMem())
	got, err := sinkCount(raw.Args)
	if err != nil {
		return r, err
	}
	return r, checkCount(got, t.N)
}

func sioAck(ctx context.Context, t task) (result, error) {
	s, err := sioOpen(ctx, t.URL)
	if err != nil {
		return result{}, err
	}
	defer s.Close()
	// Nobody else reads the channel: drain it so that server events (the
	// reference server's welcome) never fill it.
	go func() {
		for range s.Events() {
		}
	}()
	payload := payloadString(t.Size)
	lat := make(latencies, 0, t.N)
	for i := 0; i < t.Warmup+t.N; i++ {
		start := time.Now()
		if _, err := s.EmitWithAck(ctx, "ack", payload); err != nil {
			return result{}, err
		}
		if i >= t.Warmup {
			lat.add(time.Since(start))
		}
	}
	return result{Lat: lat}, nil
}

// sioOpen is sioDial, made again when the handshake fails (see redial).
func sioOpen(ctx context.Context, url string) (*siostream.Stream, error) {
	return redial(ctx, func(ctx context.Context) (*siostream.Stream, error) { return sioDial(ctx, url) })
}

// The two functions below are the driver's only uses of Event's fields
// and of Emit's promise that the packet has been written when it
// returns.

// sioServerEvent returns the name of a server event; ok is false for the
// lifecycle items (connected, disconnected, ...) of the Events channel.
func sioServerEvent(ev *siostream.Event) (name string, ok bool) {
	if ev.Kind != siostream.KindEvent {
		return "", false
	}
	return ev.Name, true
}

// sioSendNow emits event without arguments and returns once its packet
// has been written to the socket: the server must see it without more
// packets coming after it.
func sioSendNow(ctx context.Context, s *siostream.Stream, event string) error {
	if err := s.Emit(ctx, event); err != nil {
		return err
	}
	return s.Flush(ctx)
}
