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

// event prints a received event.
func (p *printer) event(ev *siostream.Event) error {
	return p.writeJSON(eventLine{
		NS:     ev.Namespace,
		Event:  ev.Name,
		Args:   orEmptyArray(ev.Args),
		Ack:    ev.WantsAck(),
		Binary: len(ev.Attachments),
	})
}

// ackReply prints the server's answer to the emit of stdin line no.
func (p *printer) ackReply(no int, args json.RawMessage) error {
	return p.writeJSON(ackLine{Line: no, Args: orEmptyArray(args)})
}

// status reports a lifecycle event, as JSON on stdout or as text on stderr.
func (p *printer) status(ev *siostream.Event) error {
	if p.jsonStatus {
		return p.writeJSON(statusJSON(ev))
	}
	p.warnf("%s", statusText(ev))
	return nil
}

func statusJSON(ev *siostream.Event) statusLine {
	s := statusLine{Status: ev.Kind.String(), NS: ev.Namespace}
	switch ev.Kind {
	case siostream.KindConnected:
		s.SID, s.Recovered = ev.SocketID, &ev.Recovered
	case siostream.KindDisconnected:
		s.Reason, s.Error = string(ev.Reason), errText(ev.Err)
	case siostream.KindReconnecting:
		ms := ev.Delay.Milliseconds()
		s.Attempt, s.DelayMS = ev.Attempt, &ms
	case siostream.KindConnectError:
		s.Attempt, s.Error = ev.Attempt, errText(ev.Err)
	}
	return s
}

func statusText(ev *siostream.Event) string {
	switch ev.Kind {
	case siostream.KindConnected:
		if ev.Recovered {
			return fmt.Sprintf("connected to %s (sid %s, session recovered)", ev.Namespace, ev.SocketID)
		}
		return fmt.Sprintf("connected to %s (sid %s)", ev.Namespace, ev.SocketID)
	case siostream.KindDisconnected:
		if e := errText(ev.Err); e != "" {
			return fmt.Sprintf("disconnected from %s: %s (%s)", ev.Namespace, ev.Reason, e)
		}
		return fmt.Sprintf("disconnected from %s: %s", ev.Namespace, ev.Reason)
	case siostream.KindReconnecting:
		return fmt.Sprintf("reconnecting to %s in %s (attempt %d)", ev.Namespace, ev.Delay.Round(time.Millisecond), ev.Attempt)
	case siostream.KindConnectError:
		return fmt.Sprintf("connect error on %s (attempt %d): %s", ev.Namespace, ev.Attempt, errText(ev.Err))
	}
	return fmt.Sprintf("%s on %s", ev.Kind, ev.Namespace)
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
