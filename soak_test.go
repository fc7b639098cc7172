package siostream_test

import (
	"flag"
	"testing"
	"time"
)

// The soak tests run by default in a short version sized for the race
// detector on a small machine. The long version:
//
//	go test -run Soak -soak=30m -soakstreams=1000 -timeout 0 .
var (
	soakFlag        = flag.Duration("soak", 0, "run the soak tests in their long version, the chaos phase lasting this long (0: short version)")
	soakStreamsFlag = flag.Int("soakstreams", 0, "streams in the soak tests (0: 1000 in the long version, fewer in the short one)")
	soakSeedFlag    = flag.Uint64("soakseed", 1, "seed of the fault sequence injected by the chaos soak")
)

type soakConfig struct {
	long           bool
	chaos          time.Duration // how long faults are injected under traffic
	chaosEvery     time.Duration // one fault per interval
	streams        int           // streams under chaos
	restartStreams int           // streams when the server restarts
	pause          time.Duration // how long the slow consumer stops reading
	tickEvery      time.Duration // server broadcast period
	emitEvery      time.Duration // per stream emit period
}

func soakSettings() soakConfig {
	c := soakConfig{chaosEvery: 500 * time.Millisecond, tickEvery: 100 * time.Millisecond, emitEvery: 200 * time.Millisecond}
	switch {
	case *soakFlag > 0:
		c.long, c.chaos, c.streams, c.restartStreams, c.pause = true, *soakFlag, 1000, 1000, 60*time.Second
		c.tickEvery, c.emitEvery = 200*time.Millisecond, 250*time.Millisecond
	case testing.Short():
		c.chaos, c.streams, c.restartStreams, c.pause = 5*time.Second, 40, 100, 2*time.Second
	case raceEnabled:
		c.chaos, c.streams, c.restartStreams, c.pause = 30*time.Second, 250, 300, 5*time.Second
	default:
		c.chaos, c.streams, c.restartStreams, c.pause = 30*time.Second, 300, 300, 5*time.Second
	}
	if n := *soakStreamsFlag; n > 0 {
		c.streams, c.restartStreams = n, n
	}
	return c
}
