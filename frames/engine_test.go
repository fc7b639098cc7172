package frames

import (
	"math"
	"testing"
	"time"
)

// TestOpenDeadline checks Deadline on the valid open packets, the longest
// of which give 48 hours.
func TestOpenDeadline(t *testing.T) {
	longest := time.Duration(0)
	for _, c := range goldens {
		if c.open == nil {
			continue
		}
		if got, want := c.open.Deadline(), c.open.PingInterval+c.open.PingTimeout; got != want || got <= 0 {
			t.Errorf("%s: Deadline %v, want %v", c.name, got, want)
		}
		longest = max(longest, c.open.Deadline())
	}
	if longest != 48*time.Hour {
		t.Errorf("longest Deadline %v, want 48h", longest)
	}
}

func TestParseCount(t *testing.T) {
	for _, c := range []struct {
		val     string
		limit   int64
		n       int64
		problem countProblem
	}{
		{val: "0", limit: 0},
		{val: "5", limit: 5, n: 5},
		{val: "7", limit: 5, problem: countTooLarge},
		{val: "10", limit: 9, problem: countTooLarge},
		{val: "86400000", limit: maxPingMillis, n: maxPingMillis},
		{val: "86400001", limit: maxPingMillis, problem: countTooLarge},
		{val: "9223372036854775807", limit: math.MaxInt64, n: math.MaxInt64},
		{val: "9223372036854775808", limit: math.MaxInt64, problem: countTooLarge},
		{val: "99999999999999999999", limit: math.MaxInt64, problem: countTooLarge},
		{val: "-3", limit: 9, problem: countNegative},
		{val: "-0", limit: 9, problem: countNegative},
		{val: "1.0", limit: 9, problem: countNotInteger},
		{val: "1E2", limit: 999, problem: countNotInteger},
		{val: "true", limit: 9, problem: countNotNumber},
		{val: `"1"`, limit: 9, problem: countNotNumber},
	} {
		n, problem := parseCount([]byte(c.val), c.limit)
		if n != c.n || problem != c.problem {
			t.Errorf("%s up to %d: %d, %v; want %d, %v", c.val, c.limit, n, problem, c.n, c.problem)
		}
	}
}
