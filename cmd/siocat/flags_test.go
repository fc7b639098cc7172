package main

import (
	"errors"
	"flag"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{
		"--namespace", "/realtime", "https://chat.example.com",
		"--count", "5", "-H", "Authorization: Bearer x", "-H", "X-A:b",
		"--timeout", "2s", "--ack", "--json-status",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.url != "https://chat.example.com" || cfg.namespace != "/realtime" || cfg.count != 5 ||
		cfg.timeout != 2*time.Second || !cfg.ack || cfg.ackTimeout != defaultAckTimeout || !cfg.jsonStatus {
		t.Errorf("config: %+v", cfg)
	}
	if cfg.headers.Get("Authorization") != "Bearer x" || cfg.headers.Get("X-A") != "b" {
		t.Errorf("headers: %v", cfg.headers)
	}
}

func TestParseFlagsAfterDoubleDash(t *testing.T) {
	cfg, err := parseFlags([]string{"--count", "1", "--", "http://h/"})
	if err != nil || cfg.url != "http://h" {
		t.Fatalf("cfg %+v, err %v", cfg, err)
	}
	if _, err := parseFlags([]string{"--", "http://h/", "--count"}); err == nil {
		t.Error("arguments after -- were parsed as flags")
	}
}

func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "missing URL"},
		{[]string{"http://a", "http://b"}, "too many arguments"},
		{[]string{"--demo", "http://a"}, "--demo takes no URL"},
		{[]string{"--count", "-1", "http://a"}, "--count must not be negative"},
		{[]string{"--timeout", "-1s", "http://a"}, "--timeout must not be negative"},
		{[]string{"--ack-timeout", "0", "http://a"}, "--ack-timeout must be positive"},
		{[]string{"--ack-timeout", "-1s", "http://a"}, "--ack-timeout must be positive"},
		{[]string{"-H", "Host: a", "-H", "host: topsecret", "http://a"}, "-H #2: Host given twice"},
		{[]string{"-H", "Host:", "http://a"}, "-H #1: Host needs a value"},
		{[]string{"--auth", "[1]", "http://a"}, "not a JSON object"},
		{[]string{"--auth", "{}", "--auth-cmd", "x", "http://a"}, "mutually exclusive"},
		{[]string{"-H", "Bad Name: topsecret", "http://a"}, "-H #1"},
		{[]string{"-H", "A: b", "-H", "topsecret", "http://a"}, "-H #2"},
		{[]string{"-H", "A: top\rsecret", "http://a"}, "control character"},
		{[]string{"mailto:topsecret@x"}, "http://, https://"},
		{[]string{"http:///path?key=topsecret"}, "no host"},
		{[]string{"--nope"}, "not defined"},
	}
	for _, tc := range tests {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("parseFlags(%q): the error quotes a secret: %v", tc.args, err)
		}
	}
}

func TestParseFlagsURLPath(t *testing.T) {
	tests := []struct {
		args      []string
		url       string
		namespace string
		fromURL   bool
		ignored   string
	}{
		{args: []string{"http://h"}, url: "http://h", namespace: "/"},
		{args: []string{"http://h/"}, url: "http://h", namespace: "/"},
		{args: []string{"http://h/socket.io"}, url: "http://h", namespace: "/"},
		{args: []string{"https://u:p@h:8443/socket.io/?token=x"}, url: "https://u:p@h:8443?token=x", namespace: "/"},
		{args: []string{"http://h/admin?x=1"}, url: "http://h?x=1", namespace: "/admin", fromURL: true},
		{args: []string{"http://h/admin/"}, url: "http://h", namespace: "/admin/", fromURL: true},
		{args: []string{"--namespace", "/", "http://h/admin"}, url: "http://h", namespace: "/", ignored: "/admin"},
		{args: []string{"--namespace", "admin", "http://h/admin"}, url: "http://h", namespace: "admin"},
		{args: []string{"--path", "/rt/", "http://h/admin"}, url: "http://h", namespace: "/admin", fromURL: true},
	}
	for _, tc := range tests {
		cfg, err := parseFlags(tc.args)
		if err != nil {
			t.Errorf("parseFlags(%q): %v", tc.args, err)
			continue
		}
		if cfg.url != tc.url || cfg.namespace != tc.namespace || cfg.nsFromURL != tc.fromURL || cfg.ignoredPath != tc.ignored {
			t.Errorf("parseFlags(%q): url %q, namespace %q, from URL %v, ignored %q; want %q, %q, %v, %q",
				tc.args, cfg.url, cfg.namespace, cfg.nsFromURL, cfg.ignoredPath, tc.url, tc.namespace, tc.fromURL, tc.ignored)
		}
	}
}

func TestParseFlagsHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		if _, err := parseFlags([]string{arg}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: %v", arg, err)
		}
	}
}

// TestUsageListsEveryFlag keeps the help text in step with the flags.
func TestUsageListsEveryFlag(t *testing.T) {
	fs := newFlagSet(&config{}, &rawFlags{})
	fs.VisitAll(func(f *flag.Flag) {
		dashes := "--"
		if len(f.Name) == 1 {
			dashes = "-"
		}
		if !regexp.MustCompile(`(?m)^  (-h, )?` + regexp.QuoteMeta(dashes+f.Name) + `\b`).MatchString(usageText) {
			t.Errorf("usage text does not list %s%s", dashes, f.Name)
		}
	})
	for _, ex := range []string{
		"siocat --demo --count 5",
		"siocat --namespace /realtime --auth-cmd './get-token' https://chat.example.com",
		`echo '["join","room1"]' | siocat`,
	} {
		if !strings.Contains(usageText, ex) {
			t.Errorf("usage text lacks the example %q", ex)
		}
	}
}
