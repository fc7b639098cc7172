package sioserver

import (
	"time"
)

// demoStep is the period of the demo streams' clock.
const demoStep = 500 * time.Millisecond

var demoUsers = []string{"ada", "grace", "linus", "margaret"}

var demoLines = []string{
	"hello there",
	"anyone around?",
	"the build is green",
	"coffee time",
	"shipping it",
	"looks good to me",
	"back in five",
}

// NewDemo starts a server like [New] that entertains its clients: while a
// client is connected to a namespace, it receives there a "tick" event
// every second ({"n": counter, "time": RFC 3339}, the first one right
// after the CONNECT reply), a "chat" event every 1.5 s ({"user", "text"}
// from a fixed list) and every fifth second a "blob" binary event of 8
// bytes. Unless opts.Handler is set, events that ask for an ack are
// acknowledged with their own arguments and all others are echoed back as
// "echo". opts.OnConnect, if set, still runs.
func NewDemo(opts Options) (*Server, error) {
	user := opts.OnConnect
	opts.OnConnect = func(c *Conn, ns string) {
		c.startDemo(ns)
		if user != nil {
			user(c, ns)
		}
	}
	if opts.Handler == nil {
		opts.Handler = demoHandler
	}
	return New(opts)
}

// demoHandler acks events that ask for it and echoes the others.
func demoHandler(c *Conn, ev *Received) {
	if ev.HasID {
		_ = c.ackOwnArgs(ev)
		return
	}
	_ = c.emitEncoded(ev.Namespace, "echo", rawArgs(ev), 0, false)
}

// startDemo streams the demo events to ns until the client leaves it.
func (c *Conn) startDemo(ns string) {
	done := c.namespaceDone(ns)
	if done == nil {
		return
	}
	c.spawn(func() { c.demo(ns, done) })
}

func (c *Conn) demo(ns string, done <-chan struct{}) {
	t := time.NewTicker(demoStep)
	defer t.Stop()
	for k := 0; ; k++ {
		c.demoEvents(ns, k)
		select {
		case <-t.C:
		case <-done:
			return
		case <-c.closed:
			return
		}
	}
}

// demoEvents sends what is due at step k: a tick every second step (with
// a blob every tenth), a chat line every third, offset by one.
func (c *Conn) demoEvents(ns string, k int) {
	if k%2 == 0 {
		n := k/2 + 1
		tick := map[string]any{"n": n, "time": time.Now().UTC().Format(time.RFC3339)}
		_ = c.Emit(ns, "tick", tick)
		if n%5 == 0 {
			_ = c.Emit(ns, "blob", []byte{'b', 'l', 'o', 'b', 0, 0, byte(n >> 8), byte(n)})
		}
	}
	if k%3 == 1 {
		i := k / 3
		chat := map[string]string{
			"user": demoUsers[i%len(demoUsers)],
			"text": demoLines[i%len(demoLines)],
		}
		_ = c.Emit(ns, "chat", chat)
	}
}
