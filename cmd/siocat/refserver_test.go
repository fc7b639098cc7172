package main

import (
	"strings"
	"testing"

	"github.com/siostream/siostream/internal/refserver"
)

func TestRefWelcome(t *testing.T) {
	t.Parallel()
	srv := refserver.Shared(t, refserver.Default)
	p := runSiocat(t, "", "--namespace", "/realtime", "--count", "1", srv.URL)
	p.wantCode(t, exitOK)
	lines := p.stdout.lines()
	if len(lines) != 1 {
		t.Fatalf("stdout:\n%s", p.stdout.String())
	}
	m := decodeLine(t, lines[0])
	args, _ := m["args"].([]any)
	if m["ns"] != "/realtime" || m["event"] != "welcome" || len(args) != 1 {
		t.Fatalf("welcome line: %s", lines[0])
	}
	if w, _ := args[0].(map[string]any); w["nsp"] != "/realtime" {
		t.Errorf("welcome line: %s", lines[0])
	}
}

func TestRefEcho(t *testing.T) {
	t.Parallel()
	srv := refserver.Shared(t, refserver.Default)
	p := runSiocat(t, "[\"echo\",\"hi\",{\"x\":[1,2.5,null]}]\n", "--count", "2", srv.URL)
	p.wantCode(t, exitOK)
	lines := p.stdout.lines()
	if len(lines) != 2 || lines[1] != `{"ns":"/","event":"echo","args":["hi",{"x":[1,2.5,null]}]}` {
		t.Errorf("stdout:\n%s", p.stdout.String())
	}
}

func TestRefAck(t *testing.T) {
	t.Parallel()
	srv := refserver.Shared(t, refserver.Default)
	p := startSiocat(t, "\n[\"ack\",1,\"two\",{\"three\":3}]\n", "--ack", srv.URL)
	waitFor(t, "the ack line", func() bool { return strings.Contains(p.stdout.String(), `"ack":2`) }, p)
	p.wantStop(t)
	var ack string
	for _, l := range p.stdout.lines() {
		if strings.HasPrefix(l, `{"ack":`) {
			ack = l
		}
	}
	if ack != `{"ack":2,"args":[1,"two",{"three":3}]}` {
		t.Errorf("stdout:\n%s", p.stdout.String())
	}
}

func TestRefAnswersServerAck(t *testing.T) {
	t.Parallel()
	srv := refserver.Shared(t, refserver.Default)
	p := runSiocat(t, "[\"request-ack\",\"q\"]\n", "--count", "3", srv.URL)
	p.wantCode(t, exitOK)
	lines := p.stdout.lines()
	want := []string{
		`{"ns":"/","event":"need-ack","args":["q"],"ack":true}`,
		`{"ns":"/","event":"got-ack","args":[]}`,
	}
	if len(lines) != 3 || lines[1] != want[0] || lines[2] != want[1] {
		t.Errorf("stdout:\n%s\nwant after welcome:\n%s", p.stdout.String(), strings.Join(want, "\n"))
	}
}

func TestRefBinary(t *testing.T) {
	t.Parallel()
	srv := refserver.Shared(t, refserver.Default)
	p := runSiocat(t, "[\"binary\"]\n", "--count", "2", srv.URL)
	p.wantCode(t, exitOK)
	lines := p.stdout.lines()
	want := `{"ns":"/","event":"binary","args":[{"a":"AQID","nested":{"list":["BAU=","x",{"deep":"Bg=="}]}},"Bwg="],"binary":4}`
	if len(lines) != 2 || lines[1] != want {
		t.Errorf("stdout:\n%s\nwant second line:\n%s", p.stdout.String(), want)
	}
}

func TestRefSecure(t *testing.T) {
	t.Parallel()
	srv := refserver.Shared(t, refserver.Default)
	t.Run("bad token", func(t *testing.T) {
		t.Parallel()
		p := runSiocat(t, "", "--namespace", "/secure", "--auth", `{"token":"bad-secret"}`, srv.URL)
		p.wantCode(t, exitAuth)
		e := p.stderr.String()
		if !strings.Contains(e, "siocat: authentication rejected: ") || !strings.Contains(e, "Not authorized") {
			t.Errorf("stderr:\n%s", e)
		}
		if strings.Contains(e, "bad-secret") {
			t.Errorf("stderr shows the token:\n%s", e)
		}
	})
	t.Run("good token", func(t *testing.T) {
		t.Parallel()
		p := runSiocat(t, "", "--namespace", "/secure", "--auth-cmd", `echo '{"token":"good-1"}'`, "--count", "1", srv.URL)
		p.wantCode(t, exitOK)
		if !strings.Contains(p.stdout.String(), `"event":"welcome"`) {
			t.Errorf("stdout:\n%s", p.stdout.String())
		}
	})
}

func TestRefCompress(t *testing.T) {
	t.Parallel()
	srv := refserver.Shared(t, refserver.Deflate)
	for flagSet, want := range map[bool]string{true: "true", false: "false"} {
		args := []string{"--ack", srv.URL}
		if flagSet {
			args = append([]string{"--compress"}, args...)
		}
		p := startSiocat(t, "[\"compressed?\"]\n", args...)
		waitFor(t, "the ack line", func() bool { return strings.Contains(p.stdout.String(), `"ack":1`) }, p)
		p.wantStop(t)
		if !strings.Contains(p.stdout.String(), `{"ack":1,"args":[`+want+`]}`) {
			t.Errorf("--compress %v: stdout:\n%s", flagSet, p.stdout.String())
		}
	}
}
