package faultproxy

import (
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
	"time"
)

const (
	// chunkSize is the read buffer of one direction of a link.
	chunkSize = 32 << 10
	// splitPause is the pause between the pieces of a split chunk.
	splitPause = 50 * time.Microsecond
	// paceSlices is how many pieces per second a bandwidth cap is paced in.
	paceSlices = 50
)

// Faults describes the faults injected into one direction of every link.
// The zero value forwards bytes unchanged and as fast as possible. Negative
// values count as zero.
type Faults struct {
	Latency   time.Duration // delay between reading a chunk and forwarding it
	Jitter    time.Duration // uniform random extra delay in [0, Jitter] per chunk; order is preserved
	Bandwidth int           // cap in bytes per second; 0 means unlimited
	SplitMax  int           // when > 0, each chunk is written in random pieces of 1..SplitMax bytes with a tiny pause (a short timer sleep) between them
	Blackhole bool          // stop forwarding without closing: bytes are held and reading stops until lifted
}

// normalized returns f with negative values replaced by zero.
func (f Faults) normalized() Faults {
	f.Latency = max(f.Latency, 0)
	f.Jitter = max(f.Jitter, 0)
	f.Bandwidth = max(f.Bandwidth, 0)
	f.SplitMax = max(f.SplitMax, 0)
	return f
}

// direction selects one half of a link.
type direction int

const (
	dirUp   direction = iota // client to server
	dirDown                  // server to client
)

// SetFaults sets the faults of the client-to-server (up) and server-to-client
// (down) directions. They apply at once to open links and to later ones;
// lifting a blackhole releases the bytes held meanwhile.
func (p *Proxy) SetFaults(up, down Faults) {
	p.mu.Lock()
	p.up, p.down = up.normalized(), down.normalized()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// faults returns the current faults of the two directions.
func (p *Proxy) faults() (up, down Faults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up, p.down
}

// faultsFor returns the faults of dir and a channel closed on the next change.
func (p *Proxy) faultsFor(dir direction) (Faults, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if dir == dirUp {
		return p.up, p.changed
	}
	return p.down, p.changed
}

// pipe forwards one direction of a link.
type pipe struct {
	l     *link
	dir   direction
	src   *net.TCPConn
	dst   *net.TCPConn
	timer *time.Timer
	next  time.Time // earliest time of the next write under a bandwidth cap
}

// newPipe returns the pipe for direction dir of l.
func newPipe(l *link, dir direction) *pipe {
	pp := &pipe{l: l, dir: dir, src: l.client, dst: l.server}
	if dir == dirDown {
		pp.src, pp.dst = l.server, l.client
	}
	pp.timer = time.NewTimer(time.Hour)
	pp.timer.Stop()
	return pp
}

// run copies chunks from src to dst until either fails or the link closes,
// then closes the link, resetting the other side when one side was reset.
func (pp *pipe) run() {
	defer pp.timer.Stop()
	buf := make([]byte, chunkSize)
	for {
		n, err := pp.src.Read(buf)
		if n > 0 {
			if werr := pp.forward(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			pp.l.close(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
			return
		}
	}
}

// forward writes one chunk, read at the current time, to dst under the
// current faults.
func (pp *pipe) forward(chunk []byte) error {
	if err := pp.awaitDue(time.Now(), rand.Float64()); err != nil {
		return err
	}
	pp.restartPace()
	for len(chunk) > 0 {
		f, err := pp.awaitOpen()
		if err != nil {
			return err
		}
		n := pieceLen(f, len(chunk))
		if err := pp.pace(f.Bandwidth, n); err != nil {
			return err
		}
		if _, err := pp.dst.Write(chunk[:n]); err != nil {
			return err
		}
		pp.l.p.bytes[pp.dir].Add(int64(n))
		chunk = chunk[n:]
		if f.SplitMax > 0 && len(chunk) > 0 {
			if err := pp.sleep(splitPause); err != nil {
				return err
			}
		}
	}
	return nil
}

// awaitDue waits until a chunk read at start is due: Latency plus the
// fraction u of Jitter later. A change of the faults while waiting moves the
// due time, so lowering the latency releases the chunk early.
func (pp *pipe) awaitDue(start time.Time, u float64) error {
	for {
		f, changed := pp.l.p.faultsFor(pp.dir)
		wait := time.Until(start.Add(f.Latency + time.Duration(u*float64(f.Jitter))))
		if wait <= 0 {
			return nil
		}
		pp.timer.Reset(wait)
		select {
		case <-pp.timer.C:
			return nil
		case <-changed:
			pp.timer.Stop()
		case <-pp.l.done:
			pp.timer.Stop()
			return errLinkClosed
		}
	}
}

// pieceLen returns how many of the remaining bytes to write next under f.
func pieceLen(f Faults, remaining int) int {
	n := remaining
	if f.SplitMax > 0 {
		n = min(n, 1+rand.IntN(f.SplitMax))
	}
	if f.Bandwidth > 0 {
		n = min(n, max(1, f.Bandwidth/paceSlices))
	}
	return n
}

// errLinkClosed is returned by the waits of a pipe once its link is closed.
var errLinkClosed = errors.New("faultproxy: link closed")

// awaitOpen returns the current faults of the pipe's direction, waiting
// while it is blackholed. It fails once the link is closed.
func (pp *pipe) awaitOpen() (Faults, error) {
	for {
		f, changed := pp.l.p.faultsFor(pp.dir)
		if !f.Blackhole {
			return f, nil
		}
		select {
		case <-changed:
		case <-pp.l.done:
			return f, errLinkClosed
		}
	}
}

// restartPace forgets the pacing debt of an idle period, so that bytes saved
// up while nothing was sent do not come out in a burst. Within a chunk the
// debt is kept, which makes up for timers that fire late.
func (pp *pipe) restartPace() {
	if now := time.Now(); pp.next.Before(now) {
		pp.next = now
	}
}

// pace waits until n more bytes fit under a cap of bandwidth bytes per second.
func (pp *pipe) pace(bandwidth, n int) error {
	if bandwidth <= 0 {
		pp.next = time.Time{}
		return nil
	}
	if pp.next.IsZero() {
		pp.next = time.Now()
	}
	if err := pp.sleep(time.Until(pp.next)); err != nil {
		return err
	}
	pp.next = pp.next.Add(time.Duration(n) * time.Second / time.Duration(bandwidth))
	return nil
}

// sleep waits for d; it fails at once when the link is closed.
func (pp *pipe) sleep(d time.Duration) error {
	if d <= 0 {
		select {
		case <-pp.l.done:
			return errLinkClosed
		default:
			return nil
		}
	}
	pp.timer.Reset(d)
	select {
	case <-pp.timer.C:
		return nil
	case <-pp.l.done:
		pp.timer.Stop()
		return errLinkClosed
	}
}
