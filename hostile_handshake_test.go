package siostream_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/siostream/siostream"
	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/sioserver"
)

// TestHostileHandshake covers what a server can do wrong before the
// Engine.IO session exists: Dial must fail within ConnectTimeout with an
// error that says why, allocate little, and leave no goroutine behind.
func TestHostileHandshake(t *testing.T) {
	const timeout = 300 * time.Millisecond
	cases := []struct {
		name   string
		handle func(net.Conn, <-chan struct{})
		check  func(error) bool
		want   string
	}{
		{"silent after TCP accept", func(nc net.Conn, done <-chan struct{}) { <-done },
			func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }, "a timeout"},
		{"HTTP 500", respond500, func(err error) bool { return err != nil && strings.Contains(err.Error(), "500") }, "the status"},
		{"bad Sec-WebSocket-Accept", func(nc net.Conn, _ <-chan struct{}) {
			bufio.NewReader(nc).ReadString('\n')
			nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm9wZQ==\r\n\r\n"))
			rawDrain(nc)
		}, func(err error) bool { return err != nil }, "an error"},
		{"endless response headers", func(nc net.Conn, done <-chan struct{}) {
			bufio.NewReader(nc).ReadString('\n')
			nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n"))
			line := []byte("X-Filler: " + strings.Repeat("f", 1000) + "\r\n")
			for i := 0; i < 100000; i++ { // at most ~100 MB, stops when the client leaves
				if _, err := nc.Write(line); err != nil {
					return
				}
			}
		}, func(err error) bool { return err != nil }, "an error"},
		{"first packet not open", upgradeThen(`40`),
			func(err error) bool { var pe *siostream.ProtocolError; return errors.As(err, &pe) }, "a *ProtocolError"},
		{"open packet not JSON", upgradeThen(`0{"sid":`),
			func(err error) bool { var pe *siostream.ProtocolError; return errors.As(err, &pe) }, "a *ProtocolError"},
		{"open packet nested 100000 deep", upgradeThen(`0` + strings.Repeat(`{"a":`, 100000)),
			func(err error) bool { return errors.Is(err, frames.ErrTooDeep) }, "frames.ErrTooDeep"},
		{"open packet with pingInterval 0", upgradeThen(`0{"sid":"s","upgrades":[],"pingInterval":0,"pingTimeout":1,"maxPayload":1}`),
			func(err error) bool { return errors.Is(err, frames.ErrBadOpen) }, "frames.ErrBadOpen"},
		{"open packet with negative pingTimeout", upgradeThen(`0{"sid":"s","upgrades":[],"pingInterval":100,"pingTimeout":-1,"maxPayload":1}`),
			func(err error) bool { return errors.Is(err, frames.ErrBadOpen) }, "frames.ErrBadOpen"},
		{"open packet without sid", upgradeThen(`0{"upgrades":[],"pingInterval":100,"pingTimeout":100,"maxPayload":1}`),
			func(err error) bool { return errors.Is(err, frames.ErrBadOpen) }, "frames.ErrBadOpen"},
		{"open then silence", upgradeThen(rawOpen),
			func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }, "a timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRawServer(t, tc.handle)
			runtime.GC()
			before := readMem()
			start := time.Now()
			s, err := siostream.Dial(context.Background(), rs.URL(), siostream.Options{ConnectTimeout: timeout})
			took := time.Since(start)
			after := readMem()
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			if !tc.check(err) {
				t.Errorf("Dial error %v (%T), want %s", err, err, tc.want)
			}
			if took > timeout+time.Second {
				t.Errorf("Dial took %v with ConnectTimeout %v", took, timeout)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*oneMiB {
				t.Errorf("Dial allocated %.1f MiB", float64(alloc)/oneMiB)
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
		})
	}
}

// TestHostileLostBeforeConnectReply: during Dial the connection is lost
// after the open packet but before the CONNECT reply. Dial should fail
// soon with the cause, not wait out ConnectTimeout and report a bare
// timeout.
func TestHostileLostBeforeConnectReply(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	afterConnect := func(reply func(p *rawPeer)) func(net.Conn, <-chan struct{}) {
		return func(nc net.Conn, _ <-chan struct{}) {
			p, err := rawAccept(nc, rawOpen)
			if err != nil {
				return
			}
			if _, err := p.until("40"); err != nil { // the CONNECT
				return
			}
			reply(p)
		}
	}
	cases := []struct {
		name   string
		handle func(net.Conn, <-chan struct{})
		cause  func(error) bool
	}{
		{"CONNECT_ERROR nested 100000 deep", afterConnect(func(p *rawPeer) {
			p.text(`44{"message":"no","data":` + strings.Repeat("[", 100000) + `}`)
			rawDrain(p.nc)
		}), func(err error) bool { return errors.Is(err, frames.ErrTooDeep) }},
		{"unknown packet instead of the reply", afterConnect(func(p *rawPeer) {
			p.text(`9`)
			rawDrain(p.nc)
		}), func(err error) bool { var pe *siostream.ProtocolError; return errors.As(err, &pe) }},
		{"TCP closed instead of the reply", afterConnect(func(*rawPeer) {}),
			func(err error) bool { return err != nil && !errors.Is(err, context.DeadlineExceeded) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := newRawServer(t, tc.handle)
			start := time.Now()
			s, err := siostream.Dial(context.Background(), rs.URL(), siostream.Options{ConnectTimeout: timeout})
			took := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
			if !tc.cause(err) {
				if errors.Is(err, context.DeadlineExceeded) && took >= timeout {
					t.Fatalf("a connection lost before the CONNECT reply during Dial is not reported to Dial: "+
						"the manager reconnects in the background and Dial waits out ConnectTimeout (%v), then returns %q without the cause", timeout, err)
				}
				t.Fatalf("Dial error %v (%T) does not carry the cause", err, err)
			}
			if took > timeout/2 {
				t.Errorf("Dial took %v to report the lost connection (ConnectTimeout %v)", took, timeout)
			}
		})
	}
}

// TestHostile2OpenPacketNumbers: numbers in the open packet at and past the
// limits of a millisecond time.Duration, negative, zero. Dial must fail
// with an error that names the field, or (for values it may clamp) connect
// and stay connected.
func TestHostile2OpenPacketNumbers(t *testing.T) {
	cases := []struct {
		name                          string
		interval, timeout, maxPayload string
		field                         string // field a Dial error must name
	}{
		{"pingInterval MaxInt64 ms", "9223372036854775807", "20000", "1000000", "pingInterval"},
		{"pingTimeout MaxInt64 ms", "25000", "9223372036854775807", "1000000", "pingTimeout"},
		{"pingInterval largest Duration ms, pingTimeout 1", "9223372036854", "1", "1000000", "pingInterval"},
		{"pingInterval + pingTimeout overflow int64 ns", "5000000000000", "5000000000000", "1000000", "pingInterval"},
		{"pingInterval and pingTimeout 1e12 ms (31 years each)", "1000000000000", "1000000000000", "1000000", "pingInterval"},
		{"pingInterval -1", "-1", "20000", "1000000", "pingInterval"},
		{"pingTimeout -20000", "25000", "-20000", "1000000", "pingTimeout"},
		{"pingInterval 0", "0", "20000", "1000000", "pingInterval"},
		{"pingTimeout 0", "25000", "0", "1000000", "pingTimeout"},
		{"pingInterval 2.5e4", "2.5e4", "20000", "1000000", "pingInterval"},
		{"maxPayload -1", "25000", "20000", "-1", "maxPayload"},
		{"maxPayload MaxInt64", "25000", "20000", "9223372036854775807", "maxPayload"},
		{"maxPayload 1e30", "25000", "20000", "1000000000000000000000000000000", "maxPayload"},
		{"maxPayload 0", "25000", "20000", "0", "maxPayload"},
	}
	var table []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			open := fmt.Sprintf(`0{"sid":"raw","upgrades":[],"pingInterval":%s,"pingTimeout":%s,"maxPayload":%s}`,
				tc.interval, tc.timeout, tc.maxPayload)
			rs := newRawServer(t, func(nc net.Conn, _ <-chan struct{}) {
				if p, err := rawAccept(nc, open); err == nil {
					p.serve()
				}
			})
			start := time.Now()
			s, err := siostream.Dial(context.Background(), rs.URL(), siostream.Options{ConnectTimeout: 3 * time.Second, NoReconnect: true})
			took := time.Since(start)
			if err != nil {
				line := fmt.Sprintf("%s: Dial failed after %v: %v", tc.name, took.Round(time.Millisecond), err)
				table = append(table, line)
				t.Log(line)
				if !strings.Contains(err.Error(), tc.field) {
					t.Errorf("the Dial error does not name the field %q", tc.field)
				}
				return
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			emitErr := s.Emit(ctx, "probe")
			cancel()
			ev := nextEventOrDisconnect(t, s, "probed", 5*time.Second)
			line := fmt.Sprintf("%s: connected after %v; probe emit %v; then %v %s %v", tc.name, took.Round(time.Millisecond),
				emitErr, ev.Kind, ev.Reason(), ev.Err())
			table = append(table, line)
			t.Log(line)
			if ev.Kind != siostream.KindEvent {
				t.Errorf("connected, then lost the connection at once: %q %v", ev.Reason(), ev.Err())
			}
		})
	}
	t.Logf("open packet numbers:\n%s", strings.Join(table, "\n"))
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHostile2ErrorsHideSecrets: URLs carry credentials (user:password, a
// token in the query) and a fragment. No error text and no log line may
// repeat them.
func TestHostile2ErrorsHideSecrets(t *testing.T) {
	secrets := []string{"s3cret", "t0ken"}
	leaks := func(s string) []string {
		var out []string
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				out = append(out, sec)
			}
		}
		return out
	}
	closedAddr := refClosedAddr(t)
	status500 := newRawServer(t, respond500)
	urls := []struct{ name, url string }{
		{"bad port", "http://user:s3cret@host:bad-port/?token=t0ken#frag"},
		{"bad escape in the path", "http://host/%zz?token=t0ken"},
		{"bad escape in the host", "http://user:s3cret@ho%zzst/?token=t0ken#frag"},
		{"unclosed IPv6 bracket", "ws://user:s3cret@[::1/?token=t0ken#frag"},
		{"control byte", "http://user:s3cret@host/\x7f?token=t0ken#frag"},
		{"bad scheme", "ftp://user:s3cret@host/?token=t0ken#frag"},
		{"connection refused", "http://user:s3cret@" + closedAddr + "/?token=t0ken#frag"},
		{"HTTP 500", "http://user:s3cret@" + status500.ln.Addr().String() + "/?token=t0ken#frag"},
	}
	for _, u := range urls {
		t.Run(u.name, func(t *testing.T) {
			var logs lockedBuffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			s, err := siostream.Dial(context.Background(), u.url, siostream.Options{ConnectTimeout: 2 * time.Second, NoReconnect: true, Logger: logger})
			if err == nil {
				s.Close()
				t.Fatalf("Dial %q succeeded", u.url)
			}
			t.Logf("Dial error: %v", err)
			if l := leaks(err.Error()); l != nil {
				t.Errorf("the Dial error repeats %q: dial.go endpointURL wraps the *url.Error of url.Parse, whose text "+
					"quotes the whole URL (user info and query)", l)
			}
			if l := leaks(logs.String()); l != nil {
				t.Errorf("the log repeats %q: %s", l, logs.String())
			}
		})
	}
	t.Run("lifecycle errors and log lines", func(t *testing.T) {
		var logs lockedBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		srv, err := sioserver.New(sioserver.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		url := strings.Replace(srv.URL(), "http://", "http://user:s3cret@", 1) + "/?token=t0ken#frag"
		s := dial(t, url, siostream.Options{Logger: logger})
		next(t, s, siostream.KindConnected, 5*time.Second)
		srv.Close() // connection lost, then every attempt is refused
		var texts []string
		for len(texts) < 3 {
			ev := next(t, s, siostream.KindConnectError, 10*time.Second)
			texts = append(texts, ev.Err().Error())
		}
		s.Close()
		t.Logf("connect errors: %q", texts)
		t.Logf("log:\n%s", logs.String())
		for _, text := range texts {
			if l := leaks(text); l != nil {
				t.Errorf("a KindConnectError repeats %q: %s", l, text)
			}
		}
		if l := leaks(logs.String()); l != nil {
			t.Errorf("the log repeats %q", l)
		}
	})
}

// upgradeThen completes the WebSocket handshake and writes the given text
// frames, then waits for the client to go away.
func upgradeThen(textFrames ...string) func(net.Conn, <-chan struct{}) {
	return func(nc net.Conn, done <-chan struct{}) {
		if _, err := ws.Upgrade(nc); err != nil {
			return
		}
		p := &rawPeer{nc: nc}
		for _, f := range textFrames {
			if err := p.text(f); err != nil {
				return
			}
		}
		rawDrain(nc)
	}
}

// respond500 answers the handshake with HTTP 500, then waits for the
// client to go away.
func respond500(nc net.Conn, _ <-chan struct{}) {
	bufio.NewReader(nc).ReadString('\n')
	nc.Write([]byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"))
	rawDrain(nc)
}

// rawDrain reads nc until the client goes away.
func rawDrain(nc net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := nc.Read(buf); err != nil {
			return
		}
	}
}
