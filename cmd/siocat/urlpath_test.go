package main

import (
	"strings"
	"testing"

	"github.com/siostream/siostream/internal/sioserver"
)

// greetNamespace makes a server that greets each namespace the client
// joins, so that siocat --count 1 ends.
func greetNamespace(t *testing.T) *sioserver.Server {
	t.Helper()
	return newServer(t, sioserver.Options{OnConnect: func(c *sioserver.Conn, ns string) {
		_ = c.Emit(ns, "hi")
	}})
}

func TestURLPathNamespace(t *testing.T) {
	t.Parallel()
	srv := greetNamespace(t)
	tests := []struct {
		name   string
		args   []string
		ns     string
		stderr string // a line stderr must hold; "" means no URL path warning
	}{
		{
			name:   "path taken",
			args:   []string{srv.URL() + "/admin"},
			ns:     "/admin",
			stderr: "siocat: the URL path /admin is taken as the namespace; give --namespace to choose it explicitly\n",
		},
		{
			name: "Engine.IO path",
			args: []string{srv.URL() + "/socket.io/"},
			ns:   "/",
		},
		{
			name: "same as --namespace",
			args: []string{"--namespace", "/admin", srv.URL() + "/admin"},
			ns:   "/admin",
		},
		{
			name:   "other than --namespace",
			args:   []string{"--namespace", "/chat", srv.URL() + "/admin"},
			ns:     "/chat",
			stderr: "siocat: the URL path /admin is ignored: --namespace /chat chooses the namespace\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := runSiocat(t, "", append([]string{"--count", "1"}, tc.args...)...)
			p.wantCode(t, exitOK)
			if got, want := p.stdout.String(), `{"ns":"`+tc.ns+`","event":"hi","args":[]}`+"\n"; got != want {
				t.Errorf("stdout %q, want %q", got, want)
			}
			stderr := p.stderr.String()
			if tc.stderr != "" && !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if tc.stderr == "" && strings.Contains(stderr, "URL path") {
				t.Errorf("stderr warns about the URL path:\n%s", stderr)
			}
		})
	}
}
