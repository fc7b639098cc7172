package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	zsocket "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// zsDial opens a new Manager (no multiplexing, no reconnection) over the
// WebSocket transport only and waits for the namespace's connect event.
func zsDial(ctx context.Context, url string) (*zsocket.Socket, error) {
	opts := zsocket.DefaultOptions()
	opts.SetTransports(types.NewSet(zsocket.WebSocket))
	opts.SetForceNew(true)
	opts.SetMultiplex(false)
	opts.SetReconnection(false)
	opts.SetTimeout(5 * time.Second) // loopback: a handshake takes milliseconds
	s, err := zsocket.Connect(url, opts)
	if err != nil {
		return nil, err
	}
	connected := make(chan struct{})
	failed := make(chan error, 1)
	var once sync.Once
	s.Once("connect", func(...any) { once.Do(func() { close(connected) }) })
	s.Once("connect_error", func(args ...any) {
		select {
		case failed <- fmt.Errorf("connect_error: %v", args):
		default:
		}
	})
	if s.Connected() {
		once.Do(func() { close(connected) })
	}
	select {
	case <-connected:
		return s, nil
	case err := <-failed:
		s.Disconnect()
		return nil, err
	case <-ctx.Done():
		s.Disconnect()
		return nil, ctx.Err()
	}
}

func runZishang(ctx context.Context, t task) (result, error) {
	switch t.Kind {
	case "receive":
		return zsReceive(ctx, t)
	case "emit":
		return zsEmit(ctx, t)
	case "ack":
		return zsAck(ctx, t)
	case "idle":
		return idleMeasure(ctx, t, func(ctx context.Context) error {
			_, err := zsDial(ctx, t.URL)
			return err
		})
	}
	return result{}, fmt.Errorf("zishang520: no %s task", t.Kind)
}

func zsReceive(ctx context.Context, t task) (result, error) {
	s, err := zsOpen(ctx, t.URL)
	if err != nil {
		return result{}, err
	}
	defer s.Disconnect()
	var count atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	s.On("ev", func(...any) { count.Add(1) })
	s.On("done", func(...any) { once.Do(func() { close(done) }) })
	m0 := readMem()
	start := time.Now()
	if err := s.Emit("start"); err != nil {
		return result{}, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return result{Events: int(count.Load())}, fmt.Errorf("after %d events: %w", count.Load(), ctx.Err())
	}
	r := result{Events: int(count.Load()), Seconds: time.Since(start).Seconds()}
	r.setMem(m0, readMem())
	return r, checkCount(r.Events, t.N)
}

// zsAckWait emits with an ack and waits for the reply.
func zsAckWait(ctx context.Context, s *zsocket.Socket, ev string, args ...any) ([]any, error) {
	type reply struct {
		args []any
		err  error
	}
	ch := make(chan reply, 1)
	s.EmitWithAck(ev, args...)(func(a []any, err error) { ch <- reply{a, err} })
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// zsEmit emits N events from W goroutines, then emits done with an ack:
// the sink server's reply carries the count of events it read.
func zsEmit(ctx context.Context, t task) (result, error) {
	s, err := zsOpen(ctx, t.URL)
	if err != nil {
		return result{}, err
	}
	defer s.Disconnect()
	payload := payloadString(t.Size)
	emit := func(int) error { return s.Emit("ev", payload) }
	if t.Struct {
		emit = func(i int) error { return s.Emit("ev", smallStruct{A: i, B: payload}) }
	}
	m0 := readMem()
	start := time.Now()
	if err := emitSpread(t.N, t.Workers, emit); err != nil {
		return result{}, err
	}
	reply, err := zsAckWait(ctx, s, "done")
	if err != nil {
		return result{}, err
	}
	r := result{Events: t.N, Seconds: time.Since(start).Seconds()}
	r.setMem(m0, readMem())
	raw, _ := json.Marshal(reply)
	got, err := sinkCount(raw)
	if err != nil {
		return r, err
	}
	return r, checkCount(got, t.N)
}

func zsAck(ctx context.Context, t task) (result, error) {
	s, err := zsOpen(ctx, t.URL)
	if err != nil {
		return result{}, err
	}
	defer s.Disconnect()
	payload := payloadString(t.Size)
	lat := make(latencies, 0, t.N)
	for i := 0; i < t.Warmup+t.N; i++ {
		start := time.Now()
		if _, err := zsAckWait(ctx, s, "ack", payload); err != nil {
			return result{}, err
		}
		if i >= t.Warmup {
			lat.add(time.Since(start))
		}
	}
	return result{Lat: lat}, nil
}

// zsOpen is zsDial, made again when the handshake fails (see redial).
func zsOpen(ctx context.Context, url string) (*zsocket.Socket, error) {
	return redial(ctx, func(ctx context.Context) (*zsocket.Socket, error) { return zsDial(ctx, url) })
}
