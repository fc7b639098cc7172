package siostream

import (
	"math"
	"math/rand/v2"
	"time"
)

// backoffDelay is the wait before reconnect attempt n (from 1), computed
// as the reference client does: the base doubled per attempt, spread by
// ±factor, then capped at the maximum (so that late attempts wait the
// maximum). A factor outside (0, 1] means no spread, as there.
func backoffDelay(o *Options, n int) time.Duration {
	f := o.RandomizationFactor
	if f <= 0 || f > 1 {
		f = 0
	}
	d := max(o.ReconnectDelay, 0)
	// Past limit, no spread can bring the delay under the maximum any
	// more: doubling further changes nothing but risks overflow.
	limit := time.Duration(math.MaxInt64 / 2)
	if lf := float64(o.ReconnectDelayMax) / (1 - f); f < 1 && lf < float64(limit) {
		limit = time.Duration(lf) // compared as a float: a huge maximum would overflow
	}
	for i := 1; i < n && d <= limit; i++ {
		d *= 2
	}
	if f > 0 {
		dev := time.Duration(rand.Float64() * f * float64(d))
		if rand.IntN(2) == 0 {
			d -= dev
		} else {
			d += dev
		}
	}
	return max(min(d, o.ReconnectDelayMax), 0)
}
