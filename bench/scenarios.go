package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"
	"unsafe"

	"github.com/siostream/siostream"
)

// plan sizes every scenario.
type plan struct {
	Runs       int
	RecvN      map[int]int // payload bytes -> events received (the variants use 64)
	EmitN      int
	StructN    int // emits of a small struct, for allocations per emit
	AckN       int
	AckWarmup  int
	IdleSio    int // connections for siostream
	IdleOthers int // connections for the other clients
	Only       map[string]bool
}

func quickPlan() plan {
	return plan{
		Runs:       1,
		RecvN:      map[int]int{64: 200_000, 1024: 50_000},
		EmitN:      50_000,
		StructN:    20_000,
		AckN:       2_000,
		AckWarmup:  200,
		IdleSio:    10_000,
		IdleOthers: 2_000,
	}
}

func fullPlan() plan {
	return plan{
		Runs:       5,
		RecvN:      map[int]int{64: 1_000_000, 1024: 250_000},
		EmitN:      500_000,
		StructN:    100_000,
		AckN:       20_000,
		AckWarmup:  1_000,
		IdleSio:    10_000,
		IdleOthers: 10_000,
	}
}

const (
	cFloor   = "floor"
	cSio     = "siostream"
	cZS      = "zishang520"
	cNode    = "socket.io-client"
	nodeName = "node" // client name in the node script's task
)

// series is one figure: the values of every run.
type series struct {
	Scenario string
	Client   string
	Unit     string
	RatioTo  string // cFloor, cSio, or "" for none
	Note     string
	Values   []float64
}

type bench struct {
	env      *environment
	plan     plan
	order    []*series
	byKey    map[string]*series
	notes    []string
	failures []string
	retried  []string       // idle runs that failed once and were run again
	redials  map[string]int // dials that failed and were made again, per client
}

func (b *bench) add(scenario, client, unit, ratioTo, note string, v float64) {
	key := scenario + "\x00" + client
	s, ok := b.byKey[key]
	if !ok {
		if b.byKey == nil {
			b.byKey = make(map[string]*series)
		}
		s = &series{Scenario: scenario, Client: client, Unit: unit, RatioTo: ratioTo, Note: note}
		b.byKey[key] = s
		b.order = append(b.order, s)
	}
	s.Values = append(s.Values, v)
}

func (b *bench) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if !slices.Contains(b.notes, n) {
		b.notes = append(b.notes, n)
	}
}

func (b *bench) fail(err error) {
	fmt.Fprintln(os.Stderr, "FAILED:", err)
	b.failures = append(b.failures, err.Error())
	b.note("failed: %v", err)
}

func (b *bench) wants(group string) bool { return b.plan.Only == nil || b.plan.Only[group] }

func (b *bench) runAll(ctx context.Context) {
	for _, n := range b.env.nodeNotes {
		b.note("%s", n)
	}
	for run := 0; run < b.plan.Runs && ctx.Err() == nil; run++ {
		fmt.Fprintf(os.Stderr, "run %d of %d\n", run+1, b.plan.Runs)
		if b.wants("receive") {
			b.receive(ctx, run, 64, "")
			b.receive(ctx, run, 1024, "")
			b.receive(ctx, run, 64, floodAck)
			b.receive(ctx, run, 64, floodRecovery)
		}
		if b.wants("emit") {
			b.emit(ctx, run, 1)
			b.emit(ctx, run, 8)
			b.emitStruct(ctx, run)
		}
		if b.wants("ack") {
			b.ack(ctx, run, false)
			b.ack(ctx, run, true)
		}
		if b.wants("idle") {
			b.idle(ctx, run)
		}
	}
	b.eventSize()
}

// clients returns the clients to measure, rotated by run so that no
// client always goes first.
func (b *bench) clients(run int, names ...string) []string {
	var out []string
	for _, n := range names {
		if n == cNode && b.env.nodeDir == "" {
			continue
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil
	}
	k := run % len(out)
	return append(out[k:len(out):len(out)], out[:k]...)
}

// exec runs t for client in its own process.
func (b *bench) exec(ctx context.Context, client string, t task) (result, error) {
	start := time.Now()
	defer func() {
		fmt.Fprintf(os.Stderr, "  %-8s %-17s %s\n", t.Kind, client, time.Since(start).Round(time.Millisecond))
	}()
	t.Client = client
	if client == cNode {
		t.Client = nodeName
		spec, _ := json.Marshal(t)
		r, err := runTask(ctx, b.env.nodeDir, t, b.env.node, "--expose-gc", "client.js", string(spec))
		b.redials[client] += r.Redials
		if err != nil {
			err = fmt.Errorf("%s: %w", cNode, err)
		}
		return r, err
	}
	spec, _ := json.Marshal(t)
	r, err := runTask(ctx, b.env.dir, t, b.env.self, "-child", string(spec))
	b.redials[client] += r.Redials
	return r, err
}

func (b *bench) goServer(ctx context.Context, cfg serverConfig) (*server, error) {
	return startServer(ctx, b.env.dir, b.env.self, serverArgs(cfg)...)
}

func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// eventSize adds the size of siostream's Event, which every event in the
// Events channel's buffer takes whether or not it is in use.
func (b *bench) eventSize() {
	b.add("Event size", cSio, "B", "", "unsafe.Sizeof(siostream.Event{})", float64(unsafe.Sizeof(siostream.Event{})))
}

// variantName is how a flood variant shows in scenario names.
var variantName = map[string]string{
	"":            "",
	floodAck:      ", acks requested",
	floodRecovery: ", recovery on",
}

// receive measures one flood: the plain ones with every client, the
// variants (acks requested, recovery on) with the Go clients only, for
// their allocations per event.
func (b *bench) receive(ctx context.Context, run, size int, variant string) {
	n := b.plan.RecvN[size]
	srv, err := b.goServer(ctx, serverConfig{Mode: "flood", N: n, Size: size, Variant: variant})
	if err != nil {
		b.fail(err)
		return
	}
	defer srv.stop()
	names := []string{cFloor, cSio, cZS, cNode}
	if variant != "" {
		names = names[:3]
	}
	suffix := sizeName(size) + variantName[variant]
	for _, c := range b.clients(run, names...) {
		t := task{Kind: "receive", URL: srv.URL, N: n, Timeout: 60 + n/10_000}
		r, err := b.exec(ctx, c, t)
		if err != nil {
			b.fail(err)
			continue
		}
		b.add("receive "+suffix, c, "events/s", cFloor, "N="+groupDigits(int64(n)), float64(r.Events)/r.Seconds)
		if c != cNode {
			b.add("allocs per event, "+suffix, c, "allocs/event", cSio, "", float64(r.Mallocs)/float64(n))
			b.add("bytes per event, "+suffix, c, "B/event", cSio, "", float64(r.Bytes)/float64(n))
		}
	}
}

// emit measures emit throughput. The floor uses one goroutine whatever
// the scenario says; socket.io-client runs only in the one-goroutine
// scenario (it has one event loop).
func (b *bench) emit(ctx context.Context, run, workers int) {
	srv, err := b.goServer(ctx, serverConfig{Mode: "sink"})
	if err != nil {
		b.fail(err)
		return
	}
	defer srv.stop()
	names := []string{cFloor, cSio, cZS, cNode}
	if workers > 1 {
		names = names[:3]
	}
	scen := fmt.Sprintf("emit 64 B, %d goroutine", workers)
	if workers > 1 {
		scen += "s"
	}
	for _, c := range b.clients(run, names...) {
		t := task{Kind: "emit", URL: srv.URL, N: b.plan.EmitN, Size: 64, Workers: workers, Timeout: 60 + b.plan.EmitN/5_000}
		r, err := b.exec(ctx, c, t)
		if err != nil {
			b.fail(err)
			continue
		}
		note := "N=" + groupDigits(int64(b.plan.EmitN))
		switch c {
		case cFloor:
			note += fmt.Sprintf(", one goroutine, written when its %d KiB buffer fills", floorWriteBuffer/1024)
		case cNode:
			note += ", one event loop"
		}
		b.add(scen, c, "events/s", cFloor, note, float64(r.Events)/r.Seconds)
	}
}

// emitStruct counts the allocations of the Go clients per Emit of a small
// struct, from one goroutine, up to the server's ack of done.
func (b *bench) emitStruct(ctx context.Context, run int) {
	srv, err := b.goServer(ctx, serverConfig{Mode: "sink"})
	if err != nil {
		b.fail(err)
		return
	}
	defer srv.stop()
	const size = 16
	n := b.plan.StructN
	note := fmt.Sprintf("N=%s, struct{A int; B string} with a %d-byte B, one goroutine", groupDigits(int64(n)), size)
	for _, c := range b.clients(run, cSio, cZS) {
		t := task{Kind: "emit", URL: srv.URL, N: n, Size: size, Struct: true, Workers: 1, Timeout: 60 + n/5_000}
		r, err := b.exec(ctx, c, t)
		if err != nil {
			b.fail(err)
			continue
		}
		b.add("allocs per emit, small struct", c, "allocs/emit", cSio, note, float64(r.Mallocs)/float64(n))
		b.add("bytes per emit, small struct", c, "B/emit", cSio, note, float64(r.Bytes)/float64(n))
	}
}

func (b *bench) ack(ctx context.Context, run int, reference bool) {
	var srv *server
	var err error
	where := "Go echo server"
	if reference {
		if b.env.refDir == "" {
			return
		}
		where = "Node socket.io server"
		srv, err = startServer(ctx, b.env.refDir, b.env.node, "server.js", "default")
	} else {
		srv, err = b.goServer(ctx, serverConfig{Mode: "echo"})
	}
	if err != nil {
		b.fail(err)
		return
	}
	defer srv.stop()
	for _, c := range b.clients(run, cFloor, cSio, cZS, cNode) {
		t := task{Kind: "ack", URL: srv.URL, N: b.plan.AckN, Warmup: b.plan.AckWarmup, Size: 64, Timeout: 60 + b.plan.AckN/200}
		r, err := b.exec(ctx, c, t)
		if err != nil {
			b.fail(err)
			continue
		}
		lat := slices.Clone(r.Lat)
		slices.Sort(lat)
		note := groupDigits(int64(len(lat))) + " round trips"
		b.add("ack RTT p50, "+where, c, "µs", cFloor, note, percentile(lat, 50))
		b.add("ack RTT p99, "+where, c, "µs", cFloor, note, percentile(lat, 99))
	}
}

func (b *bench) idle(ctx context.Context, run int) {
	for _, c := range b.clients(run, cSio, cZS, cNode) {
		conns := b.plan.IdleOthers
		if c == cSio {
			conns = b.plan.IdleSio
		}
		r, err := b.idleOnce(ctx, c, conns)
		if err != nil && ctx.Err() == nil {
			// Thousands of dials: one that times out spoils the run.
			// Try once more, and say so.
			b.retried = append(b.retried, fmt.Sprintf("run %d: %v", run+1, err))
			r, err = b.idleOnce(ctx, c, conns)
		}
		if err != nil {
			b.fail(err)
			continue
		}
		n := float64(r.Conns)
		note := groupDigits(int64(r.Conns)) + " connections"
		b.add("idle RSS per connection", c, "KiB/conn", cSio, note, float64(r.RSSDelta)/n/1024)
		if c == cNode {
			continue
		}
		b.add("idle Go heap per connection", c, "KiB/conn", cSio, note+"; HeapInuse delta after GC", float64(r.HeapLive)/n/1024)
		b.add("idle goroutines per connection", c, "goroutines/conn", cSio,
			fmt.Sprintf("%s; %.1f KiB of goroutine stacks per connection", note, float64(r.Stacks)/n/1024),
			float64(r.Gor)/n)
	}
}

func (b *bench) idleOnce(ctx context.Context, client string, conns int) (result, error) {
	srv, err := b.goServer(ctx, serverConfig{Mode: "idle"})
	if err != nil {
		return result{}, err
	}
	defer srv.stop()
	return b.exec(ctx, client, task{Kind: "idle", URL: srv.URL, Conns: conns, Timeout: 60 + conns/100})
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
