package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream"
)

func TestEventLine(t *testing.T) {
	var out, errb bytes.Buffer
	p := newPrinter(&out, &errb, false)
	ev := &siostream.Event{
		Kind: siostream.KindEvent, Name: "e<1>",
		Args: json.RawMessage("[ \"<&>\", {\"a\" : 1}, \"AQI=\" ]"),
	}
	if err := p.event("/n", ev); err != nil {
		t.Fatal(err)
	}
	ev = &siostream.Event{Kind: siostream.KindEvent, Name: "bare"}
	if err := p.event("/", ev); err != nil {
		t.Fatal(err)
	}
	want := `{"ns":"/n","event":"e<1>","args":["<&>",{"a":1},"AQI="]}` + "\n" +
		`{"ns":"/","event":"bare","args":[]}` + "\n"
	if out.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestStatusLines(t *testing.T) {
	events := []lifecycle{
		{kind: siostream.KindConnected, ns: "/r", sid: "abc"},
		{kind: siostream.KindConnected, ns: "/r", sid: "abc", recovered: true},
		{kind: siostream.KindDisconnected, ns: "/r", reason: siostream.ReasonTransportClose, err: errors.New("EOF")},
		{kind: siostream.KindDisconnected, ns: "/r", reason: siostream.ReasonClientDisconnect, err: siostream.ErrClosed},
		{kind: siostream.KindReconnecting, ns: "/r", attempt: 2, delay: 1500 * time.Millisecond},
		{kind: siostream.KindConnectError, ns: "/r", attempt: 3, err: errors.New("refused")},
	}
	text := []string{
		"siocat: connected to /r (sid abc)",
		"siocat: connected to /r (sid abc, session recovered)",
		"siocat: disconnected from /r: transport close (EOF)",
		"siocat: disconnected from /r: io client disconnect",
		"siocat: reconnecting to /r in 1.5s (attempt 2)",
		"siocat: connect error on /r (attempt 3): refused",
	}
	js := []string{
		`{"status":"connected","ns":"/r","sid":"abc","recovered":false}`,
		`{"status":"connected","ns":"/r","sid":"abc","recovered":true}`,
		`{"status":"disconnected","ns":"/r","reason":"transport close","error":"EOF"}`,
		`{"status":"disconnected","ns":"/r","reason":"io client disconnect"}`,
		`{"status":"reconnecting","ns":"/r","attempt":2,"delay_ms":1500}`,
		`{"status":"connect_error","ns":"/r","attempt":3,"error":"refused"}`,
	}
	for _, jsonStatus := range []bool{false, true} {
		var out, errb bytes.Buffer
		p := newPrinter(&out, &errb, jsonStatus)
		for i := range events {
			if err := p.status(events[i]); err != nil {
				t.Fatal(err)
			}
		}
		got, quiet, want := errb.String(), out.String(), text
		if jsonStatus {
			got, quiet, want = out.String(), errb.String(), js
		}
		if got != strings.Join(want, "\n")+"\n" {
			t.Errorf("json %v:\n%s\nwant:\n%s", jsonStatus, got, strings.Join(want, "\n"))
		}
		if quiet != "" {
			t.Errorf("json %v: other stream not empty: %q", jsonStatus, quiet)
		}
	}
}

func TestAckLine(t *testing.T) {
	var out bytes.Buffer
	p := newPrinter(&out, &out, false)
	_ = p.ackReply(7, json.RawMessage(`[1, "x"]`))
	_ = p.ackReply(8, nil)
	if want := "{\"ack\":7,\"args\":[1,\"x\"]}\n{\"ack\":8,\"args\":[]}\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
