package sioserver

import "time"

// heart is the state of a connection's heartbeat goroutine. Like the
// reference server it pings PingInterval after the open packet and after
// each pong, and ends the connection when no pong follows a ping within
// PingTimeout; the first other packet that arrives while a pong is due
// restarts that wait once.
type heart struct {
	c         *Conn
	next      *time.Timer // next ping
	wait      *time.Timer // pong deadline, running while armed
	connect   <-chan time.Time
	armed     bool
	refreshed bool
}

// heartbeat runs the connection's heartbeat until the connection ends.
func (c *Conn) heartbeat() {
	h := &heart{c: c, next: time.NewTimer(c.s.opts.PingInterval)}
	h.wait = time.NewTimer(time.Hour)
	h.wait.Stop()
	defer h.next.Stop()
	defer h.wait.Stop()
	if ct := c.s.opts.ConnectTimeout; ct > 0 {
		t := time.NewTimer(ct)
		defer t.Stop()
		h.connect = t.C
	}
	for h.step() {
	}
}

// step handles one event and reports whether the connection is still on.
func (h *heart) step() bool {
	c := h.c
	select {
	case <-c.closed:
		return false
	case <-h.connect:
		c.shutdown(ErrConnectTimeout, closeNormal)
		return false
	case <-c.connectSig:
		h.connect = nil
	case <-h.next.C:
		return h.ping()
	case <-c.pingSentSig:
		h.arm()
	case <-c.pongSig:
		h.disarm()
		h.next.Reset(c.s.opts.PingInterval)
	case <-c.activitySig:
		h.refresh()
	case <-c.pingsSig:
		h.toggle()
	case <-h.wait.C:
		return h.expired()
	}
	return true
}

// ping queues the scheduled ping, unless pings are off.
func (h *heart) ping() bool {
	if h.c.pingsOff.Load() {
		h.next.Reset(h.c.s.opts.PingInterval)
		return true
	}
	// Like the reference server, the pong wait starts when the ping is
	// queued, not when a busy socket finally takes it: the write runs on
	// its own goroutine so that a client that stopped reading still times
	// out.
	h.arm()
	h.c.spawn(func() { _ = h.c.writeText([]byte("2")) })
	return true
}

// arm starts waiting for a pong, unless already waiting.
func (h *heart) arm() {
	if h.armed {
		return
	}
	h.armed, h.refreshed = true, false
	h.wait.Reset(h.c.s.opts.PingTimeout)
}

func (h *heart) disarm() {
	h.armed = false
	h.wait.Stop()
}

// refresh restarts the pong wait once per ping when another packet arrives.
func (h *heart) refresh() {
	if h.armed && !h.refreshed {
		h.refreshed = true
		h.wait.Reset(h.c.s.opts.PingTimeout)
	}
}

// toggle applies SetPings.
func (h *heart) toggle() {
	if h.c.pingsOff.Load() {
		h.disarm()
		return
	}
	h.next.Reset(h.c.s.opts.PingInterval)
}

// expired handles a missing pong.
func (h *heart) expired() bool {
	if h.c.readPaused() {
		h.wait.Reset(h.c.s.opts.PingTimeout)
		return true
	}
	h.c.shutdown(ErrPingTimeout, closeNormal)
	return false
}

// SetPings stops (false) or restarts (true) the periodic pings, to play a
// silent server. Turning pings off also stops waiting for a pending pong;
// turning them on schedules the next ping PingInterval later. Pings are on
// by default.
func (c *Conn) SetPings(on bool) {
	c.pingsOff.Store(!on)
	signal(c.pingsSig)
}

// PingNow sends a ping immediately, whatever the schedule, and starts
// waiting for its pong if not waiting already.
func (c *Conn) PingNow() error {
	err := c.writeText([]byte("2"))
	if err == nil {
		signal(c.pingSentSig)
	}
	return err
}
