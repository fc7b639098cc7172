package siostream

import (
	"math"
	"testing"
	"time"
)

// jitterSamples is how many delays a jittered case draws.
const jitterSamples = 500

func TestBackoffDelay(t *testing.T) {
	const ms = time.Millisecond
	cases := []struct {
		name      string
		base, max time.Duration
		factor    float64 // negative: no jitter
		attempt   int
		lo, hi    time.Duration // every delay is within [lo, hi]
	}{
		// Without jitter the base doubles per attempt up to the cap.
		{name: "attempt 1 is the base", base: 100 * ms, max: time.Second, factor: -1, attempt: 1, lo: 100 * ms, hi: 100 * ms},
		{name: "attempt 0 counts as the first", base: 100 * ms, max: time.Second, factor: -1, attempt: 0, lo: 100 * ms, hi: 100 * ms},
		{name: "attempt 2 doubles", base: 100 * ms, max: time.Second, factor: -1, attempt: 2, lo: 200 * ms, hi: 200 * ms},
		{name: "attempt 3 doubles again", base: 100 * ms, max: time.Second, factor: -1, attempt: 3, lo: 400 * ms, hi: 400 * ms},
		{name: "attempt 4 under the cap", base: 100 * ms, max: time.Second, factor: -1, attempt: 4, lo: 800 * ms, hi: 800 * ms},
		{name: "attempt 5 capped", base: 100 * ms, max: time.Second, factor: -1, attempt: 5, lo: time.Second, hi: time.Second},
		{name: "attempt 1000 capped without overflow", base: 100 * ms, max: time.Second, factor: -1, attempt: 1000, lo: time.Second, hi: time.Second},
		{name: "base over the cap", base: 2 * time.Second, max: time.Second, factor: -1, attempt: 1, lo: time.Second, hi: time.Second},
		{name: "huge cap still doubles", base: time.Second, max: math.MaxInt64, factor: -1, attempt: 3, lo: 4 * time.Second, hi: 4 * time.Second},
		{name: "huge cap spread still doubles", base: time.Second, max: math.MaxInt64, factor: 0.5, attempt: 3, lo: 2 * time.Second, hi: 6 * time.Second},
		{name: "base equal to the cap", base: time.Second, max: time.Second, factor: -1, attempt: 3, lo: time.Second, hi: time.Second},

		// With jitter each delay is spread by ±factor, then capped.
		{name: "attempt 1 spread by half", base: 100 * ms, max: 10 * time.Second, factor: 0.5, attempt: 1, lo: 50 * ms, hi: 150 * ms},
		{name: "attempt 3 spread by half", base: 100 * ms, max: 10 * time.Second, factor: 0.5, attempt: 3, lo: 200 * ms, hi: 600 * ms},
		{name: "attempt 2 spread by a tenth", base: 100 * ms, max: 10 * time.Second, factor: 0.1, attempt: 2, lo: 180 * ms, hi: 220 * ms},
		{name: "spread never passes the cap", base: 400 * ms, max: 500 * ms, factor: 0.5, attempt: 1, lo: 200 * ms, hi: 500 * ms},
		// Past the cap the reference client waits exactly max; here the
		// doubling stops at the first value over max and that value is
		// spread, so a delay may fall below max, never below (1-f)·max.
		{name: "attempt 20 at the cap", base: time.Second, max: 5 * time.Second, factor: 0.5, attempt: 20, lo: 2500 * ms, hi: 5 * time.Second},
		{name: "full spread stays positive", base: 100 * ms, max: 10 * time.Second, factor: 1, attempt: 1, lo: 0, hi: 200 * ms},
		// A factor over 1 spreads past zero: a delay must still not be
		// negative, as the reference client, which takes a factor outside
		// (0, 1] for none, never makes one.
		{name: "factor over 1 never negative", base: 100 * ms, max: 10 * time.Second, factor: 1.5, attempt: 1, lo: 0, hi: 250 * ms},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{ReconnectDelay: tc.base, ReconnectDelayMax: tc.max, RandomizationFactor: tc.factor}
			samples := 1
			if tc.factor > 0 {
				samples = jitterSamples
			}
			for range samples {
				if d := backoffDelay(&o, tc.attempt); d < tc.lo || d > tc.hi {
					t.Fatalf("backoffDelay(attempt %d) = %v, want within [%v, %v]", tc.attempt, d, tc.lo, tc.hi)
				}
			}
		})
	}
}

// TestBackoffJitterBothWays checks that the jitter shortens and lengthens
// delays: a spread one way only would bunch reconnects all the same.
func TestBackoffJitterBothWays(t *testing.T) {
	o := Options{ReconnectDelay: 100 * time.Millisecond, ReconnectDelayMax: 10 * time.Second, RandomizationFactor: 0.5}
	var shorter, longer int
	for range jitterSamples {
		switch d := backoffDelay(&o, 1); {
		case d < o.ReconnectDelay:
			shorter++
		case d > o.ReconnectDelay:
			longer++
		}
	}
	if shorter == 0 || longer == 0 {
		t.Fatalf("of %d delays around %v, %d shorter and %d longer", jitterSamples, o.ReconnectDelay, shorter, longer)
	}
}

// TestBackoffDefaults checks the delays of the zero Options: 1 s doubling
// to 5 s, spread by half.
func TestBackoffDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second} {
		lo, hi := want/2, min(want*3/2, 5*time.Second)
		for range jitterSamples {
			if d := backoffDelay(&o, attempt); d < lo || d > hi {
				t.Fatalf("attempt %d: %v, want within [%v, %v]", attempt, d, lo, hi)
			}
		}
	}
}
