package engine

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rawListen answers one TCP connection with serve, which sees the bytes
// of the request as the client sends them. The URL carries credentials,
// which no error may show.
func rawListen(t *testing.T, serve func(nc net.Conn)) *url.URL {
	t.Helper()
	addr := acceptOne(t, serve)
	return &url.URL{Scheme: "ws", User: url.UserPassword("u", "secret"), Host: addr, Path: "/socket.io/", RawQuery: "EIO=4&transport=websocket&token=secret"}
}

// answer reads the request head and writes resp.
func answer(resp string) func(nc net.Conn) {
	return func(nc net.Conn) {
		buf := make([]byte, 4096)
		nc.Read(buf) // the request fits one read on loopback
		io.WriteString(nc, resp)
		io.Copy(io.Discard, nc)
	}
}

func TestDialErrors(t *testing.T) {
	freePort := func(t *testing.T) *url.URL {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return &url.URL{Scheme: "ws", Host: ln.Addr().String(), Path: "/socket.io/"}
	}
	cases := []struct {
		name    string
		url     func(t *testing.T) *url.URL
		timeout time.Duration
		header  http.Header
		step    Step
		status  int
		notWS   bool
		is      error
	}{
		{name: "refused", url: freePort, step: StepTCP},
		{name: "HTTP status", url: func(t *testing.T) *url.URL {
			return rawListen(t, answer("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"))
		}, step: StepUpgrade, status: 403},
		{name: "HTTP/1.0", url: func(t *testing.T) *url.URL {
			return rawListen(t, answer("HTTP/1.0 200 OK\r\n\r\n"))
		}, step: StepUpgrade, notWS: true},
		{name: "no Upgrade header", url: func(t *testing.T) *url.URL {
			return rawListen(t, answer("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n"))
		}, step: StepUpgrade, notWS: true},
		{name: "first packet not open", url: func(t *testing.T) *url.URL {
			return listen(t, func(p *peer) { p.text("40"); p.drain() })
		}, step: StepOpen, is: errNotOpen},
		{name: "binary first packet", url: func(t *testing.T) *url.URL {
			return listen(t, func(p *peer) { p.raw(0x82, 1, '0'); p.drain() })
		}, step: StepOpen, is: errNotOpen},
		{name: "open without sid", url: func(t *testing.T) *url.URL {
			return listen(t, func(p *peer) { p.text(`0{"pingInterval":1,"pingTimeout":1}`); p.drain() })
		}, step: StepOpen},
		{name: "silent after the upgrade", url: func(t *testing.T) *url.URL {
			return listen(t, func(p *peer) { p.drain() })
		}, timeout: 100 * time.Millisecond, step: StepOpen, is: context.DeadlineExceeded},
		{name: "silent before the upgrade", url: func(t *testing.T) *url.URL {
			return rawListen(t, func(nc net.Conn) { io.Copy(io.Discard, nc) })
		}, timeout: 100 * time.Millisecond, step: StepUpgrade, is: context.DeadlineExceeded},
		{name: "Host with a line break", url: freePort, header: http.Header{"Host": {"a\r\nX-Evil: 1"}}, step: StepUpgrade, is: errBadHost},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			u := tc.url(t)
			c, err := Dial(ctx, &Config{URL: u, Header: tc.header})
			if err == nil {
				c.Discard()
				t.Fatal("Dial succeeded")
			}
			var de *DialError
			if !errors.As(err, &de) {
				t.Fatalf("Dial = %T %v, want a *DialError", err, err)
			}
			if de.Step != tc.step || de.Status != tc.status || de.NotWebSocket != tc.notWS {
				t.Errorf("DialError{Step: %q, Status: %d, NotWebSocket: %v}, want {%q, %d, %v}: %v",
					de.Step, de.Status, de.NotWebSocket, tc.step, tc.status, tc.notWS, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Dial = %v, want it to match %v", err, tc.is)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows a credential: %v", err)
			}
			if de.URL != Redact(u) {
				t.Errorf("DialError.URL = %q, want %q", de.URL, Redact(u))
			}
		})
	}
}

// TestDialHost: a Host in the header replaces the URL's host on the one
// Host line of the request, and other headers go along.
func TestDialHost(t *testing.T) {
	req := make(chan *http.Request, 1)
	u := rawListen(t, func(nc net.Conn) {
		r, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			t.Error(err)
			return
		}
		req <- r
		io.WriteString(nc, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
	})
	h := http.Header{"host": {"chat.example"}, "X-Token": {"t1"}}
	_, err := Dial(context.Background(), &Config{URL: u, Header: h})
	if err == nil {
		t.Fatal("Dial succeeded")
	}
	r := <-req
	if r.Host != "chat.example" || r.Header.Get("X-Token") != "t1" || len(r.Header.Values("Host")) != 0 {
		t.Errorf("request Host %q, header %v", r.Host, r.Header)
	}
	if len(h) != 2 {
		t.Errorf("Dial changed the caller's header: %v", h)
	}
}
