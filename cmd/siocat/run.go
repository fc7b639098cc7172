package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

// Exit codes.
const (
	exitOK    = 0
	exitConn  = 1
	exitUsage = 2
	exitAuth  = 3
)

// ackTimeout bounds the automatic answer to a server's ack request.
const ackTimeout = 5 * time.Second

// run is the whole program: it parses args, connects, and copies events
// between the connection and stdin/stdout until the end. Cancelling ctx
// (a signal) closes the connection politely. It returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		_, _ = io.WriteString(stdout, usageText)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "siocat: %v\nRun 'siocat --help' for usage.\n", err)
		return exitUsage
	}
	return runConfig(ctx, cfg, stdin, newPrinter(stdout, stderr, cfg.jsonStatus))
}

// runConfig runs a parsed command line.
func runConfig(ctx context.Context, cfg *config, stdin io.Reader, out *printer) int {
	opts, err := cfg.streamOptions(out.stderrWriter())
	if err != nil {
		out.warnf("%v", err)
		return exitUsage
	}
	cfg.warnURLPath(out)
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	target := cfg.url
	if cfg.demo {
		srv, err := sioserver.NewDemo(sioserver.Options{})
		if err != nil {
			out.warnf("start demo server: %v", err)
			return exitConn
		}
		defer srv.Close()
		target = srv.URL()
	}
	stream, err := siostream.Dial(ctx, target, opts)
	if err != nil {
		return dialFailed(out, err)
	}
	s := &session{cfg: cfg, out: out, stream: stream, failc: make(chan error, 1)}
	return s.run(ctx, stdin)
}

// warnURLPath says what became of the URL's path when it names a
// namespace.
func (c *config) warnURLPath(out *printer) {
	switch {
	case c.nsFromURL:
		out.warnf("the URL path %s is taken as the namespace; give --namespace to choose it explicitly", c.namespace)
	case c.ignoredPath != "":
		out.warnf("the URL path %s is ignored: --namespace %s chooses the namespace", c.ignoredPath, c.namespace)
	}
}

// dialFailed reports a failed first connect and returns its exit code.
func dialFailed(out *printer, err error) int {
	var ce *siostream.ConnectError
	switch {
	case errors.Is(err, siostream.ErrUnknownNamespace):
		out.warnf("%v", err)
		return exitConn
	case errors.As(err, &ce):
		out.warnf("authentication rejected: %v", err)
		return exitAuth
	}
	out.warnf("cannot connect: %v", err)
	return exitConn
}

// session is one connected run.
type session struct {
	cfg     *config
	out     *printer
	stream  *siostream.Stream
	printed int
	failc   chan error // an output failure off the event loop; buffer 1
}

// run copies stdin to the stream and the stream to stdout until the end,
// then closes the stream and waits for the sender.
func (s *session) run(ctx context.Context, stdin io.Reader) int {
	sendCtx, cancelSend := context.WithCancel(ctx)
	done := make(chan struct{})
	lines := make(chan inputLine)
	var wg sync.WaitGroup
	go readLines(stdin, maxLineBytes, lines, done)
	wg.Go(func() { s.sendLines(sendCtx, lines) })

	code := s.loop(ctx)

	close(done)
	cancelSend()
	_ = s.stream.Close()
	wg.Wait()
	s.drain()
	return code
}

// loop handles events until the stream ends, --count is reached, ctx
// ends (--timeout or a signal) or an output write fails.
func (s *session) loop(ctx context.Context) int {
	events := s.stream.Events()
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case err := <-s.failc:
			s.out.warnf("%v", err)
			return exitConn
		case ev, ok := <-events:
			if !ok {
				return s.ended()
			}
			if code, end := s.handle(ctx, &ev); end {
				return code
			}
		}
	}
}

// handle prints one event and answers its ack request. end is true when
// the run is over.
func (s *session) handle(ctx context.Context, ev *siostream.Event) (code int, end bool) {
	if ev.Kind != siostream.KindEvent {
		return s.check(s.out.status(lifecycleOf(s.stream.Namespace(), ev)))
	}
	if code, end := s.check(s.out.event(s.stream.Namespace(), ev)); end {
		return code, end
	}
	s.answer(ctx, ev)
	s.printed++
	if s.cfg.count > 0 && s.printed >= s.cfg.count {
		return exitOK, true
	}
	return exitOK, false
}

// check ends the run on an output error.
func (s *session) check(err error) (int, bool) {
	if err != nil {
		s.out.warnf("%v", err)
		return exitConn, true
	}
	return exitOK, false
}

// answer acknowledges an event that asks for it, with no args, unless
// --no-auto-ack.
func (s *session) answer(ctx context.Context, ev *siostream.Event) {
	if !ev.WantsAck() || s.cfg.noAutoAck {
		return
	}
	actx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if err := ev.Ack(actx); err != nil && ctx.Err() == nil {
		s.out.warnf("answer ack of %q: %v", ev.Name, err)
	}
}

// fail stops the run from a goroutine other than the event loop.
func (s *session) fail(err error) {
	select {
	case s.failc <- err:
	default:
	}
}

// ended reports why the stream ended by itself and returns the exit code.
func (s *session) ended() int {
	err := s.stream.Err()
	var ce *siostream.ConnectError
	switch {
	case err == nil, errors.Is(err, siostream.ErrClosed):
		return exitOK
	case errors.Is(err, siostream.ErrUnknownNamespace):
		s.out.warnf("%v", err)
		return exitConn
	case errors.As(err, &ce):
		s.out.warnf("authentication rejected: %v", err)
		return exitAuth
	case errors.Is(err, siostream.ErrServerDisconnect):
		s.out.warnf("the server ended the session")
		return exitOK
	}
	s.out.warnf("connection lost: %v", err)
	return exitConn
}

// drain reports the lifecycle events left after Close; server events
// arriving after the end are not printed.
func (s *session) drain() {
	for ev := range s.stream.Events() {
		if ev.Kind != siostream.KindEvent {
			_ = s.out.status(lifecycleOf(s.stream.Namespace(), &ev))
		}
	}
}
