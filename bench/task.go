package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// task is one measurement, run in a fresh process (a Go child of the
// bench binary, or node) against a server that is already listening.
// The same JSON goes to bench/node/client.js.
type task struct {
	Client  string `json:"client"`
	Kind    string `json:"kind"` // receive, emit, ack, idle
	URL     string `json:"url"`
	N       int    `json:"n"`       // receive: expected events; emit: events; ack: round trips
	Size    int    `json:"size"`    // emit, ack: payload bytes
	Struct  bool   `json:"struct"`  // emit: the argument is a smallStruct whose B has Size bytes
	Workers int    `json:"workers"` // emit: goroutines
	Warmup  int    `json:"warmup"`  // ack: round trips not measured
	Conns   int    `json:"conns"`   // idle: connections
	Timeout int    `json:"timeout"` // seconds for the whole task
}

// result is what a task reports on stdout as one JSON line.
type result struct {
	Events   int       `json:"events,omitempty"`
	Seconds  float64   `json:"seconds,omitempty"`
	Mallocs  uint64    `json:"mallocs,omitempty"`
	Bytes    uint64    `json:"bytes,omitempty"`
	Lat      []float64 `json:"lat_us,omitempty"` // ack: round trips, µs
	RSSDelta int64     `json:"rss_delta,omitempty"`
	Conns    int       `json:"conns,omitempty"`
	HeapLive uint64    `json:"heap_live,omitempty"`  // Go: heap in use after GC, delta
	Stacks   uint64    `json:"stacks,omitempty"`     // Go: goroutine stacks, delta
	Gor      int       `json:"goroutines,omitempty"` // Go: goroutines added
	Redials  int       `json:"redials,omitempty"`    // dials that failed and were made again
	Err      string    `json:"error,omitempty"`
}

// goClients are the clients implemented in this module.
var goClients = map[string]func(context.Context, task) (result, error){
	"floor":      runFloor,
	"siostream":  runSiostream,
	"zishang520": runZishang,
}

// runChild runs a task given as JSON and prints its result.
func runChild(spec, cpuprofile, memprofile string) int {
	var t task
	if err := json.Unmarshal([]byte(spec), &t); err != nil {
		fmt.Fprintln(os.Stderr, "bad task:", err)
		return 2
	}
	run, ok := goClients[t.Client]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown client", t.Client)
		return 2
	}
	timeout := time.Duration(max(t.Timeout, 10)) * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// A task is bounded by its own timer even if the parent never ends it.
	stop := time.AfterFunc(timeout+5*time.Second, func() {
		fmt.Fprintln(os.Stderr, "task overran its timeout")
		os.Exit(3)
	})
	defer stop.Stop()
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	r, err := run(ctx, t)
	r.Redials = int(redials.Load())
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if memprofile != "" {
		if f, err := os.Create(memprofile); err == nil {
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	if err != nil {
		r.Err = err.Error()
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	if err != nil {
		return 1
	}
	return 0
}

// memSnap is a MemStats reading for per-event allocation figures.
type memSnap struct{ mallocs, bytes uint64 }

func readMem() memSnap {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSnap{m.Mallocs, m.TotalAlloc}
}

func (r *result) setMem(before, after memSnap) {
	r.Mallocs = after.mallocs - before.mallocs
	r.Bytes = after.bytes - before.bytes
}

// vmRSS returns the resident set size of this process from
// /proc/self/status, in bytes.
func vmRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			break
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		return kb << 10, err
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

// settle collects garbage and returns freed memory to the OS, so that the
// resident size counts what is live.
func settle() (rss int64, m runtime.MemStats, err error) {
	runtime.GC()
	debug.FreeOSMemory()
	runtime.ReadMemStats(&m)
	rss, err = vmRSS()
	return rss, m, err
}

func delta(a, b uint64) uint64 { return b - min(a, b) }

// idleMeasure dials t.Conns connections with dial (bounded concurrency),
// waits, and reports the deltas of resident size, Go heap in use,
// goroutine stacks and goroutines. The connections are left to the
// process exit.
func idleMeasure(ctx context.Context, t task, dial func(context.Context) error) (result, error) {
	rss0, m0, err := settle()
	if err != nil {
		return result{}, err
	}
	g0 := runtime.NumGoroutine()
	const inFlight = 32
	sem := make(chan struct{}, inFlight)
	errc := make(chan error, 1)
	for i := 0; i < t.Conns; i++ {
		select {
		case sem <- struct{}{}:
		case err := <-errc:
			return result{}, err
		case <-ctx.Done():
			return result{}, fmt.Errorf("dialled %d of %d: %w", i, t.Conns, ctx.Err())
		}
		go func() {
			defer func() { <-sem }()
			_, err := redial(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, dial(ctx) })
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
	for range inFlight {
		select {
		case sem <- struct{}{}:
		case err := <-errc:
			return result{}, err
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
	}
	select {
	case err := <-errc:
		return result{}, err
	default:
	}
	time.Sleep(time.Second)
	rss1, m1, err := settle()
	if err != nil {
		return result{}, err
	}
	return result{
		Conns:    t.Conns,
		RSSDelta: rss1 - rss0,
		HeapLive: delta(m0.HeapInuse, m1.HeapInuse),
		Stacks:   delta(m0.StackInuse, m1.StackInuse),
		Gor:      runtime.NumGoroutine() - g0,
	}, nil
}

// redials counts the dials that failed and were made again.
var redials atomic.Int64

// redial calls dial until it succeeds, at most 4 times: one handshake
// lost among thousands must not spoil a figure. Retries are counted and
// reported.
func redial[T any](ctx context.Context, dial func(context.Context) (T, error)) (T, error) {
	v, err := dial(ctx)
	for try := 1; err != nil && try <= 3 && ctx.Err() == nil; try++ {
		redials.Add(1)
		v, err = dial(ctx)
	}
	return v, err
}

// smallStruct is the argument of the small-struct emit: a value a caller
// builds for every emit.
type smallStruct struct {
	A int    `json:"a"`
	B string `json:"b"`
}

// emitSpread calls emit(i) for i in [0, n), spread over workers
// goroutines (at least one), and returns the errors joined. A worker stops
// at its first error.
func emitSpread(n, workers int, emit func(i int) error) error {
	w := max(1, workers)
	errs := make([]error, w)
	var wg sync.WaitGroup
	first := 0
	for k := range w {
		count := n / w
		if k < n%w {
			count++
		}
		from := first
		first += count
		wg.Go(func() {
			for i := from; i < from+count; i++ {
				if err := emit(i); err != nil {
					errs[k] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// latencies records round trips in µs.
type latencies []float64

func (l *latencies) add(d time.Duration) {
	*l = append(*l, float64(d.Nanoseconds())/1e3)
}

var errCount = errors.New("event count mismatch")

func checkCount(got, want int) error {
	if got != want {
		return fmt.Errorf("%w: got %d, want %d", errCount, got, want)
	}
	return nil
}

// sinkCount parses the "done" ack of the sink server: [count].
func sinkCount(raw []byte) (int, error) {
	raw = bytes.TrimSpace(raw)
	var v []int
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != 1 {
		return 0, fmt.Errorf("bad done ack %q", raw)
	}
	return v[0], nil
}
