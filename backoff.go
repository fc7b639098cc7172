package siostream

import (
	"math/rand/v2"
	"time"
)

// backoffDelay is the wait before reconnect attempt n (from 1): the base
// doubling per attempt, spread by ±factor, capped at max, as the reference
// client computes it.
func backoffDelay(o *Options, n int) time.Duration {
	d := o.ReconnectDelay
	for i := 1; i < n && d < o.ReconnectDelayMax; i++ {
		d *= 2
	}
	if f := o.RandomizationFactor; f > 0 {
		dev := time.Duration(rand.Float64() * f * float64(d))
		if rand.IntN(2) == 0 {
			d -= dev
		} else {
			d += dev
		}
	}
	return min(d, o.ReconnectDelayMax)
}
