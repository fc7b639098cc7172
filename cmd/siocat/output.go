package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/frames"
)

// printer writes whole lines to stdout and stderr, from any goroutine.
type printer struct {
	mu         sync.Mutex
	stdout     io.Writer
	stderr     io.Writer
	jsonStatus bool
}

func newPrinter(stdout, stderr io.Writer, jsonStatus bool) *printer {
	return &printer{stdout: stdout, stderr: stderr, jsonStatus: jsonStatus}
}

// eventLine is the stdout form of a received event.
type eventLine struct {
	NS     string          `json:"ns"`
	Event  string          `json:"event"`
	Args   json.RawMessage `json:"args"`
	Ack    bool            `json:"ack,omitempty"`
	Binary int             `json:"binary,omitempty"`
}

// ackLine is the stdout form of the server's reply to an --ack emit.
type ackLine struct {
	Line int             `json:"ack"`
	Args json.RawMessage `json:"args"`
}

// statusLine is the --json-status form of a lifecycle event.
type statusLine struct {
	Status    string `json:"status"`
	NS        string `json:"ns"`
	SID       string `json:"sid,omitempty"`
	Recovered *bool  `json:"recovered,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Attempt   int    `json:"attempt,omitempty"`
	DelayMS   *int64 `json:"delay_ms,omitempty"`
	Error     string `json:"error,omitempty"`
}

// withBinary returns args with the attachments' placeholders replaced by
// the attachments as base64 strings. The SDK checked the placeholders when
// the packet arrived, so resolving them cannot fail; args are returned as
// they are if it ever did.
func withBinary(args json.RawMessage, atts [][]byte) json.RawMessage {
	if atts == nil {
		return args
	}
	resolved, err := frames.ResolveBinary(nil, args, atts)
	if err != nil {
		return args
	}
	return resolved
}

// event prints a received event of namespace ns; binary attachments are
// printed in its args as base64 strings.
func (p *printer) event(ns string, ev *siostream.Event) error {
	return p.writeJSON(eventLine{
		NS:     ns,
		Event:  ev.Name,
		Args:   orEmptyArray(withBinary(ev.Args, ev.Attachments())),
		Ack:    ev.WantsAck(),
		Binary: len(ev.Attachments()),
	})
}

// ackReply prints the server's answer to the emit of stdin line no.
func (p *printer) ackReply(no int, args json.RawMessage) error {
	return p.writeJSON(ackLine{Line: no, Args: orEmptyArray(args)})
}

// lifecycle is what the printer shows of a lifecycle event.
type lifecycle struct {
	kind      siostream.Kind
	ns        string
	sid       string
	recovered bool
	reason    siostream.Reason
	err       error
	attempt   int
	delay     time.Duration
}

func lifecycleOf(ns string, ev *siostream.Event) lifecycle {
	return lifecycle{
		kind: ev.Kind, ns: ns, sid: ev.SocketID(), recovered: ev.Recovered(), reason: ev.Reason(),
		err: ev.Err(), attempt: ev.Attempt(), delay: ev.Delay(),
	}
}

// status reports a lifecycle event, as JSON on stdout or as text on stderr.
func (p *printer) status(l lifecycle) error {
	if p.jsonStatus {
		return p.writeJSON(statusJSON(l))
	}
	p.warnf("%s", statusText(l))
	return nil
}

func statusJSON(l lifecycle) statusLine {
	s := statusLine{Status: l.kind.String(), NS: l.ns}
	switch l.kind {
	case siostream.KindConnected:
		s.SID, s.Recovered = l.sid, &l.recovered
	case siostream.KindDisconnected:
		s.Reason, s.Error = string(l.reason), errText(l.err)
	case siostream.KindReconnecting:
		ms := l.delay.Milliseconds()
		s.Attempt, s.DelayMS = l.attempt, &ms
	case siostream.KindConnectError:
		s.Attempt, s.Error = l.attempt, errText(l.err)
	}
	return s
}

func statusText(l lifecycle) string {
	switch l.kind {
	case siostream.KindConnected:
		if l.recovered {
			return fmt.Sprintf("connected to %s (sid %s, session recovered)", l.ns, l.sid)
		}
		return fmt.Sprintf("connected to %s (sid %s)", l.ns, l.sid)
	case siostream.KindDisconnected:
		if e := errText(l.err); e != "" {
			return fmt.Sprintf("disconnected from %s: %s (%s)", l.ns, l.reason, e)
		}
		return fmt.Sprintf("disconnected from %s: %s", l.ns, l.reason)
	case siostream.KindReconnecting:
		return fmt.Sprintf("reconnecting to %s in %s (attempt %d)", l.ns, l.delay.Round(time.Millisecond), l.attempt)
	case siostream.KindConnectError:
		return fmt.Sprintf("connect error on %s (attempt %d): %s", l.ns, l.attempt, errText(l.err))
	}
	return fmt.Sprintf("%s on %s", l.kind, l.ns)
}

// errText is the message of err, empty for nil and for our own Close.
func errText(err error) string {
	if err == nil || errors.Is(err, siostream.ErrClosed) {
		return ""
	}
	return err.Error()
}

// warnf prints "siocat: ..." on stderr.
func (p *printer) warnf(format string, args ...any) {
	msg := "siocat: " + fmt.Sprintf(format, args...) + "\n"
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = io.WriteString(p.stderr, msg)
}

// stderrWriter returns a writer to stderr whose writes do not interleave
// with the printer's lines.
func (p *printer) stderrWriter() io.Writer { return lockedWriter{p} }

type lockedWriter struct{ p *printer }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

// writeJSON writes v as one line on stdout, without HTML escaping so that
// strings come out as the server sent them.
func (p *printer) writeJSON(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.stdout.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

// orEmptyArray returns args, or [] when there are none.
func orEmptyArray(args json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(args)) == 0 {
		return json.RawMessage("[]")
	}
	return args
}
