package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/siostream/siostream"
)

// maxLineBytes is the longest stdin line accepted.
const maxLineBytes = 16 << 20

// inputLine is one non-blank stdin line, or the error that stopped reading.
type inputLine struct {
	no   int // 1-based line number
	text string
	err  error
}

// readLines sends the non-blank lines of r, of at most maxLine bytes each,
// until end of input, a read error (sent as the last item) or done. It
// closes out when it stops.
// It may stay blocked in r.Read after done is closed; it then exits on the
// next line or end of input without touching anything else.
func readLines(r io.Reader, maxLine int, out chan<- inputLine, done <-chan struct{}) {
	defer close(out)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(maxLine, 64<<10)), maxLine)
	no := 0
	for sc.Scan() {
		no++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if !offer(out, done, inputLine{no: no, text: sc.Text()}) {
			return
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than %d bytes", maxLine)
		}
		offer(out, done, inputLine{no: no + 1, err: fmt.Errorf("%w; stopped reading stdin", err)})
	}
}

func offer(out chan<- inputLine, done <-chan struct{}, in inputLine) bool {
	select {
	case out <- in:
		return true
	case <-done:
		return false
	}
}

// parseLine parses `["event", arg...]` into the event name and its args,
// kept as raw JSON so that they are sent as written.
func parseLine(text string) (string, []any, error) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "[") {
		return "", nil, errors.New(`not a JSON array; want ["event", arg...]`)
	}
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(text), &items); err != nil {
		return "", nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if len(items) == 0 {
		return "", nil, errors.New(`empty array; want ["event", arg...]`)
	}
	var name string
	if items[0][0] != '"' || json.Unmarshal(items[0], &name) != nil {
		return "", nil, errors.New(`the first element must be the event name, a string`)
	}
	args := make([]any, len(items)-1)
	for i, a := range items[1:] {
		args[i] = a
	}
	return name, args, nil
}

// sendLines emits the events of lines until they run out, the stream is
// closed or ctx ends. Bad lines are reported and skipped.
func (s *session) sendLines(ctx context.Context, lines <-chan inputLine) {
	for in := range lines {
		if in.err != nil {
			s.out.warnf("stdin line %d: %v", in.no, in.err)
			return
		}
		name, args, err := parseLine(in.text)
		if err != nil {
			s.out.warnf("stdin line %d: %v", in.no, err)
			continue
		}
		if !s.sendLine(ctx, in.no, name, args) {
			return
		}
	}
}

// sendLine emits one event, with an ack under --ack, waiting at most
// --ack-timeout for it. It returns false when nothing more can be sent.
func (s *session) sendLine(ctx context.Context, no int, name string, args []any) bool {
	if !s.cfg.ack {
		return s.sent(ctx, no, s.stream.Emit(ctx, name, args...))
	}
	actx, cancel := context.WithTimeout(ctx, s.cfg.ackTimeout)
	reply, err := s.stream.EmitWithAck(actx, name, args...)
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			s.out.warnf("stdin line %d: no ack within %s (--ack-timeout), going on", no, s.cfg.ackTimeout)
			return true
		}
		return s.sent(ctx, no, err)
	}
	if err := s.out.ackReply(no, withBinary(reply.Args, reply.Attachments())); err != nil {
		s.fail(err)
		return false
	}
	return true
}

// sent reports a failed emit and tells whether sending can go on.
func (s *session) sent(ctx context.Context, no int, err error) bool {
	switch {
	case err == nil:
		return true
	case ctx.Err() != nil, errors.Is(err, siostream.ErrClosed):
		return false
	}
	s.out.warnf("stdin line %d: %v", no, err)
	return true
}
